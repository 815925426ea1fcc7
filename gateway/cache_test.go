package gateway

import (
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
)

// TestCachedAnswer: a route that asks the cache first serves a repeated request from it,
// marked as such, without calling the upstream again.
func TestCachedAnswer(t *testing.T) {
	oa := &stub{name: "openai", format: llm.OpenAI}
	e := newEnv(t, envConfig{providers: map[string]llm.Provider{"openai": oa}, cache: cache.New(cache.Config{}),
		routes: []fallback.Route{{Name: "cheap", CacheFirst: true, Steps: []fallback.Step{{Model: "gpt-4o-mini"}}}}})
	body := `{"model":"cheap","messages":[{"role":"user","content":"what is 2+2?"}]}`
	var first []byte
	for i, want := range []string{"", "hit"} {
		resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", body, "Authorization", "Bearer "+secretAlice)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, b)
		}
		if got := resp.Header.Get(HeaderCache); got != want {
			t.Errorf("request %d: %s = %q, want %q", i, HeaderCache, got, want)
		}
		if i == 0 {
			first = b
		} else if string(b) != string(first) {
			t.Errorf("cached answer %s differs from the first %s", b, first)
		}
	}
	if n := len(oa.calls); n != 1 {
		t.Errorf("upstream called %d times, want 1", n)
	}
}

// TestCachedNewFormats: a Responses and an embeddings request repeated on a cache-first
// route are answered from the cache in their own format, and the upstream is called once
// for each.
func TestCachedNewFormats(t *testing.T) {
	e := newEnv(t, envConfig{emu: emulator.Config{Seed: 6, Output: fixedOutput}, cache: cache.New(cache.Config{}),
		routes: []fallback.Route{
			{Name: "cheap", CacheFirst: true, Steps: []fallback.Step{{Model: "gpt-4o-mini"}}},
			{Name: "embed", CacheFirst: true, Steps: []fallback.Step{{Model: "text-embedding-3-small"}}},
		}})
	tests := []struct{ path, body string }{
		{"/v1/responses", `{"model":"cheap","input":"what is 2+2?","max_output_tokens":100}`},
		{"/v1/embeddings", `{"model":"embed","input":["what is 2+2?"],"dimensions":8}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			before := e.emu.Stats().Total.Requests
			var first []byte
			for i, want := range []string{"", "hit"} {
				resp, b := e.do(t, http.MethodPost, tt.path, tt.body, "Authorization", "Bearer "+secretAlice)
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, b)
				}
				if got := resp.Header.Get(HeaderCache); got != want {
					t.Errorf("request %d: %s = %q, want %q", i, HeaderCache, got, want)
				}
				if i == 0 {
					first = b
				} else if string(b) != string(first) {
					t.Errorf("cached answer %s differs from the first %s", b, first)
				}
			}
			if n := e.emu.Stats().Total.Requests - before; n != 1 {
				t.Errorf("upstream called %d times, want 1", n)
			}
		})
	}
}
