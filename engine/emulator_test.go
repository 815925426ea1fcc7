package engine_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/retry"
)

// emuTokenizer counts as the emulator does (emulator.CountTokens), so that what the
// early-end rule counts can be compared with the emulator's bill token for token: generated
// text, and prompts of plain text messages with the chat framing (3 tokens per message and
// 3 per request).
type emuTokenizer struct{ engine.OfflineTokenizer }

func (emuTokenizer) Input(req *llm.Request, _ string) (int64, error) {
	n := 3
	for _, m := range req.Messages {
		n += 3 + emulator.CountTokens(m.Content)
	}
	return int64(n), nil
}

func (emuTokenizer) Output(string) engine.TokenCounter { return &emuCounter{} }

type emuCounter struct{ n int64 }

func (c *emuCounter) Add(s string)  { c.n += int64(emulator.CountTokens(s)) }
func (c *emuCounter) Tokens() int64 { return c.n }

// emuPrompt is the emulator's count of a prompt of one user message: its text and the
// chat framing, 3 tokens per message and 3 per request.
func emuPrompt(content string) int { return 3 + emulator.CountTokens(content) + 3 }

// TestCancellationAgainstTheEmulator calls the emulator over real HTTP, as tollgate calls
// providers, and goes away in the middle: the ledger's record must be the emulator's bill,
// exactly for a whole answer (which the upstream finishes and bills in full), and up to the
// tokens in flight for a stream (which the engine closes, stopping the generation).
func TestCancellationAgainstTheEmulator(t *testing.T) {
	t.Parallel()
	arrived, billed := make(chan string, 8), make(chan string, 8)
	em, err := emulator.New(emulator.Config{Seed: 9, Output: emulator.Output{MinTokens: 150, MaxTokens: 200},
		Latency: emulator.Latency{FirstToken: 50 * time.Millisecond, TokensPerSecond: 200}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Client-Request-Id")
		arrived <- id
		em.ServeHTTP(w, r) // bills the request before it returns
		billed <- id
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
	const prompt = "Tell me about rate limits and budgets for a fleet of agents."
	tests := []struct {
		name     string
		model    string
		stream   bool
		read     int // chunks read before the caller leaves; a whole answer leaves as it arrives
		inFlight int64
	}{
		{name: "openai whole answer", model: "gpt-4o"},
		{name: "anthropic whole answer", model: "claude-sonnet-4-5"},
		{name: "openai stream", model: "gpt-4o", stream: true, read: 20, inFlight: 8},
		{name: "anthropic stream", model: "claude-sonnet-4-5", stream: true, read: 20, inFlight: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := openLedger(t)
			e, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": oa, "anthropic": an},
				Ledger: l, Tokenizer: emuTokenizer{}})
			if err != nil {
				t.Fatal(err)
			}
			req := &llm.Request{Format: llm.OpenAI, Model: tt.model, MaxTokens: 400, Stream: tt.stream,
				Messages: []llm.Message{{Role: "user", Content: prompt}}, InputTokens: emuPrompt(prompt),
				Identity: llm.Identity{Tenant: "acme", Session: tt.name}}
			if tt.model == "claude-sonnet-4-5" {
				req.Format = llm.Anthropic
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var id string
			if !tt.stream {
				go func() {
					<-arrived // the emulator has the request: leave while it generates
					cancel()
				}()
				res, err := e.Do(ctx, req)
				if err == nil {
					t.Fatalf("Do = %v, want the caller's cancellation", res.Response)
				}
				id = res.RequestID
			} else {
				res, err := e.Do(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				<-arrived
				id = res.RequestID
				for range tt.read {
					if _, err := res.Response.Stream.Recv(); err != nil {
						t.Fatal(err)
					}
				}
				cancel() // the caller leaves without closing: the engine closes the upstream
				for _, err := res.Response.Stream.Recv(); err == nil; _, err = res.Response.Stream.Recv() {
				}
				res.Response.Stream.Close()
			}
			if err := e.Close(); err != nil { // waits for the abandoned call to settle
				t.Fatal(err)
			}
			flushed(t, l)
			recs, err := l.Request(context.Background(), id)
			if err != nil || len(recs) != 1 {
				t.Fatalf("records of %s = %+v, %v; want 1", id, recs, err)
			}
			rec := recs[0]
			for got := ""; got != id; got = <-billed {
			}
			bills := em.BillsFor(id)
			if len(bills) != 1 {
				t.Fatalf("bills for %s = %+v, want 1", id, bills)
			}
			bill := bills[0]
			t.Logf("%s: ledger in %d out %d %d µUSD (%s); bill in %d out %d %d µUSD (%s)", tt.name, rec.InputTokens,
				rec.OutputTokens, rec.MicroUSD, rec.Outcome, bill.Usage.InputTokens, bill.Usage.OutputTokens, bill.CostMicroUSD, bill.End)
			if rec.Outcome != ledger.OutcomeCancelled || rec.UpstreamRequestID != bill.RequestID {
				t.Errorf("record outcome %q, upstream id %q; want cancelled, %q", rec.Outcome, rec.UpstreamRequestID, bill.RequestID)
			}
			got := llm.Usage{InputTokens: rec.InputTokens, CachedInputTokens: rec.CachedInputTokens,
				CacheWriteTokens: rec.CacheWriteTokens, CacheWrite1hTokens: rec.CacheWrite1hTokens, OutputTokens: rec.OutputTokens}
			want := bill.Usage
			want.ReasoningTokens = 0
			if !tt.stream {
				if got != want || rec.MicroUSD != bill.CostMicroUSD || bill.End != emulator.EndComplete {
					t.Errorf("ledger %+v at %d µUSD, want the bill %+v at %d µUSD (%s)", got, rec.MicroUSD, want, bill.CostMicroUSD, bill.End)
				}
				return
			}
			gap := want.OutputTokens - got.OutputTokens
			if bill.End != emulator.EndClientGone || gap < 0 || gap > tt.inFlight {
				t.Errorf("ledger output %d, bill %d (%s): want at most %d tokens in flight missed, never more than billed",
					got.OutputTokens, want.OutputTokens, bill.End, tt.inFlight)
			}
			got.OutputTokens = want.OutputTokens
			if got != want {
				t.Errorf("ledger input side %+v, want the bill's %+v", got, want)
			}
		})
	}
}

// TestWholeAnswerCutAfterItsHeaders: an answer whose body breaks off after the upstream's
// 200 was generated, and the provider bills it; the attempt fails, and is charged its worst
// case, never less than the bill.
func TestWholeAnswerCutAfterItsHeaders(t *testing.T) {
	t.Parallel()
	em, err := emulator.New(emulator.Config{Seed: 3, Output: emulator.Output{MinTokens: 150, MaxTokens: 150},
		Faults: emulator.Faults{Cut: 1}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	oa, err := openai.New(openai.Config{BaseURL: srv.URL + "/v1", APIKey: "sk-test", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	rec := &records{}
	e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": oa}, Ledger: rec,
		Retry: retry.Policy{MaxAttempts: 1}})
	req := &llm.Request{Format: llm.OpenAI, Model: "gpt-4o-mini", MaxTokens: 200,
		Messages: []llm.Message{{Role: "user", Content: "Say something long."}}}
	res, err := e.Do(context.Background(), req)
	if llm.KindOf(err) != llm.KindConnection {
		t.Fatalf("Do = %v, want the cut as a connection failure", err)
	}
	recs, bills := rec.all(), em.BillsFor(res.RequestID)
	if len(recs) != 1 || len(bills) != 1 {
		t.Fatalf("records %+v, bills %+v; want one each", recs, bills)
	}
	r, b := recs[0], bills[0]
	if r.Outcome != ledger.OutcomeError || r.UpstreamRequestID != b.RequestID || r.OutputTokens != 200 ||
		r.MicroUSD < b.CostMicroUSD || b.End != emulator.EndCut {
		t.Errorf("record %+v, bill %+v: want the worst case (200 output tokens) charged, at least the bill", r, b)
	}
}
