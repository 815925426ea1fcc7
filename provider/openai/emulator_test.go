package openai_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/openai"
)

// TestEmulator runs the adapter against the emulator's OpenAI API: real answers, streams
// with usage, and each fault it can inject, classified.
func TestEmulator(t *testing.T) {
	tests := []struct {
		name   string
		faults emulator.Faults
		limits emulator.Limits
		stream bool
		calls  int      // the last call's outcome is checked
		want   llm.Kind // KindUnknown: success
	}{
		{name: "answer", calls: 1},
		{name: "stream", stream: true, calls: 1},
		{name: "quota", faults: emulator.Faults{Quota: 1}, calls: 1, want: llm.KindQuotaExhausted},
		{name: "overloaded", faults: emulator.Faults{Overloaded: 1}, calls: 1, want: llm.KindOverloaded},
		{name: "server error", faults: emulator.Faults{ServerError: 1}, calls: 1, want: llm.KindServer},
		{name: "dropped", faults: emulator.Faults{Drop: 1}, calls: 1, want: llm.KindConnection},
		{name: "error event after 200", faults: emulator.Faults{ErrorEvent: 1}, stream: true, calls: 1, want: llm.KindServer},
		{name: "cut stream", faults: emulator.Faults{Cut: 1}, stream: true, calls: 1, want: llm.KindConnection},
		{name: "rate limited", limits: emulator.Limits{RPM: 1}, calls: 2, want: llm.KindRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			em, err := emulator.New(emulator.Config{
				Seed:   1,
				Now:    func() time.Time { return now },
				Models: map[string]emulator.Model{"emu-gpt": {Provider: "openai", Faults: &tt.faults, Limits: &tt.limits}},
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(em)
			defer srv.Close()
			p, err := openai.New(openai.Config{BaseURL: srv.URL + "/v1", APIKey: "sk-emu-secret", HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			body := `{"model":"emu-gpt","messages":[{"role":"user","content":"Say something."}],"max_tokens":50`
			if tt.stream {
				body += `,"stream":true`
			}
			req, err := openai.ParseRequest([]byte(body + "}"))
			if err != nil {
				t.Fatal(err)
			}
			var (
				text  string
				usage llm.Usage
			)
			for range tt.calls {
				text, usage, err = run(p, llm.Call{Request: req, Model: "emu-gpt"})
			}
			if got := llm.KindOf(err); got != tt.want || (tt.want == llm.KindUnknown) != (err == nil) {
				t.Fatalf("call = %v (kind %v), want kind %v", err, got, tt.want)
			}
			if err != nil {
				if strings.Contains(err.Error(), "sk-emu-secret") {
					t.Errorf("error %q contains the key", err)
				}
				if tt.want == llm.KindRateLimited && err.(*llm.Error).RetryAfter <= 0 {
					t.Errorf("rate limited without RetryAfter: %+v", err)
				}
				return
			}
			if text == "" || usage.InputTokens == 0 || usage.OutputTokens == 0 || usage.OutputTokens > 50 {
				t.Errorf("answer %q with usage %+v, want text and metered usage within the cap", text, usage)
			}
		})
	}
}

// run performs one call and reads it whole.
func run(p *openai.Provider, call llm.Call) (string, llm.Usage, error) {
	resp, err := p.Do(context.Background(), call)
	if err != nil {
		return "", llm.Usage{}, err
	}
	if resp.Stream == nil {
		return resp.Text, resp.Usage, nil
	}
	defer resp.Stream.Close()
	var b strings.Builder
	for {
		c, err := resp.Stream.Recv()
		if err == io.EOF {
			return b.String(), resp.Stream.Usage(), nil
		}
		if err != nil {
			return b.String(), resp.Stream.Usage(), err
		}
		b.WriteString(c.Text)
	}
}
