package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
)

func emulatedAnthropic(t *testing.T, limits emulator.Limits) *anthropic.Provider {
	t.Helper()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	em, err := emulator.New(emulator.Config{Seed: 5, Now: func() time.Time { return now }, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	p, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "sk-emu-secret", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestResponsesThroughClaude serves Responses API requests with a Claude model of the
// emulator, over HTTP: text, a forced function call, a JSON schema answer, streamed and
// not.
func TestResponsesThroughClaude(t *testing.T) {
	t.Parallel()
	p := emulatedAnthropic(t, emulator.Limits{})
	weather := `"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`
	tests := []struct {
		name, body string
		check      func(text string, calls []llm.ToolCall, stop string) bool
	}{
		{"text", `{"model":"route","instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"Say something."}]}],"store":true}`,
			func(text string, calls []llm.ToolCall, stop string) bool {
				return text != "" && len(calls) == 0 && stop == "end_turn"
			}},
		{"forced call", `{"model":"route","input":"Weather in Oslo?","tool_choice":"required",` + weather + `}`,
			func(text string, calls []llm.ToolCall, stop string) bool {
				return len(calls) > 0 && strings.HasPrefix(calls[0].ID, "toolu_") && calls[0].Name == "get_weather" && json.Valid([]byte(calls[0].Arguments)) && stop == "tool_use"
			}},
		{"json schema", `{"model":"route","input":"Extract.","text":{"format":{"type":"json_schema","name":"incident","schema":{"type":"object","properties":{"tenant":{"type":"string"}},"required":["tenant"]}}}}`,
			func(text string, calls []llm.ToolCall, stop string) bool {
				var v struct {
					Tenant *string `json:"tenant"`
				}
				return json.Unmarshal([]byte(text), &v) == nil && v.Tenant != nil && len(calls) == 0 && stop == "end_turn"
			}},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: "", true: " streamed"}[stream], func(t *testing.T) {
				t.Parallel()
				body := tt.body
				if stream {
					body = strings.TrimSuffix(body, "}") + `,"stream":true}`
				}
				req, _, err := openai.ParseResponsesRequest([]byte(body))
				if err != nil {
					t.Fatal(err)
				}
				resp, err := p.Do(context.Background(), llm.Call{Request: req, Model: "claude-sonnet-4-5", MaxTokens: 400})
				if err != nil {
					t.Fatalf("Do() error %v", err)
				}
				if resp.Format != llm.Anthropic {
					t.Errorf("Format = %s, want anthropic (the gateway encodes it for the Responses caller)", resp.Format)
				}
				text, calls, stop, usage := resp.Text, resp.ToolCalls, resp.StopReason, resp.Usage
				if stream {
					text, calls, stop, usage = "", nil, "", llm.Usage{}
					defer resp.Stream.Close()
					for {
						c, err := resp.Stream.Recv()
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Fatal(err)
						}
						text += c.Text
						if c.StopReason != "" {
							stop = c.StopReason
						}
						for _, d := range c.ToolCalls {
							if d.ID != "" {
								calls = append(calls, llm.ToolCall{ID: d.ID, Name: d.Name})
							}
							calls[len(calls)-1].Arguments += d.Arguments
						}
					}
					usage = resp.Stream.Usage()
				}
				if !tt.check(text, calls, stop) || usage.InputTokens == 0 || usage.OutputTokens == 0 {
					t.Errorf("text %q, calls %+v, stop %q, usage %+v", text, calls, stop, usage)
				}
			})
		}
	}
}

// TestSupports checks what an Anthropic upstream refuses before any call, and that Do
// refuses the same without calling it.
func TestSupports(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	t.Cleanup(srv.Close)
	p, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, Name: "claude-eu"})
	if err != nil {
		t.Fatal(err)
	}
	resp := func(body string) *llm.Request {
		r, _, err := openai.ParseResponsesRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	chat, err := openai.ParseRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"logprobs":true}`))
	if err != nil {
		t.Fatal(err)
	}
	emb, _, err := openai.ParseEmbeddingsRequest([]byte(`{"model":"text-embedding-3-small","input":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		req         *llm.Request
		unsupported string // the field of an *llm.UnsupportedError ("-" for the whole request)
		untrans     string // the field of an *llm.UntranslatableError
	}{
		{"plain responses", resp(`{"model":"m","input":"hi"}`), "", ""},
		{"previous response", resp(`{"model":"m","input":"hi","previous_response_id":"resp_1"}`), "previous_response_id", ""},
		{"item reference", resp(`{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`), "input[0]", ""},
		{"hosted tool", resp(`{"model":"m","input":"hi","tools":[{"type":"web_search"}]}`), "", "tools[0].type"},
		{"embeddings", emb, "-", ""},
		{"chat with logprobs", chat, "", "logprobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Supports(tt.req)
			_, doErr := p.Do(context.Background(), llm.Call{Request: tt.req, Model: "claude-haiku-4-5"})
			var ue *llm.UnsupportedError
			var te *llm.UntranslatableError
			switch {
			case tt.unsupported != "":
				field := strings.TrimPrefix(tt.unsupported, "-")
				if !errors.As(err, &ue) || ue.Field != field || ue.Provider != "claude-eu" || !errors.Is(err, llm.ErrUnsupported) {
					t.Errorf("Supports() = %v, want unsupported %q", err, field)
				}
				if !errors.Is(doErr, llm.ErrUnsupported) || llm.KindOf(doErr) != llm.KindBadRequest {
					t.Errorf("Do() error %v, want a bad request wrapping ErrUnsupported", doErr)
				}
			case tt.untrans != "":
				if !errors.As(err, &te) || te.Field != tt.untrans {
					t.Errorf("Supports() = %v, want untranslatable %q", err, tt.untrans)
				}
				if !errors.Is(doErr, llm.ErrUntranslatable) {
					t.Errorf("Do() error %v, want ErrUntranslatable", doErr)
				}
			default:
				if err != nil {
					t.Errorf("Supports() = %v, want nil", err)
				}
			}
		})
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the upstream was called %d times, want once (for the supported request)", n)
	}
}

// TestCountTokens asks the emulator's count_tokens for a body with tools and checks the
// count against what /v1/messages bills for the same prompt, the offline estimate against
// both, and the failures classified.
func TestCountTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := emulatedAnthropic(t, emulator.Limits{CountTokensRPM: 2})
	body := `{"model":"route","system":"You answer billing questions.","messages":[{"role":"user","content":"Why did the acme tenant hit its budget at 09:40?"}],` +
		`"tools":[{"name":"get_spend","description":"Spend of a tenant","input_schema":{"type":"object","properties":{"tenant":{"type":"string"}},"required":["tenant"]}}]}`
	ct, err := anthropic.ParseCountTokensRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct.Model != "route" || ct.Estimate == 0 {
		t.Fatalf("ParseCountTokensRequest() = %+v", ct)
	}
	ct.ID = "tg-count-1"
	got, err := p.CountTokens(ctx, ct, "claude-sonnet-4-5")
	if err != nil {
		t.Fatalf("CountTokens() error %v", err)
	}
	if got.InputTokens == 0 || string(got.Body) != `{"input_tokens":`+itoa(got.InputTokens)+`}` || got.UpstreamRequestID == "" || got.UpstreamRequestID != got.Header.Get("Request-Id") {
		t.Errorf("CountTokens() = %d, body %s, header %v", got.InputTokens, got.Body, got.Header)
	}
	if int64(ct.Estimate) < got.InputTokens {
		t.Errorf("estimate %d below the upstream's count %d: it is to be biased high", ct.Estimate, got.InputTokens)
	}
	req, err := anthropic.ParseRequest([]byte(strings.TrimSuffix(body, "}") + `,"max_tokens":50}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Do(ctx, llm.Call{Request: req, Model: "claude-sonnet-4-5"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.InputTokens != got.InputTokens {
		t.Errorf("count_tokens said %d, /v1/messages billed %d input tokens", got.InputTokens, resp.Usage.InputTokens)
	}

	_, err = p.CountTokens(ctx, ct, "claude-sonnet-4-5")
	if err != nil {
		t.Fatalf("second count: %v", err)
	}
	_, err = p.CountTokens(ctx, ct, "claude-sonnet-4-5")
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.KindRateLimited || le.RetryAfter <= 0 {
		t.Errorf("third count in the minute: error %#v, want rate limited with a retry-after", err)
	}
	if _, err := p.CountTokens(ctx, ct, "claude-unknown-9"); llm.KindOf(err) != llm.KindBadRequest {
		t.Errorf("unknown model: error %v, want a bad request", err)
	}
	if string(anthropic.EncodeTokenCount(ct.Estimate)) != `{"input_tokens":`+itoa(int64(ct.Estimate))+`}` {
		t.Errorf("EncodeTokenCount(%d) = %s", ct.Estimate, anthropic.EncodeTokenCount(ct.Estimate))
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestParseCountTokensRequest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ body, field string }{
		{`{"messages":[]}`, "model"},
		{`{"model":"m"}`, "messages"},
		{`{"model":"m","messages":"hi"}`, "messages"},
		{`{"model":7,"messages":[]}`, "model"},
	} {
		_, err := anthropic.ParseCountTokensRequest([]byte(tt.body))
		var re *anthropic.RequestError
		if !errors.As(err, &re) || re.Field != tt.field {
			t.Errorf("ParseCountTokensRequest(%s) error %v, want one on %s", tt.body, err, tt.field)
		}
	}
}

func FuzzParseCountTokensRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{"type":"object"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ct, err := anthropic.ParseCountTokensRequest(body)
		if err != nil {
			if !errors.Is(err, anthropic.ErrBadRequest) {
				t.Fatalf("error %v is not a bad request", err)
			}
			return
		}
		if ct.Model == "" || ct.Estimate <= 0 {
			t.Fatalf("ParseCountTokensRequest(%s) = %+v", body, ct)
		}
	})
}
