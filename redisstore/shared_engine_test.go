package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/llm"
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

	_, out, err := engines[0].Do(ctx, req("main", "hello"))
	if err != nil || out.Served != "gpt-4o-mini" {
		t.Fatalf("replica A: served %q, %v; want gpt-4o-mini after gpt-4o's 429 (%v)", out.Served, err, out)
	}
	_, out, err = engines[1].Do(ctx, req("main", "hello again"))
	if err != nil || out.Served != "gpt-4o-mini" {
		t.Fatalf("replica B: served %q, %v; want gpt-4o-mini (%v)", out.Served, err, out)
	}
	if len(out.Attempts) == 0 || out.Attempts[0].Result != fallback.Skipped {
		t.Errorf("replica B's first attempt = %v, want gpt-4o skipped for its cooldown", out)
	}
	if n := up.calls["gpt-4o"]; n != 1 {
		t.Errorf("gpt-4o called %d times across both replicas, want 1 (then cooling down for both)", n)
	}

	if _, out, err = engines[0].Do(ctx, req("cached", "what is 2+2?")); err != nil || out.Served != "gpt-4o-mini" {
		t.Fatalf("replica A on the cache-first route: served %q, %v", out.Served, err)
	}
	resp, out, err := engines[1].Do(ctx, req("cached", "what is 2+2?"))
	if err != nil || out.Served != "cached" || !resp.Cached {
		t.Errorf("replica B on the cache-first route: served %q (cached %v), %v; want A's answer from the shared cache", out.Served, resp != nil && resp.Cached, err)
	}
}
