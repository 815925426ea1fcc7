package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/retry"
)

func openLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(context.Background(), ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

func flushed(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestHoldsInTheLedger: every attempt that reaches the upstream journals a hold first, and
// its record closes it; the records carry the request's id, the upstream's and the attempt's
// number, so that a retried request reads as its attempts.
func TestHoldsInTheLedger(t *testing.T) {
	t.Parallel()
	l := openLedger(t)
	up := newScripted("openai").then("gpt-4o",
		func(call llm.Call) (*llm.Response, error) {
			return nil, &llm.Error{Kind: llm.KindServer, Status: 500, UpstreamRequestID: "req_first"}
		},
		func(call llm.Call) (*llm.Response, error) {
			return &llm.Response{Model: call.Model, Stream: newScript(nil, text(" Hi"), usage(llm.Usage{InputTokens: 950, OutputTokens: 1})),
				UpstreamRequestID: "req_second"}, nil
		})
	e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}, Ledger: l,
		Retry: retry.Policy{MaxAttempts: 2, Rand: func() float64 { return 0 }}})
	req := request("gpt-4o", 100)
	req.Stream = true
	res, err := e.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.UpstreamRequestID != "req_second" {
		t.Errorf("Result.UpstreamRequestID = %q, want req_second", res.UpstreamRequestID)
	}
	flushed(t, l)
	holds, err := l.OpenHolds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(holds) != 1 || holds[0].RequestID != res.RequestID || holds[0].Attempt != 2 || holds[0].OutputTokens != 100 {
		t.Fatalf("open holds during the stream = %+v, want the second attempt's worst case", holds)
	}
	for _, err := res.Response.Stream.Recv(); err == nil; _, err = res.Response.Stream.Recv() {
	}
	res.Response.Stream.Close()
	flushed(t, l)
	if holds, _ := l.OpenHolds(context.Background()); len(holds) != 0 {
		t.Errorf("open holds after the stream = %+v, want none", holds)
	}
	recs, err := l.Request(context.Background(), res.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("records of %s = %+v, want 2 (the failed attempt and the served one)", res.RequestID, recs)
	}
	first, second := recs[0], recs[1]
	if first.Attempt != 1 || first.Outcome != ledger.OutcomeError || first.UpstreamRequestID != "req_first" ||
		first.MicroUSD != 0 || first.HoldID == "" {
		t.Errorf("first record %+v, want attempt 1, error, req_first, nothing charged, a hold closed", first)
	}
	if second.Attempt != 2 || second.Outcome != ledger.OutcomeOK || second.UpstreamRequestID != "req_second" ||
		second.InputTokens != 950 || second.OutputTokens != 1 || second.HoldID == "" || second.HoldID == first.HoldID {
		t.Errorf("second record %+v, want attempt 2, ok, req_second, the reported usage, its own hold", second)
	}
	if byUp, _ := l.Request(context.Background(), "req_second"); len(byUp) != 2 {
		t.Errorf("Request(upstream id) = %d records, want the request's 2", len(byUp))
	}
}

// failingHolds is a Recorder whose holds cannot be journaled: the ledger's storage is down.
type failingHolds struct{ records }

var errDiskFull = errors.New("disk I/O error: database or disk is full")

func (f *failingHolds) OpenHold(context.Context, ledger.Hold) error { return errDiskFull }

// TestHoldFailureSendsNothing: an attempt whose hold cannot be journaled is not made. Its
// reservation is given back, and the caller gets tollgate's error, not an upstream's.
func TestHoldFailureSendsNothing(t *testing.T) {
	t.Parallel()
	up := newScripted("openai")
	rec := &failingHolds{}
	session := quota.Rule{Name: "s", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 40, Window: quota.Forever()}
	e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}, Ledger: rec, Rules: quota.Rules{session},
		Routes: routes(t, chain(t, "smart", "gpt-4o -> gpt-4o-mini"))})
	res, err := e.Do(context.Background(), request("smart", 100))
	if !errors.Is(err, engine.ErrHold) || !errors.Is(err, errDiskFull) || llm.KindOf(err) != llm.KindUnknown {
		t.Fatalf("Do = %v, want ErrHold wrapping the ledger's error and no upstream kind", err)
	}
	if calls := up.calls(); len(calls) != 0 {
		t.Errorf("upstream calls %v, want none", calls)
	}
	if out := res.Outcome; len(out.Attempts) != 1 || out.Attempts[0].Why != fallback.WhyHold {
		t.Errorf("outcome %v, want the first step failed for its hold, and no fallback", &out)
	}
	q, _ := session.For(quota.Labels{Tenant: "acme", Session: "s1"})
	st, _ := e.Store().Status(context.Background(), []quota.Quota{q}, nil)
	if st[0].Used != 0 || e.Open() != 0 || len(rec.all()) != 0 {
		t.Errorf("used %d, open %d, records %d; want the reservation released and nothing recorded", st[0].Used, e.Open(), len(rec.all()))
	}
}

// TestRequestIDGoesUpstream: the id the engine answers with is the one the upstream
// receives, and a caller's own id is kept.
func TestRequestIDGoesUpstream(t *testing.T) {
	t.Parallel()
	var got []string
	up := newScripted("openai")
	up.def = func(call llm.Call) (*llm.Response, error) {
		got = append(got, call.RequestID)
		return &llm.Response{Usage: llm.Usage{InputTokens: 1, OutputTokens: 1}}, nil
	}
	e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}})
	res, err := e.Do(context.Background(), request("gpt-4o", 10))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.RequestID) != 36 || strings.Count(res.RequestID, "-") != 4 || res.RequestID[14] != '7' {
		t.Errorf("RequestID = %q, want a UUIDv7", res.RequestID)
	}
	req := request("gpt-4o", 10)
	req.ID = "0190a8f2-7c3e-7a31-9b1e-4c2d8e5f6a7b"
	res2, _ := e.Do(context.Background(), req)
	if want := []string{res.RequestID, req.ID}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] || res2.RequestID != req.ID {
		t.Errorf("ids sent upstream %q, want %q", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	up := newScripted("openai")
	valid := func() engine.Config { return engine.Config{Providers: map[string]llm.Provider{"openai": up}} }
	tests := []struct {
		name   string
		change func(*engine.Config)
		field  string // named in the error; "" for a valid config
	}{
		{"valid", func(*engine.Config) {}, ""},
		{"no providers", func(c *engine.Config) { c.Providers = nil }, "Config.Providers"},
		{"nil provider", func(c *engine.Config) { c.Providers["anthropic"] = nil }, `Config.Providers["anthropic"]`},
		{"bad rule", func(c *engine.Config) { c.Rules = quota.Rules{{Name: "x", Unit: quota.MicroUSD}} }, "Config.Rules[0]"},
		{"negative queue wait", func(c *engine.Config) { c.Queue.MaxWait = -time.Second }, "Config.Queue"},
		{"bad retry", func(c *engine.Config) { c.Retry.MaxAttempts = -1 }, "Config.Retry"},
		{"negative fallback wait", func(c *engine.Config) { c.FallbackAfter = -1 }, "Config.FallbackAfter"},
		{"negative chain cap", func(c *engine.Config) { c.ChainAttempts = -2 }, "Config.ChainAttempts"},
		{"negative default cap", func(c *engine.Config) { c.DefaultMaxTokens = -1 }, "Config.DefaultMaxTokens"},
		{"negative abandon timeout", func(c *engine.Config) { c.AbandonTimeout = -time.Second }, "Config.AbandonTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.field)
			}
			if _, nerr := engine.New(c); nerr == nil || nerr.Error() != err.Error() {
				t.Errorf("New() = %v, want Validate's error", nerr)
			}
		})
	}
}
