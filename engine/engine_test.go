package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/retry"
	"github.com/tollgate/tollgate/tokens"
)

// scripted is an upstream that answers each model's calls from a script, in order, and
// then with its default. It records every call.
type scripted struct {
	name string
	mu   sync.Mutex
	next map[string][]reply
	def  func(call llm.Call) (*llm.Response, error)
	log  []string
}

type reply func(call llm.Call) (*llm.Response, error)

func newScripted(name string) *scripted {
	return &scripted{name: name, next: map[string][]reply{}, def: ok(100, 20)}
}

func (s *scripted) Name() string { return s.name }

func (s *scripted) Do(ctx context.Context, call llm.Call) (*llm.Response, error) {
	s.mu.Lock()
	s.log = append(s.log, call.Model)
	f := s.def
	if q := s.next[call.Model]; len(q) > 0 {
		f, s.next[call.Model] = q[0], q[1:]
	}
	s.mu.Unlock()
	return f(call)
}

func (s *scripted) then(model string, rs ...reply) *scripted {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next[model] = append(s.next[model], rs...)
	return s
}

func (s *scripted) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func ok(in, out int64) reply {
	return func(call llm.Call) (*llm.Response, error) {
		return &llm.Response{Format: llm.OpenAI, Model: call.Model, Text: "answer from " + call.Model,
			Body: []byte(`{"id":"x"}`), Usage: llm.Usage{InputTokens: in, OutputTokens: out}}, nil
	}
}

func fail(kind llm.Kind, status int, retryAfter time.Duration) reply {
	return func(call llm.Call) (*llm.Response, error) {
		return nil, &llm.Error{Kind: kind, Provider: "openai", Status: status, Message: "scripted", RetryAfter: retryAfter}
	}
}

// records is an engine.Recorder that keeps everything in memory, for tests that run in a
// synctest bubble (the real ledger's writer does I/O): its records, and its holds open
// until a record or a release closes them.
type records struct {
	mu    sync.Mutex
	rs    []ledger.Record
	holds map[string]ledger.Hold
}

func (r *records) Append(rec ledger.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rs = append(r.rs, rec)
	delete(r.holds, rec.HoldID)
	return nil
}

func (r *records) OpenHold(_ context.Context, h ledger.Hold) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.holds == nil {
		r.holds = map[string]ledger.Hold{}
	}
	r.holds[h.ID] = h
	return nil
}

func (r *records) Flush(context.Context) error { return nil }

func (r *records) CloseHold(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.holds, id)
	return nil
}

func (r *records) open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.holds)
}

func (r *records) all() []ledger.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ledger.Record(nil), r.rs...)
}

func (r *records) spent() (n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.rs {
		n += rec.MicroUSD
	}
	return n
}

func request(model string, maxTokens int) *llm.Request {
	return &llm.Request{Format: llm.OpenAI, Model: model, MaxTokens: maxTokens, InputTokens: 1000,
		Messages: []llm.Message{{Role: "user", Content: "hello"}},
		Identity: llm.Identity{Tenant: "acme", Session: "s1", Agent: "a1"}}
}

func routes(t *testing.T, rs ...fallback.Route) *fallback.Routes {
	t.Helper()
	r, err := fallback.NewRoutes(rs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func chain(t *testing.T, name, s string) fallback.Route {
	t.Helper()
	steps, err := fallback.ParseChain(s)
	if err != nil {
		t.Fatal(err)
	}
	for i := range steps {
		if steps[i].Kind == fallback.StepStatic {
			steps[i].Message = "static answer"
		}
	}
	return fallback.Route{Name: name, Steps: steps}
}

func newEngine(t *testing.T, cfg engine.Config) *engine.Engine {
	t.Helper()
	if cfg.Retry.Rand == nil {
		cfg.Retry.Rand = func() float64 { return 0.5 }
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestServeSettlesActualUsage(t *testing.T) {
	t.Parallel()
	up := newScripted("openai").then("gpt-4o", ok(1000, 200))
	rec := &records{}
	session := quota.Rule{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD,
		Limit: 1_000_000, Window: quota.Forever()}
	e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: quota.Rules{session}, Ledger: rec})
	res, err := e.Do(context.Background(), request("gpt-4o", 500))
	resp, out := res.Response, &res.Outcome
	if err != nil {
		t.Fatal(err)
	}
	if out.Served != "gpt-4o" || resp.Text != "answer from gpt-4o" {
		t.Errorf("served %q with %q", out.Served, resp.Text)
	}
	// gpt-4o: $2.50 in, $10 out per 1M: 1000 in + 200 out = 2500 + 2000 micro-USD.
	const want = 4500
	q, _ := session.For(quota.Labels{Tenant: "acme", Session: "s1"})
	st, _ := e.Store().Status(context.Background(), []quota.Quota{q}, nil)
	if st[0].Used != want || rec.spent() != want {
		t.Errorf("session used %d, ledger %d; want %d", st[0].Used, rec.spent(), want)
	}
	if n := e.Open(); n != 0 {
		t.Errorf("Open() = %d, want 0", n)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		up := newScripted("openai").then("gpt-4o", fail(llm.KindRateLimited, 429, 2*time.Second), ok(10, 10))
		e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}})
		start := time.Now()
		res, err := e.Do(context.Background(), request("gpt-4o", 100))
		out := &res.Outcome
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 2*time.Second {
			t.Errorf("waited %v, want exactly the server's 2s", got)
		}
		if got := up.calls(); len(got) != 2 || out.Served != "gpt-4o" {
			t.Errorf("calls %v, served %q; want 2 calls to gpt-4o", got, out.Served)
		}
	})
}

func TestRetryAfterPastDeadlineFallsBackAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		up := newScripted("openai").then("gpt-4o", fail(llm.KindRateLimited, 429, 30*time.Second))
		e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up},
			Routes: routes(t, chain(t, "smart", "gpt-4o -> gpt-4o-mini"))})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		res, err := e.Do(ctx, request("smart", 100))
		out := &res.Outcome
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(start) != 0 || out.Served != "gpt-4o-mini" {
			t.Errorf("after %v served %q; want gpt-4o-mini at once", time.Since(start), out.Served)
		}
		if !strings.Contains(out.FallbackReason, "429") {
			t.Errorf("FallbackReason = %q, want it to name the 429", out.FallbackReason)
		}
	})
}

func TestFallbackTriggers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		first    reply
		wantFrom bool // whether the chain falls back
	}{
		{"rate limited after retries", fail(llm.KindRateLimited, 429, 0), true},
		{"overloaded", fail(llm.KindOverloaded, 529, 0), true},
		{"server error", fail(llm.KindServer, 500, 0), true},
		{"timeout", fail(llm.KindTimeout, 408, 0), true},
		{"connection", fail(llm.KindConnection, 0, 0), true},
		{"context length", fail(llm.KindContextLength, 400, 0), true},
		{"insufficient quota", fail(llm.KindQuotaExhausted, 429, 0), true},
		{"bad request is final", fail(llm.KindBadRequest, 400, 0), false},
		{"auth is final", fail(llm.KindAuth, 401, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				up := newScripted("openai").then("gpt-4o", tt.first, tt.first, tt.first)
				e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up},
					Routes: routes(t, chain(t, "smart", "gpt-4o -> gpt-4o-mini"))})
				res, err := e.Do(context.Background(), request("smart", 100))
				out := &res.Outcome
				if tt.wantFrom {
					if err != nil || out.Served != "gpt-4o-mini" || !out.FellBack() {
						t.Fatalf("Do = %v, served %q; want a fallback to gpt-4o-mini", err, out.Served)
					}
					return
				}
				if err == nil || out.Served != "" {
					t.Fatalf("Do = %v, served %q; want the final error", err, out.Served)
				}
				if got := up.calls(); len(got) != 1 {
					t.Errorf("calls = %v, want one: final errors are not retried", got)
				}
			})
		})
	}
}

func TestCooldownOpensAndCloses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		up := newScripted("openai").then("gpt-4o", fail(llm.KindRateLimited, 429, 2*time.Minute))
		e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up},
			Routes: routes(t, chain(t, "smart", "gpt-4o -> gpt-4o-mini"))})
		ctx := context.Background()
		if res, _ := e.Do(ctx, request("smart", 100)); res.Outcome.Served != "gpt-4o-mini" {
			t.Fatalf("first request served %q, want gpt-4o-mini", res.Outcome.Served)
		}
		// The server asked for 2 minutes, past the retry policy's longest wait: no retry, and
		// gpt-4o cools down for those 2 minutes: the next request skips it without a call.
		res, _ := e.Do(ctx, request("smart", 100))
		out := &res.Outcome
		if out.Served != "gpt-4o-mini" || out.Attempts[0].Result != fallback.Skipped {
			t.Errorf("during cooldown: %v; want gpt-4o skipped", out)
		}
		time.Sleep(2 * time.Minute) // fake time inside the bubble: the cooldown ends
		res, _ = e.Do(ctx, request("smart", 100))
		out = &res.Outcome
		if out.Served != "gpt-4o" {
			t.Errorf("after cooldown served %q, want the half-open probe to gpt-4o to serve", out.Served)
		}
		if got, want := strings.Join(up.calls(), ","), "gpt-4o,gpt-4o-mini,gpt-4o-mini,gpt-4o"; got != want {
			t.Errorf("calls = %s, want %s", got, want)
		}
	})
}

func TestBudgetDowngradeClampStop(t *testing.T) {
	t.Parallel()
	// gpt-4o's worst case for 1000 in + 1000 out is $0.0125; gpt-4o-mini's $0.00075.
	session := quota.Rule{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD,
		Limit: 10_000, Window: quota.Forever()}
	ctx := context.Background()

	t.Run("downgrade", func(t *testing.T) {
		up := newScripted("openai")
		e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: quota.Rules{session},
			Routes: routes(t, chain(t, "smart", "gpt-4o -> gpt-4o-mini"))})
		res, err := e.Do(ctx, request("smart", 1000))
		out := &res.Outcome
		if err != nil || out.Served != "gpt-4o-mini" || !strings.Contains(out.FallbackReason, "budget") {
			t.Fatalf("Do = %v, %v; want gpt-4o skipped for the budget", err, out)
		}
		if got := up.calls(); len(got) != 1 || got[0] != "gpt-4o-mini" {
			t.Errorf("calls = %v, want only gpt-4o-mini", got)
		}
	})
	t.Run("clamp", func(t *testing.T) {
		up := newScripted("openai")
		r := chain(t, "smart", "gpt-4o -> gpt-4o-mini")
		r.ClampMaxTokens = true
		e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: quota.Rules{session},
			Routes: routes(t, r)})
		res, err := e.Do(ctx, request("smart", 1000))
		out := &res.Outcome
		// $0.01 left - $0.0025 of input = $0.0075 of output at $10/1M = 750 tokens.
		if err != nil || out.Served != "gpt-4o" || out.Clamped != 750 {
			t.Fatalf("Do = %v, %v; want gpt-4o clamped to 750", err, out)
		}
	})
	t.Run("hard stop", func(t *testing.T) {
		up := newScripted("openai").then("gpt-4o-mini", ok(1000, 1000))
		tiny := session
		tiny.Limit = 1000
		e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: quota.Rules{tiny},
			Routes: routes(t, chain(t, "smart", "gpt-4o -> gpt-4o-mini"))})
		if res, err := e.Do(ctx, request("smart", 1000)); err != nil || res.Outcome.Served != "gpt-4o-mini" {
			t.Fatalf("first: %v %v", err, &res.Outcome)
		}
		_, err := e.Do(ctx, request("smart", 1000))
		var qe *quota.ExceededError
		if !errors.Is(err, quota.ErrBudget) || !errors.As(err, &qe) {
			t.Fatalf("second: %v, want a budget refusal", err)
		}
		if qe.Quota.Name != "session-usd" || qe.Quota.Limit != 1000 || qe.Used != 750 {
			t.Errorf("refusal %v: want session-usd, limit 1000, used 750", qe)
		}
	})
}

func TestCachedAndStaticSteps(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := cache.New(cache.Config{TTL: time.Minute})
		up := newScripted("openai")
		e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}, Cache: c,
			Routes: routes(t, chain(t, "smart", "gpt-4o -> cached -> static"))})
		ctx := context.Background()
		if res, err := e.Do(ctx, request("smart", 100)); err != nil || res.Outcome.Served != "gpt-4o" {
			t.Fatalf("first: %v %v", err, &res.Outcome)
		}
		up.then("gpt-4o", fail(llm.KindOverloaded, 529, 0), fail(llm.KindOverloaded, 529, 0), fail(llm.KindOverloaded, 529, 0))
		time.Sleep(2 * time.Minute) // past the TTL: a stale answer is still a fallback
		res, err := e.Do(ctx, request("smart", 100))
		resp, out := res.Response, &res.Outcome
		if err != nil || out.Served != "cached" || !out.Stale || !resp.Cached || resp.Text != "answer from gpt-4o" {
			t.Fatalf("second: %v, %v; want the stale cached answer", err, out)
		}
		other := request("smart", 100)
		other.Messages[0].Content = "something else"
		res, err = e.Do(ctx, other)
		resp, out = res.Response, &res.Outcome
		if err != nil || out.Served != "static" || resp.Text != "static answer" {
			t.Fatalf("uncached: %v, %v; want the static answer", err, out)
		}
	})
}

// stream is an upstream stream of n chunks whose usage arrives with the last one.
type stream struct {
	n, i   int
	usage  llm.Usage
	closed bool
}

func (s *stream) Recv() (llm.Chunk, error) {
	if s.i >= s.n {
		return llm.Chunk{}, io.EOF
	}
	s.i++
	return llm.Chunk{Text: " tok"}, nil
}

func (s *stream) Usage() llm.Usage {
	if s.i >= s.n {
		return s.usage
	}
	return llm.Usage{}
}

func (s *stream) Close() error { s.closed = true; return nil }

func TestStreamSettlesAtEnd(t *testing.T) {
	t.Parallel()
	session := quota.Rule{Name: "s", Scope: quota.Labels{Session: quota.Each}, Unit: quota.Tokens, Limit: 1 << 30, Window: quota.Forever()}
	q, _ := session.For(quota.Labels{Tenant: "acme", Session: "s1"})
	for _, tt := range []struct {
		name string
		read int // chunks read before Close; -1 reads to the end
		want int64
	}{
		{"read to the end: actual usage", -1, 1000 + 5},
		// The relayed text is counted as package tokens counts it: at or above o200k_base.
		{"client went away: the input and what was relayed", 2, 1000 + int64(tokens.Text(" tok tok"))},
		// Do held the stream until its first token, which it read: the caller pays for it.
		{"client went away before reading: the input and the held first token", 0, 1000 + int64(tokens.Text(" tok"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newScripted("openai").then("gpt-4o", func(call llm.Call) (*llm.Response, error) {
				return &llm.Response{Stream: &stream{n: 5, usage: llm.Usage{InputTokens: 1000, OutputTokens: 5}}}, nil
			})
			e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: quota.Rules{session}})
			req := request("gpt-4o", 300)
			req.Stream = true
			res, err := e.Do(context.Background(), req)
			resp := res.Response
			if err != nil {
				t.Fatal(err)
			}
			if e.Open() != 1 {
				t.Errorf("Open() during the stream = %d, want 1", e.Open())
			}
			for i := 0; tt.read < 0 || i < tt.read; i++ {
				if _, err := resp.Stream.Recv(); err != nil {
					break
				}
			}
			resp.Stream.Close()
			st, _ := e.Store().Status(context.Background(), []quota.Quota{q}, nil)
			if st[0].Used != tt.want || e.Open() != 0 {
				t.Errorf("Used = %d, Open = %d; want %d, 0", st[0].Used, e.Open(), tt.want)
			}
		})
	}
}

func TestRetryBudgetCutsStorm(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		up := newScripted("openai")
		up.def = fail(llm.KindServer, 500, 0)
		e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up},
			Retry:       retry.Policy{MaxAttempts: 5},
			RetryBudget: retry.BudgetConfig{Ratio: 0.1, MinPerSecond: -1}})
		const n = 200
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { e.Do(context.Background(), request("gpt-4o-mini", 100)) })
		}
		wg.Wait()
		// Without the budget: up to 5 attempts each. With it: n firsts + at most 10% retries,
		// and the cooldown opens the deployment after a few failures, which cuts it further.
		if got := len(up.calls()); got > n+n/10 {
			t.Errorf("%d upstream attempts for %d requests, want at most %d", got, n, n+n/10)
		}
	})
}

func TestNoLeaksUnderChaos(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		var mu sync.Mutex
		up := newScripted("openai")
		up.def = func(call llm.Call) (*llm.Response, error) {
			mu.Lock()
			x := rng.IntN(10)
			mu.Unlock()
			switch x {
			case 0:
				return nil, &llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: 100 * time.Millisecond}
			case 1:
				return nil, &llm.Error{Kind: llm.KindServer, Status: 500}
			case 2:
				return nil, &llm.Error{Kind: llm.KindBadRequest, Status: 400}
			case 3:
				return &llm.Response{Stream: &stream{n: 3, usage: llm.Usage{InputTokens: 10, OutputTokens: 3}}}, nil
			}
			time.Sleep(time.Duration(x) * time.Millisecond)
			return ok(10, 10)(call)
		}
		rules := quota.Rules{
			{Name: "rpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Requests, Limit: 600, Window: quota.PerMinute()},
			{Name: "conc", Unit: quota.Concurrent, Limit: 8, Window: quota.Leased()},
			{Name: "day", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 40, Window: quota.Daily(nil)},
		}
		e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: rules,
			Routes: routes(t, chain(t, "smart", "gpt-4o -> gpt-4o-mini -> static"))})
		const n = 10_000
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := range n {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+i%50)*time.Millisecond*20)
				defer cancel()
				req := request("smart", 50)
				req.Stream = i%7 == 0
				req.Identity.Priority = i%4 - 1
				res, err := e.Do(ctx, req)
				resp := res.Response
				if err == nil && resp.Stream != nil {
					if i%3 == 0 {
						resp.Stream.Recv()
					} else {
						for _, err := resp.Stream.Recv(); err == nil; _, err = resp.Stream.Recv() {
						}
					}
					resp.Stream.Close()
				}
			})
		}
		wg.Wait()
		if got := e.Open(); got != 0 {
			t.Errorf("engine has %d open reservations after %d requests, want 0", got, n)
		}
		if st := e.Queue().Stats(); st.Waiting != [4]int{} {
			t.Errorf("queue has %v waiters, want none", st.Waiting)
		}
		if ms, ok := e.Store().(*quota.MemoryStore); ok && ms.Open() != 0 {
			t.Errorf("store has %d open reservations, want 0", ms.Open())
		}
	})
}

func ExampleEngine_Do() {
	up := newScripted("openai").then("gpt-4o", fail(llm.KindOverloaded, 529, 0), fail(llm.KindOverloaded, 529, 0), fail(llm.KindOverloaded, 529, 0))
	steps, _ := fallback.ParseChain("gpt-4o -> gpt-4o-mini")
	rs, _ := fallback.NewRoutes(fallback.Route{Name: "smart", Steps: steps})
	e, _ := engine.New(engine.Config{
		Providers: map[string]llm.Provider{"openai": up},
		Routes:    rs,
		Retry:     retry.Policy{MaxAttempts: 1},
	})
	defer e.Close()
	res, err := e.Do(context.Background(), &llm.Request{Model: "smart", MaxTokens: 100,
		Messages: []llm.Message{{Role: "user", Content: "hi"}}})
	resp, out := res.Response, &res.Outcome
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Text)
	fmt.Println(out.FallbackReason)
	// Output:
	// answer from gpt-4o-mini
	// openai/gpt-4o: 529 overloaded
}

// renewingStore counts lease renewals, as the Redis store would receive them.
type renewingStore struct {
	*quota.MemoryStore
	mu      sync.Mutex
	renewed int
}

func (s *renewingStore) Renew(ctx context.Context, id quota.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renewed++
	return nil
}

func TestLeasesRenewedDuringLongStream(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := &renewingStore{MemoryStore: quota.NewMemoryStore(quota.MemoryConfig{})}
		up := newScripted("openai").then("gpt-4o", func(call llm.Call) (*llm.Response, error) {
			return &llm.Response{Stream: &stream{n: 2, usage: llm.Usage{InputTokens: 10, OutputTokens: 2}}}, nil
		})
		conc := quota.Rule{Name: "conc", Unit: quota.Concurrent, Limit: 4, Window: quota.Leased()}
		e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}, Store: store,
			Rules: quota.Rules{conc}, LeaseRenew: 20 * time.Second})
		req := request("gpt-4o", 100)
		req.Stream = true
		res, err := e.Do(context.Background(), req)
		resp := res.Response
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute + time.Second) // a long stream: three renewal periods pass
		synctest.Wait()
		for _, err := resp.Stream.Recv(); err == nil; _, err = resp.Stream.Recv() {
		}
		time.Sleep(time.Minute) // after the end, renewals stop
		synctest.Wait()
		store.mu.Lock()
		defer store.mu.Unlock()
		if store.renewed != 3 {
			t.Errorf("renewed %d times, want 3 (every 20s for 61s, none after the stream ended)", store.renewed)
		}
	})
}

func TestBudgetStopIsNotHiddenByStatic(t *testing.T) {
	t.Parallel()
	session := quota.Rule{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD,
		Limit: 100, Window: quota.Forever()}
	e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": newScripted("openai")},
		Rules: quota.Rules{session}, Routes: routes(t, chain(t, "smart", "gpt-4o -> gpt-4o-mini -> static"))})
	res, err := e.Do(context.Background(), request("smart", 1000))
	out := &res.Outcome
	if !errors.Is(err, quota.ErrBudget) && !errors.Is(err, quota.ErrTooLarge) {
		t.Fatalf("Do = %v, %v; want the budget refusal, not the static answer", err, out)
	}
	if len(out.Attempts) < 2 || !errors.Is(out.Attempts[0].Err, engine.ErrDowngraded) {
		t.Errorf("attempts = %v; want gpt-4o skipped with ErrDowngraded", out.Attempts)
	}
}

func TestLongRetryAfterFallsBackWhenAModelFollows(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		up := newScripted("openai").then("gpt-4o", fail(llm.KindRateLimited, 429, 30*time.Second))
		e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up},
			Routes: routes(t, chain(t, "smart", "gpt-4o -> gpt-4o-mini"))})
		start := time.Now()
		res, err := e.Do(context.Background(), request("smart", 100))
		out := &res.Outcome
		if err != nil || out.Served != "gpt-4o-mini" || time.Since(start) != 0 {
			t.Fatalf("Do = %v, served %q after %v; want gpt-4o-mini at once", err, out.Served, time.Since(start))
		}
		// Alone, the same model is worth the server's 30s.
		up.then("gpt-4o", fail(llm.KindRateLimited, 429, 30*time.Second))
		e2 := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}})
		start = time.Now()
		if res, err := e2.Do(context.Background(), request("gpt-4o", 100)); err != nil || res.Outcome.Served != "gpt-4o" {
			t.Fatalf("single-model Do = %v, %v", err, out)
		}
		if got := time.Since(start); got != 30*time.Second {
			t.Errorf("single model waited %v, want the server's 30s", got)
		}
	})
}
