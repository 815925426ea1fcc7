package anthropic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/llm"
)

const testKey = "sk-ant-api03-SECRET-0123456789"

// upstream serves one canned answer and records the request it got.
type upstream struct {
	status int
	header http.Header
	body   string
	got    *http.Request
	gotRaw []byte
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.got = r
	u.gotRaw, _ = io.ReadAll(r.Body)
	for k, v := range u.header {
		w.Header()[k] = v
	}
	w.WriteHeader(u.status)
	io.WriteString(w, u.body)
}

func newTestProvider(t *testing.T, h http.Handler) *Provider {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	p, err := New(Config{BaseURL: srv.URL, APIKey: testKey, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func userCall(stream bool) llm.Call {
	body := `{"model":"smart","max_tokens":1024,"messages":[{"role":"user","content":"hi"}]}`
	if stream {
		body = `{"model":"smart","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	}
	req, err := ParseRequest([]byte(body))
	if err != nil {
		panic(err)
	}
	return llm.Call{Request: req, Model: "claude-sonnet-4-5", MaxTokens: 100}
}

const message = `{
  "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
  "type": "message",
  "role": "assistant",
  "model": "claude-sonnet-4-5-20250929",
  "content": [{"type": "thinking", "thinking": "short", "signature": "x"}, {"type": "text", "text": "Hi! "}, {"type": "text", "text": "How can I help?"}],
  "stop_reason": "end_turn",
  "stop_sequence": null,
  "usage": {"input_tokens": 10, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 300, "output_tokens": 12, "service_tier": "standard"}
}`

func TestDo(t *testing.T) {
	up := &upstream{status: 200, body: message}
	p := newTestProvider(t, up)
	got, err := p.Do(context.Background(), userCall(false))
	if err != nil {
		t.Fatalf("Do() error %v", err)
	}
	want := &llm.Response{Format: llm.Anthropic, Model: "claude-sonnet-4-5-20250929", ID: "msg_013Zva2CMHLNnXjNJJKqJ2EF", Body: []byte(message),
		Text: "Hi! How can I help?", Reasoning: "short", StopReason: "end_turn", Usage: llm.Usage{InputTokens: 330, CachedInputTokens: 300, CacheWriteTokens: 20, OutputTokens: 12}}
	if got.Created.IsZero() {
		t.Errorf("Do().Created is zero, want the time the answer arrived")
	}
	got.Created = time.Time{}
	if got.Header.Get("Content-Type") == "" {
		t.Errorf("Do().Header = %v, want the upstream's response header", got.Header)
	}
	got.Header = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Do() mismatch (-want +got):\n%s", diff)
	}
	h := up.got.Header
	if up.got.URL.Path != "/v1/messages" || h.Get("X-Api-Key") != testKey || h.Get("Anthropic-Version") != "2023-06-01" {
		t.Errorf("request went to %s with headers %v", up.got.URL.Path, h)
	}
	if b := h.Get("Anthropic-Beta"); b != "" {
		t.Errorf("anthropic-beta = %q without WithBeta", b)
	}
	wantBody := `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	if string(up.gotRaw) != wantBody {
		t.Errorf("upstream body = %s, want %s", up.gotRaw, wantBody)
	}
}

func TestDoErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		kind       llm.Kind
		code       string
		retryAfter time.Duration
	}{
		{"overloaded", 529, nil,
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`,
			llm.KindOverloaded, "overloaded_error", 0},
		{"rate limited", 429, http.Header{"Retry-After": {"13"}},
			`{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization (abc) of 50 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."},"request_id":"req_01"}`,
			llm.KindRateLimited, "rate_limit_error", 13 * time.Second},
		{"prompt too long", 400, nil,
			`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"},"request_id":"req_02"}`,
			llm.KindContextLength, "invalid_request_error", 0},
		{"input and max_tokens exceed context", 400, nil,
			`{"type":"error","error":{"type":"invalid_request_error","message":"input length and ` + "`max_tokens`" + ` exceed context limit: 188240 + 21333 > 200000, decrease input length or ` + "`max_tokens`" + ` and try again"}}`,
			llm.KindContextLength, "invalid_request_error", 0},
		{"credit balance", 400, nil,
			`{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}`,
			llm.KindQuotaExhausted, "invalid_request_error", 0},
		{"usage limit", 400, nil,
			`{"type":"error","error":{"type":"invalid_request_error","message":"You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC."}}`,
			llm.KindQuotaExhausted, "invalid_request_error", 0},
		{"usage limit as 429", 429, nil,
			`{"type":"error","error":{"type":"rate_limit_error","message":"You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC."}}`,
			llm.KindQuotaExhausted, "rate_limit_error", 0},
		{"billing error", 402, nil, `{"type":"error","error":{"type":"billing_error","message":"Payment required."}}`,
			llm.KindQuotaExhausted, "billing_error", 0},
		{"spend limit permission", 403, nil, `{"type":"error","error":{"type":"permission_error","message":"Your workspace has reached its monthly spend limit."}}`,
			llm.KindQuotaExhausted, "permission_error", 0},
		{"bad request", 400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate between \"user\" and \"assistant\""}}`,
			llm.KindBadRequest, "invalid_request_error", 0},
		{"bad key", 401, nil, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`,
			llm.KindAuth, "authentication_error", 0},
		{"permission", 403, nil, `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}`,
			llm.KindAuth, "permission_error", 0},
		{"not found", 404, nil, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}`,
			llm.KindBadRequest, "not_found_error", 0},
		{"too large", 413, nil, `{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}`,
			llm.KindTooLarge, "request_too_large", 0},
		{"api error", 500, nil, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`,
			llm.KindServer, "api_error", 0},
		{"timeout", 504, nil, `{"type":"error","error":{"type":"timeout_error","message":"Request timeout"}}`,
			llm.KindTimeout, "timeout_error", 0},
		{"proxy html", 502, nil, `<html>bad gateway</html>`, llm.KindServer, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProvider(t, &upstream{status: tt.status, header: tt.header, body: tt.body})
			for _, stream := range []bool{false, true} {
				_, err := p.Do(context.Background(), userCall(stream))
				var le *llm.Error
				if !errors.As(err, &le) {
					t.Fatalf("Do() error = %v, want *llm.Error", err)
				}
				if le.Kind != tt.kind || le.Code != tt.code || le.Status != tt.status || le.RetryAfter != tt.retryAfter {
					t.Errorf("Do(stream=%v) = {%v %q %d %v}, want {%v %q %d %v}", stream,
						le.Kind, le.Code, le.Status, le.RetryAfter, tt.kind, tt.code, tt.status, tt.retryAfter)
				}
				if le.Message == "" || le.Provider != "anthropic" {
					t.Errorf("Do() error = %+v, want a message and the provider", le)
				}
				if strings.Contains(err.Error(), testKey) {
					t.Errorf("error text %q contains the API key", err)
				}
			}
		})
	}
}

func TestNoKeyLeak(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key: `+r.Header.Get("X-Api-Key")+`"}}`)
	})
	p := newTestProvider(t, echo)
	_, err := p.Do(context.Background(), userCall(false))
	if err == nil || strings.Contains(err.Error(), testKey) {
		t.Errorf("Do() error = %v, want an error without the key", err)
	}
}

func TestDoTransport(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	p, err := New(Config{BaseURL: url, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Do(context.Background(), userCall(true)); llm.KindOf(err) != llm.KindConnection {
		t.Errorf("Do(refused) kind = %v (%v), want connection", llm.KindOf(err), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Do(ctx, userCall(false)); !errors.Is(err, context.Canceled) || llm.KindOf(err) != llm.KindUnknown {
		t.Errorf("Do(canceled) = %v, want context.Canceled passed through", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{BaseURL: "localhost:8080"}); err == nil || !strings.Contains(err.Error(), "BaseURL") {
		t.Errorf("New(bad BaseURL) error = %v, want one naming BaseURL", err)
	}
	p, err := New(Config{Name: "anthropic-eu"})
	if err != nil || p.Name() != "anthropic-eu" || p.endpoint != DefaultBaseURL+"/v1/messages" {
		t.Errorf("New() = %+v, %v", p, err)
	}
}

func TestDoBeta(t *testing.T) {
	up := &upstream{status: 200, body: message}
	p := newTestProvider(t, up)
	ctx := WithBeta(context.Background(), "interleaved-thinking-2025-05-14")
	if _, err := p.Do(ctx, userCall(false)); err != nil {
		t.Fatal(err)
	}
	if got := up.got.Header.Get("Anthropic-Beta"); got != "interleaved-thinking-2025-05-14" {
		t.Errorf("anthropic-beta = %q, want the caller's", got)
	}
	translated := llm.Call{Model: "claude-sonnet-4-5", Request: &llm.Request{Format: llm.OpenAI, Model: "g",
		Messages: []llm.Message{{Role: "user", Content: "hi"}}}}
	if _, err := p.Do(ctx, translated); err != nil {
		t.Fatal(err)
	}
	if got := up.got.Header.Get("Anthropic-Beta"); got != "" {
		t.Errorf("anthropic-beta = %q on a translated request, want none", got)
	}
}
