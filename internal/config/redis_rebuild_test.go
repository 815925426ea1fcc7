package config

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// TestRedisRebuiltFromThePostgresLedger runs two replicas' configurations on one Redis and
// one PostgreSQL ledger. After Redis loses its data, the next request finds the state gone
// and the budgets come back from the ledger: the records' sums, another call's open hold
// (installed as held, settled afterwards by the other replica), and no second count of a
// reservation the ledger already settled.
func TestRedisRebuiltFromThePostgresLedger(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	url, dir := startEmulator(t), t.TempDir()
	env := map[string]string{"LEDGER_URL": pgtest.Database(t)}
	for k, v := range testEnv {
		env[k] = v
	}
	text := emulatorConfig(url, dir)
	text = text[:len(text)-len("ledger:\n  path: "+dir+"/ledger.db\n")] +
		"ledger: {backend: postgres, url_env: LEDGER_URL, commit_interval: 10ms}\n" +
		fmt.Sprintf("redis: {url: \"redis://%s\", slot_group: rebuild, replicas: 2}\n", srv.Addr())
	build := func() *Built {
		c := parse(t, text)
		c.LookupEnv = func(n string) (string, bool) { v, ok := env[n]; return v, ok }
		b, err := c.Build(t.Context(), quietLogger())
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		t.Cleanup(func() { _ = b.Close(t.Context()) })
		return b
	}
	a, b := build(), build()
	ctx := t.Context()
	id := llm.Identity{Key: "k1", Tenant: "t1", Session: "s1"}
	do := func(bt *Built) {
		t.Helper()
		req := &llm.Request{Model: "smart", MaxTokens: 50, Messages: []llm.Message{{Role: "user", Content: "hello"}}, Identity: id}
		if _, err := bt.Engine.Do(ctx, req); err != nil {
			t.Fatalf("Do: %v", err)
		}
	}
	daily, _ := (&quota.Rule{Name: "daily", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 50_000_000,
		Window: quota.Daily(time.UTC)}).For(quota.Labels{Tenant: "t1"})
	status := func() quota.Status {
		t.Helper()
		sts, err := a.Store.Status(ctx, []quota.Quota{daily}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sts[0]
	}
	ledgerUSD := func() int64 {
		t.Helper()
		for _, bt := range []*Built{a, b} {
			if err := bt.Ledger.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		sums, err := a.Ledger.SumSince(ctx, time.Time{}, ledger.ByNone)
		if err != nil {
			t.Fatal(err)
		}
		return sums[""].MicroUSD
	}
	do(a)
	do(b)
	do(a)
	spent := ledgerUSD()
	if st := status(); spent == 0 || st.Used != spent {
		t.Fatalf("before the loss: Redis used %d, ledger %d; want equal and > 0", st.Used, spent)
	}

	// Another call in flight on replica b, journaled; and one the ledger already settled.
	inflight, counted := quota.NewIDGen().Next(), quota.NewIDGen().Next()
	if err := b.Ledger.OpenHold(ctx, ledger.Hold{ID: inflight.String(), RequestID: "r-inflight", Tenant: "t1",
		Key: "k1", Session: "s1", Provider: "openai", Model: "gpt-4o", InputTokens: 10, OutputTokens: 50,
		MicroUSD: 5000}); err != nil {
		t.Fatal(err)
	}
	if err := b.Ledger.Append(ledger.Record{RequestID: "r-counted", HoldID: counted.String(), Tenant: "t1", Key: "k1",
		Session: "s1", Provider: "openai", Model: "gpt-4o", MicroUSD: 700, Outcome: ledger.OutcomeOK, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	spent = ledgerUSD()

	rc := redis.NewClient(srv.Options())
	defer rc.Close()
	if err := rc.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	do(a)
	after := ledgerUSD()
	if st := status(); st.Held != 5000 || st.Used != after+5000 {
		t.Errorf("after the rebuild and one request: Redis used %d (held %d), want the ledger's %d + the open hold's 5000 (held)",
			st.Used, st.Held, after)
	}
	if _, err := b.Store.Settle(ctx, inflight, quota.Amount{Requests: 1, InputTokens: 10, OutputTokens: 20, MicroUSD: 1200}, nil); err != nil {
		t.Errorf("settling the call that was in flight: %v", err)
	}
	if _, err := b.Store.Settle(ctx, counted, quota.Amount{Requests: 1, MicroUSD: 700}, nil); err == nil {
		t.Errorf("settling a reservation the ledger already counted succeeded, want ErrUnknownReservation")
	}
	if st := status(); st.Held != 0 || st.Used != after+1200 {
		t.Errorf("after the settles: Redis used %d (held %d), want %d (held 0)", st.Used, st.Held, after+1200)
	}
	if spent == after {
		t.Errorf("the request after the loss was not recorded")
	}
}

func TestValidateRedisRecovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string // the redis section, appended to minimal
		want []string
	}{
		{"set", "redis: {url: \"redis://h:6379\", probe_interval: 100ms, outbox: 1000, rebuild_timeout: 10s}\n", nil},
		{"negative", "redis: {url: \"redis://h:6379\", probe_interval: -1s, outbox: -1, rebuild_timeout: -2s}\n", []string{
			`t.yaml:5:48: redis.probe_interval: must not be negative, got -1s`,
			`t.yaml:5:61: redis.outbox: must not be negative, got -1`,
			`t.yaml:5:82: redis.rebuild_timeout: must not be negative, got -2s`}},
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
