package gateway

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzHandler posts arbitrary bodies to path: whatever the body, the gateway answers
// without panicking and without a 5xx (the stub upstream never fails, so a 5xx could only
// be the gateway's own fault), in the caller's JSON or SSE format.
func fuzzHandler(f *testing.F, path string, hdr http.Header, seeds ...string) {
	e, _, _ := stubEnv(f, nil)
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header = hdr.Clone()
		w := httptest.NewRecorder()
		e.gw.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", w.Code, body, w.Body)
		}
		ct := w.Header().Get("Content-Type")
		if ct != "application/json" && ct != "text/event-stream" {
			t.Fatalf("Content-Type %q for body %q", ct, body)
		}
	})
}

func FuzzChatCompletions(f *testing.F) {
	fuzzHandler(f, "/v1/chat/completions", http.Header{"Authorization": {"Bearer " + secretAlice}},
		okChat, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"claude-haiku-4-5","user":"u","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		`{"model":"gpt-4o-mini","messages":[{"role":"tool","content":"x"}],"max_completion_tokens":5}`,
		`{"model":"gpt-4o-mini","messages":[],"max_tokens":-1}`, `{"model":7}`, `[]`, `null`, ``, `{"model":"gpt-4o-mini",`)
}

func FuzzMessages(f *testing.F) {
	fuzzHandler(f, "/v1/messages", http.Header{"X-Api-Key": {secretAlice}},
		okMessages, `{"model":"claude-haiku-4-5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"gpt-4o-mini","max_tokens":10,"system":[{"type":"text","text":"be brief"}],"metadata":{"user_id":"u"},"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image","source":{}}]}]}`,
		`{"model":"claude-haiku-4-5","max_tokens":0,"messages":[{"role":"assistant","content":"x"}]}`,
		`{"max_tokens":1e400}`, `{"model":"claude-haiku-4-5"}`, `"x"`, ``, `{"model":`)
}
