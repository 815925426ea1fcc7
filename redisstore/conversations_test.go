package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
)

var _ engine.Conversations = (*redisstore.Conversations)(nil)

// TestConversationsAcrossReplicas: two engines share conversation bounds through one
// Redis, as two gateway replicas behind a load balancer. Under a tokens-per-minute quota
// smaller than the model's context window, a continuation served by replica B of a
// response replica A served is admitted at its conversation's bound; without the shared
// store (or with Redis gone) it is reserved at the window and refused, saying why.
func TestConversationsAcrossReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	emu, err := emulator.Start(context.Background(), emulator.Config{Seed: 4, Output: emulator.Output{MinTokens: 20, MaxTokens: 20}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	tpm := quota.Rules{{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 20_000, Window: quota.PerMinute()}}
	replica := func(shared bool) *engine.Engine {
		t.Helper()
		up, err := openai.New(openai.Config{BaseURL: emu.URL() + "/v1", APIKey: "sk-test"})
		if err != nil {
			t.Fatal(err)
		}
		cfg := engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: tpm}
		if shared {
			client := redis.NewClient(srv.Options())
			t.Cleanup(func() { _ = client.Close() })
			cv, err := redisstore.NewConversations(client, redisstore.ConversationsConfig{Namespace: "conv-test", Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			cfg.SharedConversations = cv
		}
		e, err := engine.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	parse := func(body string) *llm.Request {
		req, _, err := openai.ParseResponsesRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Identity = llm.Identity{Tenant: "acme"}
		return req
	}
	ctx := context.Background()
	a, b, alone := replica(true), replica(true), replica(false)
	t.Cleanup(func() { b.Close(); alone.Close() })
	first, err := a.Do(ctx, parse(`{"model":"gpt-4o-mini","input":"remember 7","max_output_tokens":40}`))
	if err != nil {
		t.Fatal(err)
	}
	// Close waits for the shared store's write, which runs after the answer.
	a.Close()
	follow := `{"model":"gpt-4o-mini","input":"which number?","max_output_tokens":40,"previous_response_id":"` + first.Response.ID + `"}`
	if _, err := b.Do(ctx, parse(follow)); err != nil {
		t.Fatalf("continuation on replica B: %v", err)
	}
	_, err = alone.Do(ctx, parse(follow))
	if !errors.Is(err, quota.ErrTooLarge) || !strings.Contains(err.Error(), "context window") {
		t.Fatalf("continuation on a replica without the shared store: err = %v, want too large at the context window", err)
	}

	srv.Stop()
	_, err = b.Do(ctx, parse(`{"model":"gpt-4o-mini","input":"and then?","max_output_tokens":40,"previous_response_id":"resp_not_here"}`))
	if !errors.Is(err, quota.ErrTooLarge) {
		t.Fatalf("continuation of an unknown response with Redis gone: err = %v, want too large at the context window", err)
	}
}

// TestConversationsSize: a bound is read back under the model that counted it only.
func TestConversationsSize(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := redis.NewClient(srv.Options())
	t.Cleanup(func() { _ = client.Close() })
	cv, err := redisstore.NewConversations(client, redisstore.ConversationsConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cv.Remember(ctx, "resp_1", "gpt-4o-mini", 1234); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id, model string
		want      int64
		ok        bool
	}{
		{"resp_1", "gpt-4o-mini", 1234, true},
		{"resp_1", "gpt-4o", 0, false},
		{"resp_2", "gpt-4o-mini", 0, false},
	} {
		n, ok, err := cv.Size(ctx, tt.id, tt.model)
		if err != nil || n != tt.want || ok != tt.ok {
			t.Errorf("Size(%s, %s) = %d, %v, %v; want %d, %v", tt.id, tt.model, n, ok, err, tt.want, tt.ok)
		}
	}
	if ttl := client.PTTL(ctx, "tg:v:resp_1").Val(); ttl < redisstore.ConversationTTL-time.Minute || ttl > redisstore.ConversationTTL {
		t.Errorf("TTL %v, want about %v", ttl, redisstore.ConversationTTL)
	}
}
