package learn_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// BenchmarkObserve is the cost that learning adds to every answer: reading its rate-limit
// headers and moving the quotas' floors.
func BenchmarkObserve(b *testing.B) {
	for _, c := range []struct {
		name string
		up   learn.Upstream
		o    learn.Outcome
	}{
		{"openai headers", openaiUp, learn.Outcome{Header: hdr(
			"x-ratelimit-limit-requests", "500", "x-ratelimit-remaining-requests", "499", "x-ratelimit-reset-requests", "120ms",
			"x-ratelimit-limit-tokens", "200000", "x-ratelimit-remaining-tokens", "199750", "x-ratelimit-reset-tokens", "75ms",
			"content-type", "application/json", "x-request-id", "req_5f1c")}},
		{"anthropic headers", learn.Upstream{Provider: "anthropic", Account: "a", Format: llm.Anthropic}, learn.Outcome{Header: hdr(
			"anthropic-ratelimit-requests-limit", "50", "anthropic-ratelimit-requests-remaining", "49",
			"anthropic-ratelimit-requests-reset", "2026-11-27T14:00:01Z",
			"anthropic-ratelimit-input-tokens-limit", "30000", "anthropic-ratelimit-input-tokens-remaining", "29000",
			"anthropic-ratelimit-input-tokens-reset", "2026-11-27T14:00:02Z",
			"anthropic-ratelimit-output-tokens-limit", "8000", "anthropic-ratelimit-output-tokens-remaining", "8000",
			"anthropic-ratelimit-output-tokens-reset", "2026-11-27T14:00:00Z",
			"request-id", "req_011CEx")}},
		{"no headers", openaiUp, learn.Outcome{}},
	} {
		b.Run(c.name, func(b *testing.B) {
			set, err := learn.New(learn.Config{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			l := set.Learner(c.up, "m")
			o := c.o
			o.Sent, o.Reserved, o.Used = t0, quota.Amount{Requests: 1, InputTokens: 900, OutputTokens: 512}, quota.Amount{Requests: 1, InputTokens: 880, OutputTokens: 200}
			now := t0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Millisecond)
				l.Observe(now, o)
			}
		})
	}
}
