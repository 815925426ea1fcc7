package redisstore_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
	"github.com/tollgate/tollgate/retry"
)

var (
	_ engine.Cooldowns     = (*redisstore.Cooldowns)(nil)
	_ engine.ResponseCache = (*redisstore.Cache)(nil)
)

// upstream answers gpt-4o with a 429 once, then answers everything; it counts calls per
// model.
type upstream struct {
	mu      sync.Mutex
	limited bool
	calls   map[string]int
}

func (u *upstream) Name() string { return "openai" }

func (u *upstream) Do(_ context.Context, call llm.Call) (*llm.Response, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls[call.Model]++
	if call.Model == "gpt-4o" && !u.limited {
		u.limited = true
		return nil, &llm.Error{Kind: llm.KindRateLimited, Provider: "openai", Status: 429, RetryAfter: time.Minute}
	}
	return &llm.Response{Format: llm.OpenAI, Model: call.Model, Text: "answer from " + call.Model,
		Body: []byte(`{"id":"x"}`), Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}}, nil
}

// TestEngineReplicas wires the shared cooldowns and cache into two engines, as two gateway
// replicas: replica B skips the deployment that replica A saw rate limited, and serves from
// the cache the answer A stored.
func TestEngineReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	up := &upstream{calls: map[string]int{}}
	routes, err := fallback.NewRoutes(
		fallback.Route{Name: "main", Steps: []fallback.Step{{Provider: "openai", Model: "gpt-4o"}, {Provider: "openai", Model: "gpt-4o-mini"}}},
		fallback.Route{Name: "cached", CacheFirst: true, Steps: []fallback.Step{{Provider: "openai", Model: "gpt-4o-mini"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	var engines [2]*engine.Engine
	for i := range engines {
		client := redis.NewClient(srv.Options())
		t.Cleanup(func() { _ = client.Close() })
		cd, err := redisstore.NewCooldowns(client, redisstore.CooldownsConfig{SlotGroup: "engine-test", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := redisstore.NewCache(client, redisstore.CacheConfig{Namespace: "engine-test", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		engines[i], err = engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": up}, Routes: routes,
			SharedCooldowns: cd, SharedCache: rc, Retry: retry.Policy{MaxAttempts: 1}})
		if err != nil {
			t.Fatal(err)
		}
	}
	req := func(route, prompt string) *llm.Request {
		return &llm.Request{Format: llm.OpenAI, Model: route, MaxTokens: 100,
			Body:     []byte(fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}],"max_tokens":100}`, route, prompt)),
			Messages: []llm.Message{{Role: "user", Content: prompt}}}
	}
	ctx := context.Background()

	res, err := engines[0].Do(ctx, req("main", "hello"))
	out := &res.Outcome
	if err != nil || out.Served != "gpt-4o-mini" {
		t.Fatalf("replica A: served %q, %v; want gpt-4o-mini after gpt-4o's 429 (%v)", out.Served, err, out)
	}
	res, err = engines[1].Do(ctx, req("main", "hello again"))
	out = &res.Outcome
	if err != nil || out.Served != "gpt-4o-mini" {
		t.Fatalf("replica B: served %q, %v; want gpt-4o-mini (%v)", out.Served, err, out)
	}
	if len(out.Attempts) == 0 || out.Attempts[0].Result != fallback.Skipped {
		t.Errorf("replica B's first attempt = %v, want gpt-4o skipped for its cooldown", out)
	}
	if n := up.calls["gpt-4o"]; n != 1 {
		t.Errorf("gpt-4o called %d times across both replicas, want 1 (then cooling down for both)", n)
	}

	if res, err := engines[0].Do(ctx, req("cached", "what is 2+2?")); err != nil || res.Outcome.Served != "gpt-4o-mini" {
		t.Fatalf("replica A on the cache-first route: served %q, %v", res.Outcome.Served, err)
	}
	res, err = engines[1].Do(ctx, req("cached", "what is 2+2?"))
	resp := res.Response
	out = &res.Outcome
	if err != nil || out.Served != "cached" || !resp.Cached {
		t.Errorf("replica B on the cache-first route: served %q (cached %v), %v; want A's answer from the shared cache", out.Served, resp != nil && resp.Cached, err)
	}
}

// commands is a go-redis hook that counts the commands sent, by name.
type commands struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *commands) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.mu.Lock()
		c.n[cmd.Name()]++
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *commands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.mu.Lock()
		c.n["pipeline"]++
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (c *commands) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// TestEngineTwoRoundTrips counts what a request through the engine sends to Redis with five
// quotas (RPM, TPM, a concurrency lease, a session's and a tenant's budget): exactly two
// round trips, the reserve and the settle. The planner reads the budgets from the reserve's
// answer, and the response headers (Result.Statuses) from the settle's.
func TestEngineTwoRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := redis.NewClient(srv.Options())
	t.Cleanup(func() { _ = client.Close() })
	store, err := redisstore.New(client, redisstore.Config{SlotGroup: "trips", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if _, err := store.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := &commands{n: map[string]int{}}
	client.AddHook(rec) // after New and Ensure: loading the scripts and the state is not a request's
	rules := quota.Rules{
		// Rates over a day: none refills measurably while the test runs.
		{Name: "rpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Requests, Limit: 10_000, Window: quota.Rolling(24 * time.Hour)},
		{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 10_000_000, Window: quota.Rolling(24 * time.Hour)},
		{Name: "conc", Unit: quota.Concurrent, Limit: 100, Window: quota.Leased()},
		{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 10_000_000,
			Window: quota.Forever(), DowngradeAt: 0.9},
		{Name: "daily-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 100_000_000, Window: quota.Daily(nil)},
	}
	up := &upstream{calls: map[string]int{}, limited: true}
	routes, err := fallback.NewRoutes(fallback.Route{Name: "main",
		Steps: []fallback.Step{{Provider: "openai", Model: "gpt-4o"}, {Provider: "openai", Model: "gpt-4o-mini"}}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": up}, Routes: routes,
		Rules: rules, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	id := llm.Identity{Tenant: "acme", Session: "s1"}
	const requests = 20
	var sts []quota.Status
	for i := range requests {
		res, err := e.Do(context.Background(), &llm.Request{Format: llm.OpenAI, Model: "main", MaxTokens: 100,
			InputTokens: 50, Identity: id, Messages: []llm.Message{{Role: "user", Content: "hi"}}})
		out := &res.Outcome
		if err != nil || out.Served != "gpt-4o" {
			t.Fatalf("request %d: served %q, %v", i, out.Served, err)
		}
		sts = res.Statuses
	}
	if got, want := rec.take(), map[string]int{"evalsha": 2 * requests}; !maps.Equal(got, want) {
		t.Errorf("commands for %d requests and their headers = %v, want %v: one reserve and one settle each", requests, got, want)
	}
	// The headers' statuses are the last settle's: 20 requests of 10 input and 5 output
	// tokens (the upstream's usage) at gpt-4o's prices.
	if len(sts) != len(rules) {
		t.Fatalf("Result.Statuses = %d statuses, want %d", len(sts), len(rules))
	}
	for _, st := range sts {
		switch st.Quota.Name {
		case "rpm":
			if st.Used != requests {
				t.Errorf("rpm used %d, want %d", st.Used, requests)
			}
		case "conc":
			if st.Used != 0 {
				t.Errorf("conc used %d after every request ended, want 0", st.Used)
			}
		case "session-usd", "daily-usd":
			if st.Held != 0 || st.Used != requests*75 {
				t.Errorf("%s used %d held %d, want %d µUSD settled, none held", st.Quota.Name, st.Used, st.Held, requests*75)
			}
		}
	}
}
