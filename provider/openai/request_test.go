package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

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
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			want: llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: "user", Content: "hi"}}},
		},
		{
			name: "system and developer joined, caps, temperature, stream",
			body: `{"model":"o3","messages":[{"role":"system","content":"be brief"},{"role":"developer","content":[{"type":"text","text":"no lists"}]},{"role":"user","content":"hi"}],"max_tokens":50,"max_completion_tokens":100,"temperature":0.5,"stream":true}`,
			want: llm.Request{Model: "o3", System: "be brief\nno lists", MaxTokens: 100, Temperature: ptr(0.5), Stream: true,
				Messages: []llm.Message{{Role: "user", Content: "hi"}}},
		},
		{
			name: "n choices",
			body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"n":3,"max_completion_tokens":20}`,
			want: llm.Request{Model: "gpt-4o-mini", N: 3, MaxTokens: 20, Messages: []llm.Message{{Role: "user", Content: "x"}}},
		},
		{
			name: "n at the maximum, written as a float",
			body: `{"model":"m","messages":[{"role":"user","content":"x"}],"n":128.0}`,
			want: llm.Request{Model: "m", N: 128, Messages: []llm.Message{{Role: "user", Content: "x"}}},
		},
		{
			name: "n null is the default",
			body: `{"model":"m","messages":[{"role":"user","content":"x"}],"n":null}`,
			want: llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "x"}}},
		},
		{
			name: "legacy max_tokens only",
			body: `{"model":"gpt-4","messages":[{"role":"user","content":"x"}],"max_tokens":7,"stream":null}`,
			want: llm.Request{Model: "gpt-4", MaxTokens: 7, Messages: []llm.Message{{Role: "user", Content: "x"}}},
		},
		{
			name: "text parts joined, image makes opaque",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"text","text":"here"}]}]}`,
			want: llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "look\nhere", Opaque: true}}},
		},
		{
			name: "tool call and tool result are opaque",
			body: `{"model":"m","messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"w","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"sunny"}]}`,
			want: llm.Request{Model: "m", Messages: []llm.Message{
				{Role: "user", Content: "weather?"},
				{Role: "assistant", Opaque: true},
				{Role: "tool", Content: "sunny", Opaque: true},
			}},
		},
		{
			name: "empty tool_calls is not opaque",
			body: `{"model":"m","messages":[{"role":"assistant","content":"ok","tool_calls":[]}]}`,
			want: llm.Request{Model: "m", Messages: []llm.Message{{Role: "assistant", Content: "ok"}}},
		},
		{
			name: "unknown fields ignored, exact key match, last duplicate wins",
			body: `{"model":"a","Model":"b","messages":[{"role":"user","content":"x"}],"max_tokens":5,"max_tokens":9,"logit_bias":{"1":2},"x_future":[1,2]}`,
			want: llm.Request{Model: "a", MaxTokens: 9, Messages: []llm.Message{{Role: "user", Content: "x"}}},
		},
		{
			name: "escaped key and unicode content",
			body: "{\"mod\\u0065l\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9 \u2603\"}]}",
			want: llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hé ☃"}}},
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
			tt.want.Format = llm.OpenAI
			// The input estimate is the tokens package's for the whole body, counted in the
			// parse's own pass.
			n, err := tokens.OpenAIChat([]byte(tt.body))
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
	tests := []struct {
		name, body, field, msg string
	}{
		{"empty body", ``, "", "empty request body"},
		{"malformed with offset", `{"model":"m",}`, "", "malformed JSON at offset 13"},
		{"trailing garbage", `{"model":"m"} x`, "", "malformed JSON at offset"},
		{"not an object", `["model"]`, "", "must be a JSON object"},
		{"missing model", `{"messages":[{"role":"user","content":"x"}]}`, "model", "is required"},
		{"empty model", `{"model":"","messages":[{"role":"user","content":"x"}]}`, "model", "is required"},
		{"model wrong type", `{"model":4,"messages":[]}`, "model", "must be a string, got a number"},
		{"missing messages", `{"model":"m"}`, "messages", "is required"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages", "at least one message"},
		{"messages not array", `{"model":"m","messages":{"role":"user"}}`, "messages", "must be an array of messages, got an object"},
		{"message not object", `{"model":"m","messages":["hi"]}`, "messages[0]", "must be an object, got a string"},
		{"missing role", `{"model":"m","messages":[{"content":"x"}]}`, "messages[0].role", "is required"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "messages[0].role", `got "robot"`},
		{"content wrong type", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content", "got a number"},
		{"part without type", `{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages[0].content[0].type", "is required"},
		{"text part without text", `{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`, "messages[0].content[0].text", "is required"},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url"}]},{"role":"user","content":"x"}]}`, "messages[0].content", "text parts only"},
		{"max_tokens zero", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, "max_tokens", "positive integer"},
		{"max_tokens negative", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":-3}`, "max_completion_tokens", "positive integer"},
		{"max_tokens fraction", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}`, "max_tokens", "positive integer, got 1.5"},
		{"max_tokens string", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"10"}`, "max_tokens", "got a string"},
		{"temperature string", `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, "temperature", "must be a number"},
		{"stream string", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}`, "stream", "must be a boolean"},
		{"n zero", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}`, "n", "integer from 1 to 128, got 0"},
		{"n negative", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":-2}`, "n", "got -2"},
		{"n above 128", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":129}`, "n", "got 129"},
		{"n fraction", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":1.5}`, "n", "got 1.5"},
		{"n string", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":"2"}`, "n", "got a string"},
		{"n huge", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":1e300}`, "n", "got 1e300"},
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
		{`{"model":"m","user":"run-42"}`, "run-42"},
		{`{"model":"m"}`, ""},
		{`{"user":7}`, ""},
		{`not json`, ""},
	}
	for _, tt := range tests {
		if got := SessionHint([]byte(tt.body)); got != tt.want {
			t.Errorf("SessionHint(%s) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stream":true}`,
		`{"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"s"}]},{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`,
		`{"model":"m","messages":[{"role":"tool","content":"r"}],"stream_options":{"include_usage":false},"stream":true}`,
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
		if req.Model == "" {
			t.Fatalf("ParseRequest(%s) accepted a request without a model", body)
		}
		out, err := EncodeRequest(llm.Call{Request: req, Model: "target", MaxTokens: 11})
		if err != nil {
			t.Fatalf("EncodeRequest of a parsed body: %v", err)
		}
		var v struct {
			Model string `json:"model"`
			Max   int    `json:"max_completion_tokens"`
			Old   int    `json:"max_tokens"`
		}
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("EncodeRequest(%s) = %s: invalid JSON: %v", body, out, err)
		}
		if got, _ := ParseRequest(out); got == nil || got.Model != "target" || got.MaxTokens != 11 {
			t.Fatalf("EncodeRequest(%s) = %s: model or cap not rewritten", body, out)
		}
	})
}

func TestIncludeUsage(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"stream":true,"stream_options":{"include_usage":true}}`, true},
		{`{"stream":true,"stream_options":{"include_usage":false}}`, false},
		{`{"stream":true,"stream_options":null}`, false},
		{`{"stream":true}`, false},
	}
	for _, tt := range tests {
		if got := IncludeUsage([]byte(tt.body)); got != tt.want {
			t.Errorf("IncludeUsage(%s) = %v, want %v", tt.body, got, tt.want)
		}
	}
}
