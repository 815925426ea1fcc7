package anthropic_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
)

// TestEmulator runs the adapter against the emulator's Anthropic API: real answers, streams
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
		{name: "error event after 200", faults: emulator.Faults{ErrorEvent: 1}, stream: true, calls: 1, want: llm.KindOverloaded},
		{name: "cut stream", faults: emulator.Faults{Cut: 1}, stream: true, calls: 1, want: llm.KindConnection},
		{name: "rate limited", limits: emulator.Limits{RPM: 1}, calls: 2, want: llm.KindRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			em, err := emulator.New(emulator.Config{
				Seed:   1,
				Now:    func() time.Time { return now },
				Models: map[string]emulator.Model{"claude-emu": {Provider: "anthropic", Faults: &tt.faults, Limits: &tt.limits}},
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(em)
			defer srv.Close()
			p, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "sk-emu-secret", HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			body := `{"model":"claude-emu","messages":[{"role":"user","content":"Say something."}],"max_tokens":50`
			if tt.stream {
				body += `,"stream":true`
			}
			req, err := anthropic.ParseRequest([]byte(body + "}"))
			if err != nil {
				t.Fatal(err)
			}
			var (
				text  string
				usage llm.Usage
			)
			for range tt.calls {
				text, usage, err = run(p, llm.Call{Request: req, Model: "claude-emu"})
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
func run(p *anthropic.Provider, call llm.Call) (string, llm.Usage, error) {
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

// TestRequestIDs sends tollgate's request id upstream and reads the upstream's own id of
// the call back, on answers, streams and errors: the emulator files its bill under the
// first and names it by the second.
func TestRequestIDs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stream bool
		faults emulator.Faults
	}{
		{name: "answer"},
		{name: "stream", stream: true},
		{name: "error", faults: emulator.Faults{Overloaded: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			em, err := emulator.New(emulator.Config{Seed: 1,
				Models: map[string]emulator.Model{"claude-emu": {Provider: "anthropic", Faults: &tt.faults}}})
			if err != nil {
				t.Fatal(err)
			}
			var sent string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sent = r.Header.Get("X-Client-Request-Id")
				em.ServeHTTP(w, r)
			}))
			defer srv.Close()
			p, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "sk-emu", HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			req, err := anthropic.ParseRequest([]byte(`{"model":"claude-emu","messages":[{"role":"user","content":"Hi."}],"max_tokens":20,"stream":` +
				strconv.FormatBool(tt.stream) + "}"))
			if err != nil {
				t.Fatal(err)
			}
			const id = "0190a8f2-7c3e-7a31-9b1e-4c2d8e5f6a7b"
			resp, err := p.Do(context.Background(), llm.Call{Request: req, Model: "claude-emu", RequestID: id})
			var upstream string
			switch {
			case err != nil:
				var le *llm.Error
				if !errors.As(err, &le) {
					t.Fatalf("Do = %v, want an *llm.Error", err)
				}
				upstream = le.UpstreamRequestID
			case resp.Stream != nil:
				resp.Stream.Close()
				upstream = resp.UpstreamRequestID
			default:
				upstream = resp.UpstreamRequestID
			}
			if sent != id {
				t.Errorf("X-Client-Request-Id sent = %q, want %q", sent, id)
			}
			if upstream == "" {
				t.Fatalf("UpstreamRequestID is empty, want the emulator's id of the call")
			}
			if tt.faults != (emulator.Faults{}) || tt.stream {
				// A refusal has no bill; a stream's is filed after its last byte went out,
				// which its reader cannot wait for.
				return
			}
			bills := em.BillsFor(id)
			if len(bills) != 1 || bills[0].RequestID != upstream {
				t.Errorf("bills for %s = %+v, want one named %q", id, bills, upstream)
			}
		})
	}
}
