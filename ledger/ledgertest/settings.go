package ledgertest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/ledger"
)

// key returns a stored key for tenant, made at t0+d, whose secret is "secret-"+id.
func key(id, tenant string, d time.Duration) ledger.KeyRecord {
	return ledger.KeyRecord{ID: id, Tenant: tenant, Hash: sha256.Sum256([]byte("secret-" + id)), Hint: "tg-" + id[:min(len(id), 4)],
		AllowedModels: []string{"gpt-4o-mini", "smart"}, MaxPriority: 2, RequireSession: true,
		BudgetMicroUSD: 5_000_000, BudgetWindow: "day", Note: "made by " + tenant, Created: t0.Add(d)}
}

func settings(t testing.TB, l *ledger.Ledger) ledger.Settings {
	t.Helper()
	s, err := l.Settings(context.Background())
	if err != nil {
		t.Fatalf("Settings() = %v", err)
	}
	return s
}

// stored is k as Settings returns it after CreateKey.
func stored(k ledger.KeyRecord) ledger.KeyRecord {
	k.Updated = k.Created
	return k
}

// testKeys: keys round-trip with every field, through a reopen and to a reader; revoking
// keeps the row; ids and hashes are unique forever; each change raises the revision.
func testKeys(t *testing.T, newConfig NewConfig) {
	ctx := context.Background()
	cfg := newConfig(t)
	l := open(t, cfg)
	if s := settings(t, l); s.Revision != 0 || len(s.Keys) != 0 || len(s.Overrides) != 0 {
		t.Fatalf("Settings() of a new ledger = %+v, want nothing at revision 0", s)
	}
	a, b := key("alpha-1", "alpha", 0), key("beta-1", "beta", time.Second)
	b.AllowedModels, b.RequireSession, b.BudgetMicroUSD, b.BudgetWindow, b.MaxPriority = nil, false, 0, "", -1
	for _, k := range []ledger.KeyRecord{a, b} {
		if err := l.CreateKey(ctx, k); err != nil {
			t.Fatalf("CreateKey(%s) = %v", k.ID, err)
		}
	}
	want := []ledger.KeyRecord{stored(a), stored(b)}
	if diff := cmp.Diff(want, settings(t, l).Keys); diff != "" {
		t.Errorf("Keys after CreateKey (-want +got):\n%s", diff)
	}

	dupID := key("alpha-1", "gamma", 2*time.Second)
	dupID.Hash = sha256.Sum256([]byte("another secret"))
	dupHash := key("alpha-2", "gamma", 2*time.Second)
	dupHash.Hash = a.Hash
	for _, k := range []ledger.KeyRecord{dupID, dupHash} {
		if err := l.CreateKey(ctx, k); !errors.Is(err, ledger.ErrKeyExists) {
			t.Errorf("CreateKey(%s, same id or hash as alpha-1) = %v, want ErrKeyExists", k.ID, err)
		}
	}

	revokedAt := t0.Add(time.Hour)
	got, err := l.RevokeKey(ctx, "alpha-1", revokedAt)
	if err != nil {
		t.Fatalf("RevokeKey() = %v", err)
	}
	want[0].Revoked, want[0].Updated = revokedAt, revokedAt
	if diff := cmp.Diff(want[0], got); diff != "" {
		t.Errorf("RevokeKey() returned (-want +got):\n%s", diff)
	}
	if got, err := l.RevokeKey(ctx, "alpha-1", revokedAt.Add(time.Hour)); err != nil || !got.Revoked.Equal(revokedAt) {
		t.Errorf("RevokeKey() again = %v, %v; want the first revocation time %v kept", got.Revoked, err, revokedAt)
	}
	if _, err := l.RevokeKey(ctx, "nobody", revokedAt); !errors.Is(err, ledger.ErrKeyNotFound) {
		t.Errorf("RevokeKey(unknown) = %v, want ErrKeyNotFound", err)
	}
	// A revoked key's id and secret stay taken.
	if err := l.CreateKey(ctx, key("alpha-1", "alpha", 3*time.Hour)); !errors.Is(err, ledger.ErrKeyExists) {
		t.Errorf("CreateKey(revoked id) = %v, want ErrKeyExists", err)
	}

	budgetAt := t0.Add(2 * time.Hour)
	got, err = l.SetKeyBudget(ctx, "beta-1", 12_500_000, "month", budgetAt)
	if err != nil {
		t.Fatalf("SetKeyBudget() = %v", err)
	}
	want[1].BudgetMicroUSD, want[1].BudgetWindow, want[1].Updated = 12_500_000, "month", budgetAt
	if diff := cmp.Diff(want[1], got); diff != "" {
		t.Errorf("SetKeyBudget() returned (-want +got):\n%s", diff)
	}
	if _, err := l.SetKeyBudget(ctx, "nobody", 1, "day", budgetAt); !errors.Is(err, ledger.ErrKeyNotFound) {
		t.Errorf("SetKeyBudget(unknown) = %v, want ErrKeyNotFound", err)
	}

	s := settings(t, l)
	if diff := cmp.Diff(want, s.Keys); diff != "" {
		t.Errorf("Keys after the changes (-want +got):\n%s", diff)
	}
	// Two creates, one revoke and one budget changed the settings; the refused calls and
	// the repeated revoke may or may not count, but never lower it.
	if s.Revision < 4 {
		t.Errorf("Revision = %d after 4 changes, want at least 4", s.Revision)
	}
	if rev, err := l.SettingsRevision(ctx); err != nil || rev != s.Revision {
		t.Errorf("SettingsRevision() = %d, %v; want Settings().Revision %d", rev, err, s.Revision)
	}

	ro := cfg
	ro.ReadOnly = true
	r := open(t, ro)
	if diff := cmp.Diff(want, settings(t, r).Keys); diff != "" {
		t.Errorf("Keys seen by a reader (-want +got):\n%s", diff)
	}
	if err := r.CreateKey(ctx, key("gamma-1", "gamma", 0)); !errors.Is(err, ledger.ErrReadOnly) {
		t.Errorf("CreateKey() on a reader = %v, want ErrReadOnly", err)
	}
	closeLedger(t, r)
	closeLedger(t, l)
	again := open(t, cfg)
	if diff := cmp.Diff(want, settings(t, again).Keys); diff != "" {
		t.Errorf("Keys after a reopen (-want +got):\n%s", diff)
	}
}

// testBudgetOverrides: overrides are upserted by quota key, deleted, and survive a reopen.
func testBudgetOverrides(t *testing.T, newConfig NewConfig) {
	ctx := context.Background()
	cfg := newConfig(t)
	l := open(t, cfg)
	o1 := ledger.BudgetOverride{QuotaKey: "tenant-daily|tenant=alpha", Rule: "tenant-daily", Scope: "tenant=alpha",
		Limit: 80_000_000, Note: "quarter end", Updated: t0}
	o2 := ledger.BudgetOverride{QuotaKey: "session-usd|session=run-7", Rule: "session-usd", Scope: "session=run-7",
		Limit: 3_000_000, Updated: t0.Add(time.Second)}
	for _, o := range []ledger.BudgetOverride{o1, o2} {
		if err := l.SetBudgetOverride(ctx, o); err != nil {
			t.Fatalf("SetBudgetOverride(%s) = %v", o.QuotaKey, err)
		}
	}
	raised := o1
	raised.Limit, raised.Note, raised.Updated = 120_000_000, "raised again", t0.Add(time.Minute)
	if err := l.SetBudgetOverride(ctx, raised); err != nil {
		t.Fatalf("SetBudgetOverride(raise) = %v", err)
	}
	// By quota key: "session..." sorts before "tenant...".
	if diff := cmp.Diff([]ledger.BudgetOverride{o2, raised}, settings(t, l).Overrides); diff != "" {
		t.Errorf("Overrides (-want +got):\n%s", diff)
	}
	for _, bad := range []ledger.BudgetOverride{
		{QuotaKey: "x", Rule: "x", Limit: 0},
		{QuotaKey: "x", Rule: "x", Limit: -5},
		{Rule: "x", Limit: 5},
	} {
		if err := l.SetBudgetOverride(ctx, bad); err == nil {
			t.Errorf("SetBudgetOverride(%+v) = nil, want an error", bad)
		}
	}
	if found, err := l.DeleteBudgetOverride(ctx, o2.QuotaKey); err != nil || !found {
		t.Errorf("DeleteBudgetOverride() = %v, %v; want true", found, err)
	}
	if found, err := l.DeleteBudgetOverride(ctx, o2.QuotaKey); err != nil || found {
		t.Errorf("DeleteBudgetOverride() again = %v, %v; want false", found, err)
	}
	closeLedger(t, l)
	again := open(t, cfg)
	if diff := cmp.Diff([]ledger.BudgetOverride{raised}, settings(t, again).Overrides); diff != "" {
		t.Errorf("Overrides after a reopen (-want +got):\n%s", diff)
	}
}

// testSettingsConcurrent: concurrent creates of distinct keys all land, each raises the
// revision once, and concurrent creates of one id let exactly one through.
func testSettingsConcurrent(t *testing.T, newConfig NewConfig) {
	ctx := context.Background()
	l := open(t, newConfig(t))
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range n {
		wg.Go(func() {
			errs[i] = l.CreateKey(ctx, key(fmt.Sprintf("k%02d", i), "acme", time.Duration(i)))
		})
		wg.Go(func() {
			k := key("same", "acme", time.Duration(i))
			k.Hash = sha256.Sum256(fmt.Appendf(nil, "same-%d", i))
			errs[n+i] = l.CreateKey(ctx, k)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case i < n && err != nil:
			t.Errorf("CreateKey(k%02d) = %v", i, err)
		case i >= n && err == nil:
			won++
		case i >= n && !errors.Is(err, ledger.ErrKeyExists):
			t.Errorf("CreateKey(same) = %v, want nil or ErrKeyExists", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent creates of one id succeeded, want 1", won)
	}
	s := settings(t, l)
	if len(s.Keys) != n+1 {
		t.Errorf("%d keys stored, want %d", len(s.Keys), n+1)
	}
	if s.Revision < n+1 {
		t.Errorf("Revision = %d after %d creates, want at least that", s.Revision, n+1)
	}
}
