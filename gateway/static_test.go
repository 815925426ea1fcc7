package gateway

import (
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
)

// TestStaticAnswer: a route's static last resort reaches the caller in its own format,
// whole or streamed, marked as a fallback.
func TestStaticAnswer(t *testing.T) {
	oa := &stub{name: "openai", format: llm.OpenAI,
		err: &llm.Error{Kind: llm.KindOverloaded, Provider: "openai", Status: 503, Message: "overloaded"}}
	e := newEnv(t, envConfig{providers: map[string]llm.Provider{"openai": oa},
		routes: []fallback.Route{{Name: "safe", Steps: []fallback.Step{{Model: "gpt-4o-mini"},
			{Kind: fallback.StepStatic, Message: "The service is busy; try again in a minute."}}}}})
	tests := []struct{ name, path, body, key, val string }{
		{"openai", "/v1/chat/completions", `{"model":"safe","messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer " + secretAlice},
		{"openai-stream", "/v1/chat/completions", `{"model":"safe","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer " + secretAlice},
		{"anthropic", "/v1/messages", `{"model":"safe","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, "X-Api-Key", secretAlice},
		{"anthropic-stream", "/v1/messages", `{"model":"safe","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, "X-Api-Key", secretAlice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodPost, tt.path, tt.body, tt.key, tt.val)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			golden(t, "answers/static-"+tt.name+".txt", transcript(resp, body))
		})
	}
}
