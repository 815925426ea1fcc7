package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
)

type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkEngineRedis is requests through the engine with five quotas in Redis and a
// no-op upstream, followed by the response headers' quota look-up as the gateway does it:
// the round trips and the bytes sent to Redis per request.
func BenchmarkEngineRedis(b *testing.B) {
	srv := redistest.Start(b)
	client := redis.NewClient(srv.Options())
	b.Cleanup(func() { _ = client.Close() })
	store, err := redisstore.New(client, redisstore.Config{SlotGroup: "bench-engine", Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	trips := &tripCounter{}
	client.AddHook(trips)
	rules := quota.Rules{
		{Name: "rpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()},
		{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 1 << 50, Window: quota.PerMinute()},
		{Name: "conc", Unit: quota.Concurrent, Limit: 1 << 20, Window: quota.Leased()},
		{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 50, Window: quota.Forever()},
		{Name: "daily-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 50, Window: quota.Daily(nil)},
	}
	up := &upstream{calls: map[string]int{}, limited: true}
	e, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: rules, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	id := llm.Identity{Tenant: "acme", Session: "s1"}
	req := &llm.Request{Format: llm.OpenAI, Model: "gpt-4o", MaxTokens: 100, InputTokens: 50, Identity: id,
		Messages: []llm.Message{{Role: "user", Content: "hi"}}}
	var sts []quota.Status
	in0, t0 := netInput(b, client), trips.n.Load()
	b.ReportAllocs()
	for b.Loop() {
		_, out, err := e.Do(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		if sts, err = e.QuotaStatus(context.Background(), id, "openai", out.Served, sts[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	in := netInput(b, client) - in0
	b.ReportMetric(float64(trips.n.Load()-t0)/float64(b.N), "trips/req")
	// INFO's own request is a few dozen bytes: negligible over many requests.
	b.ReportMetric(float64(in)/float64(b.N), "B-to-redis/req")
}

func netInput(b *testing.B, c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_net_input_bytes:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
