package engine_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

type noop struct{ resp llm.Response }

func (n *noop) Name() string { return "openai" }
func (n *noop) Do(ctx context.Context, call llm.Call) (*llm.Response, error) {
	r := n.resp
	return &r, nil
}

// benchRules are five quotas, as a gateway with rates, a lease and two budgets has.
var benchRules = quota.Rules{
	{Name: "rpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()},
	{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 1 << 50, Window: quota.PerMinute()},
	{Name: "conc", Unit: quota.Concurrent, Limit: 1 << 20, Window: quota.Leased()},
	{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 62, Window: quota.Forever()},
	{Name: "daily-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 62, Window: quota.Daily(nil)},
}

func benchEngine(b *testing.B, l engine.Recorder) *engine.Engine {
	up := &noop{resp: llm.Response{Model: "gpt-4o", Text: "ok", Usage: llm.Usage{InputTokens: 1000, OutputTokens: 20}}}
	e, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: benchRules, Ledger: l})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	return e
}

// BenchmarkDo is the engine's own cost per request: route, estimate, plan, five quotas
// reserved and settled through the queue, events off, a no-op upstream. The caller's
// context cannot be cancelled, so the call runs in the caller's goroutine.
func BenchmarkDo(b *testing.B) {
	e := benchEngine(b, nil)
	req := request("gpt-4o", 100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Do(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDoCancellable is BenchmarkDo with a context that can be cancelled, as every
// gateway request's is: the call runs on a detached context in a goroutine of its own, so
// that a caller who leaves does not take the call's usage with it.
func BenchmarkDoCancellable(b *testing.B) {
	e := benchEngine(b, nil)
	req := request("gpt-4o", 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Do(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDoHold is the latency that the hold journal adds to a request: one request at a
// time through the engine with a no-op upstream, the caller's context cancellable, and a
// ledger that journals a hold (durable: committed, fsynced) before each call and appends
// the record that closes it after. ledger=none is the same request without a ledger.
func BenchmarkDoHold(b *testing.B) {
	for _, backend := range []string{"none", "sqlite", "postgres"} {
		b.Run("ledger="+backend, func(b *testing.B) {
			e := benchEngine(b, benchLedger(b, backend))
			req := request("gpt-4o", 100)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Do(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDoHoldParallel is BenchmarkDoHold with 16 requests at once per P: concurrent
// holds share a commit, so the journal's cost per request falls with load.
func BenchmarkDoHoldParallel(b *testing.B) {
	for _, backend := range []string{"none", "sqlite", "postgres"} {
		b.Run("ledger="+backend, func(b *testing.B) {
			e := benchEngine(b, benchLedger(b, backend))
			b.SetParallelism(16)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := request("gpt-4o", 100)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				for pb.Next() {
					if _, err := e.Do(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// benchLedger opens a new ledger on backend ("sqlite", "postgres"); nil for "none".
func benchLedger(b *testing.B, backend string) engine.Recorder {
	var cfg ledger.Config
	switch backend {
	case "sqlite":
		cfg = ledger.Config{Path: filepath.Join(b.TempDir(), "ledger.db")}
	case "postgres":
		cfg = ledger.Config{Backend: ledger.Postgres, URL: pgtest.Database(b)}
	default:
		return nil
	}
	l, err := ledger.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}
