package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/llm"
)

// stubEnv is a gateway over in-process stub upstreams.
func stubEnv(t testing.TB, conf func(*Config)) (*env, *stub, *stub) {
	oa := &stub{name: "openai", format: llm.OpenAI, chunks: openAIChunks}
	an := &stub{name: "anthropic", format: llm.Anthropic, chunks: anthropicChunks}
	e := newEnv(t, envConfig{providers: map[string]llm.Provider{"openai": oa, "anthropic": an}, gateway: conf})
	return e, oa, an
}

// transcript renders a response for a golden file: the status, the headers a client
// acts on, and the body.
func transcript(resp *http.Response, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n", resp.StatusCode)
	var names []string
	for k := range resp.Header {
		switch {
		case k == "Content-Type", k == "Retry-After", k == "Retry-After-Ms", k == "X-Should-Retry",
			strings.HasPrefix(k, "X-Tollgate-"), strings.HasPrefix(k, "Ratelimit"), strings.HasPrefix(k, "X-Ratelimit"):
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\n", k, resp.Header.Get(k))
	}
	b.WriteString("\n")
	b.Write(body)
	if len(body) > 0 && body[len(body)-1] != '\n' {
		b.WriteString("\n")
	}
	return b.Bytes()
}

const (
	okChat     = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":100}`
	okMessages = `{"model":"claude-haiku-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
)

func TestHandlerErrors(t *testing.T) {
	e, _, _ := stubEnv(t, func(c *Config) { c.MaxBodyBytes = 1 << 10 })
	big := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`
	alice := []string{"Authorization", "Bearer " + secretAlice}
	aliceAn := []string{"X-Api-Key", secretAlice, "Anthropic-Version", "2023-06-01"}
	tests := []struct {
		name   string
		path   string
		body   string
		hdr    []string
		status int
		want   string // in the message
	}{
		{"openai/malformed-json", "/v1/chat/completions", `{"model":"gpt-4o-mini",`, alice, 400, "offset 22"},
		{"openai/missing-model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, alice, 400, "model: is required"},
		{"openai/unknown-model", "/v1/chat/completions", `{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`, alice, 404, "available: "},
		{"openai/too-large", "/v1/chat/completions", big, alice, 413, "1024 bytes"},
		{"openai/max-tokens", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":1000000}`, alice, 400, "at most 16384"},
		{"openai/no-key", "/v1/chat/completions", okChat, nil, 401, "virtual key"},
		{"openai/bad-key", "/v1/chat/completions", okChat, []string{"Authorization", "Bearer nope"}, 401, "virtual key"},
		{"openai/not-allowed", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, []string{"Authorization", "Bearer " + secretBob}, 403, "may use: gpt-4o-mini"},
		{"openai/bad-priority", "/v1/chat/completions", okChat, append(alice, "X-Priority", "high"), 400, "X-Priority"},
		{"openai/bad-timeout", "/v1/chat/completions", okChat, append(alice, "X-Request-Timeout", "-3"), 400, "X-Request-Timeout"},
		{"anthropic/malformed-json", "/v1/messages", `{"model":`, aliceAn, 400, "offset"},
		{"anthropic/missing-max-tokens", "/v1/messages", `{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}`, aliceAn, 400, "max_tokens: is required"},
		{"anthropic/unknown-model", "/v1/messages", `{"model":"claude-9","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, aliceAn, 404, "does not exist"},
		{"anthropic/too-large", "/v1/messages", big, aliceAn, 413, "1024 bytes"},
		{"anthropic/max-tokens", "/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":9999999,"messages":[{"role":"user","content":"hi"}]}`, aliceAn, 400, "max_tokens"},
		{"anthropic/no-key", "/v1/messages", okMessages, []string{"Anthropic-Version", "2023-06-01"}, 401, "virtual key"},
		{"anthropic/not-allowed", "/v1/messages", okMessages, []string{"X-Api-Key", secretBob}, 403, "may not use"},
		{"models/no-key", "/v1/models", "", nil, 401, "virtual key"},
		{"unknown-path", "/v1/images/generations", "{}", alice, 404, "tollgate serves"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodPost
			if tt.path == "/v1/models" {
				method = http.MethodGet
			}
			resp, body := e.do(t, method, tt.path, tt.body, tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			var v struct {
				Type  string `json:"type"`
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &v); err != nil || v.Error.Type == "" {
				t.Fatalf("body %s is not an error object: %v", body, err)
			}
			if strings.HasPrefix(tt.name, "anthropic/") && v.Type != "error" {
				t.Errorf("Anthropic error body %s lacks type error", body)
			}
			if !strings.Contains(v.Error.Message, tt.want) {
				t.Errorf("message %q does not contain %q", v.Error.Message, tt.want)
			}
			noLeak(t, "response", string(body))
			golden(t, "errors/"+strings.ReplaceAll(tt.name, "/", "_")+".txt", transcript(resp, body))
		})
	}
}

func TestPriority(t *testing.T) {
	e, oa, _ := stubEnv(t, nil)
	tests := []struct {
		name, secret, prio string
		wantHeader         string
		wantPriority       int
	}{
		{"within", secretAlice, "2", "2", 2},
		{"above is capped", secretAlice, "5", "2; requested=5", 2},
		{"lower is kept", secretAlice, "-1", "-1", -1},
		{"absent", secretAlice, "", "", 0},
		{"default cap is 0", secretBob, "3", "0; requested=3", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{"Authorization", "Bearer " + tt.secret, "X-Session-Id", "run-1", "X-Agent-Id", "planner"}
			if tt.prio != "" {
				hdr = append(hdr, "X-Priority", tt.prio)
			}
			resp, body := e.do(t, http.MethodPost, "/v1/chat/completions", okChat, hdr...)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get(HeaderPriorityOut); got != tt.wantHeader {
				t.Errorf("%s = %q, want %q", HeaderPriorityOut, got, tt.wantHeader)
			}
			oa.mu.Lock()
			id := oa.calls[len(oa.calls)-1].Request.Identity
			oa.mu.Unlock()
			want := llm.Identity{Key: map[string]string{secretAlice: "alice", secretBob: "bob"}[tt.secret],
				Tenant: map[string]string{secretAlice: "acme", secretBob: "beta"}[tt.secret], Agent: "planner",
				Session: "run-1", Priority: tt.wantPriority}
			if id != want {
				t.Errorf("identity = %+v, want %+v", id, want)
			}
		})
	}
}

func TestSessionHint(t *testing.T) {
	e, oa, an := stubEnv(t, nil)
	resp, body := e.do(t, http.MethodPost, "/v1/chat/completions",
		`{"model":"gpt-4o-mini","user":"u-42","messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer "+secretAlice)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := oa.calls[len(oa.calls)-1].Request.Identity.Session; got != "u-42" {
		t.Errorf("OpenAI session = %q, want the user field u-42", got)
	}
	resp, body = e.do(t, http.MethodPost, "/v1/messages",
		`{"model":"claude-haiku-4-5","max_tokens":10,"metadata":{"user_id":"u-7"},"messages":[{"role":"user","content":"hi"}]}`, "X-Api-Key", secretAlice)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := an.calls[len(an.calls)-1].Request.Identity.Session; got != "u-7" {
		t.Errorf("Anthropic session = %q, want metadata.user_id u-7", got)
	}
}

// TestAnswers checks the bytes of answers re-encoded by the gateway: non-streaming and
// streaming, in the caller's format, from an upstream of the other format.
func TestAnswers(t *testing.T) {
	e, _, _ := stubEnv(t, nil)
	tests := []struct {
		name, path, body string
		hdr              []string
	}{
		{"openai-pass-stream", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, []string{"Authorization", "Bearer " + secretAlice}},
		{"anthropic-from-openai", "/v1/messages", `{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, []string{"X-Api-Key", secretAlice}},
		{"anthropic-from-openai-stream", "/v1/messages", `{"model":"gpt-4o-mini","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, []string{"X-Api-Key", secretAlice}},
		{"openai-from-anthropic", "/v1/chat/completions", `{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}`, []string{"Authorization", "Bearer " + secretAlice}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodPost, tt.path, tt.body, tt.hdr...)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			golden(t, "answers/"+tt.name+".txt", transcript(resp, body))
		})
	}
}

// TestStreamErrorAfterStart: after the first event a failure can only be told in the
// stream: an error event in the caller's format, never a clean close.
func TestStreamErrorAfterStart(t *testing.T) {
	cut := &llm.Error{Kind: llm.KindConnection, Provider: "openai", Message: "stream cut: ended without [DONE]"}
	for _, tt := range []struct{ name, path, body, key string }{
		{"openai", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "Authorization"},
		{"anthropic", "/v1/messages", `{"model":"gpt-4o-mini","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, "X-Api-Key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, oa, _ := stubEnv(t, nil)
			oa.chunks, oa.failAfter = openAIChunks[:3], cut
			v := secretAlice
			if tt.key == "Authorization" {
				v = "Bearer " + v
			}
			resp, body := e.do(t, http.MethodPost, tt.path, tt.body, tt.key, v)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			golden(t, "streams/error-after-start-"+tt.name+".txt", transcript(resp, body))
		})
	}
}

// TestStreamErrorBeforeStart: a stream that fails before its first event is answered with
// an HTTP error, which the SDKs surface as such.
func TestStreamErrorBeforeStart(t *testing.T) {
	e, oa, _ := stubEnv(t, nil)
	oa.chunks, oa.failAfter = nil, &llm.Error{Kind: llm.KindOverloaded, Provider: "openai", Code: "overloaded_error", Message: "Overloaded"}
	resp, body := e.do(t, http.MethodPost, "/v1/chat/completions",
		`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer "+secretAlice)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503; body %s", resp.StatusCode, body)
	}
	golden(t, "streams/error-before-start-openai.txt", transcript(resp, body))
}
