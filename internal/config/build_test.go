package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// startEmulator serves a fake OpenAI and Anthropic for the test.
func startEmulator(t *testing.T) string {
	t.Helper()
	srv, err := emulator.Start(t.Context(), emulator.Config{Seed: 1}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.URL()
}

// emulatorConfig is a configuration against the emulator at url with its ledger in dir.
func emulatorConfig(url, dir string) string {
	return fmt.Sprintf(`upstreams:
  openai: {api_key_env: OPENAI_API_KEY, base_url: "%[1]s/v1"}
  anthropic: {api_key_env: ANTHROPIC_API_KEY, base_url: "%[1]s"}
routes:
  smart: {chain: gpt-4o -> claude-3-5-haiku -> static, static_message: busy}
quotas:
  - {name: rpm, scope: {model: gpt-4o}, unit: requests, limit: 500, window: minute}
  - {name: pool, unit: concurrent, limit: 4}
  - {name: daily, scope: {tenant: "*"}, unit: usd, limit: 50, window: day}
  - {name: session, scope: {session: "*"}, unit: tokens, limit: 1000000, window: lifetime}
  - {name: key-month, scope: {key: k1, model: gpt-4o}, unit: requests, limit: 1000, window: month}
  - {name: pairs, scope: {tenant: "*", session: "*"}, unit: usd, limit: 5, window: day}
keys:
  - {id: k1, tenant: t1, key_env: TOLLGATE_KEY}
ledger:
  path: %[2]s
`, url, filepath.Join(dir, "ledger.db"))
}

var testEnv = map[string]string{"OPENAI_API_KEY": "emulator", "ANTHROPIC_API_KEY": "emulator", "TOLLGATE_KEY": "tg-secret"}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestBuildServesAndRestores(t *testing.T) {
	t.Parallel()
	url, dir := startEmulator(t), t.TempDir()
	c := parse(t, emulatorConfig(url, dir))
	c.LookupEnv = func(n string) (string, bool) { v, ok := testEnv[n]; return v, ok }
	ctx := t.Context()

	b, err := c.Build(ctx, quietLogger())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if len(b.Restored) != 0 {
		t.Errorf("Restored on an empty ledger = %v, want none", b.Restored)
	}
	if k, ok := b.Gateway.Keys.Find(testEnv["TOLLGATE_KEY"]); !ok || k.ID != "k1" || k.Tenant != "t1" {
		t.Errorf("Gateway.Keys.Find(k1's secret) = %+v, %v; want key k1 of tenant t1", k, ok)
	}
	req := &llm.Request{Model: "smart", MaxTokens: 50, Messages: []llm.Message{{Role: "user", Content: "hello"}},
		Identity: llm.Identity{Key: "k1", Tenant: "t1", Session: "s1"}}
	res, err := b.Engine.Do(ctx, req)
	resp, out := res.Response, &res.Outcome
	if err != nil {
		t.Fatalf("Do: %v (outcome %+v)", err, out)
	}
	if resp.Text == "" || resp.Usage.OutputTokens == 0 {
		t.Fatalf("Do answered %+v, want text and usage from the emulator", resp)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}

	// The ledger holds the attempt: a restart restores the day's spend and the session's
	// tokens, so that they are not reset.
	b2, err := c.Build(ctx, quietLogger())
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	defer b2.Close(ctx)
	got := map[string]int64{}
	for _, r := range b2.Restored {
		got[r.Quota.Key] = r.Used
	}
	tokens := resp.Usage.InputTokens + resp.Usage.OutputTokens
	if got["daily|tenant=t1"] <= 0 {
		t.Errorf("restored daily spend of t1 = %d, want the request's cost (restored %v)", got["daily|tenant=t1"], got)
	}
	if got["session|tenant=t1|session=s1"] != tokens {
		t.Errorf("restored session tokens = %d, want %d", got["session|tenant=t1|session=s1"], tokens)
	}
	if got["key-month|model=gpt-4o|key=k1"] != 1 {
		t.Errorf("restored monthly requests of k1 = %d, want 1", got["key-month|model=gpt-4o|key=k1"])
	}
	if got["pairs|tenant=t1|session=s1"] != got["daily|tenant=t1"] {
		t.Errorf("restored spend of (t1, s1) = %d, want the day's spend %d", got["pairs|tenant=t1|session=s1"], got["daily|tenant=t1"])
	}
	if len(b2.NotRestored) != 0 {
		t.Errorf("NotRestored = %q, want every budget restored", b2.NotRestored)
	}
	st, err := b2.Store.Status(ctx, []quota.Quota{{Name: "session", Key: "session|tenant=t1|session=s1", Unit: quota.Tokens,
		Limit: 1_000_000, Window: quota.Forever()}}, nil)
	if err != nil || st[0].Used != tokens {
		t.Errorf("store status of the session = %+v, %v; want %d used", st, err, tokens)
	}
}

func TestBuildMissingSecret(t *testing.T) {
	t.Parallel()
	c := parse(t, emulatorConfig("http://127.0.0.1:1", t.TempDir()))
	c.LookupEnv = func(n string) (string, bool) {
		if n == "ANTHROPIC_API_KEY" {
			return "", false
		}
		v, ok := testEnv[n]
		return v, ok
	}
	_, err := c.Build(t.Context(), quietLogger())
	if !errors.Is(err, ErrMissingSecret) {
		t.Fatalf("Build error = %v, want ErrMissingSecret", err)
	}
	if !strings.Contains(err.Error(), "ANTHROPIC_API_KEY") {
		t.Errorf("Build error %q does not name the variable", err)
	}
	for _, v := range testEnv {
		if strings.Contains(err.Error(), v) {
			t.Errorf("Build error %q contains a secret's value", err)
		}
	}
}

func TestBuildRefusesProblems(t *testing.T) {
	t.Parallel()
	c := parse(t, "upstreams: {}\n")
	_, err := c.Build(t.Context(), quietLogger())
	var ps Problems
	if !errors.As(err, &ps) || len(ps) == 0 {
		t.Fatalf("Build error = %v, want Problems", err)
	}
}

func TestBuildDuplicateSecrets(t *testing.T) {
	t.Parallel()
	c := parse(t, `upstreams:
  openai: {api_key_env: OPENAI_API_KEY}
keys:
  - {id: a, tenant: t, key_env: SAME_1}
  - {id: b, tenant: t, key_env: SAME_2}
ledger: {path: ":memory:"}
`)
	c.LookupEnv = func(n string) (string, bool) { return "same-secret", true }
	_, err := c.Build(t.Context(), quietLogger())
	if err == nil || !strings.Contains(err.Error(), "same secret") || strings.Contains(err.Error(), "same-secret") {
		t.Fatalf("Build error = %v, want a duplicate-secret error without the secret", err)
	}
}

// fakeLedger is an in-memory ledger that answers restore queries from its records, with
// the real ledger's grouping and filters, so that the restore walk can be checked on scopes
// the real ledger test does not reach.
type fakeLedger struct {
	records []ledger.Record
	asked   int
}

func (f *fakeLedger) Query(_ context.Context, q ledger.Query) ([]ledger.Row, error) {
	f.asked++
	groups := map[string]*ledger.Row{}
	var order []string
	for _, r := range f.records {
		if r.Time.Before(q.Since) {
			continue
		}
		if q.Tenant != "" && r.Tenant != q.Tenant || q.Key != "" && r.Key != q.Key || q.Agent != "" && r.Agent != q.Agent ||
			q.Session != "" && r.Session != q.Session || q.Model != "" && r.Model != q.Model {
			continue
		}
		g := map[ledger.Dim]string{ledger.ByNone: "", ledger.ByTenant: r.Tenant, ledger.ByKey: r.Key, ledger.ByAgent: r.Agent,
			ledger.BySession: r.Session, ledger.ByProvider: r.Provider, ledger.ByModel: r.Model}[q.By]
		row, ok := groups[g]
		if !ok {
			row = &ledger.Row{By: q.By, Group: g}
			groups[g] = row
			order = append(order, g)
		}
		row.Requests++
		row.InputTokens += r.InputTokens
		row.OutputTokens += r.OutputTokens
		row.MicroUSD += r.MicroUSD
	}
	out := make([]ledger.Row, 0, len(order))
	for _, g := range order {
		out = append(out, *groups[g])
	}
	return out, nil
}

func TestRestoreScopes(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 29, 12, 0, 0, 0, paris) // the day of a DST change
	today := time.Date(2026, 3, 29, 0, 30, 0, 0, paris)
	yesterday := time.Date(2026, 3, 28, 23, 30, 0, 0, paris)
	lastMonth := time.Date(2026, 2, 28, 12, 0, 0, 0, paris)
	rec := func(at time.Time, tenant, session, provider, model string, usd int64) ledger.Record {
		return ledger.Record{Time: at, Tenant: tenant, Session: session, Provider: provider, Model: model,
			InputTokens: 10, OutputTokens: 5, MicroUSD: usd}
	}
	records := []ledger.Record{
		rec(yesterday, "a", "s1", "openai", "gpt-4o", 1000),
		rec(lastMonth, "a", "s1", "openai", "gpt-4o", 5000),
		rec(today, "a", "s1", "openai", "gpt-4o", 100),
		rec(today, "a", "s2", "anthropic", "claude-3-5-haiku", 20),
		rec(today, "b", "s3", "openai", "gpt-4o-mini", 3),
		rec(today, "b", "", "openai", "gpt-4o", 7),
	}
	tests := []struct {
		name string
		rule quota.Rule
		want map[string]int64
	}{
		{"global day", quota.Rule{Name: "g", Unit: quota.MicroUSD, Window: quota.Daily(paris)},
			map[string]int64{"g": 130}},
		{"per tenant month", quota.Rule{Name: "m", Scope: quota.Labels{Tenant: "*"}, Unit: quota.MicroUSD, Window: quota.Monthly(paris)},
			map[string]int64{"m|tenant=a": 1120, "m|tenant=b": 10}},
		{"fixed model, tokens", quota.Rule{Name: "t", Scope: quota.Labels{Model: "gpt-4o"}, Unit: quota.Tokens, Window: quota.Daily(paris)},
			map[string]int64{"t|model=gpt-4o": 30}},
		{"fixed provider", quota.Rule{Name: "p", Scope: quota.Labels{Provider: "openai"}, Unit: quota.Requests, Window: quota.Forever()},
			map[string]int64{"p|provider=openai": 5}},
		{"fixed provider beside each", quota.Rule{Name: "x", Scope: quota.Labels{Provider: "openai", Tenant: "*"}, Unit: quota.MicroUSD, Window: quota.Daily(paris)},
			map[string]int64{"x|provider=openai|tenant=a": 100, "x|provider=openai|tenant=b": 10}},
		{"two each labels", quota.Rule{Name: "y", Scope: quota.Labels{Tenant: "*", Session: "*"}, Unit: quota.MicroUSD, Window: quota.Forever()},
			map[string]int64{"y|tenant=a|session=s1": 6100, "y|tenant=a|session=s2": 20, "y|tenant=b|session=s3": 3}},
		{"each provider and model", quota.Rule{Name: "z", Scope: quota.Labels{Provider: "*", Model: "*"}, Unit: quota.Requests, Window: quota.Daily(paris)},
			map[string]int64{"z|provider=openai|model=gpt-4o": 2, "z|provider=anthropic|model=claude-3-5-haiku": 1, "z|provider=openai|model=gpt-4o-mini": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := quota.NewMemoryStore(quota.MemoryConfig{})
			tt.rule.Limit = 1_000_000
			restored, err := restoreBudgets(t.Context(), &fakeLedger{records: records}, func(q quota.Quota, used int64) { mem.Restore(now, q, used) }, quota.Rules{tt.rule}, now)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, r := range restored {
				got[r.Quota.Key] = r.Used
				if st := mem.StatusAt(now, []quota.Quota{r.Quota}, nil); st[0].Used != r.Used {
					t.Errorf("store holds %d for %s, want %d", st[0].Used, r.Quota.Key, r.Used)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("restored (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildFillsGatewayModels gives the gateway the models and routes callers may use:
// the file's models list as it is, or by default every route then every priced model an
// upstream serves.
func TestBuildFillsGatewayModels(t *testing.T) {
	t.Parallel()
	url := startEmulator(t)
	tests := []struct {
		name  string
		extra string
		check func(t *testing.T, models []string)
	}{
		{name: "listed", extra: "models: [smart, gpt-4o-mini, text-embedding-3-small]\n", check: func(t *testing.T, models []string) {
			if diff := cmp.Diff([]string{"smart", "gpt-4o-mini", "text-embedding-3-small"}, models); diff != "" {
				t.Errorf("Gateway.Models (-want +got):\n%s", diff)
			}
		}},
		{name: "default", check: func(t *testing.T, models []string) {
			if len(models) < 3 || models[0] != "smart" {
				t.Fatalf("Gateway.Models = %v, want the route first", models)
			}
			for _, want := range []string{"gpt-4o", "claude-3-5-haiku", "text-embedding-3-small"} {
				if !slices.Contains(models[1:], want) {
					t.Errorf("Gateway.Models = %v, want %s", models, want)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := parse(t, emulatorConfig(url, t.TempDir())+tt.extra)
			c.LookupEnv = func(n string) (string, bool) { v, ok := testEnv[n]; return v, ok }
			b, err := c.Build(t.Context(), quietLogger())
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			defer b.Close(context.WithoutCancel(t.Context()))
			tt.check(t, b.Gateway.Models)
		})
	}
}
