package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/llm"
)

func TestEncodeRequestPassThrough(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		model     string
		maxTokens int
		want      string
		wantAdded bool
		stream    bool
	}{
		{
			name:  "only model rewritten, unknown fields and formatting kept",
			body:  "{\n  \"model\": \"fast\",\n  \"x_vendor\": {\"deep\": [1, 2.50, \"\\u00e9\"]},\n  \"messages\": [{\"role\":\"user\",\"content\":\"hi\"}],\n  \"seed\": 42\n}",
			model: "gpt-4o-mini",
			want:  "{\n  \"model\": \"gpt-4o-mini\",\n  \"x_vendor\": {\"deep\": [1, 2.50, \"\\u00e9\"]},\n  \"messages\": [{\"role\":\"user\",\"content\":\"hi\"}],\n  \"seed\": 42\n}",
		},
		{
			name:  "cap written where the caller put it (legacy)",
			body:  `{"model":"a","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`,
			model: "b", maxTokens: 200,
			want: `{"model":"b","max_tokens":200,"messages":[{"role":"user","content":"hi"}]}`,
		},
		{
			name:  "cap written where the caller put it (current)",
			body:  `{"model":"a","messages":[],"max_completion_tokens":1000}`,
			model: "b", maxTokens: 200,
			want: `{"model":"b","messages":[],"max_completion_tokens":200}`,
		},
		{
			name:  "cap added as max_completion_tokens when the caller set none",
			body:  `{"model":"a","messages":[]}`,
			model: "b", maxTokens: 300,
			want: `{"model":"b","messages":[],"max_completion_tokens":300}`,
		},
		{
			name:  "null legacy cap counts as unset",
			body:  `{"model":"a","max_tokens":null}`,
			model: "b", maxTokens: 5,
			want: `{"model":"b","max_tokens":null,"max_completion_tokens":5}`,
		},
		{
			name:  "stream gets include_usage",
			body:  `{"model":"a","stream":true,"messages":[]}`,
			model: "a",
			want:  `{"model":"a","stream":true,"messages":[],"stream_options":{"include_usage":true}}`, wantAdded: true,
		},
		{
			name:  "stream options kept and include_usage set inside",
			body:  `{"model":"a","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":false}}`,
			model: "a",
			want:  `{"model":"a","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}`, wantAdded: true,
		},
		{
			name:  "stream flag made to agree with the request",
			body:  `{"model":"a","stream":false}`,
			model: "a", stream: true,
			want: `{"model":"a","stream":true,"stream_options":{"include_usage":true}}`, wantAdded: true,
		},
		{
			name:  "caller asked for usage itself",
			body:  `{"model":"a","stream":true,"stream_options":{"include_usage":true}}`,
			model: "a",
			want:  `{"model":"a","stream":true,"stream_options":{"include_usage":true}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &llm.Request{Format: llm.OpenAI, Body: []byte(tt.body), Model: "a", Stream: tt.stream || strings.Contains(tt.body, `"stream":true`)}
			got, added, err := encodeRequest(llm.Call{Request: req, Model: tt.model, MaxTokens: tt.maxTokens})
			if err != nil {
				t.Fatalf("encodeRequest() error %v", err)
			}
			if string(got) != tt.want || added != tt.wantAdded {
				t.Errorf("encodeRequest() = %s, %v\nwant %s, %v", got, added, tt.want, tt.wantAdded)
			}
		})
	}
}

func TestEncodeRequestTranslate(t *testing.T) {
	tests := []struct {
		name   string
		call   llm.Call
		golden string
	}{
		{
			name: "from anthropic",
			call: llm.Call{Model: "gpt-4o", MaxTokens: 256, Request: &llm.Request{
				Format: llm.Anthropic, Model: "claude-sonnet-4-5", Stream: true,
				Body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":1024,"system":"be brief","temperature":0.2,"stream":true,` +
					`"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"bye"}]}`),
			}},
			golden: "translate_from_anthropic.json",
		},
		{
			name: "streaming from neutral",
			call: llm.Call{Model: "gpt-4o-mini", Request: &llm.Request{
				Model: "x", MaxTokens: 64, Stream: true, Messages: []llm.Message{{Role: "user", Content: "count"}},
			}},
			golden: "translate_stream.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncodeRequest(tt.call)
			if err != nil {
				t.Fatalf("EncodeRequest() error %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, append(pretty.Bytes(), '\n'))
		})
	}
}

func TestEncodeRequestOpaque(t *testing.T) {
	req := &llm.Request{Format: llm.Anthropic, Model: "c", Messages: []llm.Message{{Role: "user", Content: "see", Opaque: true}}}
	_, err := EncodeRequest(llm.Call{Request: req, Model: "gpt-4o"})
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.KindBadRequest || !errors.Is(err, llm.ErrUntranslatable) {
		t.Errorf("EncodeRequest(opaque) error = %v, want KindBadRequest wrapping llm.ErrUntranslatable", err)
	}
}
