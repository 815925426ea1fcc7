package keys_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/quota"
)

// The rules of the override tests: a daily budget per tenant, a lifetime budget per
// session, a fixed tenant's monthly budget, and a rate (which no override may touch).
var rules = quota.Rules{
	{Name: "tenant-daily", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 50_000_000, Window: quota.Daily(time.UTC)},
	{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1_000_000, Window: quota.Forever()},
	{Name: "alpha-monthly", Scope: quota.Labels{Tenant: "alpha"}, Unit: quota.Tokens, Limit: 9_000_000, Window: quota.Monthly(time.UTC)},
	{Name: "gpt-4o-rpm", Scope: quota.Labels{Provider: "openai", Model: "gpt-4o"}, Unit: quota.Requests, Limit: 500, Window: quota.PerMinute()},
}

// limits returns the limit of each quota For puts on l, by quota key.
func limits(r *keys.Registry, l quota.Labels) map[string]int64 {
	out := map[string]int64{}
	for _, q := range r.For(nil, rules, l) {
		out[q.Key] = q.Limit
	}
	return out
}

// TestOverrides: an override changes the limit of exactly its instance, on this replica at
// once and on another after its refresh, and deleting it restores the rule's.
func TestOverrides(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, newStores replicas) {
		ctx := context.Background()
		sa, sb := newStores(t)
		a, b := open(t, keys.Config{Store: sa}), open(t, keys.Config{Store: sb})
		alpha := quota.Labels{Provider: "openai", Model: "gpt-4o", Tenant: "alpha", Session: "run-1"}
		base := map[string]int64{"tenant-daily|tenant=alpha": 50_000_000, "session-usd|tenant=alpha|session=run-1": 1_000_000,
			"alpha-monthly|tenant=alpha": 9_000_000, "gpt-4o-rpm|provider=openai|model=gpt-4o": 500}
		if diff := cmp.Diff(base, limits(a, alpha)); diff != "" {
			t.Fatalf("limits before any override (-want +got):\n%s", diff)
		}

		o, err := a.SetOverride(ctx, rules[0], quota.Labels{Tenant: "alpha", Model: "ignored: not in the rule's scope"}, 80_000_000, "quarter end")
		if err != nil {
			t.Fatalf("SetOverride() = %v", err)
		}
		want := keys.Override{Rule: "tenant-daily", Scope: quota.Labels{Tenant: "alpha"}, QuotaKey: "tenant-daily|tenant=alpha",
			Limit: 80_000_000, Note: "quarter end", Updated: t0}
		if diff := cmp.Diff(want, o); diff != "" {
			t.Errorf("SetOverride() (-want +got):\n%s", diff)
		}
		if _, err := a.SetOverride(ctx, rules[2], quota.Labels{Tenant: "alpha"}, 12_000_000, ""); err != nil {
			t.Fatal(err)
		}
		raised := map[string]int64{"tenant-daily|tenant=alpha": 80_000_000, "session-usd|tenant=alpha|session=run-1": 1_000_000,
			"alpha-monthly|tenant=alpha": 12_000_000, "gpt-4o-rpm|provider=openai|model=gpt-4o": 500}
		if diff := cmp.Diff(raised, limits(a, alpha)); diff != "" {
			t.Errorf("limits on the replica that set them (-want +got):\n%s", diff)
		}
		beta := quota.Labels{Tenant: "beta"}
		if got := limits(a, beta)["tenant-daily|tenant=beta"]; got != 50_000_000 {
			t.Errorf("beta's daily limit = %d, want the rule's 50000000: an override is for one instance", got)
		}
		if diff := cmp.Diff(base, limits(b, alpha)); diff != "" {
			t.Errorf("the other replica changed before its refresh (-want +got):\n%s", diff)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(raised, limits(b, alpha)); diff != "" {
			t.Errorf("the other replica after its refresh (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]keys.Override{{Rule: "alpha-monthly", Scope: quota.Labels{Tenant: "alpha"},
			QuotaKey: "alpha-monthly|tenant=alpha", Limit: 12_000_000, Updated: t0}, want}, b.Overrides()); diff != "" {
			t.Errorf("Overrides() on the other replica (-want +got):\n%s", diff)
		}

		for _, key := range []string{"tenant-daily|tenant=alpha", "alpha-monthly|tenant=alpha"} {
			if found, err := a.DeleteOverride(ctx, key); err != nil || !found {
				t.Errorf("DeleteOverride(%s) = %v, %v", key, found, err)
			}
		}
		if diff := cmp.Diff(base, limits(a, alpha)); diff != "" {
			t.Errorf("limits after the overrides were deleted (-want +got):\n%s", diff)
		}
	})
}

// TestOverrideInvalid: only one instance of a budget rule, with a positive limit.
func TestOverrideInvalid(t *testing.T) {
	t.Parallel()
	store, _ := sqliteStores(t)
	r := open(t, keys.Config{Store: store})
	for _, tt := range []struct {
		name  string
		rule  quota.Rule
		scope quota.Labels
		limit int64
	}{
		{"a rate", rules[3], quota.Labels{Provider: "openai", Model: "gpt-4o"}, 900},
		{"zero limit", rules[0], quota.Labels{Tenant: "alpha"}, 0},
		{"negative limit", rules[0], quota.Labels{Tenant: "alpha"}, -1},
		{"every instance", rules[0], quota.Labels{Tenant: "*"}, 5},
		{"a label missing", rules[0], quota.Labels{Session: "s"}, 5},
		{"another tenant than the rule's", rules[2], quota.Labels{Tenant: "beta"}, 5},
		{"a separator in a value", rules[0], quota.Labels{Tenant: "a,b"}, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.SetOverride(context.Background(), tt.rule, tt.scope, tt.limit, ""); !errors.Is(err, keys.ErrInvalid) {
				t.Errorf("SetOverride() = %v, want ErrInvalid", err)
			}
		})
	}
	if len(r.Overrides()) != 0 {
		t.Errorf("Overrides() after refused sets = %+v", r.Overrides())
	}
}

// TestKeyBudget: a key's own budget is a quota of the key's requests, which follows the
// key's changes and goes with its revocation.
func TestKeyBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _ := sqliteStores(t)
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	r := open(t, keys.Config{Store: store, Location: loc})
	if _, _, err := r.Create(ctx, keys.Spec{ID: "ci", Tenant: "alpha", Budget: keys.Budget{MicroUSD: 3_000_000, Window: quota.Day}}); err != nil {
		t.Fatal(err)
	}
	l := quota.Labels{Tenant: "alpha", Key: "ci"}
	want := quota.Quota{Name: keys.BudgetRule, Key: "key_budget|key=ci", Scope: quota.Labels{Key: "ci"}, Unit: quota.MicroUSD,
		Limit: 3_000_000, Window: quota.Window{Kind: quota.Day, Location: loc}}
	keyBudget := func() *quota.Quota {
		for _, q := range r.For(nil, rules, l) {
			if q.Name == keys.BudgetRule {
				return &q
			}
		}
		return nil
	}
	if diff := cmp.Diff(&want, keyBudget(), cmp.Comparer(func(a, b *time.Location) bool { return a == b })); diff != "" {
		t.Errorf("the key's budget quota (-want +got):\n%s", diff)
	}
	gen := r.Generation()
	if _, err := r.SetBudget(ctx, "ci", keys.Budget{MicroUSD: 7_500_000, Window: quota.Day}); err != nil {
		t.Fatal(err)
	}
	if q := keyBudget(); q == nil || q.Limit != 7_500_000 {
		t.Errorf("the key's budget after SetBudget = %+v, want 7500000", q)
	}
	if r.Generation() == gen {
		t.Error("Generation did not move with the budget")
	}
	if _, err := r.SetBudget(ctx, "ci", keys.Budget{}); err != nil {
		t.Fatal(err)
	}
	if q := keyBudget(); q != nil {
		t.Errorf("a removed budget is still a quota: %+v", q)
	}
	if _, err := r.SetBudget(ctx, "ci", keys.Budget{MicroUSD: 1, Window: quota.Lifetime}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Revoke(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if q := keyBudget(); q != nil {
		t.Errorf("a revoked key's budget is still a quota: %+v", q)
	}
}
