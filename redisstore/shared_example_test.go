package redisstore_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/redisstore"
)

// A 429 seen by one replica keeps every replica away from the deployment for the server's
// Retry-After. Each replica passes its Cooldowns as engine.Config.SharedCooldowns.
func ExampleCooldowns() {
	dir, _ := os.MkdirTemp("", "redisstore-example")
	defer os.RemoveAll(dir)
	srv, err := redistest.StartProcess(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()

	cfg := redisstore.CooldownsConfig{CooldownConfig: fallback.CooldownConfig{Cooldown: 30 * time.Second}}
	replicaA, _ := redisstore.NewCooldowns(client, cfg)
	replicaB, _ := redisstore.NewCooldowns(client, cfg)

	now := time.Now()
	done, _, ok := replicaA.Allow("openai/gpt-4o", now)
	fmt.Println("A may call:", ok)
	done(&llm.Error{Kind: llm.KindRateLimited, Provider: "openai", Status: 429, RetryAfter: 20 * time.Second}, now)

	_, until, ok := replicaB.Allow("openai/gpt-4o", now)
	fmt.Println("B may call:", ok, "- for about", until.Sub(now).Round(time.Second))
	fmt.Println("B sees:", replicaB.State("openai/gpt-4o", now))
	// Output:
	// A may call: true
	// B may call: false - for about 20s
	// B sees: open
}

// An answer stored by one replica is served by another, fresh for TTL and then, as a
// marked fallback, stale for StaleFor. Each replica passes its Cache as
// engine.Config.SharedCache.
func ExampleCache() {
	dir, _ := os.MkdirTemp("", "redisstore-example")
	defer os.RemoveAll(dir)
	srv, err := redistest.StartProcess(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()

	cfg := redisstore.CacheConfig{TTL: 10 * time.Minute, StaleFor: time.Hour}
	replicaA, _ := redisstore.NewCache(client, cfg)
	replicaB, _ := redisstore.NewCache(client, cfg)

	ctx := context.Background()
	req := &llm.Request{Format: llm.OpenAI,
		Body:     []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"2+2?"}],"temperature":0}`),
		Messages: []llm.Message{{Role: "user", Content: "2+2?"}}}
	k, _ := cache.NewKey("gpt-4o", req)
	now := time.Now()
	err = replicaA.Put(ctx, k, &llm.Response{Format: llm.OpenAI, Model: "gpt-4o-2024-08-06", Text: "4",
		Body: []byte(`{"choices":[{"message":{"role":"assistant","content":"4"}}]}`)}, now)
	fmt.Println("A stored:", err == nil)
	for _, after := range []time.Duration{time.Minute, 30 * time.Minute, 2 * time.Hour} {
		e, fresh, ok := replicaB.Get(ctx, k, now.Add(after))
		fmt.Printf("B after %v: ok=%v fresh=%v text=%q cached=%v\n", after, ok, fresh, e.Response.Text, e.Response.Cached)
	}
	// Output:
	// A stored: true
	// B after 1m0s: ok=true fresh=true text="4" cached=true
	// B after 30m0s: ok=true fresh=false text="4" cached=true
	// B after 2h0m0s: ok=false fresh=false text="" cached=false
}
