package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// noop answers every call at once with a fixed usage.
type noop struct{}

func (noop) Name() string { return "openai" }

func (noop) Do(_ context.Context, call llm.Call) (*llm.Response, error) {
	return &llm.Response{Format: llm.OpenAI, Model: call.Model, Text: "ok", Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}}, nil
}

// BenchmarkEngineRedis is requests through the engine with five quotas in Redis and a
// no-op upstream, followed by the response headers' quota look-up as the gateway does it:
// the round trips and the bytes sent to Redis per request.
func BenchmarkEngineRedis(b *testing.B) {
	srv := redistest.Start(b)
	client := redis.NewClient(srv.Options())
	b.Cleanup(func() { _ = client.Close() })
	store, err := New(client, Config{SlotGroup: "bench-engine", Timeout: 5 * time.Second, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	if _, err := store.Ensure(context.Background()); err != nil { // the fleet's first start, not a request's
		b.Fatal(err)
	}
	rec := &recorder{}
	client.AddHook(rec)
	e, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": noop{}}, Rules: quota.Rules{
		{Name: "rpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()},
		{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 1 << 50, Window: quota.PerMinute()},
		{Name: "conc", Unit: quota.Concurrent, Limit: 1 << 20, Window: quota.Leased()},
		{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 50, Window: quota.Forever()},
		{Name: "daily-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 50, Window: quota.Daily(nil)},
	}, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	id := llm.Identity{Tenant: "acme", Session: "s1"}
	req := &llm.Request{Format: llm.OpenAI, Model: "gpt-4o", MaxTokens: 100, InputTokens: 50, Identity: id,
		Messages: []llm.Message{{Role: "user", Content: "hi"}}}
	in0, t0 := netIn(b, client), rec.trips.Load()
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.Do(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		// What the response headers report, without a round trip of their own.
		if len(res.Statuses) != 5 {
			b.Fatalf("Result.Statuses = %d statuses, want 5", len(res.Statuses))
		}
	}
	b.StopTimer()
	trips := rec.trips.Load() - t0 // before the INFO below, which is the benchmark's own
	in := netIn(b, client) - in0
	b.ReportMetric(float64(trips)/float64(b.N), "trips/req")
	b.ReportMetric(float64(in)/float64(b.N), "B-to-redis/req")
}
