package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

func TestEncodeRequestPassThrough(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		model     string
		maxTokens int
		stream    bool
		want      string
	}{
		{
			name:  "only model rewritten, unknown fields and formatting kept",
			body:  "{\n  \"model\" : \"smart\",\n  \"max_tokens\": 4096,\n  \"thinking\": {\"type\": \"enabled\", \"budget_tokens\": 2048},\n  \"messages\": [{\"role\":\"user\",\"content\":\"caf\\u00e9\"}]\n}",
			model: "claude-opus-4-1",
			want:  "{\n  \"model\" : \"claude-opus-4-1\",\n  \"max_tokens\": 4096,\n  \"thinking\": {\"type\": \"enabled\", \"budget_tokens\": 2048},\n  \"messages\": [{\"role\":\"user\",\"content\":\"caf\\u00e9\"}]\n}",
		},
		{
			name:  "cap clamped in place",
			body:  `{"model":"a","max_tokens":8192,"stream":true,"messages":[],"metadata":{"user_id":"u"}}`,
			model: "b", maxTokens: 700, stream: true,
			want: `{"model":"b","max_tokens":700,"stream":true,"messages":[],"metadata":{"user_id":"u"}}`,
		},
		{
			name:  "stream flag made to agree with the request",
			body:  `{"model":"a","max_tokens":1,"stream":true}`,
			model: "a",
			want:  `{"model":"a","max_tokens":1,"stream":false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &llm.Request{Format: llm.Anthropic, Body: []byte(tt.body), Model: "a", Stream: tt.stream}
			got, err := EncodeRequest(llm.Call{Request: req, Model: tt.model, MaxTokens: tt.maxTokens})
			if err != nil {
				t.Fatalf("EncodeRequest() error %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("EncodeRequest() = %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestEncodeRequestTranslate(t *testing.T) {
	hot := 1.6
	tests := []struct {
		name   string
		call   llm.Call
		golden string
	}{
		{
			name: "from openai",
			call: llm.Call{Model: "claude-haiku-4-5", MaxTokens: 300, Request: &llm.Request{
				Format: llm.OpenAI, Model: "gpt-4o", Stream: true,
				Body: []byte(`{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},` +
					`{"role":"assistant","content":"hello"},{"role":"user","content":"bye"}],"temperature":1.6,"stream":true}`),
			}},
			golden: "translate_from_openai.json",
		},
		{
			name: "from neutral fields",
			call: llm.Call{Model: "claude-haiku-4-5", MaxTokens: 300, Request: &llm.Request{
				Format: llm.OpenAI, Model: "gpt-4o", System: "be brief", Temperature: &hot, Stream: true,
				Messages: []llm.Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "hello"}, {Role: "user", Content: "bye"}},
			}},
			golden: "translate_neutral.json",
		},
		{
			name: "no cap anywhere gets the default",
			call: llm.Call{Model: "claude-haiku-4-5", Request: &llm.Request{
				Format: llm.OpenAI, Model: "x", Messages: []llm.Message{{Role: "user", Content: "count"}},
			}},
			golden: "translate_default_cap.json",
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
	for _, m := range []llm.Message{{Role: "user", Content: "see", Opaque: true}, {Role: "tool", Content: "r", Opaque: true}} {
		req := &llm.Request{Format: llm.OpenAI, Model: "g", Messages: []llm.Message{m}}
		_, err := EncodeRequest(llm.Call{Request: req, Model: "claude-haiku-4-5"})
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != llm.KindBadRequest || !errors.Is(err, llm.ErrUntranslatable) {
			t.Errorf("EncodeRequest(%+v) error = %v, want KindBadRequest wrapping llm.ErrUntranslatable", m, err)
		}
	}
}

// TestEncodeRequestUnsignedThinking checks that a thinking block tollgate wrote for
// another provider's reasoning (no signature) is not sent back to Anthropic, which would
// refuse it, while signed thinking and everything else is forwarded untouched.
func TestEncodeRequestUnsignedThinking(t *testing.T) {
	tests := []struct {
		name, body, wantMessages string
	}{
		{"foreign reasoning dropped",
			`{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type": "thinking", "thinking": "from gpt", "signature": ""},{"type":"text","text":"a"}]},{"role":"user","content":"more"}]}`,
			`[{"content":"q","role":"user"},{"content":[{"type":"text","text":"a"}],"role":"assistant"},{"content":"more","role":"user"}]`},
		{"signed kept byte for byte",
			`{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"EqQB"},{"type":"text","text":"a"}]},{"role":"user","content":"more"}]}`,
			`[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"EqQB"},{"type":"text","text":"a"}]},{"role":"user","content":"more"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ParseRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := EncodeRequest(llm.Call{Request: req, Model: "c"})
			if err != nil {
				t.Fatal(err)
			}
			msgs, _ := wire.Get(got, "messages")
			if string(msgs) != tt.wantMessages {
				t.Errorf("messages = %s, want %s", msgs, tt.wantMessages)
			}
		})
	}
}
