package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/tokens"
)

// translateFixture reads a Responses request body shared with package translate.
func translateFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "translate", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseResponsesRequest reads Responses bodies in the shapes real clients send.
func TestParseResponsesRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      []byte
		model     string
		max       int
		stream    bool
		state     llm.State
		hint      string
		messages  int // neutral messages
		system    string
		minTokens int // the estimate is at least this (the text it counts)
	}{
		{name: "agent tools", body: translateFixture(t, "responses_agent_tools.json"), model: "gpt-4.1", max: 1200,
			state: llm.State{Store: true}, messages: 9,
			system:    "You are the on-call assistant for the billing service. Use the tools to look things up; answer in one paragraph.",
			minTokens: 4 * tokens.PerToolCall},
		{name: "vision", body: translateFixture(t, "responses_vision_stream.json"), model: "gpt-4o-mini", max: 800, stream: true,
			hint: "dash-user-42", messages: 1, system: "Describe charts precisely.",
			minTokens: tokens.ImageOpenAI + tokens.ImageOpenAILow + tokens.PDFPage},
		{name: "json schema", body: translateFixture(t, "responses_json_schema.json"), model: "gpt-4o-2024-08-06",
			state: llm.State{Store: true}, hint: "hash-5f2c9a", messages: 1, system: "Extract the incident.", minTokens: 40},
		{name: "reasoning", body: translateFixture(t, "responses_reasoning.json"), model: "o4-mini", max: 6000, stream: true,
			messages: 3, system: "Think before answering. Keep the answer short.", minTokens: 50},
		{name: "continues a stored response", body: []byte(`{"model":"gpt-4.1","previous_response_id":"resp_68b9a1c2","input":[{"type":"function_call_output","call_id":"call_1","output":"42"}],"prompt_cache_key":"conv-77"}`),
			model: "gpt-4.1", state: llm.State{Store: true, PreviousResponseID: "resp_68b9a1c2", Field: "previous_response_id", Refs: 1}, hint: "conv-77", messages: 1, minTokens: 5},
		{name: "previous response without input", body: []byte(`{"model":"gpt-4.1","previous_response_id":"resp_1","store":false}`),
			model: "gpt-4.1", state: llm.State{PreviousResponseID: "resp_1", Field: "previous_response_id", Refs: 1}},
		{name: "conversation", body: []byte(`{"model":"gpt-4.1","conversation":{"id":"conv_1"},"input":"go on"}`),
			model: "gpt-4.1", state: llm.State{Store: true, Field: "conversation", Refs: 1}, messages: 1},
		{name: "stored prompt", body: []byte(`{"model":"gpt-4.1","prompt":{"id":"pmpt_1","variables":{"city":"Oslo"}}}`),
			model: "gpt-4.1", state: llm.State{Store: true, Field: "prompt", Refs: 1}},
		{name: "item reference", body: []byte(`{"model":"gpt-4.1","input":[{"role":"user","content":"a"},{"type":"item_reference","id":"msg_1"}]}`),
			model: "gpt-4.1", state: llm.State{Store: true, Field: "input[1]", Refs: 1}, messages: 1},
		{name: "previous response and a stored item", body: []byte(`{"model":"gpt-4.1","previous_response_id":"resp_2","input":[{"type":"item_reference","id":"msg_1"},{"role":"user","content":"and?"}]}`),
			model: "gpt-4.1", state: llm.State{Store: true, PreviousResponseID: "resp_2", Field: "previous_response_id", Refs: 2}, messages: 1},
		{name: "null previous response", body: []byte(`{"model":"m","input":"x","previous_response_id":null,"user":"u"}`),
			model: "m", state: llm.State{Store: true}, hint: "u", messages: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, info, err := ParseResponsesRequest(tt.body)
			if err != nil {
				t.Fatalf("ParseResponsesRequest() error %v", err)
			}
			if req.Format != llm.Responses || req.Model != tt.model || req.MaxTokens != tt.max || req.Stream != tt.stream || req.N != 0 {
				t.Errorf("request %s model %q max %d stream %v n %d, want responses %q %d %v 0", req.Format, req.Model, req.MaxTokens, req.Stream, req.N, tt.model, tt.max, tt.stream)
			}
			if req.State != tt.state || req.NeedsStoredState() != (tt.state.Field != "") {
				t.Errorf("State = %+v, want %+v", req.State, tt.state)
			}
			if info.SessionHint != tt.hint || len(req.Messages) != tt.messages || req.System != tt.system {
				t.Errorf("hint %q, %d messages, system %q; want %q, %d, %q", info.SessionHint, len(req.Messages), req.System, tt.hint, tt.messages, tt.system)
			}
			if req.InputTokens < tokens.PerRequest+tt.minTokens || !bytes.Equal(req.Body, tt.body) {
				t.Errorf("InputTokens = %d, want at least %d", req.InputTokens, tokens.PerRequest+tt.minTokens)
			}
		})
	}
}

// TestResponsesEstimateBounds checks the estimate against the texts it counts: every
// instruction, message and output is in it, framed, and a tool definition counts.
func TestResponsesEstimateBounds(t *testing.T) {
	t.Parallel()
	text := strings.Repeat("the quota ledger keeps every reservation ", 50)
	base := `{"model":"m","instructions":"` + text + `","input":[{"role":"user","content":"` + text + `"},` +
		`{"type":"function_call","call_id":"c","name":"lookup","arguments":"{\"q\":\"` + text + `\"}"},` +
		`{"type":"function_call_output","call_id":"c","output":"` + text + `"}]`
	plain, _, err := ParseResponsesRequest([]byte(base + `}`))
	if err != nil {
		t.Fatal(err)
	}
	n := tokens.Text(text)
	want := tokens.PerRequest + 2*tokens.PerMessage + 2*tokens.PerToolCall + 4*n + tokens.Text("lookup")
	if plain.InputTokens < want || plain.InputTokens > want+tokens.Text(`{"q":""}`) {
		t.Errorf("InputTokens = %d, want %d plus the arguments' braces", plain.InputTokens, want)
	}
	tools, _, err := ParseResponsesRequest([]byte(base + `,"tools":[{"type":"function","name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if tools.InputTokens <= plain.InputTokens+10 {
		t.Errorf("a tool definition adds %d tokens, want more than 10", tools.InputTokens-plain.InputTokens)
	}
}

func TestParseResponsesRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, field string }{
		{`{"input":"hi"}`, "model"},
		{`{"model":"m"}`, "input"},
		{`{"model":"m","input":null}`, "input"},
		{`{"model":"m","input":42}`, "input"},
		{`{"model":"m","input":["hi"]}`, "input[0]"},
		{`{"model":"m","input":[{"content":"x"}]}`, "input[0].type"},
		{`{"model":"m","input":[{"role":"tool","content":"x"}]}`, "input[0].role"},
		{`{"model":"m","input":[{"role":"user","content":[{"text":"x"}]}]}`, "input[0].content[0].type"},
		{`{"model":"m","input":[{"role":"user","content":7}]}`, "input[0].content"},
		{`{"model":"m","input":"x","max_output_tokens":0}`, "max_output_tokens"},
		{`{"model":"m","input":"x","max_output_tokens":"many"}`, "max_output_tokens"},
		{`{"model":"m","input":"x","stream":"yes"}`, "stream"},
		{`{"model":"m","input":"x","store":1}`, "store"},
		{`{"model":"m","input":"x","previous_response_id":7}`, "previous_response_id"},
		{`{"model":"m","input":"x","instructions":{"a":1}}`, "instructions"},
		{`{"model":"m","input":"x","background":true}`, "background"},
		{`{"model":"m","input":"x","temperature":"hot"}`, "temperature"},
	}
	for _, tt := range tests {
		_, _, err := ParseResponsesRequest([]byte(tt.body))
		var re *RequestError
		if !errors.As(err, &re) || !errors.Is(err, ErrBadRequest) || re.Field != tt.field {
			t.Errorf("ParseResponsesRequest(%s) error %v, want a *RequestError on %s", tt.body, err, tt.field)
		}
	}
	if _, _, err := ParseResponsesRequest([]byte(`{"model":`)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("malformed JSON: error %v, want ErrBadRequest", err)
	}
}

func FuzzParseResponsesRequest(f *testing.F) {
	for _, name := range []string{"responses_agent_tools.json", "responses_vision_stream.json", "responses_json_schema.json", "responses_reasoning.json"} {
		f.Add(translateFixture(f, name))
	}
	f.Add([]byte(`{"model":"m","previous_response_id":"resp_1","input":[{"type":"item_reference","id":"x"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _, err := ParseResponsesRequest(body)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v is not a bad request", err)
			}
			return
		}
		if req.Model == "" || req.InputTokens < tokens.PerRequest || req.MaxTokens < 0 || req.Format != llm.Responses {
			t.Fatalf("ParseResponsesRequest(%s) = %+v", body, req)
		}
	})
}

// TestResponsesStream reads recorded streams through the provider and renders what the
// engine sees of each, against goldens.
func TestResponsesStream(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ok", "tools", "incomplete", "failed", "error", "cut"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newTestProvider(t, transcript(t, "responses_stream_"+name+".sse"))
			req, _, err := ParseResponsesRequest([]byte(`{"model":"route","input":"hi","stream":true}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.Do(context.Background(), llm.Call{Request: req, Model: "gpt-5-mini"})
			if err != nil {
				t.Fatalf("Do() error %v", err)
			}
			defer resp.Stream.Close()
			if resp.Format != llm.Responses {
				t.Errorf("Format = %s, want responses", resp.Format)
			}
			golden(t, "responses_stream_"+name+".golden", []byte(drain(resp.Stream)))
		})
	}
}

// TestResponsesStreamRelaysBytes checks that a Responses caller gets the upstream's
// events byte for byte, and that the chunks say exactly what was generated.
func TestResponsesStreamRelaysBytes(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "responses_stream_tools.sse"))
	if err != nil {
		t.Fatal(err)
	}
	s := newResponsesStream(io.NopCloser(bytes.NewReader(data)), "openai", "")
	var raw bytes.Buffer
	args := map[int]string{}
	var ids []string
	for {
		c, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw.Write(c.Raw)
		for _, tc := range c.ToolCalls {
			if tc.ID != "" {
				ids = append(ids, tc.ID+" "+tc.Name)
			}
			args[tc.Index] += tc.Arguments
		}
	}
	if !bytes.Equal(raw.Bytes(), data) {
		t.Errorf("relayed bytes differ from the upstream's")
	}
	if strings.Join(ids, ",") != "call_W3aHkQ2mT9xLp0sVbN7cRz1e get_weather,call_Z8qLm4NpR6tVy2wXc0bFh3Jk get_weather" ||
		args[0] != `{"city":"Paris"}` || args[1] != `{"city":"Oslo"}` {
		t.Errorf("tool calls %v with arguments %v", ids, args)
	}
	if u := s.Usage(); u != (llm.Usage{InputTokens: 310, OutputTokens: 38}) {
		t.Errorf("Usage() = %+v", u)
	}
}

func FuzzResponsesStream(f *testing.F) {
	for _, name := range []string{"ok", "tools", "incomplete", "failed", "error", "cut"} {
		data, err := os.ReadFile(filepath.Join("testdata", "responses_stream_"+name+".sse"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := newResponsesStream(io.NopCloser(bytes.NewReader(in)), "openai", "")
		for {
			_, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				var le *llm.Error
				if !errors.As(err, &le) {
					t.Fatalf("Recv() error %v is not an *llm.Error", err)
				}
				break
			}
		}
		if u := s.Usage(); u.InputTokens < 0 || u.OutputTokens < 0 || u.CachedInputTokens < 0 {
			t.Fatalf("Usage() = %+v", u)
		}
	})
}

// A whole answer of a reasoning model that called a function, in the shape OpenAI sends.
const responsesAnswer = `{
  "id": "resp_0c1d3a5e8f2b4c6d00692e7a2a1b2c3d4e5f60718293a4b5",
  "object": "response",
  "created_at": 1767225600,
  "status": "completed",
  "background": false,
  "completed_at": 1767225604,
  "error": null,
  "incomplete_details": null,
  "instructions": null,
  "max_output_tokens": null,
  "model": "o4-mini-2025-04-16",
  "output": [
    {"id": "rs_0c1d3a5e8f2b4c6d00692e7a2b", "type": "reasoning", "summary": [{"type": "summary_text", "text": "**Checking spend**"}, {"type": "summary_text", "text": "One lookup is enough."}]},
    {"id": "msg_0c1d3a5e8f2b4c6d00692e7a2c", "type": "message", "status": "completed", "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Looking it up."}], "role": "assistant"},
    {"id": "fc_0c1d3a5e8f2b4c6d00692e7a2d", "type": "function_call", "status": "completed", "arguments": "{\"tenant\":\"acme\"}", "call_id": "call_Vb7nM2qW4eR6tY8uI0oP1aSd", "name": "get_spend"}
  ],
  "parallel_tool_calls": true,
  "previous_response_id": null,
  "reasoning": {"effort": "medium", "summary": "auto"},
  "store": true,
  "temperature": 1.0,
  "text": {"format": {"type": "text"}, "verbosity": "medium"},
  "tool_choice": "auto",
  "tools": [],
  "top_p": 1.0,
  "truncation": "disabled",
  "usage": {"input_tokens": 2310, "input_tokens_details": {"cached_tokens": 2048}, "output_tokens": 164, "output_tokens_details": {"reasoning_tokens": 128}, "total_tokens": 2474},
  "user": null,
  "metadata": {}
}`

func TestResponsesWhole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		status     int
		want       func(*llm.Response) bool
		kind       llm.Kind
		code       string
	}{
		{name: "answer with a call", body: responsesAnswer, status: 200, want: func(r *llm.Response) bool {
			return r.ID == "resp_0c1d3a5e8f2b4c6d00692e7a2a1b2c3d4e5f60718293a4b5" && r.Model == "o4-mini-2025-04-16" &&
				r.Created.Unix() == 1767225600 && r.Text == "Looking it up." && r.Reasoning == "**Checking spend**\n\nOne lookup is enough." &&
				len(r.ToolCalls) == 1 && r.ToolCalls[0] == (llm.ToolCall{ID: "call_Vb7nM2qW4eR6tY8uI0oP1aSd", Name: "get_spend", Arguments: `{"tenant":"acme"}`}) &&
				r.StopReason == StopCompleted && r.Usage == (llm.Usage{InputTokens: 2310, CachedInputTokens: 2048, OutputTokens: 164, ReasoningTokens: 128})
		}},
		{name: "incomplete", body: `{"id":"resp_1","object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"model":"gpt-4.1","output":[{"type":"message","status":"incomplete","role":"assistant","content":[{"type":"output_text","text":"The ledger"}]}],"usage":{"input_tokens":40,"output_tokens":16,"total_tokens":56}}`,
			status: 200, want: func(r *llm.Response) bool {
				return r.Text == "The ledger" && r.StopReason == StopMaxOutputTokens && r.Usage.OutputTokens == 16
			}},
		{name: "failed with a 200", body: `{"id":"resp_1","object":"response","status":"failed","error":{"code":"invalid_prompt","message":"Invalid prompt: your prompt was flagged."},"output":[],"usage":null}`,
			status: 200, kind: llm.KindBadRequest, code: "invalid_prompt"},
		{name: "error object with a 200", body: `{"error":{"message":"model is loading","type":"server_error"}}`, status: 200, kind: llm.KindServer, code: "server_error"},
		{name: "previous response not found", body: `{"error":{"message":"Previous response with id 'resp_68b9' not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}}`,
			status: 400, kind: llm.KindBadRequest, code: "previous_response_not_found"},
		{name: "context length", body: `{"error":{"message":"Your input exceeds the context window of this model. Please adjust your input and try again.","type":"invalid_request_error","param":"input","code":"context_length_exceeded"}}`,
			status: 400, kind: llm.KindContextLength, code: "context_length_exceeded"},
		{name: "rate limited", body: `{"error":{"message":"Rate limit reached for gpt-4.1 on tokens per min (TPM): Limit 30000, Used 29500, Requested 1200. Please try again in 1.4s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			status: 429, kind: llm.KindRateLimited, code: "rate_limit_exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []byte
			var mu sync.Mutex
			p := newTestProvider(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = b
				mu.Unlock()
				if r.URL.Path != "/v1/responses" || r.Header.Get("Authorization") != "Bearer "+testKey || r.Header.Get("X-Client-Request-Id") != "tg-req-1" {
					t.Errorf("request %s %s %v", r.Method, r.URL.Path, r.Header)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Request-Id", "req_55")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			req, _, err := ParseResponsesRequest([]byte(`{"model":"route","input":"hi","store":false,"include":["reasoning.encrypted_content"]}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.Do(context.Background(), llm.Call{Request: req, Model: "o4-mini", MaxTokens: 700, RequestID: "tg-req-1"})
			mu.Lock()
			sent := string(got)
			mu.Unlock()
			if sent != `{"model":"o4-mini","input":"hi","store":false,"include":["reasoning.encrypted_content"],"max_output_tokens":700}` {
				t.Errorf("upstream got %s", sent)
			}
			if tt.want != nil {
				if err != nil {
					t.Fatalf("Do() error %v", err)
				}
				if resp.Format != llm.Responses || resp.UpstreamRequestID != "req_55" || !tt.want(resp) {
					t.Errorf("Do() = %+v", resp)
				}
				return
			}
			var le *llm.Error
			if !errors.As(err, &le) || le.Kind != tt.kind || le.Code != tt.code || le.Provider != "openai" || le.UpstreamRequestID != "req_55" || le.Header.Get("X-Request-Id") != "req_55" {
				t.Errorf("Do() error %#v, want kind %v code %q with the answer's header", err, tt.kind, tt.code)
			}
		})
	}
}

// TestEncodeResponsesRequest checks what an OpenAI upstream receives of a Responses body.
func TestEncodeResponsesRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		call       llm.Call
		want       string
	}{
		{name: "model, cap and stream", body: `{"model":"route","input":"hi","previous_response_id":"resp_1","store":true}`,
			call: llm.Call{Model: "gpt-4.1", MaxTokens: 300},
			want: `{"model":"gpt-4.1","input":"hi","previous_response_id":"resp_1","store":true,"max_output_tokens":300}`},
		{name: "caller's cap kept", body: `{"max_output_tokens":90,"model":"route","input":"hi","stream":true}`,
			call: llm.Call{Model: "gpt-4.1"},
			want: `{"max_output_tokens":90,"model":"gpt-4.1","input":"hi","stream":true}`},
		{name: "tollgate's reasoning items dropped", body: `{"model":"m","input":[{"role":"user","content":"a"},{"id":"rs_tg5f0e","type":"reasoning","summary":[{"type":"summary_text","text":"t"}]},{"id":"msg_tg77","type":"message","role":"assistant","content":[{"type":"output_text","text":"b"}]},{"id":"rs_0c1d","type":"reasoning","summary":[],"encrypted_content":"gAAA"},{"role":"user","content":"c"}]}`,
			call: llm.Call{Model: "m"},
			want: `{"model":"m","input":[{"role":"user","content":"a"},{"id":"msg_tg77","type":"message","role":"assistant","content":[{"type":"output_text","text":"b"}]},{"id":"rs_0c1d","type":"reasoning","summary":[],"encrypted_content":"gAAA"},{"role":"user","content":"c"}]}`},
	}
	for _, tt := range tests {
		req, _, err := ParseResponsesRequest([]byte(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		tt.call.Request = req
		got, err := EncodeResponsesRequest(tt.call)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: EncodeResponsesRequest() = %s, %v; want %s", tt.name, got, err, tt.want)
		}
	}
	neutral := &llm.Request{Format: llm.Responses, System: "Be brief.", Messages: []llm.Message{{Role: "user", Content: "hi"}}, State: llm.State{Store: false}}
	got, err := EncodeResponsesRequest(llm.Call{Request: neutral, Model: "gpt-4.1", MaxTokens: 64})
	if err != nil || string(got) != `{"model":"gpt-4.1","instructions":"Be brief.","input":[{"role":"user","content":"hi"}],"max_output_tokens":64,"store":false}` {
		t.Errorf("neutral: %s, %v", got, err)
	}
	neutral.Messages = append(neutral.Messages, llm.Message{Role: "tool", Opaque: true})
	if _, err := EncodeResponsesRequest(llm.Call{Request: neutral}); !errors.Is(err, llm.ErrUntranslatable) {
		t.Errorf("opaque neutral message: error %v, want untranslatable", err)
	}
	chat, _ := ParseRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	if _, err := EncodeResponsesRequest(llm.Call{Request: chat}); llm.KindOf(err) != llm.KindBadRequest {
		t.Errorf("chat request: error %v, want a bad request", err)
	}
}

func TestResponsesSupported(t *testing.T) {
	t.Parallel()
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{"model":"m","input":"x","previous_response_id":"resp_1"}`, `{"model":"m","input":"x"}`} {
		req, _, err := ParseResponsesRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Supports(req); err != nil {
			t.Errorf("Supports(%s) = %v, want nil", body, err)
		}
	}
	an := &llm.Request{Format: llm.Anthropic, Model: "c", Body: []byte(`{"model":"c","max_tokens":10,"top_k":5,"messages":[{"role":"user","content":"hi"}]}`)}
	var ue *llm.UntranslatableError
	if err := p.Supports(an); !errors.As(err, &ue) || ue.Field != "top_k" {
		t.Errorf("Supports(anthropic with top_k) = %v, want untranslatable top_k", err)
	}
	emb, _, _ := ParseEmbeddingsRequest([]byte(`{"model":"text-embedding-3-small","input":"x"}`))
	if err := p.Supports(emb); err != nil {
		t.Errorf("Supports(embeddings) = %v", err)
	}
}

// checkJSON fails unless b is valid JSON.
func checkJSON(t *testing.T, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("not JSON: %s", b)
	}
}

// TestResponsesConversationBound: a stored answer bounds the conversation a continuation
// brings as its input and output plus a framing per output item; one that was not stored,
// whose input may have been truncated, or that carries a hosted tool's items is unbounded.
func TestResponsesConversationBound(t *testing.T) {
	t.Parallel()
	usage := `"usage":{"input_tokens":120,"output_tokens":30,"output_tokens_details":{"reasoning_tokens":10}}`
	msg := `{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hi"}]}`
	call := `{"type":"function_call","call_id":"call_1","name":"f","arguments":"{}"}`
	tests := []struct {
		name string
		body string
		want int64
	}{
		{"message", `{"id":"resp_1","status":"completed","store":true,"truncation":"disabled","output":[` + msg + `],` + usage + `}`, 150 + tokens.PerMessage},
		{"reasoning and calls", `{"id":"resp_1","status":"completed","store":true,"output":[{"type":"reasoning","summary":[]},` + call + `,` + call + `],` + usage + `}`, 150 + 3*tokens.PerMessage},
		{"not stored", `{"id":"resp_1","status":"completed","store":false,"output":[` + msg + `],` + usage + `}`, 0},
		{"store not echoed", `{"id":"resp_1","status":"completed","output":[` + msg + `],` + usage + `}`, 0},
		{"truncation auto", `{"id":"resp_1","status":"completed","store":true,"truncation":"auto","output":[` + msg + `],` + usage + `}`, 0},
		{"hosted tool", `{"id":"resp_1","status":"completed","store":true,"output":[{"type":"image_generation_call","id":"ig_1","result":"iVBOR"},` + msg + `],` + usage + `}`, 0},
		{"no usage", `{"id":"resp_1","status":"completed","store":true,"output":[` + msg + `]}`, 0},
		{"incomplete", `{"id":"resp_1","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"store":true,"output":[` + msg + `],` + usage + `}`, 150 + tokens.PerMessage},
	}
	for _, tt := range tests {
		resp, err := ParseResponsesResponse([]byte(tt.body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if resp.Conversation != tt.want {
			t.Errorf("%s: Conversation = %d, want %d", tt.name, resp.Conversation, tt.want)
		}
	}
}
