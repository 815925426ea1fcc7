package openai

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

const testKey = "sk-test-SECRET-0123456789"

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
	p, err := New(Config{BaseURL: srv.URL + "/v1", APIKey: testKey, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func userCall(stream bool) llm.Call {
	body := `{"model":"fast","messages":[{"role":"user","content":"hi"}],"user":"u1"}`
	if stream {
		body = `{"model":"fast","messages":[{"role":"user","content":"hi"}],"stream":true}`
	}
	req, err := ParseRequest([]byte(body))
	if err != nil {
		panic(err)
	}
	return llm.Call{Request: req, Model: "gpt-4o-mini", MaxTokens: 100}
}

const completion = `{
  "id": "chatcmpl-abc123",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there.", "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "stop"}],
  "usage": {"prompt_tokens": 19, "completion_tokens": 3, "total_tokens": 22,
    "prompt_tokens_details": {"cached_tokens": 8, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
  "service_tier": "default"
}`

func TestDo(t *testing.T) {
	up := &upstream{status: 200, body: completion}
	p := newTestProvider(t, up)
	got, err := p.Do(context.Background(), userCall(false))
	if err != nil {
		t.Fatalf("Do() error %v", err)
	}
	want := &llm.Response{Format: llm.OpenAI, Model: "gpt-4o-mini-2024-07-18", ID: "chatcmpl-abc123",
		Created: time.Unix(1741569952, 0).UTC(), Body: []byte(completion), Text: "Hello there.", StopReason: "stop", Usage: llm.Usage{InputTokens: 19, CachedInputTokens: 8, OutputTokens: 3}}
	if got.Header.Get("Content-Type") == "" {
		t.Errorf("Do().Header = %v, want the upstream's response header", got.Header)
	}
	got.Header = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Do() mismatch (-want +got):\n%s", diff)
	}
	if up.got.URL.Path != "/v1/chat/completions" || up.got.Header.Get("Authorization") != "Bearer "+testKey {
		t.Errorf("request went to %s with Authorization %q", up.got.URL.Path, up.got.Header.Get("Authorization"))
	}
	wantBody := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"user":"u1","max_completion_tokens":100}`
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
		{"insufficient quota", 429, nil,
			`{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			llm.KindQuotaExhausted, "insufficient_quota", 0},
		{"request too large", 429, nil,
			`{"error":{"message":"Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 45120. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			llm.KindTooLarge, "rate_limit_exceeded", 0},
		{"rate limited with retry-after", 429, http.Header{"Retry-After": {"7"}},
			`{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			llm.KindRateLimited, "rate_limit_exceeded", 7 * time.Second},
		{"rate limited retry-after-ms", 429, http.Header{"Retry-After-Ms": {"120"}},
			`{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			llm.KindRateLimited, "rate_limit_exceeded", 120 * time.Millisecond},
		{"context length", 400, nil,
			`{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130532 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			llm.KindContextLength, "context_length_exceeded", 0},
		{"bad request", 400, nil,
			`{"error":{"message":"Unrecognized request argument supplied: foo","type":"invalid_request_error","param":null,"code":null}}`,
			llm.KindBadRequest, "invalid_request_error", 0},
		{"model not found", 404, nil,
			`{"error":{"message":"The model 'gpt-9' does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
			llm.KindBadRequest, "model_not_found", 0},
		{"unprocessable", 422, nil, `{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}}`,
			llm.KindBadRequest, "invalid_request_error", 0},
		{"bad key", 401, nil,
			`{"error":{"message":"Incorrect API key provided: sk-test-****6789. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			llm.KindAuth, "invalid_api_key", 0},
		{"region", 403, nil, `{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","param":null,"code":"unsupported_country_region_territory"}}`,
			llm.KindAuth, "unsupported_country_region_territory", 0},
		{"timeout", 408, nil, `{"error":{"message":"Request timed out.","type":"timeout","param":null,"code":null}}`, llm.KindTimeout, "timeout", 0},
		{"server error", 500, nil,
			`{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`,
			llm.KindServer, "server_error", 0},
		{"bad gateway html", 502, nil, `<html><body>502 Bad Gateway</body></html>`, llm.KindServer, "", 0},
		{"gateway timeout", 504, nil, ``, llm.KindServer, "", 0},
		{"vllm context length", 400, nil,
			`{"object":"error","message":"This model's maximum context length is 32768 tokens. However, you requested 33077 tokens (29077 in the messages, 4000 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}`,
			llm.KindContextLength, "BadRequestError", 0},
		{"llama.cpp context size", 400, nil,
			`{"error":{"code":400,"message":"request (9120 tokens) exceeds the available context size (8192 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9120,"n_ctx":8192}}`,
			llm.KindContextLength, "exceed_context_size_error", 0},
		{"copilot prompt tokens", 400, nil, `{"error":{"message":"prompt token count of 140211 exceeds the limit of 128000","code":"model_max_prompt_tokens_exceeded"}}`,
			llm.KindContextLength, "model_max_prompt_tokens_exceeded", 0},
		{"500 with healthy rate-limit headers backs off", 500,
			http.Header{"X-Ratelimit-Remaining-Tokens": {"29975510"}, "X-Ratelimit-Reset-Tokens": {"24.042s"}},
			`{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`,
			llm.KindServer, "server_error", 0},
		{"overloaded", 503, http.Header{"Retry-After": {"2"}},
			`{"error":{"message":"The engine is currently overloaded, please try again later.","type":"server_error","param":null,"code":null}}`,
			llm.KindOverloaded, "server_error", 2 * time.Second},
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
				if le.Message == "" {
					t.Errorf("Do() error has no message")
				}
				if strings.Contains(err.Error(), testKey) {
					t.Errorf("error text %q contains the API key", err)
				}
			}
		})
	}
}

// TestNoKeyLeak makes the upstream echo the credential it received, in the error body and
// in a redirect to a URL, and checks that no error text carries it.
func TestNoKeyLeak(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided: `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+`","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
	})
	p := newTestProvider(t, echo)
	_, err := p.Do(context.Background(), userCall(false))
	if err == nil || strings.Contains(err.Error(), testKey) {
		t.Errorf("Do() error = %v, want an error without the key", err)
	}
	var le *llm.Error
	if errors.As(err, &le) && strings.Contains(le.Message, testKey) {
		t.Errorf("Message %q contains the key", le.Message)
	}
}

// TestNoKeyInCodeOrType makes the upstream echo the key in every field of its error,
// code and type included, and checks that nothing of it leaves the provider.
func TestNoKeyInCodeOrType(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.WriteHeader(403)
		io.WriteString(w, `{"error":{"message":"key `+key+` is blocked","type":"`+key+`","param":"`+key+`","code":"`+key+`"}}`)
	})
	p := newTestProvider(t, echo)
	for _, stream := range []bool{false, true} {
		_, err := p.Do(context.Background(), userCall(stream))
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != llm.KindAuth {
			t.Fatalf("Do() error = %v, want KindAuth", err)
		}
		if strings.Contains(le.Code, testKey) || strings.Contains(le.Message, testKey) || strings.Contains(err.Error(), testKey) {
			t.Errorf("Do() error = %+v, carries the key", le)
		}
		if le.Code != "[redacted]" {
			t.Errorf("Code = %q, want the redacted code", le.Code)
		}
	}
}

// TestDoErrorIn200 covers servers (LM Studio, some proxies) that answer 200 with an error
// object instead of a completion.
func TestDoErrorIn200(t *testing.T) {
	p := newTestProvider(t, &upstream{status: 200, body: `{"error":"The number of tokens to keep from the initial prompt is greater than the context length. Try to load the model with a larger context length, or provide a shorter input"}`})
	_, err := p.Do(context.Background(), userCall(false))
	if k := llm.KindOf(err); k != llm.KindContextLength {
		t.Errorf("Do() = %v (kind %v), want KindContextLength", err, k)
	}
}

// TestDoReasoningUsage checks a reasoning model's usage: completion_tokens includes the
// reasoning tokens, which are reported beside it.
func TestDoReasoningUsage(t *testing.T) {
	body := `{"id":"chatcmpl-R1","object":"chat.completion","created":1761000004,"model":"o4-mini-2025-04-16","choices":[{"index":0,"message":{"role":"assistant","content":"42","refusal":null,"annotations":[]},"finish_reason":"stop"},{"index":1,"message":{"role":"assistant","content":"forty-two","refusal":null,"annotations":[]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1500,"completion_tokens":900,"total_tokens":2400,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":832,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default"}`
	p := newTestProvider(t, &upstream{status: 200, body: body})
	got, err := p.Do(context.Background(), userCall(false))
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Usage{InputTokens: 1500, CachedInputTokens: 1024, OutputTokens: 900, ReasoningTokens: 832}
	if got.Usage != want || got.Text != "42" {
		t.Errorf("Do() = %q, %+v; want 42, %+v", got.Text, got.Usage, want)
	}
}

func TestDoTransport(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more: connection refused
	p, err := New(Config{BaseURL: url, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Do(context.Background(), userCall(false))
	if llm.KindOf(err) != llm.KindConnection {
		t.Errorf("Do(refused) kind = %v (%v), want connection", llm.KindOf(err), err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Do(ctx, userCall(false))
	if !errors.Is(err, context.Canceled) || llm.KindOf(err) != llm.KindUnknown {
		t.Errorf("Do(canceled) = %v, want context.Canceled passed through", err)
	}

	dctx, dcancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer dcancel()
	_, err = p.Do(dctx, userCall(false))
	if llm.KindOf(err) != llm.KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do(past deadline) = %v, want KindTimeout wrapping DeadlineExceeded", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, u := range []string{"ftp://x", "not a url", "http://"} {
		if _, err := New(Config{BaseURL: u}); err == nil || !strings.Contains(err.Error(), "BaseURL") {
			t.Errorf("New(BaseURL %q) error = %v, want one naming BaseURL", u, err)
		}
	}
	p, err := New(Config{})
	if err != nil || p.Name() != "openai" || p.endpoint != DefaultBaseURL+"/chat/completions" {
		t.Errorf("New(zero) = %+v, %v", p, err)
	}
}
