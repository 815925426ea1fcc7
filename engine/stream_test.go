package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/internal/memnet"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/retry"
)

// bubbleUpstreams serves an emulator of cfg over real HTTP on an in-memory network, for
// tests inside a synctest bubble, and returns it with the providers that call it; the
// server stops when the test ends.
func bubbleUpstreams(t *testing.T, cfg emulator.Config) (*emulator.Emulator, map[string]llm.Provider) {
	t.Helper()
	em, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, stop := memnet.Serve(em)
	t.Cleanup(stop)
	oa, err := openai.New(openai.Config{BaseURL: "http://emulator/v1", APIKey: "sk-test", HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	an, err := anthropic.New(anthropic.Config{BaseURL: "http://emulator", APIKey: "sk-test", HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	return em, map[string]llm.Provider{"openai": oa, "anthropic": an}
}

// faulty gives model of provider the fault at rate 1.
func faulty(provider string, f emulator.Faults) emulator.Model {
	return emulator.Model{Provider: provider, Faults: &f}
}

// TestFailureBeforeContentFallsBack: a stream that fails after its 200 and before any
// content (Anthropic: message_start, content_block_start, ping, then an overloaded error;
// OpenAI: a role chunk, then an error) has said nothing to the caller: the step fails, the
// next serves, and the failed attempt is charged as the upstream bills it. After content, a
// failure ends the stream with an error as before.
func TestFailureBeforeContentFallsBack(t *testing.T) {
	t.Parallel()
	const prompt = "Tell me about rate limits."
	tests := []struct {
		name   string
		format llm.Format
		first  string // the faulty first step
		fault  emulator.Faults
		chain  string
		served string
		midErr bool // the served stream fails after content
	}{
		{"anthropic error event before content", llm.Anthropic, "claude-haiku-4-5", emulator.Faults{StartErrorEvent: 1},
			"anthropic/claude-haiku-4-5 -> openai/gpt-4o-mini", "gpt-4o-mini", false},
		{"openai error after the role chunk", llm.OpenAI, "gpt-4o-mini", emulator.Faults{StartErrorEvent: 1},
			"openai/gpt-4o-mini -> anthropic/claude-haiku-4-5", "claude-haiku-4-5", false},
		{"openai error after content", llm.OpenAI, "gpt-4o-mini", emulator.Faults{ErrorEvent: 1},
			"openai/gpt-4o-mini -> anthropic/claude-haiku-4-5", "gpt-4o-mini", true},
		{"anthropic error after content", llm.Anthropic, "claude-haiku-4-5", emulator.Faults{ErrorEvent: 1},
			"anthropic/claude-haiku-4-5 -> openai/gpt-4o-mini", "claude-haiku-4-5", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			em, provs := emuUpstreams(t, emulator.Config{Seed: 4, Output: emulator.Output{MinTokens: 40, MaxTokens: 40},
				Models: map[string]emulator.Model{tt.first: faulty(string(tt.format), tt.fault)}})
			rec := &records{}
			e := newEngine(t, engine.Config{Providers: provs, Ledger: rec, Tokenizer: emuTokenizer{},
				Retry: retry.Policy{MaxAttempts: 1}, Routes: routes(t, chain(t, "r", tt.chain))})
			req := &llm.Request{Format: tt.format, Model: "r", MaxTokens: 100, Stream: true, InputTokens: emuPrompt(prompt),
				Messages: []llm.Message{{Role: "user", Content: prompt}}, Identity: llm.Identity{Tenant: "acme"}}
			res, err := e.Do(context.Background(), req)
			if err != nil || res.Outcome.Served != tt.served {
				t.Fatalf("Do = served %q, %v; want served by %s", res.Outcome.Served, err, tt.served)
			}
			s := res.Response.Stream
			// The held preamble comes first, and it is the served step's own.
			if c, err := s.Recv(); err != nil || len(c.Raw) == 0 || res.Response.Format != formatOf(tt.served) {
				t.Errorf("first event %q, %v of a %s answer; want the preamble of %s", c.Raw, err, res.Response.Format, tt.served)
			}
			var streamErr error
			for streamErr == nil {
				_, streamErr = s.Recv()
			}
			s.Close()
			if got := !errors.Is(streamErr, llm.EOF); got != tt.midErr {
				t.Errorf("the stream ended with %v; want a failure after content: %v", streamErr, tt.midErr)
			}
			if !tt.midErr {
				if a := res.Outcome.Attempts[0]; a.Result != fallback.Failed || llm.KindOf(a.Err) != llm.KindOverloaded &&
					llm.KindOf(a.Err) != llm.KindServer {
					t.Errorf("first step %+v, want failed by the upstream's error event", a)
				}
			}
			// Every attempt is charged what the emulator billed it.
			recs := rec.all()
			if len(recs) != len(res.Outcome.Attempts) {
				t.Fatalf("%d records for %d attempts", len(recs), len(res.Outcome.Attempts))
			}
			for _, r := range recs {
				bills := em.BillsFor(res.RequestID)
				var bill *emulator.Bill
				for i := range bills {
					if bills[i].RequestID == r.UpstreamRequestID {
						bill = &bills[i]
					}
				}
				if bill == nil {
					t.Fatalf("no bill for record %+v among %+v", r, bills)
				}
				got := llm.Usage{InputTokens: r.InputTokens, CachedInputTokens: r.CachedInputTokens, OutputTokens: r.OutputTokens}
				want := bill.Usage
				want.ReasoningTokens = 0
				if got != want {
					t.Errorf("%s (%s): ledger %+v, bill %+v (%s)", r.Model, r.Outcome, got, want, bill.End)
				}
			}
			if e.Open() != 0 || rec.open() != 0 {
				t.Errorf("Open() = %d, open holds %d; want 0, 0", e.Open(), rec.open())
			}
		})
	}
}

// formatOf is the wire format of model's answers.
func formatOf(model string) llm.Format {
	if strings.HasPrefix(model, "claude") {
		return llm.Anthropic
	}
	return llm.OpenAI
}

// TestAttemptTimeouts: an upstream that goes silent fails its step at the attempt
// timeout of the phase it is in — response headers, first token, a whole answer — and the
// chain moves on, saying which step timed out; a silence after content ends the stream
// with the idle timeout's error. Time is the synctest bubble's.
func TestAttemptTimeouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    emulator.Faults // gpt-4o-mini's
		stream   bool
		cfg      engine.Config // its timeouts
		served   string
		phase    string        // the TimeoutError's phase
		took     time.Duration // Do's time, or the stream's when it fails after content
		deadline time.Duration // the caller's, 0 for none
	}{
		{name: "hang: response headers", fault: emulator.Faults{Hang: 1}, stream: true,
			cfg: engine.Config{Timeouts: engine.Timeouts{Headers: 5 * time.Second}}, served: "claude-haiku-4-5", phase: "headers", took: 5 * time.Second},
		{name: "silent: first token", fault: emulator.Faults{Silent: 1}, stream: true,
			cfg: engine.Config{Timeouts: engine.Timeouts{FirstToken: 7 * time.Second}}, served: "claude-haiku-4-5", phase: "first_token", took: 7 * time.Second},
		{name: "hang: whole answer", fault: emulator.Faults{Hang: 1},
			cfg: engine.Config{Timeouts: engine.Timeouts{Answer: 9 * time.Second}}, served: "claude-haiku-4-5", phase: "answer", took: 9 * time.Second},
		{name: "stall after content: idle", fault: emulator.Faults{Stall: 1, StallFor: time.Minute}, stream: true,
			cfg: engine.Config{Timeouts: engine.Timeouts{Idle: 10 * time.Second}}, served: "gpt-4o-mini", phase: "idle", took: 10 * time.Second},
		{name: "silent: the default first token timeout", fault: emulator.Faults{Silent: 1}, stream: true,
			served: "claude-haiku-4-5", phase: "first_token", took: engine.DefaultFirstTokenTimeout},
		{name: "silent: the upstream's timeout", fault: emulator.Faults{Silent: 1}, stream: true,
			cfg:    engine.Config{UpstreamTimeouts: map[string]engine.Timeouts{"openai": {FirstToken: 20 * time.Second}}},
			served: "claude-haiku-4-5", phase: "first_token", took: 20 * time.Second},
		{name: "silent: the route's timeout wins", fault: emulator.Faults{Silent: 1}, stream: true,
			cfg: engine.Config{UpstreamTimeouts: map[string]engine.Timeouts{"openai": {FirstToken: 20 * time.Second}},
				RouteTimeouts: map[string]engine.Timeouts{"r": {FirstToken: 3 * time.Second}}},
			served: "claude-haiku-4-5", phase: "first_token", took: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, provs := bubbleUpstreams(t, emulator.Config{Seed: 5, Output: emulator.Output{MinTokens: 40, MaxTokens: 40},
					Models: map[string]emulator.Model{"gpt-4o-mini": faulty("openai", tt.fault)}})
				rec := &records{}
				cfg := tt.cfg
				cfg.Providers, cfg.Ledger, cfg.Retry = provs, rec, retry.Policy{MaxAttempts: 1}
				cfg.Routes = routes(t, chain(t, "r", "openai/gpt-4o-mini -> anthropic/claude-haiku-4-5"))
				e := newEngine(t, cfg)
				req := &llm.Request{Format: llm.OpenAI, Model: "r", MaxTokens: 100, Stream: tt.stream,
					Messages: []llm.Message{{Role: "user", Content: "hello"}}, Identity: llm.Identity{Tenant: "acme"}}
				start := time.Now()
				res, err := e.Do(context.Background(), req)
				if err != nil || res.Outcome.Served != tt.served {
					t.Fatalf("Do = served %q, %v; want %s", res.Outcome.Served, err, tt.served)
				}
				var te *engine.TimeoutError
				if tt.phase == "idle" {
					var serr error
					for serr == nil {
						_, serr = res.Response.Stream.Recv()
					}
					res.Response.Stream.Close()
					if !errors.As(serr, &te) || llm.KindOf(serr) != llm.KindTimeout {
						t.Fatalf("the stream ended with %v, want the idle timeout", serr)
					}
				} else {
					a := res.Outcome.Attempts[0]
					if a.Result != fallback.Failed || a.Why != fallback.WhyTimeout || !errors.As(a.Err, &te) {
						t.Fatalf("first step %+v, want failed for an attempt timeout", a)
					}
					if a.Reason != te.Error() || te.Deployment != "openai/gpt-4o-mini" {
						t.Errorf("first step's reason %q, want it to name the step and the timeout (%q)", a.Reason, te.Error())
					}
					if res.Response.Stream != nil {
						for _, err := res.Response.Stream.Recv(); err == nil; _, err = res.Response.Stream.Recv() {
						}
						res.Response.Stream.Close()
					}
				}
				if te.Phase != tt.phase || time.Since(start) != tt.took {
					t.Errorf("timed out in %s after %v, want %s after %v", te.Phase, time.Since(start), tt.phase, tt.took)
				}
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				if e.Open() != 0 || rec.open() != 0 {
					t.Errorf("Open() = %d, open holds %d; want 0, 0", e.Open(), rec.open())
				}
				if recs := rec.all(); len(recs) != len(res.Outcome.Attempts) || recs[0].Outcome != ledger.OutcomeError {
					t.Errorf("records %+v, want one per attempt, the first failed", recs)
				}
			})
		})
	}
}
