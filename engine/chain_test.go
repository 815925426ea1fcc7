package engine_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/quota"
)

// emuUpstreams starts an emulator of cfg over real HTTP and returns it with the OpenAI and
// Anthropic providers that call it.
func emuUpstreams(t *testing.T, cfg emulator.Config) (*servedEmulator, map[string]llm.Provider) {
	t.Helper()
	e, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	em := &servedEmulator{Emulator: e}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		em.serving.Add(1)
		defer em.serving.Done()
		e.ServeHTTP(w, r) // bills the request before it returns
	}))
	t.Cleanup(srv.Close)
	oa, err := openai.New(openai.Config{BaseURL: srv.URL + "/v1", APIKey: "sk-test", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	an, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "sk-test", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return em, map[string]llm.Provider{"openai": oa, "anthropic": an}
}

// servedEmulator is the emulator behind a test server. Its bill of a request is written
// when its handler returns, which may be after the client read the last byte of a stream.
type servedEmulator struct {
	*emulator.Emulator
	serving sync.WaitGroup
}

// BillsFor returns the bills of the requests of tollgate request id, once every request
// the emulator is serving has been billed. Call it when no more requests are sent.
func (e *servedEmulator) BillsFor(id string) []emulator.Bill {
	e.serving.Wait()
	return e.Emulator.BillsFor(id)
}

// toolImageHistory is an Anthropic request whose tool result carries an image: an OpenAI
// tool message carries text only, so no OpenAI model can take it.
const toolImageHistory = `{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"hi"},` +
	`{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},` +
	`{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"image","source":{"type":"url","url":"https://x.example/a.png"}}]}]}]}`

// chatWithLogprobs is an OpenAI request with logprobs, which Anthropic cannot return.
const chatWithLogprobs = `{"model":"m","max_tokens":50,"logprobs":true,"messages":[{"role":"user","content":"hi"}]}`

// TestStepsThatCannotTakeTheRequest: a step whose upstream cannot carry the request (its
// translation would lose a field, or the endpoint does not exist there) is skipped without
// a call, recorded in the outcome, and the next step serves; when every step refuses, the
// refusal is tollgate's and names the field.
func TestStepsThatCannotTakeTheRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format llm.Format
		body   string
		chain  string
		served string       // "" when Do must fail
		why    fallback.Why // the first step's
		field  string       // the refusal's field, when every step refuses
		sent   int          // requests that reached the emulator
		err    error        // the sentinel of Do's error
	}{
		{"tool history to OpenAI, then Anthropic", llm.Anthropic, toolImageHistory,
			"openai/gpt-4o-mini -> anthropic/claude-haiku-4-5", "claude-haiku-4-5", fallback.WhyUntranslatable, "", 1, nil},
		{"logprobs to Anthropic, then OpenAI", llm.OpenAI, chatWithLogprobs,
			"anthropic/claude-haiku-4-5 -> openai/gpt-4o-mini", "gpt-4o-mini", fallback.WhyUntranslatable, "", 1, nil},
		{"embeddings to Anthropic, then OpenAI", llm.Embeddings, `{"model":"m","input":"hello"}`,
			"anthropic/claude-haiku-4-5 -> openai/text-embedding-3-small", "text-embedding-3-small", fallback.WhyUnsupported, "", 1, nil},
		{"tool history to OpenAI only", llm.Anthropic, toolImageHistory,
			"openai/gpt-4o-mini -> openai/gpt-4o", "", fallback.WhyUntranslatable, "messages[2].content[0].content[0]", 0, llm.ErrUntranslatable},
		{"embeddings to Anthropic only", llm.Embeddings, `{"model":"m","input":"hello"}`,
			"anthropic/claude-haiku-4-5", "", fallback.WhyUnsupported, "", 0, llm.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			em, provs := emuUpstreams(t, emulator.Config{Seed: 1})
			e := newEngine(t, engine.Config{Providers: provs, Routes: routes(t, chain(t, "r", tt.chain))})
			req := &llm.Request{Format: tt.format, Body: []byte(tt.body), Model: "r", MaxTokens: 50,
				Identity: llm.Identity{Tenant: "acme"}}
			res, err := e.Do(context.Background(), req)
			if tt.served != "" {
				if err != nil || res.Outcome.Served != tt.served {
					t.Fatalf("Do = served %q, %v; want served by %s", res.Outcome.Served, err, tt.served)
				}
			} else if !errors.Is(err, tt.err) || llm.KindOf(err) != llm.KindUnknown {
				t.Fatalf("Do error = %v, want tollgate's refusal (%v), not an upstream's", err, tt.err)
			}
			if a := res.Outcome.Attempts[0]; a.Result != fallback.Skipped || a.Why != tt.why || a.Err == nil {
				t.Errorf("first step %+v, want skipped for %s with its error", a, tt.why)
			}
			var ut *llm.UntranslatableError
			if tt.field != "" && (!errors.As(err, &ut) || ut.Field != tt.field) {
				t.Errorf("Do error = %v, want it to name the field %s", err, tt.field)
			}
			if n := int(em.Stats().Total.Requests); n != tt.sent {
				t.Errorf("the emulator got %d requests, want %d", n, tt.sent)
			}
			if n := e.Open(); n != 0 {
				t.Errorf("Open() = %d, want 0", n)
			}
		})
	}
}

// TestEveryModelCoolingDown: with every model of a route cooling down, no upstream is
// called and Do fails with tollgate's *CooldownError, whose RetryAfter is when the first
// breaker half-opens; a budget spent meanwhile is the final answer instead.
func TestEveryModelCoolingDown(t *testing.T) {
	t.Parallel()
	spent := quota.Rules{{Name: "tenant-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD,
		Limit: 1_000_000, Window: quota.Forever()}}
	tests := []struct {
		name   string
		chain  string
		cool   map[string]time.Duration // deployment → its breaker's Retry-After
		rules  quota.Rules
		served string
		err    error
		after  time.Duration // the CooldownError's RetryAfter is within (after-1s, after]
	}{
		{"every model", "gpt-4o -> gpt-4o-mini", map[string]time.Duration{"openai/gpt-4o": 20 * time.Second,
			"openai/gpt-4o-mini": 7 * time.Second}, nil, "", engine.ErrCoolingDown, 7 * time.Second},
		{"every model, across providers", "gpt-4o -> anthropic/claude-haiku-4-5", map[string]time.Duration{
			"openai/gpt-4o": 9 * time.Second, "anthropic/claude-haiku-4-5": 12 * time.Second}, nil, "", engine.ErrCoolingDown, 9 * time.Second},
		{"the later model serves", "gpt-4o -> gpt-4o-mini", map[string]time.Duration{"openai/gpt-4o": 20 * time.Second},
			nil, "gpt-4o-mini", nil, 0},
		{"a static step serves", "gpt-4o -> static", map[string]time.Duration{"openai/gpt-4o": 20 * time.Second},
			nil, "static", nil, 0},
		// The tenant's budget is spent (the first step is skipped for it, a downgrade) and
		// the second model cools down: the budget's final refusal wins.
		{"a spent budget wins over a cooldown", "gpt-4o -> gpt-4o-mini", map[string]time.Duration{"openai/gpt-4o-mini": 20 * time.Second},
			spent, "", quota.ErrBudget, 0},
		{"a spent budget wins over a cooldown before it", "gpt-4o -> gpt-4o-mini", map[string]time.Duration{"openai/gpt-4o": 20 * time.Second},
			spent, "", quota.ErrBudget, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			em, provs := emuUpstreams(t, emulator.Config{Seed: 1})
			cd := fallback.NewCooldowns(fallback.CooldownConfig{})
			now := time.Now()
			for dep, ra := range tt.cool {
				done, _, _ := cd.Allow(dep, now)
				done(&llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: ra}, now)
			}
			store := quota.NewMemoryStore(quota.MemoryConfig{})
			if tt.rules != nil {
				// Spend all but a micro-dollar of the tenant's budget.
				q, _ := tt.rules[0].For(quota.Labels{Tenant: "acme"})
				ctx := context.Background()
				r, _, err := store.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 999_999}}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := store.Settle(ctx, r.ID, quota.Amount{MicroUSD: 999_999}, nil); err != nil {
					t.Fatal(err)
				}
			}
			e := newEngine(t, engine.Config{Providers: provs, SharedCooldowns: cd, Rules: tt.rules, Store: store,
				Routes: routes(t, chain(t, "r", tt.chain))})
			req := request("r", 50)
			req.Identity = llm.Identity{Tenant: "acme"}
			res, err := e.Do(context.Background(), req)
			if tt.served != "" {
				if err != nil || res.Outcome.Served != tt.served {
					t.Fatalf("Do = served %q, %v; want %s", res.Outcome.Served, err, tt.served)
				}
				return
			}
			if !errors.Is(err, tt.err) || llm.KindOf(err) != llm.KindUnknown {
				t.Fatalf("Do error = %v (%T), want %v, tollgate's", err, err, tt.err)
			}
			var ce *engine.CooldownError
			if tt.after != 0 && (!errors.As(err, &ce) || ce.RetryAfter > tt.after || ce.RetryAfter <= tt.after-time.Second) {
				t.Errorf("Do error = %#v, want RetryAfter when the first breaker half-opens (%v)", err, tt.after)
			}
			if n := em.Stats().Total.Requests; n != 0 {
				t.Errorf("the emulator got %d requests, want none", n)
			}
		})
	}
}

// TestDefaultCapFitsTheQuota: a request without max_tokens under a small token quota
// (1,000 tokens per minute) is sent with the default cap lowered to what the quota can
// hold; a cap the caller gave is never lowered, and only a prompt that cannot fit alone is
// refused.
func TestDefaultCapFitsTheQuota(t *testing.T) {
	t.Parallel()
	const prompt = "Tell me about rate limits."
	in := emuPrompt(prompt)
	tests := []struct {
		name      string
		unit      quota.Unit
		window    quota.Window
		limit     int64
		maxTokens int   // the caller's
		input     int   // the prompt's estimate; 0 for the prompt's
		want      int64 // the cap sent; 0 when Do must fail with ErrTooLarge
	}{
		{"tokens per minute, no max_tokens", quota.Tokens, quota.PerMinute(), 1000, 0, 0, 1000 - int64(in)},
		{"output tokens per day, no max_tokens", quota.OutputTokens, quota.Daily(nil), 300, 0, 0, 300},
		{"under the quota, no max_tokens", quota.Tokens, quota.PerMinute(), 100_000, 0, 0, 4096},
		{"caller's max_tokens too large", quota.Tokens, quota.PerMinute(), 1000, 4096, 0, 0},
		{"caller's max_tokens fits", quota.Tokens, quota.PerMinute(), 1000, 500, 0, 500},
		{"the prompt alone does not fit", quota.Tokens, quota.PerMinute(), 1000, 0, 1200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			em, provs := emuUpstreams(t, emulator.Config{Seed: 1, Output: emulator.Output{MinTokens: 20, MaxTokens: 20}})
			rules := quota.Rules{{Name: "small", Scope: quota.Labels{Tenant: quota.Each}, Unit: tt.unit, Limit: tt.limit, Window: tt.window}}
			e := newEngine(t, engine.Config{Providers: provs, Rules: rules})
			input := tt.input
			if input == 0 {
				input = in
			}
			req := &llm.Request{Format: llm.OpenAI, Model: "gpt-4o-mini", MaxTokens: tt.maxTokens, InputTokens: input,
				Messages: []llm.Message{{Role: "user", Content: prompt}}, Identity: llm.Identity{Tenant: "acme"}}
			res, err := e.Do(context.Background(), req)
			if tt.want == 0 {
				if !errors.Is(err, quota.ErrTooLarge) {
					t.Fatalf("Do = %v, want the quota's refusal (it can never fit)", err)
				}
				if n := em.Stats().Total.Requests; n != 0 {
					t.Errorf("the emulator got %d requests, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if int64(res.MaxTokens) != tt.want {
				t.Errorf("Result.MaxTokens = %d, want %d", res.MaxTokens, tt.want)
			}
			bills := em.BillsFor(res.RequestID)
			if len(bills) != 1 || bills[0].End != emulator.EndComplete {
				t.Errorf("bills %+v, want one complete answer", bills)
			}
		})
	}
}

// TestRateWaitOrMoveOn: a step whose rate quota is full is waited for only while the wait
// is shorter than the route's fallback threshold; a longer wait moves the request to the
// next step at once. The repro of the issue: gpt-4o cooling down, gpt-4o-mini's rate full,
// and every request is served by the later steps instead of "queue wait timed out".
func TestRateWaitOrMoveOn(t *testing.T) {
	t.Parallel()
	const n = 30
	tests := []struct {
		name   string
		rpm    int64 // gpt-4o-mini's requests per minute, all taken before the test
		after  time.Duration
		served string
	}{
		// The next request fits in 60s, far past the 2s threshold: move on.
		{"long wait moves on", 1, 2 * time.Second, "claude-3-5-haiku"},
		// Room comes back within 60/600 s = 100ms: under 30 concurrent requests some wait
		// more than the threshold of 1ms and move on, none is refused.
		{"short threshold", 600, time.Millisecond, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			em, provs := emuUpstreams(t, emulator.Config{Seed: 1, Output: emulator.Output{MinTokens: 5, MaxTokens: 5}})
			cd := fallback.NewCooldowns(fallback.CooldownConfig{})
			now := time.Now()
			done, _, _ := cd.Allow("openai/gpt-4o", now)
			done(&llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: time.Minute}, now)
			rules := quota.Rules{{Name: "mini-rpm", Scope: quota.Labels{Provider: "openai", Model: "gpt-4o-mini"},
				Unit: quota.Requests, Limit: tt.rpm, Window: quota.PerMinute()}}
			e := newEngine(t, engine.Config{Providers: provs, SharedCooldowns: cd, Rules: rules, FallbackAfter: tt.after,
				Routes: routes(t, chain(t, "r", "gpt-4o -> gpt-4o-mini -> anthropic/claude-3-5-haiku -> static"))})
			// Fill gpt-4o-mini's rate.
			for range tt.rpm {
				if _, err := e.Do(context.Background(), request("gpt-4o-mini", 10)); err != nil {
					t.Fatal(err)
				}
			}
			type result struct {
				served, fallback string
				err              error
			}
			results := make(chan result, n)
			for range n {
				go func() {
					res, err := e.Do(context.Background(), request("r", 10))
					results <- result{res.Outcome.Served, res.Outcome.Attempts[min(1, len(res.Outcome.Attempts)-1)].Reason, err}
				}()
			}
			byModel := map[string]int{}
			for range n {
				r := <-results
				if r.err != nil {
					t.Errorf("Do = %v, want every request served by a step that can", r.err)
					continue
				}
				byModel[r.served]++
				if r.served == "claude-3-5-haiku" && (strings.Count(r.fallback, "retry after") > 1 ||
					!strings.HasPrefix(r.fallback, "rate: ")) {
					t.Errorf("gpt-4o-mini's reason %q, want it to say once that the rate was full", r.fallback)
				}
			}
			if byModel["static"] != 0 {
				t.Errorf("served by %v, want no static answer while claude-3-5-haiku is free", byModel)
			}
			if tt.served != "" && byModel[tt.served] != n {
				t.Errorf("served by %v, want all %d by %s", byModel, n, tt.served)
			}
			if got := em.Stats().Total.Requests; got != int64(n)+tt.rpm {
				t.Errorf("the emulator got %d requests, want %d", got, int64(n)+tt.rpm)
			}
		})
	}
}
