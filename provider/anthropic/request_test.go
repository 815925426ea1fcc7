package anthropic

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/tokens"
)

func ptr[T any](v T) *T { return &v }

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name string
		body string
		want llm.Request
	}{
		{
			name: "minimal",
			body: `{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Hello, Claude"}]}`,
			want: llm.Request{Model: "claude-sonnet-4-5", MaxTokens: 1024, Messages: []llm.Message{{Role: "user", Content: "Hello, Claude"}}},
		},
		{
			name: "system string, temperature, stream",
			body: `{"model":"m","max_tokens":5,"system":"be brief","temperature":0.3,"stream":true,"messages":[{"role":"user","content":"x"}]}`,
			want: llm.Request{Model: "m", MaxTokens: 5, System: "be brief", Temperature: ptr(0.3), Stream: true,
				Messages: []llm.Message{{Role: "user", Content: "x"}}},
		},
		{
			name: "system text blocks with cache_control",
			body: `{"model":"m","max_tokens":5,"system":[{"type":"text","text":"You are terse."},{"type":"text","text":"Long doc","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"x"}]}`,
			want: llm.Request{Model: "m", MaxTokens: 5, System: "You are terse.\nLong doc", Messages: []llm.Message{{Role: "user", Content: "x"}},
				CacheTTL: 5 * time.Minute},
		},
		{
			name: "image block makes opaque, text blocks joined",
			body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}},{"type":"text","text":"What is this?"},{"type":"text","text":"Be brief."}]}]}`,
			want: llm.Request{Model: "m", MaxTokens: 5, Messages: []llm.Message{{Role: "user", Content: "What is this?\nBe brief.", Opaque: true}}},
		},
		{
			name: "tool_use and tool_result are opaque",
			body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":"15C"}]}]}`,
			want: llm.Request{Model: "m", MaxTokens: 5, Messages: []llm.Message{
				{Role: "user", Content: "weather?"},
				{Role: "assistant", Content: "Checking.", Opaque: true},
				{Role: "user", Opaque: true},
			}},
		},
		{
			name: "unknown fields ignored, exact key match, last duplicate wins",
			body: `{"model":"a","MAX_TOKENS":1,"max_tokens":5,"max_tokens":9,"thinking":{"type":"enabled","budget_tokens":2048},"messages":[{"role":"user","content":"x"}],"metadata":{"user_id":"u"}}`,
			want: llm.Request{Model: "a", MaxTokens: 9, Messages: []llm.Message{{Role: "user", Content: "x"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseRequest() error %v", err)
			}
			if string(got.Body) != tt.body {
				t.Errorf("Body = %s, want the input unchanged", got.Body)
			}
			tt.want.Format = llm.Anthropic
			// The input estimate is the tokens package's for the whole body, counted in the
			// parse's own pass.
			n, err := tokens.AnthropicMessages([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.InputTokens = n
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(llm.Request{}, "Body")); diff != "" {
				t.Errorf("ParseRequest() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRequestErrors(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	tests := []struct {
		name, body, field, msg string
	}{
		{"empty body", ``, "", "empty request body"},
		{"malformed with offset", `{"model":"m" "max_tokens":1}`, "", "malformed JSON at offset 13"},
		{"not an object", `"hi"`, "", "must be a JSON object"},
		{"missing model", `{"max_tokens":1,` + msgs + `}`, "model", "is required"},
		{"model wrong type", `{"model":["m"],"max_tokens":1,` + msgs + `}`, "model", "must be a string, got an array"},
		{"missing max_tokens", `{"model":"m",` + msgs + `}`, "max_tokens", "is required"},
		{"null max_tokens", `{"model":"m","max_tokens":null,` + msgs + `}`, "max_tokens", "is required"},
		{"max_tokens zero", `{"model":"m","max_tokens":0,` + msgs + `}`, "max_tokens", "positive integer, got 0"},
		{"max_tokens negative", `{"model":"m","max_tokens":-1,` + msgs + `}`, "max_tokens", "positive integer"},
		{"max_tokens fraction", `{"model":"m","max_tokens":2.5,` + msgs + `}`, "max_tokens", "positive integer, got 2.5"},
		{"max_tokens string", `{"model":"m","max_tokens":"9",` + msgs + `}`, "max_tokens", "got a string"},
		{"missing messages", `{"model":"m","max_tokens":1}`, "messages", "is required"},
		{"empty messages", `{"model":"m","max_tokens":1,"messages":[]}`, "messages", "at least one message"},
		{"system role in messages", `{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, "messages[0].role", "top-level system"},
		{"missing content", `{"model":"m","max_tokens":1,"messages":[{"role":"user"}]}`, "messages[0].content", "is required"},
		{"content wrong type", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":{"type":"text"}}]}`, "messages[0].content", "got an object"},
		{"block without type", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages[0].content[0].type", "is required"},
		{"system image", `{"model":"m","max_tokens":1,"system":[{"type":"image"}],` + msgs + `}`, "system", "text blocks only"},
		{"system number", `{"model":"m","max_tokens":1,"system":3,` + msgs + `}`, "system", "got a number"},
		{"stream string", `{"model":"m","max_tokens":1,"stream":"true",` + msgs + `}`, "stream", "must be a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tt.body))
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("ParseRequest() error = %v, want a *RequestError", err)
			}
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("error %v does not unwrap to ErrBadRequest", err)
			}
			if re.Field != tt.field || !strings.Contains(re.Msg, tt.msg) {
				t.Errorf("ParseRequest() error = {%q, %q}, want {%q, containing %q}", re.Field, re.Msg, tt.field, tt.msg)
			}
		})
	}
}

func TestSessionHint(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"model":"m","metadata":{"user_id":"run-42"}}`, "run-42"},
		{`{"metadata":{"user_id":null}}`, ""},
		{`{"metadata":"x"}`, ""},
		{`{"model":"m"}`, ""},
	}
	for _, tt := range tests {
		if got := SessionHint([]byte(tt.body)); got != tt.want {
			t.Errorf("SessionHint(%s) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"hi"}],"stream":true}`,
		`{"model":"m","max_tokens":1,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"image","source":{}},{"type":"text","text":"t"}]}]}`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"x","name":"n","input":{}}]}],"metadata":{"user_id":"u"}}`,
		`{"model":"m",}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("ParseRequest error %v does not unwrap to ErrBadRequest", err)
			}
			return
		}
		if req.Model == "" || len(req.Messages) == 0 || req.MaxTokens <= 0 {
			t.Fatalf("ParseRequest(%s) accepted a request without model, messages or max_tokens", body)
		}
		out, err := EncodeRequest(llm.Call{Request: req, Model: "target", MaxTokens: 11})
		if err != nil {
			t.Fatalf("EncodeRequest of a parsed body: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("EncodeRequest(%s) = %s: invalid JSON", body, out)
		}
		if got, _ := ParseRequest(out); got == nil || got.Model != "target" || got.MaxTokens != 11 {
			t.Fatalf("EncodeRequest(%s) = %s: model or cap not rewritten", body, out)
		}
		_ = SessionHint(body)
	})
}
