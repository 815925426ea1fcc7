package demo

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/tollgate/tollgate/queue"
)

// TestSDKError checks how an agent reads the gateway's refusals from the SDK's error:
// status, error type and code, as the gateway's package documentation lists them.
func TestSDKError(t *testing.T) {
	tollgateSource := &http.Response{Header: http.Header{"X-Tollgate-Error-Source": {"tollgate"}}}
	tests := []struct {
		name       string
		err        error
		wantClass  errClass
		wantReason string
	}{
		{"budget exhausted", &openai.Error{StatusCode: 429, Type: "insufficient_quota", Code: "insufficient_quota",
			Message: "tollgate: budget exhausted: session-usd", Response: tollgateSource}, classBudget, "HTTP 429 insufficient_quota"},
		{"budget as 402", &openai.Error{StatusCode: 402, Type: "insufficient_quota", Code: "insufficient_quota", Response: tollgateSource},
			classBudget, "HTTP 402 insufficient_quota"},
		{"an upstream's spent quota is not tollgate's budget", &openai.Error{StatusCode: 429, Type: "insufficient_quota",
			Code: "insufficient_quota", Response: &http.Response{Header: http.Header{"X-Tollgate-Error-Source": {"upstream"}}}},
			classOther, "HTTP 429 insufficient_quota"},
		{"body too large is not a budget", &openai.Error{StatusCode: 413, Type: "invalid_request_error", Code: "request_too_large"},
			classOther, "HTTP 413 request_too_large"},
		{"queue timeout", &openai.Error{StatusCode: 429, Type: "requests", Code: "rate_limit_exceeded",
			Message: "tollgate: queue: waited 10s"}, classShed, "HTTP 429 rate_limit_exceeded"},
		{"upstream 429 passed on", &openai.Error{StatusCode: 429, Type: "requests", Code: "rate_limit_exceeded",
			Message:  "upstream openai 429 rate_limited",
			Response: &http.Response{Header: http.Header{"X-Tollgate-Error-Source": {"upstream"}}}}, classUpstream429, "HTTP 429 rate_limit_exceeded"},
		{"overloaded", &openai.Error{StatusCode: 503, Type: "server_error", Code: "overloaded"}, classOther, "HTTP 503 overloaded"},
		{"no code", &openai.Error{StatusCode: 502, Type: "server_error"}, classOther, "HTTP 502 server_error"},
		{"no response", errors.New(`Post "http://127.0.0.1:1/v1/chat/completions": connection refused`), classOther, "no response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class, reason, _ := classOf(sdkError(tt.err))
			if class != tt.wantClass || reason != tt.wantReason {
				t.Errorf("classOf(sdkError(%v)) = %v, %q; want %v, %q", tt.err, class, reason, tt.wantClass, tt.wantReason)
			}
		})
	}
}

// TestEngineError checks the in-process path's classes, from the engine's own errors (a
// budget refusal is certain in TestRun/direct).
func TestEngineError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want errClass
	}{
		{"queue timeout", queue.ErrTimeout, classShed},
		{"queue full", queue.ErrFull, classShed},
		{"cancelled", context.Canceled, classOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := engineError(tt.err).class; got != tt.want {
				t.Errorf("engineError(%v).class = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
