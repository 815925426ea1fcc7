package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
)

func TestValidateLedger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string // the ledger section, appended to minimal
		want []string
	}{
		{"sqlite default", "ledger: {path: spend.db}\n", nil},
		{"postgres", "ledger: {backend: postgres, url_env: LEDGER_URL, instance_env: POD_NAME, heartbeat_ttl: 10s, max_conns: 8}\n", nil},
		{"unknown backend", "ledger: {backend: mysql}\n", []string{`t.yaml:5:19: ledger.backend: unknown backend "mysql": want sqlite or postgres`}},
		{"postgres without url_env", "ledger: {backend: postgres}\n",
			[]string{`t.yaml:5:1: ledger.url_env: is required for backend postgres: the variable that holds the PostgreSQL URL`}},
		{"postgres with a path", "ledger: {backend: postgres, url_env: U, path: x.db}\n", []string{`t.yaml:5:47: ledger.path: is only for backend sqlite`}},
		{"postgres fields on sqlite", "ledger: {url_env: U, heartbeat_ttl: 5s}\n", []string{
			`t.yaml:5:19: ledger.url_env: is only for backend postgres`, `t.yaml:5:37: ledger.heartbeat_ttl: is only for backend postgres`}},
		{"bad env name", "ledger: {backend: postgres, url_env: postgres://x}\n",
			[]string{`t.yaml:5:38: ledger.url_env: "postgres://x" is not an environment variable name (letters, digits, _)`}},
		{"negative", "ledger: {backend: postgres, url_env: U, max_conns: -1, heartbeat_ttl: -1s}\n", []string{
			`t.yaml:5:52: ledger.max_conns: must not be negative, got -1`, `t.yaml:5:71: ledger.heartbeat_ttl: must not be negative, got -1s`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := problemStrings(parse(t, minimal+tt.text).Validate())
			if diff := cmp.Diff(tt.want, got, cmpEmpty); diff != "" {
				t.Errorf("Validate() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLedgerConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LEDGER_URL": "postgres://tg:s3cret@db:5432/tg", "POD_NAME": "gateway-2"}
	c := parse(t, minimal+"ledger: {backend: postgres, url_env: LEDGER_URL, instance_env: POD_NAME, commit_interval: 50ms, heartbeat_ttl: 9s, recover_interval: -1s, max_conns: 6}\n")
	c.LookupEnv = func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	got, err := c.LedgerConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := ledger.Config{Backend: ledger.Postgres, URL: env["LEDGER_URL"], Instance: "gateway-2",
		CommitInterval: 50 * time.Millisecond, HeartbeatTTL: 9 * time.Second, RecoverInterval: -time.Second, MaxConns: 6}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LedgerConfig() (-want +got):\n%s", diff)
	}
	if s := c.Summary(); s.Ledger != "postgres ($LEDGER_URL)" {
		t.Errorf("Summary().Ledger = %q", s.Ledger)
	}
	if diff := cmp.Diff([]string{"LEDGER_URL"}, secretNames(c.Secrets())); diff != "" {
		t.Errorf("Secrets() misses the ledger URL (-want +got):\n%s", diff)
	}

	delete(env, "LEDGER_URL")
	_, err = c.LedgerConfig()
	if !errors.Is(err, ErrMissingSecret) || !strings.Contains(err.Error(), "LEDGER_URL") {
		t.Errorf("LedgerConfig() without the URL = %v, want ErrMissingSecret naming LEDGER_URL", err)
	}

	sq := parse(t, minimal+"ledger: {path: spend.db}\n")
	got, err = sq.LedgerConfig()
	if err != nil || got.Backend != ledger.SQLite || got.Path != "spend.db" {
		t.Errorf("LedgerConfig(sqlite) = %+v, %v", got, err)
	}
}

func secretNames(ss []Secret) []string {
	var out []string
	for _, s := range ss {
		if strings.Contains(strings.Join(s.Paths, ","), "ledger") {
			out = append(out, s.Env)
		}
	}
	return out
}

// TestBuildRestoresFromPostgres runs a fleet's ledger on a real PostgreSQL: a request
// through one Build is recorded there, a hold that its process left open is charged at its
// worst case, and the next Build restores both into the day's budget.
func TestBuildRestoresFromPostgres(t *testing.T) {
	t.Parallel()
	url, dir := startEmulator(t), t.TempDir()
	text := strings.Replace(emulatorConfig(url, dir), "ledger:\n  path: "+filepath.Join(dir, "ledger.db")+"\n",
		"ledger: {backend: postgres, url_env: LEDGER_URL}\n", 1)
	env := map[string]string{"LEDGER_URL": pgtest.Database(t)}
	for k, v := range testEnv {
		env[k] = v
	}
	c := parse(t, text)
	if ps := c.Validate(); len(ps) > 0 {
		t.Fatalf("Validate() = %v", problemStrings(ps))
	}
	c.LookupEnv = func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	ctx := t.Context()

	b, err := c.Build(ctx, quietLogger())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if b.Ledger.Backend() != ledger.Postgres {
		t.Fatalf("Ledger.Backend() = %q, want postgres", b.Ledger.Backend())
	}
	_, err = b.Engine.Do(ctx, chatRequest("t1", "s1"))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	// A call whose process closes without settling it: charged at its worst case.
	const worst = 1_500_000
	if err := b.Ledger.OpenHold(ctx, ledger.Hold{ID: "h1", RequestID: "r-hold", Tenant: "t1", Session: "s2",
		Model: "gpt-4o", MicroUSD: worst, OutputTokens: 4096}); err != nil {
		t.Fatal(err)
	}
	settled, err := b.Ledger.SumSince(ctx, time.Time{}, ledger.ByTenant)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b2, err := c.Build(ctx, quietLogger())
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	defer b2.Close(ctx)
	got := map[string]int64{}
	for _, r := range b2.Restored {
		got[r.Quota.Key] = r.Used
	}
	if want := settled["t1"].MicroUSD + worst; got["daily|tenant=t1"] != want {
		t.Errorf("restored daily spend of t1 = %d, want the settle's %d plus the orphaned hold's %d", got["daily|tenant=t1"],
			settled["t1"].MicroUSD, worst)
	}
	if got["daily|tenant=t1"] > 50_000_000 {
		t.Errorf("restored daily spend %d is over the $50 limit", got["daily|tenant=t1"])
	}
}

func chatRequest(tenant, session string) *llm.Request {
	return &llm.Request{Model: "smart", MaxTokens: 50, Messages: []llm.Message{{Role: "user", Content: "hello"}},
		Identity: llm.Identity{Key: "k1", Tenant: tenant, Session: session}}
}
