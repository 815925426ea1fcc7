package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

func TestClassify(t *testing.T) {
	day := quota.Quota{Name: "tenant-usd", Key: "k", Unit: quota.MicroUSD, Limit: 5_000_000, Window: quota.Daily(nil)}
	rpm := quota.Quota{Name: "key-rpm", Key: "r", Unit: quota.Requests, Limit: 60, Window: quota.PerMinute()}
	reset := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	budget := quota.NewRefusal(day, quota.ErrBudget, 4_990_000, 20_000, 6*time.Hour, reset)
	tooLarge := quota.NewRefusal(day, quota.ErrTooLarge, 0, 9_000_000, 0, time.Time{})
	rate := quota.NewRefusal(rpm, quota.ErrExceeded, 60, 1, 1500*time.Millisecond, time.Time{})
	tests := []struct {
		name       string
		err        error
		status     int // OpenAI callers'
		anStatus   int
		oaType     string
		anType     string
		final      bool
		retryAfter string
		retryMs    string
	}{
		{"budget", fmt.Errorf("engine: %w", budget), 429, 429, "insufficient_quota", "billing_error", true, "21600", "21600000"},
		{"slow body", &errSlowBody{limit: time.Minute}, 408, 408, "invalid_request_error", "invalid_request_error", false, "", ""},
		{"tollgate context window", &llm.Error{Kind: llm.KindContextLength, Provider: "tollgate", Message: "prompt of about 9000 tokens does not fit"}, 400, 400, "invalid_request_error", "invalid_request_error", false, "", ""},
		{"too large", tooLarge, 429, 429, "insufficient_quota", "billing_error", true, "", ""},
		{"rate", rate, 429, 429, "requests", "rate_limit_error", false, "2", "1500"},
		{"queue full", &queue.ShedError{Reason: "all", RetryAfter: 250 * time.Millisecond}, 429, 429, "requests", "rate_limit_error", false, "1", "250"},
		{"queue timeout", &queue.WaitError{Err: queue.ErrTimeout, Quota: rate, Waited: time.Second, RetryAfter: 3 * time.Second}, 429, 429, "requests", "rate_limit_error", false, "3", "3000"},
		{"queue closed", &queue.WaitError{Err: queue.ErrClosed}, 503, 529, "server_error", "overloaded_error", false, "1", "1000"},
		{"deadline", fmt.Errorf("queue: acquire: %w", context.DeadlineExceeded), 504, 504, "timeout", "timeout_error", false, "", ""},
		{"store unavailable", fmt.Errorf("reserve: %w", errors.Join(quota.ErrUnavailable, context.DeadlineExceeded)), 503, 529, "server_error", "overloaded_error", false, "1", "1000"},
		{"unknown route", fmt.Errorf("%w: %q", engine.ErrUnknownRoute, "x"), 404, 404, "invalid_request_error", "not_found_error", false, "", ""},
		{"no route", engine.ErrNoRoute, 503, 529, "server_error", "overloaded_error", false, "", ""},
		{"upstream 429", &llm.Error{Kind: llm.KindRateLimited, Provider: "openai", Status: 429, RetryAfter: 20 * time.Second}, 429, 429, "requests", "rate_limit_error", false, "20", "20000"},
		{"upstream quota", &llm.Error{Kind: llm.KindQuotaExhausted, Provider: "openai", Status: 429}, 429, 429, "insufficient_quota", "billing_error", true, "", ""},
		{"upstream overloaded", &llm.Error{Kind: llm.KindOverloaded, Provider: "anthropic", Status: 529}, 503, 529, "server_error", "overloaded_error", false, "", ""},
		{"upstream 500", &llm.Error{Kind: llm.KindServer, Provider: "openai", Status: 500}, 502, 502, "server_error", "api_error", false, "", ""},
		{"upstream cut", &llm.Error{Kind: llm.KindConnection, Provider: "openai"}, 502, 502, "server_error", "api_error", false, "", ""},
		{"upstream timeout", &llm.Error{Kind: llm.KindTimeout, Provider: "openai", Status: 408}, 504, 504, "timeout", "timeout_error", false, "", ""},
		{"upstream context", &llm.Error{Kind: llm.KindContextLength, Provider: "openai", Status: 400}, 400, 400, "invalid_request_error", "invalid_request_error", false, "", ""},
		{"upstream auth", &llm.Error{Kind: llm.KindAuth, Provider: "openai", Status: 401}, 502, 502, "server_error", "api_error", true, "", ""},
		{"store down", fmt.Errorf("redis: %w", io.ErrUnexpectedEOF), 503, 503, "server_error", "api_error", false, "1", "1000"},
		{"tollgate estimate", &llm.Error{Kind: llm.KindBadRequest, Provider: "tollgate", Message: "bad"}, 400, 400, "invalid_request_error", "invalid_request_error", false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := classify(tt.err)
			if e.status != tt.status || e.anStatus() != tt.anStatus || e.oaType != tt.oaType || e.anType != tt.anType || e.final != tt.final {
				t.Errorf("classify = status %d/%d types %s/%s final %v, want %d/%d %s/%s %v",
					e.status, e.anStatus(), e.oaType, e.anType, e.final, tt.status, tt.anStatus, tt.oaType, tt.anType, tt.final)
			}
			w := httptest.NewRecorder()
			writeError(w, llm.OpenAI, e, 0)
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if got := w.Header().Get("Retry-After-Ms"); got != tt.retryMs {
				t.Errorf("Retry-After-Ms = %q, want %q", got, tt.retryMs)
			}
			if got, want := w.Header().Get("X-Should-Retry"), map[bool]string{true: "false"}[tt.final]; got != want {
				t.Errorf("X-Should-Retry = %q, want %q", got, want)
			}
		})
	}
}
