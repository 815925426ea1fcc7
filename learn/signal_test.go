package learn

import (
	"net/http"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestReadMeters(t *testing.T) {
	t.Parallel()
	type m = meter
	tests := []struct {
		name string
		h    http.Header
		want [numDims]meter
		any  bool
	}{
		{"none", header("content-type", "application/json"), [numDims]meter{}, false},
		{"openai", header(
			"x-ratelimit-limit-requests", "500", "x-ratelimit-remaining-requests", "499", "x-ratelimit-reset-requests", "120ms",
			"x-ratelimit-limit-tokens", "200000", "x-ratelimit-remaining-tokens", "199750", "x-ratelimit-reset-tokens", "75ms"),
			[numDims]meter{
				Requests: m{limit: 500, remaining: 499, reset: 120 * time.Millisecond, hasLimit: true, hasRem: true, hasReset: true},
				Tokens:   m{limit: 200000, remaining: 199750, reset: 75 * time.Millisecond, hasLimit: true, hasRem: true, hasReset: true},
			}, true},
		{"anthropic split: tokens-* is a summary", header(
			"anthropic-ratelimit-requests-limit", "50", "anthropic-ratelimit-requests-remaining", "49",
			"anthropic-ratelimit-requests-reset", "2026-11-27T14:00:01Z",
			"anthropic-ratelimit-input-tokens-limit", "30000", "anthropic-ratelimit-input-tokens-remaining", "29000",
			"anthropic-ratelimit-input-tokens-reset", "2026-11-27T14:00:02Z",
			"anthropic-ratelimit-output-tokens-limit", "8000", "anthropic-ratelimit-output-tokens-remaining", "8000",
			"anthropic-ratelimit-output-tokens-reset", "2026-11-27T14:00:00Z",
			"anthropic-ratelimit-tokens-limit", "38000", "anthropic-ratelimit-tokens-remaining", "37000",
			"anthropic-ratelimit-tokens-reset", "2026-11-27T14:00:02Z"),
			[numDims]meter{
				Requests:     m{limit: 50, remaining: 49, reset: time.Second, hasLimit: true, hasRem: true, hasReset: true},
				InputTokens:  m{limit: 30000, remaining: 29000, reset: 2 * time.Second, hasLimit: true, hasRem: true, hasReset: true},
				OutputTokens: m{limit: 8000, remaining: 8000, hasLimit: true, hasRem: true, hasReset: true},
			}, true},
		{"anthropic unsplit: tokens-* is the limit", header(
			"anthropic-ratelimit-requests-limit", "50", "anthropic-ratelimit-requests-remaining", "0",
			"anthropic-ratelimit-tokens-limit", "40000", "anthropic-ratelimit-tokens-remaining", "12000",
			"retry-after", "3"),
			[numDims]meter{
				Requests: m{limit: 50, remaining: 0, hasLimit: true, hasRem: true},
				Tokens:   m{limit: 40000, remaining: 12000, hasLimit: true, hasRem: true},
			}, true},
		{"garbage skipped", header(
			"x-ratelimit-limit-requests", "-1", "x-ratelimit-remaining-requests", "many",
			"x-ratelimit-limit-tokens", "0", "x-ratelimit-remaining-tokens", " 12 ", "x-ratelimit-reset-tokens", "soon"),
			[numDims]meter{Tokens: m{remaining: 12, hasRem: true}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, any := readMeters(tt.h, t0)
			if got != tt.want || any != tt.any {
				t.Errorf("readMeters = %+v, %v\nwant %+v, %v", got, any, tt.want, tt.any)
			}
		})
	}
}

func TestReadMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  string
		want stated
	}{
		{"openai tpm", "Rate limit reached for gpt-4o in organization org-Qx7 on tokens per min (TPM): Limit 30000, Used 29950, Requested 780. Please try again in 1.46s. Visit https://platform.openai.com/account/rate-limits to learn more.",
			stated{dim: Tokens, hasDim: true, limit: 30000}},
		{"openai rpm", "Rate limit reached for gpt-4o-mini in organization org-Qx7 on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms. Visit https://platform.openai.com/account/rate-limits to learn more.",
			stated{dim: Requests, hasDim: true, limit: 500}},
		{"openai rpd", "Rate limit reached for gpt-4o-mini in organization org-Qx7 on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s. Visit https://platform.openai.com/account/rate-limits to learn more.",
			stated{dim: Requests, hasDim: true, perDay: true, limit: 200}},
		{"openai tpd", "Rate limit reached for gpt-4o in organization org-Qx7 on tokens per day (TPD): Limit 90000, Used 89500, Requested 900. Please try again in 12m0s.",
			stated{dim: Tokens, hasDim: true, perDay: true, limit: 90000}},
		{"openai older", "Rate limit reached for default-gpt-3.5-turbo in organization org-Qx7 on requests per min. Limit: 3 / min. Please try again in 20s. Contact us through our help center at help.openai.com if you continue to have issues.",
			stated{dim: Requests, hasDim: true, limit: 3}},
		{"groq", "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_01jq` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Used 5210, Requested 1163. Please try again in 3.73s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing",
			stated{dim: Tokens, hasDim: true, limit: 6000}},
		{"anthropic input", "This request would exceed the rate limit for your organization (5a1c9e0f-2b7d-4c3e-9f81-0d6a2b4c8e17) of 50,000 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
			stated{dim: InputTokens, hasDim: true, limit: 50000}},
		{"anthropic output", "This request would exceed the rate limit for your organization (5a1c9e0f-2b7d-4c3e-9f81-0d6a2b4c8e17) of 8,000 output tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
			stated{dim: OutputTokens, hasDim: true, limit: 8000}},
		{"anthropic requests", "This request would exceed the rate limit for your organization (5a1c9e0f-2b7d-4c3e-9f81-0d6a2b4c8e17) of 1,000 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
			stated{dim: Requests, hasDim: true, limit: 1000}},
		{"anthropic older tokens", "Number of request tokens has exceeded your per-minute rate limit (https://docs.claude.com/en/api/rate-limits); see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
			stated{dim: InputTokens, hasDim: true}},
		{"anthropic older requests", "Number of requests has exceeded your per-minute rate limit",
			stated{dim: Requests, hasDim: true}},
		{"anthropic concurrency", "Number of concurrent connections has exceeded your rate limit. Please try again later or contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.",
			stated{}},
		{"azure tokens", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 10 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
			stated{dim: Tokens, hasDim: true}},
		{"azure requests", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 60 seconds.",
			stated{dim: Requests, hasDim: true}},
		{"bare", "Too Many Requests", stated{}},
		{"empty", "", stated{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readMessage(tt.msg); got != tt.want {
				t.Errorf("readMessage = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzReadMessage(f *testing.F) {
	f.Add("Rate limit reached for gpt-4o in organization org-Qx7 on tokens per min (TPM): Limit 30000, Used 29950, Requested 780.")
	f.Add("This request would exceed the rate limit for your organization (x) of 50,000 input tokens per minute.")
	f.Add("limit: 99999999999999999999999 of 1,2,3, tokens")
	f.Fuzz(func(t *testing.T, msg string) {
		s := readMessage(msg)
		if s.limit < 0 || s.dim >= numDims {
			t.Errorf("readMessage(%q) = %+v", msg, s)
		}
	})
}

func FuzzReadMeters(f *testing.F) {
	f.Add("500", "499", "1m30.5s", "2026-11-27T14:00:01Z")
	f.Fuzz(func(t *testing.T, limit, remaining, reset, anthropicReset string) {
		h := header("x-ratelimit-limit-tokens", limit, "x-ratelimit-remaining-tokens", remaining,
			"x-ratelimit-reset-tokens", reset, "anthropic-ratelimit-requests-reset", anthropicReset)
		ms, _ := readMeters(h, t0)
		for d, m := range ms {
			if m.limit < 0 || m.remaining < 0 || m.reset < 0 || (m.hasLimit && m.limit == 0) {
				t.Errorf("dim %d: %+v", d, m)
			}
		}
	})
}
