package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if got := len(b.Gateway.Keys); got != 1 || b.Gateway.Keys[0].Tenant != "t1" {
		t.Errorf("Gateway.Keys = %+v, want one key of tenant t1", b.Gateway.Keys)
	}
	req := &llm.Request{Model: "smart", MaxTokens: 50, Messages: []llm.Message{{Role: "user", Content: "hello"}},
		Identity: llm.Identity{Key: "k1", Tenant: "t1", Session: "s1"}}
	resp, out, err := b.Engine.Do(ctx, req)
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
	if got["session|session=s1"] != tokens {
		t.Errorf("restored session tokens = %d, want %d", got["session|session=s1"], tokens)
	}
	if got["key-month|model=gpt-4o|key=k1"] != 1 {
		t.Errorf("restored monthly requests of k1 = %d, want 1", got["key-month|model=gpt-4o|key=k1"])
	}
	if len(b2.NotRestored) != 1 || !strings.HasPrefix(b2.NotRestored[0], "pairs: ") {
		t.Errorf("NotRestored = %q, want only the rule with two \"*\" labels", b2.NotRestored)
	}
	st, err := b2.Store.Status(ctx, []quota.Quota{{Name: "session", Key: "session|session=s1", Unit: quota.Tokens,
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

// fakeLedger answers restore queries from fixed rows, for the scope cases that the real
// ledger test does not reach.
type fakeLedger struct {
	rows  []ledger.Row
	asked []ledger.Query
}

func (f *fakeLedger) Query(_ context.Context, q ledger.Query) ([]ledger.Row, error) {
	f.asked = append(f.asked, q)
	return f.rows, nil
}

func TestRestoreQueries(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 29, 12, 0, 0, 0, paris) // the day of a DST change
	tests := []struct {
		name      string
		rule      quota.Rule
		rows      []ledger.Row
		wantQuery ledger.Query
		wantKeys  map[string]int64
		wantSkip  bool
	}{
		{"global day", quota.Rule{Name: "g", Unit: quota.MicroUSD, Limit: 1, Window: quota.Daily(paris)},
			[]ledger.Row{{Group: "", Sum: ledger.Sum{MicroUSD: 700}}},
			ledger.Query{Since: time.Date(2026, 3, 29, 0, 0, 0, 0, paris)},
			map[string]int64{"g": 700}, false},
		{"per tenant month, fixed model", quota.Rule{Name: "m", Scope: quota.Labels{Tenant: "*", Model: "gpt-4o"}, Unit: quota.Tokens, Limit: 1, Window: quota.Monthly(paris)},
			[]ledger.Row{{Group: "a", Sum: ledger.Sum{InputTokens: 3, OutputTokens: 4}}, {Group: "b", Sum: ledger.Sum{OutputTokens: 1}}, {Group: "", Sum: ledger.Sum{OutputTokens: 9}}},
			ledger.Query{By: ledger.ByTenant, Model: "gpt-4o", Since: time.Date(2026, 3, 1, 0, 0, 0, 0, paris)},
			map[string]int64{"m|model=gpt-4o|tenant=a": 7, "m|model=gpt-4o|tenant=b": 1}, false},
		{"fixed provider", quota.Rule{Name: "p", Scope: quota.Labels{Provider: "openai"}, Unit: quota.Requests, Limit: 1, Window: quota.Forever()},
			[]ledger.Row{{Group: "anthropic", Sum: ledger.Sum{Requests: 5}}, {Group: "openai", Sum: ledger.Sum{Requests: 2}}},
			ledger.Query{By: ledger.ByProvider},
			map[string]int64{"p|provider=openai": 2}, false},
		{"fixed provider beside each", quota.Rule{Name: "x", Scope: quota.Labels{Provider: "openai", Tenant: "*"}, Unit: quota.Requests, Limit: 1, Window: quota.Forever()},
			nil, ledger.Query{}, nil, true},
		{"two each labels", quota.Rule{Name: "y", Scope: quota.Labels{Session: "*", Tenant: "*"}, Unit: quota.Requests, Limit: 1, Window: quota.Forever()},
			nil, ledger.Query{}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeLedger{rows: tt.rows}
			mem := quota.NewMemoryStore(quota.MemoryConfig{})
			restored, skipped, err := restoreBudgets(t.Context(), f, mem, quota.Rules{tt.rule}, now)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantSkip {
				if len(skipped) != 1 || len(f.asked) != 0 {
					t.Errorf("skipped = %q, queries %v; want the rule skipped without a query", skipped, f.asked)
				}
				return
			}
			if len(f.asked) != 1 || !f.asked[0].Since.Equal(tt.wantQuery.Since) {
				t.Fatalf("queries = %+v, want %+v", f.asked, tt.wantQuery)
			}
			q := f.asked[0]
			q.Since = tt.wantQuery.Since
			if q != tt.wantQuery {
				t.Errorf("query = %+v, want %+v", q, tt.wantQuery)
			}
			got := map[string]int64{}
			for _, r := range restored {
				got[r.Quota.Key] = r.Used
				if st := mem.StatusAt(now, []quota.Quota{r.Quota}, nil); st[0].Used != r.Used {
					t.Errorf("store holds %d for %s, want %d", st[0].Used, r.Quota.Key, r.Used)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantKeys) {
				t.Errorf("restored = %v, want %v", got, tt.wantKeys)
			}
		})
	}
}
