package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/tokens"
)

// emulatorProviders starts the emulator and returns the real adapters in front of it.
func emulatorProviders(t *testing.T) map[string]llm.Provider {
	t.Helper()
	emu, err := emulator.Start(context.Background(), emulator.Config{Seed: 3,
		Output: emulator.Output{MinTokens: 20, MaxTokens: 20}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	op, err := openai.New(openai.Config{BaseURL: emu.URL() + "/v1", APIKey: "sk-test"})
	if err != nil {
		t.Fatal(err)
	}
	ap, err := anthropic.New(anthropic.Config{BaseURL: emu.URL(), APIKey: "sk-test"})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]llm.Provider{"openai": op, "anthropic": ap}
}

func parseResponses(t *testing.T, body string) *llm.Request {
	t.Helper()
	req, _, err := openai.ParseResponsesRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Identity = llm.Identity{Tenant: "acme"}
	return req
}

func parseEmbeddings(t *testing.T, body string) *llm.Request {
	t.Helper()
	req, _, err := openai.ParseEmbeddingsRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Identity = llm.Identity{Tenant: "acme"}
	return req
}

// TestResponsesAndEmbeddingsWorstCase reserves a Responses request at its
// max_output_tokens (else the default cap) for one choice, an embeddings request at its
// input alone, and a request that continues a stored response at the context window left
// beside its cap; each settles at the emulator's usage.
func TestResponsesAndEmbeddingsWorstCase(t *testing.T) {
	t.Parallel()
	providers := emulatorProviders(t)
	mini := price(t, "gpt-4o-mini")
	haiku := price(t, "claude-haiku-4-5")

	// A stored response to continue.
	first := parseResponses(t, `{"model":"gpt-4o-mini","input":"remember the number 7","max_output_tokens":50}`)
	e0 := newEngine(t, engine.Config{Providers: providers})
	res, err := e0.Do(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	prevID := res.Response.ID
	if prevID == "" {
		t.Fatal("the first response has no id")
	}
	tests := []struct {
		name      string
		req       *llm.Request
		wantIn    int64 // the hold's input tokens
		wantOut   int64 // the hold's output tokens
		wantModel string
	}{
		{name: "responses with max_output_tokens",
			req:    parseResponses(t, `{"model":"gpt-4o-mini","input":"hello there","max_output_tokens":300}`),
			wantIn: -1, wantOut: 300, wantModel: "gpt-4o-mini"},
		{name: "responses without a cap take the default",
			req:    parseResponses(t, `{"model":"gpt-4o-mini","input":"hello there"}`),
			wantIn: -1, wantOut: 4096, wantModel: "gpt-4o-mini"},
		{name: "responses served by claude get the tokenizer margin",
			req:    parseResponses(t, `{"model":"claude-haiku-4-5","input":"hello there","max_output_tokens":100}`),
			wantIn: -2, wantOut: 100, wantModel: "claude-haiku-4-5"},
		{name: "embeddings reserve their input only",
			req:    parseEmbeddings(t, `{"model":"text-embedding-3-small","input":["alpha beta","gamma"]}`),
			wantIn: -1, wantOut: 0, wantModel: "text-embedding-3-small"},
		{name: "previous_response_id reserves the window left beside the cap",
			req:    parseResponses(t, `{"model":"gpt-4o-mini","input":"which number?","max_output_tokens":100,"previous_response_id":"`+prevID+`"}`),
			wantIn: int64(mini.ContextWindow) - 100, wantOut: 100, wantModel: "gpt-4o-mini"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var holds []ledger.Hold
			rec := &records{}
			e := newEngine(t, engine.Config{Providers: providers, Ledger: &holdSpy{records: rec, holds: &holds}})
			res, err := e.Do(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			wantIn := tt.wantIn
			switch wantIn {
			case -1:
				wantIn = int64(tt.req.InputTokens)
			case -2:
				wantIn = (int64(tt.req.InputTokens)*tokens.AnthropicMargin + 3) / 4
			}
			if len(holds) != 1 || holds[0].InputTokens != wantIn || holds[0].OutputTokens != tt.wantOut {
				t.Fatalf("holds %+v, want one of %d input and %d output tokens", holds, wantIn, tt.wantOut)
			}
			if res.Model != tt.wantModel || res.MaxTokens != int(tt.wantOut) {
				t.Errorf("served by %s at max_tokens %d, want %s at %d", res.Model, res.MaxTokens, tt.wantModel, tt.wantOut)
			}
			recs := rec.all()
			u := res.Response.Usage
			m := mini
			if tt.wantModel == "claude-haiku-4-5" {
				m = haiku
			} else if tt.wantModel == "text-embedding-3-small" {
				m = price(t, tt.wantModel)
			}
			if len(recs) != 1 || recs[0].InputTokens != u.InputTokens || recs[0].OutputTokens != u.OutputTokens ||
				recs[0].MicroUSD != m.Cost(u) || u.InputTokens == 0 {
				t.Errorf("ledger %+v, want the upstream's usage %+v at %d µUSD", recs, u, m.Cost(u))
			}
			if tt.req.Format == llm.Embeddings && u.OutputTokens != 0 {
				t.Errorf("embeddings usage %+v has output", u)
			}
		})
	}
}

// TestUnsupportedStepsAreSkipped skips, before reserving anything, a step that cannot
// serve the request at all, with its typed reason; when no step can, the request fails
// with that error and no upstream is called.
func TestUnsupportedStepsAreSkipped(t *testing.T) {
	t.Parallel()
	providers := emulatorProviders(t)
	stored := parseResponses(t, `{"model":"gpt-4o-mini","input":"remember 7","max_output_tokens":20}`)
	res, err := newEngine(t, engine.Config{Providers: providers}).Do(context.Background(), stored)
	if err != nil {
		t.Fatal(err)
	}
	prevID := res.Response.ID
	tests := []struct {
		name      string
		chain     string
		req       *llm.Request
		wantErr   error  // nil: served
		wantModel string // the model that served
		wantWhy   []fallback.Why
	}{
		{name: "previous_response_id skips claude for openai", chain: "claude-haiku-4-5 -> gpt-4o-mini",
			req:       parseResponses(t, `{"model":"r","input":"which?","max_output_tokens":20,"previous_response_id":"`+prevID+`"}`),
			wantModel: "gpt-4o-mini", wantWhy: []fallback.Why{fallback.WhyUnsupported, fallback.WhyNone}},
		{name: "previous_response_id with only claude is refused", chain: "claude-haiku-4-5 -> static",
			req:     parseResponses(t, `{"model":"r","input":"which?","previous_response_id":"`+prevID+`"}`),
			wantErr: llm.ErrUnsupported, wantWhy: []fallback.Why{fallback.WhyUnsupported}},
		{name: "embeddings skip a chat model", chain: "claude-haiku-4-5 -> gpt-4o-mini -> text-embedding-3-small",
			req:       parseEmbeddings(t, `{"model":"r","input":"alpha"}`),
			wantModel: "text-embedding-3-small", wantWhy: []fallback.Why{fallback.WhyUnsupported, fallback.WhyUnsupported, fallback.WhyNone}},
		{name: "embeddings on a chat model only are refused", chain: "gpt-4o-mini -> static",
			req:     parseEmbeddings(t, `{"model":"r","input":"alpha"}`),
			wantErr: llm.ErrUnsupported, wantWhy: []fallback.Why{fallback.WhyUnsupported}},
		{name: "embeddings never get a static answer", chain: "openai/text-embedding-9 -> static",
			req:     parseEmbeddings(t, `{"model":"r","input":"alpha"}`),
			wantErr: pricing.ErrUnknownModel, wantWhy: []fallback.Why{fallback.WhyUnpriced, fallback.WhyUnsupported}},
		{name: "chat skips an embedding model", chain: "text-embedding-3-small -> gpt-4o-mini",
			req:       request("r", 20),
			wantModel: "gpt-4o-mini", wantWhy: []fallback.Why{fallback.WhyUnsupported, fallback.WhyNone}},
		{name: "an untranslatable field skips the step", chain: "claude-haiku-4-5 -> gpt-4o-mini",
			req: func() *llm.Request {
				r, err := openai.ParseRequest([]byte(`{"model":"r","n":2,"max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					t.Fatal(err)
				}
				return r
			}(),
			wantModel: "gpt-4o-mini", wantWhy: []fallback.Why{fallback.WhyUntranslatable, fallback.WhyNone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var holds []ledger.Hold
			rec := &records{}
			e := newEngine(t, engine.Config{Providers: providers, Routes: routes(t, chain(t, "r", tt.chain)),
				Ledger: &holdSpy{records: rec, holds: &holds}})
			res, err := e.Do(context.Background(), tt.req)
			var whys []fallback.Why
			for _, a := range res.Outcome.Attempts {
				whys = append(whys, a.Why)
			}
			if !slices.Equal(whys, tt.wantWhy) {
				t.Errorf("attempts %v, want reasons %v", res.Outcome.Attempts, tt.wantWhy)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || len(holds) != 0 || len(rec.all()) != 0 {
					t.Fatalf("Do = %v with %d holds, want %v and nothing reserved", err, len(holds), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if res.Model != tt.wantModel || len(holds) != 1 || holds[0].Model != tt.wantModel {
				t.Errorf("served by %q with holds %+v, want only %s", res.Model, holds, tt.wantModel)
			}
		})
	}
}

// TestResponsesBodyKeepsState forwards store and previous_response_id to an OpenAI
// upstream, which continues the stored conversation: the second answer's input counts
// the first exchange.
func TestResponsesBodyKeepsState(t *testing.T) {
	t.Parallel()
	providers := emulatorProviders(t)
	e := newEngine(t, engine.Config{Providers: providers})
	first, err := e.Do(context.Background(), parseResponses(t, `{"model":"gpt-4o-mini","input":"remember 7","max_output_tokens":20}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Store bool `json:"store"`
	}
	if err := json.Unmarshal(first.Response.Body, &body); err != nil || !body.Store {
		t.Fatalf("first answer %s: want store true", first.Response.Body)
	}
	second, err := e.Do(context.Background(), parseResponses(t,
		`{"model":"gpt-4o-mini","input":"remember 7","max_output_tokens":20,"previous_response_id":"`+first.Response.ID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, min := second.Response.Usage.InputTokens, first.Response.Usage.Total(); got <= min {
		t.Errorf("continued input %d tokens, want more than the first exchange's %d", got, min)
	}
}

// TestContinuationReservesItsConversation: a request that continues a response this
// engine served (previous_response_id) reserves its body and the conversation that
// response left stored, as the upstream reported it, instead of the whole context window;
// the reservation still covers what the upstream bills, whole or streamed, with tool calls
// and along a chain of continuations. A continuation the engine cannot size (another
// model's tokenizer, a stored item referred to besides, an id it never served) reserves
// the window as before.
func TestContinuationReservesItsConversation(t *testing.T) {
	t.Parallel()
	mini, _ := pricing.Default().Lookup("gpt-4o-mini")
	const tools = `"tools":[{"type":"function","name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}],"tool_choice":"required",`
	tests := []struct {
		name     string
		first    string // the first request's members besides model and input
		stream   bool   // the continuations are streamed
		follow   string // members of the continuation besides previous_response_id
		model    string // the continuation's model
		sized    bool   // the continuation is reserved at its known size
		chainLen int    // continuations, each of the one before
	}{
		{name: "whole", first: `"max_output_tokens":40`, follow: `"input":"and then?","max_output_tokens":40`, model: "gpt-4o-mini", sized: true, chainLen: 3},
		{name: "streamed", first: `"max_output_tokens":40`, stream: true, follow: `"input":"and then?","max_output_tokens":40`, model: "gpt-4o-mini", sized: true, chainLen: 3},
		{name: "tool calls", first: tools + `"max_output_tokens":60`, follow: tools + `"input":[{"type":"function_call_output","call_id":"CALL","output":"42"}],"max_output_tokens":60`, model: "gpt-4o-mini", sized: true, chainLen: 2},
		{name: "tool calls streamed", first: tools + `"max_output_tokens":60`, stream: true, follow: tools + `"input":[{"type":"function_call_output","call_id":"CALL","output":"42"}],"max_output_tokens":60`, model: "gpt-4o-mini", sized: true, chainLen: 2},
		{name: "another model", first: `"max_output_tokens":40`, follow: `"input":"and then?","max_output_tokens":40`, model: "gpt-4o", chainLen: 1},
		{name: "a stored item besides", first: `"max_output_tokens":40`, follow: `"input":[{"type":"item_reference","id":"msg_elsewhere"},{"role":"user","content":"and?"}],"max_output_tokens":40`, model: "gpt-4o-mini", chainLen: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var holds []ledger.Hold
			e := newEngine(t, engine.Config{Providers: emulatorProviders(t), Ledger: &holdSpy{records: &records{}, holds: &holds}})
			prev, err := e.Do(context.Background(), parseResponses(t, `{"model":"gpt-4o-mini","input":"remember 7",`+tt.first+`}`))
			if err != nil {
				t.Fatal(err)
			}
			prevResp := prev.Response
			for i := range tt.chainLen {
				follow := tt.follow
				if len(prevResp.ToolCalls) > 0 {
					follow = strings.ReplaceAll(follow, "CALL", prevResp.ToolCalls[0].ID)
				}
				req := parseResponses(t, `{"model":"`+tt.model+`","stream":`+strconv.FormatBool(tt.stream)+
					`,"previous_response_id":"`+prevResp.ID+`",`+follow+`}`)
				n := len(holds)
				res, err := e.Do(context.Background(), req)
				if !tt.sized {
					// The hold is taken before the call, whatever the upstream answers.
					m, _ := pricing.Default().Lookup(tt.model)
					if len(holds) != n+1 || holds[n].InputTokens != int64(m.ContextWindow)-holds[n].OutputTokens {
						t.Fatalf("holds %+v, want one of the window (%d) less the cap; Do: %v", holds[n:], m.ContextWindow, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("continuation %d: %v", i+1, err)
				}
				resp := res.Response
				if resp.Stream != nil {
					resp = drain(t, resp)
				}
				// The bound: the previous answer's input and output and a framing per item.
				if c := prevResp.Conversation; c < prevResp.Usage.InputTokens+prevResp.Usage.OutputTokens+int64(tokens.PerMessage) {
					t.Fatalf("previous answer's conversation bound %d, want its %d in + %d out + framing", c, prevResp.Usage.InputTokens, prevResp.Usage.OutputTokens)
				}
				h := holds[n]
				if want := int64(req.InputTokens) + prevResp.Conversation; h.InputTokens != want {
					t.Errorf("continuation %d reserved %d input tokens, want %d: body %d + the previous conversation's %d",
						i+1, h.InputTokens, want, req.InputTokens, prevResp.Conversation)
				}
				if h.InputTokens >= int64(mini.ContextWindow)-h.OutputTokens {
					t.Errorf("continuation %d reserved %d input tokens: no less than the window's bound", i+1, h.InputTokens)
				}
				if got := resp.Usage.InputTokens; got > h.InputTokens {
					t.Errorf("continuation %d: the upstream billed %d input tokens, more than the %d reserved", i+1, got, h.InputTokens)
				}
				prevResp = resp
			}
		})
	}
}

// drain reads a streamed answer to its end and returns it with the usage, tool calls, id
// and conversation bound the stream reported.
func drain(t *testing.T, resp *llm.Response) *llm.Response {
	t.Helper()
	out := *resp
	out.Stream = nil
	for {
		c, err := resp.Stream.Recv()
		if errors.Is(err, llm.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range c.ToolCalls {
			if d.ID != "" {
				out.ToolCalls = append(out.ToolCalls, llm.ToolCall{ID: d.ID, Name: d.Name})
			}
		}
	}
	out.Usage = resp.Stream.Usage()
	if cs, ok := resp.Stream.(llm.ConversationStream); ok {
		out.ID, out.Conversation = cs.Conversation()
	}
	_ = resp.Stream.Close()
	return &out
}

// TestContinuationClamped: on a route that clamps max_tokens to the budget, a continuation
// whose known conversation leaves too little room for its cap is served at a cap computed
// with that conversation counted, not refused after a clamp that counted its body alone.
func TestContinuationClamped(t *testing.T) {
	t.Parallel()
	var holds []ledger.Hold
	route := chain(t, "r", "gpt-4o-mini")
	route.ClampMaxTokens = true
	e := newEngine(t, engine.Config{Providers: emulatorProviders(t), Routes: routes(t, route),
		Ledger: &holdSpy{records: &records{}, holds: &holds},
		Rules:  quota.Rules{{Name: "tenant-tokens", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.Tokens, Limit: 1000, Window: quota.Forever()}}})
	first, err := e.Do(context.Background(), parseResponses(t, `{"model":"r","input":"remember 7","max_output_tokens":40}`))
	if err != nil {
		t.Fatal(err)
	}
	req := parseResponses(t, `{"model":"r","input":"and then?","max_output_tokens":2000,"previous_response_id":"`+first.Response.ID+`"}`)
	res, err := e.Do(context.Background(), req)
	if err != nil {
		t.Fatalf("continuation: %v", err)
	}
	h := holds[len(holds)-1]
	if res.MaxTokens >= 2000 || res.MaxTokens <= 0 || h.OutputTokens != int64(res.MaxTokens) ||
		h.InputTokens != int64(req.InputTokens)+first.Response.Conversation {
		t.Errorf("served at max_tokens %d with a hold of %d in, %d out; want a clamped cap and %d in (body %d + conversation %d)",
			res.MaxTokens, h.InputTokens, h.OutputTokens, int64(req.InputTokens)+first.Response.Conversation, req.InputTokens, first.Response.Conversation)
	}
	if used := first.Response.Usage.Total() + h.InputTokens + h.OutputTokens; used > 1000 {
		t.Errorf("the first answer's %d tokens and the continuation's worst case %d exceed the budget of 1000",
			first.Response.Usage.Total(), h.InputTokens+h.OutputTokens)
	}
}
