package emulator

import (
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestModelEndpoints checks GET /v1/models and /v1/models/{id} in both APIs' shapes
// (https://platform.openai.com/docs/api-reference/models/retrieve,
// https://docs.claude.com/en/api/models), and their 404s.
func TestModelEndpoints(t *testing.T) {
	e := mustNew(t, Config{Now: newClock().Now, Models: map[string]Model{"Qwen/Qwen3-8B": {Provider: "openai", ContextWindow: 32768}}})
	get := func(path string, anth bool) (int, map[string]any) {
		r := httptest.NewRequest("GET", path, nil)
		if anth {
			r.Header.Set("X-Api-Key", "sk-ant")
			r.Header.Set("Anthropic-Version", "2023-06-01")
		} else {
			r.Header.Set("Authorization", "Bearer sk")
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w.Code, decode(t, w.Body.String())
	}
	created := float64(newClock().Now().Unix())
	cases := []struct {
		name   string
		path   string
		anth   bool
		status int
		want   map[string]any // the fields checked
	}{
		{"openai model", "/v1/models/gpt-4o", false, 200,
			map[string]any{"id": "gpt-4o", "object": "model", "created": created, "owned_by": "system"}},
		{"openai dated id", "/v1/models/gpt-4o-2024-08-06", false, 200, map[string]any{"id": "gpt-4o-2024-08-06", "object": "model"}},
		{"openai embedding model", "/v1/models/text-embedding-3-small", false, 200, map[string]any{"id": "text-embedding-3-small"}},
		{"openai id with a slash", "/v1/models/Qwen/Qwen3-8B", false, 200, map[string]any{"id": "Qwen/Qwen3-8B"}},
		{"openai unknown", "/v1/models/gpt-9", false, 404, oaiErr("The model 'gpt-9' does not exist", "invalid_request_error", "model", "model_not_found")},
		{"openai asks for a claude", "/v1/models/claude-sonnet-4-5", false, 404, map[string]any{"error": map[string]any{"code": "model_not_found"}}},
		{"anthropic model", "/v1/models/claude-sonnet-4-5", true, 200,
			map[string]any{"type": "model", "id": "claude-sonnet-4-5", "created_at": "2026-11-27T12:00:00Z", "max_input_tokens": 200000.0, "max_tokens": 64000.0}},
		{"anthropic unknown", "/v1/models/claude-9", true, 404, antErr("not_found_error", "model: claude-9")},
		{"anthropic asks for gpt", "/v1/models/gpt-4o", true, 404, antErr("not_found_error", "model: gpt-4o")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(tc.path, tc.anth)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, body)
			}
			if diff := cmp.Diff(tc.want, pick(body, tc.want)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
	for _, anth := range []bool{false, true} {
		_, list := get("/v1/models", anth)
		for _, m := range list["data"].([]any) {
			id := dig(m, "id").(string)
			if status, one := get("/v1/models/"+id, anth); status != 200 || !cmp.Equal(one, m) {
				t.Errorf("anthropic=%v: GET /v1/models/%s = %d %v, want the listed %v", anth, id, status, one, m)
			}
		}
	}
}

// pick keeps the keys of got that want names, recursively, so that a table states only
// the fields it checks.
func pick(got, want map[string]any) map[string]any {
	out := map[string]any{}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			continue
		}
		if wm, ok := w.(map[string]any); ok {
			if gm, ok := g.(map[string]any); ok {
				g = pick(gm, wm)
			}
		}
		out[k] = g
	}
	return out
}

func TestEmbeddingModelRefusedByChat(t *testing.T) {
	e := mustNew(t, Config{})
	r := serve(e, oai(`{"model":"text-embedding-3-small","messages":[{"role":"user","content":"hi"}]}`))
	want := oaiErr("This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use v1/completions?", "invalid_request_error", "model", nil)
	if r.status != 404 || !cmp.Equal(decode(t, r.body), want) {
		t.Errorf("got %d %s, want 404 %v", r.status, r.body, want)
	}
	if got := e.Stats().Models["text-embedding-3-small"].Refused[RefusedNotFound]; got != 1 {
		t.Errorf("Refused[not_found] = %d, want 1", got)
	}
}
