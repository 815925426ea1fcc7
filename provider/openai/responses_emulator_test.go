package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/openai"
)

// emulated starts the emulator with models and returns a provider pointed at it over
// real HTTP.
func emulated(t *testing.T, models map[string]emulator.Model, out emulator.Output) *openai.Provider {
	t.Helper()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	em, err := emulator.New(emulator.Config{Seed: 3, Now: func() time.Time { return now }, Models: models, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	p, err := openai.New(openai.Config{BaseURL: srv.URL + "/v1", APIKey: "sk-emu-secret", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func responsesCall(t *testing.T, body, model string, maxTokens int) llm.Call {
	t.Helper()
	req, _, err := openai.ParseResponsesRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return llm.Call{Request: req, Model: model, MaxTokens: maxTokens}
}

// streamed reads a stream to its end: the chunks' text, reasoning and tool calls, the
// stop reason, the raw events, and the error that ended it (nil at io.EOF).
type streamed struct {
	text, reasoning, stop string
	calls                 map[int]*llm.ToolCall
	events                []string
	usage                 llm.Usage
	err                   error
}

func readAll(s llm.Stream) streamed {
	defer s.Close()
	out := streamed{calls: map[int]*llm.ToolCall{}}
	for {
		c, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			out.err = err
			break
		}
		out.events = append(out.events, string(c.Raw))
		out.text += c.Text
		out.reasoning += c.Reasoning
		if c.StopReason != "" {
			out.stop = c.StopReason
		}
		for _, tc := range c.ToolCalls {
			if out.calls[tc.Index] == nil {
				out.calls[tc.Index] = &llm.ToolCall{}
			}
			call := out.calls[tc.Index]
			if tc.ID != "" {
				call.ID, call.Name = tc.ID, tc.Name
			}
			call.Arguments += tc.Arguments
		}
	}
	out.usage = s.Usage()
	return out
}

// TestResponsesEmulator runs the Responses API path against the emulator over HTTP:
// whole answers and streams, a function-call round trip that continues a stored response
// by previous_response_id, an answer cut by max_output_tokens, and the failures the
// emulator injects, classified.
func TestResponsesEmulator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	weather := `"tools":[{"type":"function","name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"strict":true}]`

	t.Run("whole", func(t *testing.T) {
		t.Parallel()
		p := emulated(t, nil, emulator.Output{})
		resp, err := p.Do(ctx, responsesCall(t, `{"model":"route","instructions":"Be brief.","input":"Say something about quotas."}`, "gpt-4o", 200))
		if err != nil {
			t.Fatal(err)
		}
		u := resp.Usage
		if resp.Format != llm.Responses || !strings.HasPrefix(resp.ID, "resp_") || resp.Text == "" || resp.StopReason != openai.StopCompleted ||
			u.InputTokens == 0 || u.OutputTokens == 0 || u.OutputTokens > 200 || resp.Created.IsZero() || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("Do() = %+v", resp)
		}
	})

	t.Run("stream with reasoning", func(t *testing.T) {
		t.Parallel()
		p := emulated(t, nil, emulator.Output{})
		resp, err := p.Do(ctx, responsesCall(t, `{"model":"route","input":"Say hi","reasoning":{"effort":"low"},"stream":true}`, "o4-mini", 400))
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(resp.Stream)
		if got.err != nil || got.text == "" || got.stop != openai.StopCompleted {
			t.Fatalf("stream: text %q stop %q err %v", got.text, got.stop, got.err)
		}
		u := got.usage
		if u.InputTokens == 0 || u.ReasoningTokens == 0 || u.OutputTokens != u.ReasoningTokens+int64(emulator.CountTokens(got.text)) {
			t.Errorf("usage %+v for text %q", u, got.text)
		}
		var last struct {
			Type     string `json:"type"`
			Response struct {
				Usage struct {
					OutputTokens int64 `json:"output_tokens"`
				} `json:"usage"`
			} `json:"response"`
		}
		ev := got.events[len(got.events)-1]
		json.Unmarshal([]byte(ev[strings.Index(ev, "data: ")+6:]), &last)
		if last.Type != "response.completed" || last.Response.Usage.OutputTokens != u.OutputTokens {
			t.Errorf("last relayed event %s", ev)
		}
	})

	t.Run("function call round trip", func(t *testing.T) {
		t.Parallel()
		p := emulated(t, nil, emulator.Output{})
		for _, stream := range []bool{false, true} {
			first := `{"model":"route","input":"Weather in Paris?","tool_choice":"required",` + weather
			if stream {
				first += `,"stream":true`
			}
			resp, err := p.Do(ctx, responsesCall(t, first+`}`, "gpt-4o", 300))
			if err != nil {
				t.Fatal(err)
			}
			var call llm.ToolCall
			id, firstUsage := resp.ID, resp.Usage
			if stream {
				got := readAll(resp.Stream)
				if got.err != nil || len(got.calls) == 0 {
					t.Fatalf("stream: %d calls, err %v", len(got.calls), got.err)
				}
				call, firstUsage = *got.calls[0], got.usage
				var created struct {
					Response struct {
						ID string `json:"id"`
					} `json:"response"`
				}
				ev := got.events[0]
				json.Unmarshal([]byte(ev[strings.Index(ev, "data: ")+6:]), &created)
				id = created.Response.ID
			} else {
				if len(resp.ToolCalls) == 0 {
					t.Fatalf("no tool call: %+v", resp)
				}
				call = resp.ToolCalls[0]
			}
			if !strings.HasPrefix(call.ID, "call_") || call.Name != "get_weather" || !json.Valid([]byte(call.Arguments)) {
				t.Fatalf("call %+v", call)
			}
			output, _ := json.Marshal(call.ID)
			second := `{"model":"route","previous_response_id":"` + id + `","input":[{"type":"function_call_output","call_id":` + string(output) + `,"output":"{\"temp_c\":14}"}],` + weather + `}`
			resp2, err := p.Do(ctx, responsesCall(t, second, "gpt-4o", 300))
			if err != nil {
				t.Fatalf("follow-up by previous_response_id: %v", err)
			}
			// The stored conversation (the first prompt, its call) is read as input again.
			if resp2.Text == "" || resp2.Usage.InputTokens <= firstUsage.InputTokens+firstUsage.OutputTokens {
				t.Errorf("follow-up %q with usage %+v after %+v", resp2.Text, resp2.Usage, firstUsage)
			}
		}
	})

	t.Run("unknown previous response", func(t *testing.T) {
		t.Parallel()
		p := emulated(t, nil, emulator.Output{})
		_, err := p.Do(ctx, responsesCall(t, `{"model":"route","previous_response_id":"resp_gone","input":"go on"}`, "gpt-4o", 100))
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != llm.KindBadRequest || le.Status != 400 || le.Code != "previous_response_not_found" {
			t.Errorf("Do() error %#v, want a 400 previous_response_not_found", err)
		}
	})

	t.Run("incomplete", func(t *testing.T) {
		t.Parallel()
		p := emulated(t, nil, emulator.Output{MinTokens: 300, MaxTokens: 400})
		for _, stream := range []bool{false, true} {
			body := `{"model":"route","input":"Tell me everything.","max_output_tokens":2000`
			if stream {
				body += `,"stream":true`
			}
			resp, err := p.Do(ctx, responsesCall(t, body+`}`, "gpt-4o", 20))
			if err != nil {
				t.Fatal(err)
			}
			stop, u := resp.StopReason, resp.Usage
			if stream {
				got := readAll(resp.Stream)
				stop, u = got.stop, got.usage
			}
			if stop != openai.StopMaxOutputTokens || u.OutputTokens != 20 {
				t.Errorf("stream %v: stop %q usage %+v, want max_output_tokens at 20", stream, stop, u)
			}
		}
	})

	faults := []struct {
		name   string
		faults emulator.Faults
		stream bool
		kind   llm.Kind
		code   string
	}{
		{"failed stream", emulator.Faults{ErrorEvent: 1}, true, llm.KindServer, "server_error"},
		{"error event before content", emulator.Faults{StartErrorEvent: 1}, true, llm.KindServer, ""},
		{"cut stream", emulator.Faults{Cut: 1}, true, llm.KindConnection, ""},
		{"quota", emulator.Faults{Quota: 1}, false, llm.KindQuotaExhausted, "insufficient_quota"},
		{"overloaded", emulator.Faults{Overloaded: 1}, false, llm.KindOverloaded, ""},
		{"cut body", emulator.Faults{Cut: 1}, false, llm.KindConnection, ""},
	}
	for _, tt := range faults {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := emulated(t, map[string]emulator.Model{"emu-gpt": {Provider: "openai", Faults: &tt.faults}}, emulator.Output{})
			body := `{"model":"route","input":"Say something."`
			if tt.stream {
				body += `,"stream":true`
			}
			resp, err := p.Do(ctx, responsesCall(t, body+`}`, "emu-gpt", 100))
			if err == nil && resp.Stream != nil {
				err = readAll(resp.Stream).err
			}
			var le *llm.Error
			if !errors.As(err, &le) || le.Kind != tt.kind || (tt.code != "" && le.Code != tt.code) {
				t.Fatalf("error %#v, want kind %v code %q", err, tt.kind, tt.code)
			}
			if strings.Contains(le.Error(), "sk-emu-secret") {
				t.Errorf("error %q carries the key", le)
			}
		})
	}
}

// TestEmbeddingsEmulator runs the embeddings path against the emulator over HTTP.
func TestEmbeddingsEmulator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := emulated(t, nil, emulator.Output{})
	tests := []struct {
		name, body string
		model      string
		inputs     int
		kind       llm.Kind
	}{
		{"one string", `{"model":"route","input":"The quota ledger keeps every reservation.","encoding_format":"float"}`, "text-embedding-3-small", 1, 0},
		{"strings, shortened", `{"model":"route","input":["first text","second text, longer than the first"],"dimensions":256}`, "text-embedding-3-large", 2, 0},
		{"token ids", `{"model":"route","input":[[1820,25977,902],[15339]],"encoding_format":"base64"}`, "text-embedding-ada-002", 2, 0},
		{"chat model", `{"model":"route","input":"x"}`, "gpt-4o", 0, llm.KindAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, _, err := openai.ParseEmbeddingsRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.Do(ctx, llm.Call{Request: req, Model: tt.model, RequestID: "tg-emb-" + tt.name})
			if tt.kind != 0 {
				if llm.KindOf(err) != tt.kind {
					t.Fatalf("Do() error %v, want kind %v", err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Data  []json.RawMessage `json:"data"`
				Model string            `json:"model"`
				Usage struct {
					PromptTokens int64 `json:"prompt_tokens"`
					TotalTokens  int64 `json:"total_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(resp.Body, &body); err != nil {
				t.Fatal(err)
			}
			if resp.Format != llm.Embeddings || len(body.Data) != tt.inputs || resp.Usage != (llm.Usage{InputTokens: body.Usage.PromptTokens}) ||
				body.Usage.PromptTokens == 0 || body.Usage.TotalTokens != body.Usage.PromptTokens || resp.Model == "" {
				t.Errorf("Do() = format %s model %q usage %+v, body %d vectors usage %+v", resp.Format, resp.Model, resp.Usage, len(body.Data), body.Usage)
			}
			if resp.UpstreamRequestID == "" {
				t.Errorf("no upstream request id")
			}
			if int64(req.InputTokens) < resp.Usage.InputTokens {
				t.Errorf("estimate %d below the upstream's %d", req.InputTokens, resp.Usage.InputTokens)
			}
		})
	}
}
