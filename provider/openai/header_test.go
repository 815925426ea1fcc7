package openai_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/openai"
)

// TestHeaders: every answer carries the upstream's headers, a stream's from its 200 and a
// refusal's on the *llm.Error, for learning the upstream's limits from them.
func TestHeaders(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	em, err := emulator.New(emulator.Config{Seed: 1, Now: func() time.Time { return now },
		Models: map[string]emulator.Model{"emu-gpt": {Provider: "openai", Limits: &emulator.Limits{RPM: 2, TPM: 90_000}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(em)
	defer srv.Close()
	p, err := openai.New(openai.Config{BaseURL: srv.URL + "/v1", APIKey: "sk-emu", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	call := func(stream bool) (*llm.Response, error) {
		body := `{"model":"emu-gpt","messages":[{"role":"user","content":"Hi."}],"max_tokens":20`
		if stream {
			body += `,"stream":true`
		}
		req, err := openai.ParseRequest([]byte(body + "}"))
		if err != nil {
			t.Fatal(err)
		}
		return p.Do(context.Background(), llm.Call{Request: req, Model: "emu-gpt"})
	}
	for i, c := range []struct {
		stream        bool
		wantRemaining string
	}{{false, "1"}, {true, "0"}} {
		resp, err := call(c.stream)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if resp.Stream != nil {
			resp.Stream.Close()
		}
		if got := resp.Header.Get("X-Ratelimit-Limit-Requests"); got != "2" {
			t.Errorf("call %d: x-ratelimit-limit-requests = %q, want 2", i, got)
		}
		if got := resp.Header.Get("X-Ratelimit-Remaining-Requests"); got != c.wantRemaining {
			t.Errorf("call %d: x-ratelimit-remaining-requests = %q, want %s", i, got, c.wantRemaining)
		}
	}
	_, err = call(false)
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.KindRateLimited {
		t.Fatalf("third call = %v, want a rate-limit *llm.Error", err)
	}
	if got := le.Header.Get("X-Ratelimit-Remaining-Requests"); got != "0" {
		t.Errorf("429: x-ratelimit-remaining-requests = %q, want 0", got)
	}
	if le.Header.Get("Retry-After") == "" {
		t.Error("429: no retry-after header on the error")
	}
}
