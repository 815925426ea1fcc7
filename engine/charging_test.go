package engine_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/retry"
	"github.com/tollgate/tollgate/tokens"
)

func price(t *testing.T, model string) pricing.Model {
	t.Helper()
	m, err := pricing.Default().Lookup(model)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestWorstCaseCountsChoices reserves n × the output cap, in dollars and tokens alike, and
// settles the usage summed over the choices: the shapes of issue 9, where n=8 was admitted
// at one choice's worst case and spent 160% of its budget.
func TestWorstCaseCountsChoices(t *testing.T) {
	t.Parallel()
	gpt4o := price(t, "gpt-4o")
	session := func(limit int64) quota.Rule {
		return quota.Rule{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD,
			Limit: limit, Window: quota.Forever()}
	}
	tpm := quota.Rule{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 1000, Window: quota.PerMinute()}
	tests := []struct {
		name      string
		rule      quota.Rule
		input     int // the prompt's estimate; 0 means 1000
		n         int
		maxTokens int
		clamp     bool
		usage     llm.Usage // what the upstream reports; zero: not called
		wantErr   error
		wantCap   int // max_tokens sent per choice
	}{
		{name: "n=8 over a $0.01 budget is refused", rule: session(10_000), n: 8, maxTokens: 200, wantErr: quota.ErrTooLarge},
		{name: "n=8 over a $0.01 budget is clamped per choice", rule: session(10_000), n: 8, maxTokens: 200, clamp: true,
			// ($0.01 - 1000 input tokens at $2.50/1M) / $10 per 1M output = 750 tokens for 8 choices.
			usage: llm.Usage{InputTokens: 1000, OutputTokens: 8 * 90}, wantCap: 750 / 8},
		{name: "n=8 at one choice's cost fits", rule: session(25_000), n: 8, maxTokens: 200,
			usage: llm.Usage{InputTokens: 1000, OutputTokens: 1234}, wantCap: 200},
		{name: "a token rate counts n x the cap", rule: tpm, input: 40, n: 8, maxTokens: 200, wantErr: quota.ErrTooLarge},
		{name: "one choice fits the token rate", rule: tpm, input: 40, maxTokens: 200,
			usage: llm.Usage{InputTokens: 40, OutputTokens: 9}, wantCap: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sent []llm.Call
			var mu sync.Mutex
			up := newScripted("openai")
			up.def = func(call llm.Call) (*llm.Response, error) {
				mu.Lock()
				sent = append(sent, call)
				mu.Unlock()
				return &llm.Response{Model: call.Model, Text: "x", Usage: tt.usage}, nil
			}
			route := fallback.Route{Name: "r", Steps: []fallback.Step{{Model: "gpt-4o"}}, ClampMaxTokens: tt.clamp}
			rec := &records{}
			e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: quota.Rules{tt.rule},
				Routes: routes(t, route), Ledger: rec})
			req := request("r", tt.maxTokens)
			req.N = tt.n
			if tt.input > 0 {
				req.InputTokens = tt.input
			}
			res, err := e.Do(context.Background(), req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || len(sent) != 0 {
					t.Fatalf("Do = %v after %d calls, want %v and no call", err, len(sent), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(sent) != 1 || sent[0].MaxTokens != tt.wantCap || res.MaxTokens != tt.wantCap {
				t.Fatalf("sent %+v, Result.MaxTokens %d; want one call with max_tokens %d", sent, res.MaxTokens, tt.wantCap)
			}
			recs := rec.all()
			if len(recs) != 1 || recs[0].OutputTokens != tt.usage.OutputTokens || recs[0].MicroUSD != gpt4o.Cost(tt.usage) {
				t.Errorf("ledger %+v, want the upstream's usage %+v at %d µUSD", recs, tt.usage, gpt4o.Cost(tt.usage))
			}
			q, _ := tt.rule.For(quota.Labels{Session: "s1", Model: "gpt-4o", Provider: "openai"})
			st, _ := e.Store().Status(context.Background(), []quota.Quota{q}, nil)
			if st[0].Used > tt.rule.Limit {
				t.Errorf("%s used %d, over its limit %d", tt.rule.Name, st[0].Used, tt.rule.Limit)
			}
		})
	}
}

// TestWorstCasePricesCacheWrites journals the worst case of a request with cache_control
// breakpoints at the write price of its TTL (1.25x or 2x input), and settles the writes at
// their own prices: the claude-3-7-sonnet call of issue 9 that was booked $0.045171 for
// Anthropic's $0.054399.
func TestWorstCasePricesCacheWrites(t *testing.T) {
	t.Parallel()
	sonnet := price(t, "claude-3-7-sonnet")
	usage := llm.Usage{InputTokens: 3 + 12304, CacheWriteTokens: 12304, OutputTokens: 550}
	if got := sonnet.Cost(usage); got != 54_399 {
		t.Fatalf("claude-3-7-sonnet Cost(%+v) = %d, want Anthropic's bill of 54,399 µUSD", usage, got)
	}
	for _, tt := range []struct {
		name string
		ttl  time.Duration
		per  int64 // the input price the worst case uses, per 1M
	}{
		{"no breakpoint", 0, sonnet.Input},
		{"5-minute breakpoint", 5 * time.Minute, sonnet.CacheWrite},
		{"1-hour breakpoint", time.Hour, sonnet.CacheWrite1h},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newScripted("anthropic")
			up.def = func(call llm.Call) (*llm.Response, error) { return &llm.Response{Usage: usage}, nil }
			rec := &records{}
			var holds []ledger.Hold
			e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"anthropic": up}, Ledger: &holdSpy{records: rec, holds: &holds}})
			req := request("claude-3-7-sonnet", 550)
			req.InputTokens, req.CacheTTL = 12_400, tt.ttl
			if _, err := e.Do(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			want := (12_400*tt.per + 550*sonnet.Output + 999_999) / 1_000_000
			if len(holds) != 1 || holds[0].MicroUSD != want || holds[0].InputTokens != 12_400 || holds[0].OutputTokens != 550 {
				t.Errorf("holds %+v, want one of 12,400 in, 550 out, %d µUSD", holds, want)
			}
			if r := rec.all(); len(r) != 1 || r[0].MicroUSD != 54_399 || r[0].CacheWriteTokens != 12304 {
				t.Errorf("records %+v, want the bill of 54,399 µUSD with its 12,304 cache writes", r)
			}
		})
	}
}

// holdSpy is a Recorder that keeps the holds it was asked to open.
type holdSpy struct {
	*records
	mu    sync.Mutex
	holds *[]ledger.Hold
}

func (h *holdSpy) OpenHold(ctx context.Context, hold ledger.Hold) error {
	h.mu.Lock()
	*h.holds = append(*h.holds, hold)
	h.mu.Unlock()
	return h.records.OpenHold(ctx, hold)
}

// script is an upstream stream that plays events: chunks, usage reports and an end.
type script struct {
	mu     sync.Mutex
	events []step
	usage  llm.Usage
	end    error // after the events; nil is io.EOF
	closed chan struct{}
	once   sync.Once
	// leave, when set, is called at a step marked leave: the caller goes away there.
	leave func()
}

// step is one event of a script: a chunk, a usage report, or a wait for Close.
type step struct {
	chunk *llm.Chunk
	usage *llm.Usage
	hang  bool // wait until closed, then fail as a closed connection does
	leave bool // call the script's leave
}

func newScript(end error, steps ...step) *script {
	return &script{events: steps, end: end, closed: make(chan struct{})}
}

func (s *script) Recv() (llm.Chunk, error) {
	for {
		s.mu.Lock()
		if len(s.events) == 0 {
			s.mu.Unlock()
			if s.end != nil {
				return llm.Chunk{}, s.end
			}
			return llm.Chunk{}, io.EOF
		}
		ev := s.events[0]
		s.events = s.events[1:]
		if ev.usage != nil {
			s.usage = *ev.usage
		}
		s.mu.Unlock()
		switch {
		case ev.leave:
			s.leave()
		case ev.hang:
			<-s.closed
			return llm.Chunk{}, &llm.Error{Kind: llm.KindConnection, Message: "use of closed connection"}
		case ev.chunk != nil:
			return *ev.chunk, nil
		}
	}
}

func (s *script) Usage() llm.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage
}

func (s *script) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func text(s string) step     { return step{chunk: &llm.Chunk{Text: s}} }
func usage(u llm.Usage) step { return step{usage: &u} }
func chunk(c llm.Chunk) step { return step{chunk: &c} }
func counted(parts ...string) int64 { // as the default Tokenizer counts relayed text
	var c tokens.Counter
	for _, p := range parts {
		c.Add(p)
	}
	return c.Tokens()
}

// TestEarlyEndRule plays streams that end in every way both wire formats end, and checks
// the one rule they are charged by: the reported input side or the estimate, plus the
// relayed output or the upstream's larger count, within the worst case; hidden reasoning at
// the cap.
func TestEarlyEndRule(t *testing.T) {
	t.Parallel()
	cut := &llm.Error{Kind: llm.KindConnection, Message: "stream cut: ended without message_stop"}
	errEvent := &llm.Error{Kind: llm.KindOverloaded, Message: "Overloaded"}
	anthropicStart := llm.Usage{InputTokens: 3 + 12304 + 800, CachedInputTokens: 800, CacheWriteTokens: 12304, CacheWrite1hTokens: 4000}
	tests := []struct {
		name    string
		model   string
		n       int
		cap     int // max_tokens; 0 means 500
		script  *script
		read    int // chunks read before Close; -1 reads to the end
		cancel  bool
		doErr   bool // the stream fails before its first content: Do fails
		want    llm.Usage
		outcome string
	}{
		{name: "complete: the reported usage", model: "gpt-4o",
			script: newScript(nil, text(" The"), text(" answer"), usage(llm.Usage{InputTokens: 990, OutputTokens: 2})),
			read:   -1, want: llm.Usage{InputTokens: 990, OutputTokens: 2}, outcome: ledger.OutcomeOK},
		{name: "complete without usage: the estimate and the relayed text", model: "gpt-4o",
			script: newScript(nil, text(" The"), text(" answer")),
			read:   -1, want: llm.Usage{InputTokens: 1000, OutputTokens: counted(" The", " answer")}, outcome: ledger.OutcomeOK},
		{name: "openai cut by the upstream", model: "gpt-4o",
			script: newScript(cut, text(" The"), text(" answer"), text(" is")),
			read:   -1, want: llm.Usage{InputTokens: 1000, OutputTokens: counted(" The", " answer", " is")}, outcome: ledger.OutcomeError},
		{name: "openai client gone after two chunks", model: "gpt-4o",
			script: newScript(nil, text(" The"), text(" answer"), text(" is"), text(" 42")),
			read:   2, want: llm.Usage{InputTokens: 1000, OutputTokens: counted(" The", " answer")}, outcome: ledger.OutcomeCancelled},
		// Do holds the preamble until the first content: the caller leaves while it waits.
		{name: "abandoned before the first token: the input", model: "gpt-4o",
			script: newScript(nil, chunk(llm.Chunk{Raw: []byte("data: {role}\n\n")}), step{leave: true}, step{hang: true}),
			doErr:  true, want: llm.Usage{InputTokens: 1000}, outcome: ledger.OutcomeCancelled},
		{name: "abandoned after Do, before reading: the input and the held first token", model: "gpt-4o",
			script: newScript(nil, chunk(llm.Chunk{Raw: []byte("data: {role}\n\n")}), text(" The"), text(" answer")),
			read:   0, want: llm.Usage{InputTokens: 1000, OutputTokens: counted(" The")}, outcome: ledger.OutcomeCancelled},
		{name: "anthropic cut: the reported input side, never the placeholder", model: "claude-sonnet-4-5",
			script: newScript(cut, usage(anthropicStart), text("Hello"), text(" world")),
			read:   -1, want: withOutput(anthropicStart, counted("Hello", " world")), outcome: ledger.OutcomeError},
		{name: "anthropic error event after content", model: "claude-sonnet-4-5",
			script: newScript(errEvent, usage(anthropicStart), text("Hello")),
			read:   -1, want: withOutput(anthropicStart, counted("Hello")), outcome: ledger.OutcomeError},
		{name: "the upstream's larger cumulative count wins", model: "claude-sonnet-4-5",
			script: newScript(cut, usage(anthropicStart), text("Hello"), usage(withOutput(anthropicStart, 57))),
			read:   -1, want: withOutput(anthropicStart, 57), outcome: ledger.OutcomeError},
		{name: "tool calls, reasoning and other choices count", model: "gpt-4o", n: 2,
			script: newScript(cut, chunk(llm.Chunk{Reasoning: "Let me look", ToolCalls: []llm.ToolCallDelta{{Name: "get_weather", Arguments: `{"city":`}}}),
				chunk(llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Arguments: `"Paris"}`}}, Other: " Sure"})),
			read: -1, want: llm.Usage{InputTokens: 1000, OutputTokens: counted("Let me look", "get_weather", `{"city":`, `"Paris"}`, " Sure")},
			outcome: ledger.OutcomeError},
		{name: "counted above the cap is charged the cap", model: "gpt-4o", cap: 3,
			script: newScript(cut, text(" supercalifragilisticexpialidocious"), text(" antidisestablishmentarianism"), text(" floccinaucinihilipilification")),
			read:   -1, want: llm.Usage{InputTokens: 1000, OutputTokens: 3}, outcome: ledger.OutcomeError},
		// Before any content a failure is Do's (and falls back when a step follows).
		{name: "hidden reasoning cut in its silent phase: the cap", model: "o3", n: 2, cap: 3,
			script: newScript(cut), doErr: true, want: llm.Usage{InputTokens: 1000, OutputTokens: 2 * 3}, outcome: ledger.OutcomeError},
		{name: "anthropic error event before content: the reported input side", model: "claude-sonnet-4-5",
			script: newScript(errEvent, usage(anthropicStart), chunk(llm.Chunk{Raw: []byte("event: ping\n\n")})),
			doErr:  true, want: anthropicStart, outcome: ledger.OutcomeError},
		{name: "hidden reasoning abandoned after content: the cap", model: "o4-mini", cap: 3,
			script: newScript(nil, text(" The"), text(" answer")), read: 1,
			want: llm.Usage{InputTokens: 1000, OutputTokens: 3}, outcome: ledger.OutcomeCancelled},
		{name: "the caller's context ends mid-stream", model: "gpt-4o",
			script: newScript(nil, text(" The"), step{hang: true}), read: 1, cancel: true,
			want: llm.Usage{InputTokens: 1000, OutputTokens: counted(" The")}, outcome: ledger.OutcomeCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			provider := price(t, tt.model).Provider
			up := newScripted(provider)
			up.def = func(call llm.Call) (*llm.Response, error) { return &llm.Response{Stream: tt.script}, nil }
			rec := &records{}
			// One attempt: a retry would replay the script's end.
			e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{provider: up}, Ledger: rec,
				Retry: retry.Policy{MaxAttempts: 1}})
			req := request(tt.model, 500)
			if tt.cap > 0 {
				req.MaxTokens = tt.cap
			}
			req.N, req.Stream = tt.n, true
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tt.script.leave = cancel
			res, err := e.Do(ctx, req)
			if tt.doErr {
				if err == nil {
					t.Fatal("Do = nil error, want the stream's failure before its first content")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				s := res.Response.Stream
				for i := 0; tt.read < 0 || i < tt.read; i++ {
					if _, err := s.Recv(); err != nil {
						break
					}
				}
				if tt.cancel {
					cancel()
					if _, err := s.Recv(); err == nil {
						t.Fatal("Recv after the caller's context ended = nil error, want the closed stream's")
					}
				}
				s.Close()
			}
			recs := rec.all()
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			got := recs[0]
			gotU := llm.Usage{InputTokens: got.InputTokens, CachedInputTokens: got.CachedInputTokens, CacheWriteTokens: got.CacheWriteTokens,
				CacheWrite1hTokens: got.CacheWrite1hTokens, OutputTokens: got.OutputTokens, ReasoningTokens: got.ReasoningTokens}
			if diff := cmp.Diff(tt.want, gotU); diff != "" || got.Outcome != tt.outcome {
				t.Errorf("charged %s (-want +got):\n%s", got.Outcome, diff)
			}
			if m := price(t, tt.model); got.MicroUSD != m.Cost(tt.want) {
				t.Errorf("MicroUSD = %d, want %d", got.MicroUSD, m.Cost(tt.want))
			}
			if e.Open() != 0 || rec.open() != 0 {
				t.Errorf("Open() = %d, open holds %d; want 0, 0", e.Open(), rec.open())
			}
		})
	}
}

func withOutput(u llm.Usage, out int64) llm.Usage {
	u.OutputTokens = out
	return u
}

// sleeper is an upstream whose whole answers take a while, honouring its context as an
// HTTP call does.
type sleeper struct {
	took   time.Duration
	usage  llm.Usage
	stream func() llm.Stream
	mu     sync.Mutex
	calls  int
}

func (s *sleeper) Name() string { return "openai" }

func (s *sleeper) Do(ctx context.Context, call llm.Call) (*llm.Response, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	t := time.NewTimer(s.took)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, &llm.Error{Kind: llm.KindConnection, Message: "canceled", Err: ctx.Err()}
	}
	resp := &llm.Response{Model: call.Model, Text: "done", Usage: s.usage, UpstreamRequestID: "req_" + call.RequestID[:8]}
	if s.stream != nil {
		resp.Stream = s.stream()
	}
	return resp, nil
}

// TestCallerCancellation: a caller that goes away never skips the settle or the ledger
// row. Do returns at once; the call goes on and is charged what it used, or its worst case
// when it outlives AbandonTimeout.
func TestCallerCancellation(t *testing.T) {
	t.Parallel()
	used := llm.Usage{InputTokens: 900, OutputTokens: 120}
	tests := []struct {
		name     string
		up       *sleeper
		deadline bool // the caller's deadline passes instead of a cancel
		want     llm.Usage
		at       time.Duration // when the settle happens, from the start
	}{
		{name: "cancelled whole answer: its real usage when it comes", up: &sleeper{took: 10 * time.Second, usage: used},
			want: used, at: 10 * time.Second},
		{name: "deadline passed: the same", up: &sleeper{took: 10 * time.Second, usage: used}, deadline: true,
			want: used, at: 10 * time.Second},
		{name: "still running after AbandonTimeout: the worst case", up: &sleeper{took: time.Hour, usage: used},
			want: llm.Usage{InputTokens: 1000, OutputTokens: 300}, at: time.Second + time.Minute},
		{name: "a stream that starts after the caller left: the input only",
			up:   &sleeper{took: 10 * time.Second, stream: func() llm.Stream { return newScript(nil, text(" hi")) }},
			want: llm.Usage{InputTokens: 1000}, at: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rec := &records{}
				var settled time.Time
				e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": tt.up}, Ledger: rec,
					AbandonTimeout: time.Minute, OnEvent: func(ev engine.Event) {
						if ev.Kind == engine.Settled {
							settled = time.Now()
						}
					}})
				start := time.Now()
				var ctx context.Context
				var cancel context.CancelFunc
				if tt.deadline {
					ctx, cancel = context.WithTimeout(context.Background(), time.Second)
				} else {
					ctx, cancel = context.WithCancel(context.Background())
					time.AfterFunc(time.Second, cancel)
				}
				defer cancel()
				req := request("gpt-4o", 300)
				req.Stream = tt.up.stream != nil
				res, err := e.Do(ctx, req)
				if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Do = %v, want the caller's cancellation", err)
				}
				if got := time.Since(start); got != time.Second {
					t.Errorf("Do returned after %v, want at once when the caller left (1s)", got)
				}
				if out := res.Outcome; len(out.Attempts) != 1 || out.Attempts[0].Why != fallback.WhyCancelled {
					t.Errorf("outcome %v, want one attempt failed as cancelled", &out)
				}
				if e.Open() != 1 || rec.open() != 1 {
					t.Errorf("after Do: Open() = %d, open holds %d; want 1, 1 while the call goes on", e.Open(), rec.open())
				}
				e.Close() // waits for the abandoned call
				if got := settled.Sub(start); got != tt.at {
					t.Errorf("settled %v after the start, want %v", got, tt.at)
				}
				recs := rec.all()
				if len(recs) != 1 || recs[0].Outcome != ledger.OutcomeCancelled || recs[0].RequestID != res.RequestID {
					t.Fatalf("records %+v, want one cancelled record of request %s", recs, res.RequestID)
				}
				r := recs[0]
				if got := (llm.Usage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens}); got != tt.want {
					t.Errorf("charged %+v, want %+v", got, tt.want)
				}
				if e.Open() != 0 || rec.open() != 0 {
					t.Errorf("after Close: Open() = %d, open holds %d; want 0, 0", e.Open(), rec.open())
				}
			})
		})
	}
}
