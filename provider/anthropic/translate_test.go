package anthropic_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
)

// TestTranslateRoundTrip translates a request each way and parses it back: the neutral
// fields survive both directions.
func TestTranslateRoundTrip(t *testing.T) {
	oa := []byte(`{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":[{"type":"text","text":"bye"}]}],"max_completion_tokens":64,"temperature":0.5,"stream":true}`)
	an := []byte(`{"model":"claude-haiku-4-5","max_tokens":64,"system":[{"type":"text","text":"be brief"}],"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"hello"}]},{"role":"user","content":"bye"}],"temperature":0.5,"stream":true}`)
	neutral := func(r *llm.Request) llm.Request {
		return llm.Request{System: r.System, Messages: r.Messages, MaxTokens: r.MaxTokens, Temperature: r.Temperature, Stream: r.Stream}
	}
	tests := []struct {
		name    string
		parse   func([]byte) (*llm.Request, error)
		encode  func(llm.Call) ([]byte, error)
		reparse func([]byte) (*llm.Request, error)
		body    []byte
		model   string
	}{
		{"openai to anthropic", openai.ParseRequest, anthropic.EncodeRequest, anthropic.ParseRequest, oa, "claude-haiku-4-5"},
		{"anthropic to openai", anthropic.ParseRequest, openai.EncodeRequest, openai.ParseRequest, an, "gpt-4o"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := tt.parse(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			in.Body = nil // as if the engine had to translate
			out, err := tt.encode(llm.Call{Request: in, Model: tt.model})
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			back, err := tt.reparse(out)
			if err != nil {
				t.Fatalf("reparse(%s): %v", out, err)
			}
			if back.Model != tt.model {
				t.Errorf("model = %q, want %q", back.Model, tt.model)
			}
			if diff := cmp.Diff(neutral(in), neutral(back)); diff != "" {
				t.Errorf("round trip changed the request (-sent +received):\n%s", diff)
			}
		})
	}
}
