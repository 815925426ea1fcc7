package retry

import (
	"net/http"
	"net/textproto"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestServerDelay(t *testing.T) {
	t.Parallel()
	httpDate := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	tests := []struct {
		name   string
		h      http.Header
		want   time.Duration
		wantOK bool
	}{
		{"none", hdr(), 0, false},
		{"unrelated headers", hdr("Content-Type", "application/json", "X-Request-Id", "7"), 0, false},

		// Retry-After, delta-seconds.
		{"seconds", hdr("Retry-After", "3"), 3 * time.Second, true},
		{"seconds zero", hdr("Retry-After", "0"), 0, true},
		{"seconds padded", hdr("Retry-After", " 12 "), 12 * time.Second, true},
		{"seconds fraction", hdr("Retry-After", "1.5"), 1500 * time.Millisecond, true},
		{"seconds negative", hdr("Retry-After", "-3"), 0, false},
		{"seconds garbage", hdr("Retry-After", "soon"), 0, false},
		{"seconds exponent", hdr("Retry-After", "1e3"), 0, false},
		{"seconds inf", hdr("Retry-After", "Inf"), 0, false},
		{"seconds overflow", hdr("Retry-After", "99999999999999999999"), 0, false},

		// Retry-After, HTTP-date.
		{"date future", hdr("Retry-After", httpDate(t0.Add(90*time.Second))), 90 * time.Second, true},
		{"date past", hdr("Retry-After", httpDate(t0.Add(-time.Hour))), 0, true},
		{"date now", hdr("Retry-After", httpDate(t0)), 0, true},
		{"date RFC 850", hdr("Retry-After", "Friday, 27-Nov-26 14:00:05 GMT"), 5 * time.Second, true},
		{"date ANSI C", hdr("Retry-After", "Fri Nov 27 14:00:07 2026"), 7 * time.Second, true},
		{"date garbage", hdr("Retry-After", "Fri, 32 Nov 2026 99:00:00 GMT"), 0, false},

		// retry-after-ms.
		{"ms", hdr("Retry-After-Ms", "250"), 250 * time.Millisecond, true},
		{"ms fractional", hdr("Retry-After-Ms", "20.5"), 20500 * time.Microsecond, true},
		{"ms leading dot", hdr("Retry-After-Ms", ".5"), 500 * time.Microsecond, true},
		{"ms trailing dot", hdr("Retry-After-Ms", "7."), 7 * time.Millisecond, true},
		{"ms zero", hdr("Retry-After-Ms", "0"), 0, true},
		{"ms negative", hdr("Retry-After-Ms", "-250"), 0, false},
		{"ms garbage", hdr("Retry-After-Ms", "abc"), 0, false},
		{"ms two dots", hdr("Retry-After-Ms", "1.2.3"), 0, false},
		{"ms lone dot", hdr("Retry-After-Ms", "."), 0, false},
		{"ms nan", hdr("Retry-After-Ms", "NaN"), 0, false},

		// OpenAI reset durations.
		{"openai 1s", hdr("X-Ratelimit-Reset-Requests", "1s"), time.Second, true},
		{"openai 6m0s", hdr("X-Ratelimit-Reset-Tokens", "6m0s"), 6 * time.Minute, true},
		{"openai 20ms", hdr("X-Ratelimit-Reset-Requests", "20ms"), 20 * time.Millisecond, true},
		{"openai 1m30.5s", hdr("X-Ratelimit-Reset-Tokens", "1m30.5s"), 90500 * time.Millisecond, true},
		{"openai 0.5s", hdr("X-Ratelimit-Reset-Requests", "0.5s"), 500 * time.Millisecond, true},
		{"openai 2h1m", hdr("X-Ratelimit-Reset-Tokens", "2h1m"), 2*time.Hour + time.Minute, true},
		{"openai negative", hdr("X-Ratelimit-Reset-Tokens", "-1s"), 0, false},
		{"openai garbage", hdr("X-Ratelimit-Reset-Tokens", "6 minutes"), 0, false},
		{"openai bare number", hdr("X-Ratelimit-Reset-Tokens", "6"), 0, false},
		{"openai largest of two", hdr(
			"X-Ratelimit-Reset-Requests", "1s",
			"X-Ratelimit-Reset-Tokens", "6m0s"), 6 * time.Minute, true},
		{"openai exhausted requests", hdr(
			"X-Ratelimit-Reset-Requests", "1s", "X-Ratelimit-Remaining-Requests", "0",
			"X-Ratelimit-Reset-Tokens", "6m0s", "X-Ratelimit-Remaining-Tokens", "149000"),
			time.Second, true},
		{"openai exhausted tokens", hdr(
			"X-Ratelimit-Reset-Requests", "1s", "X-Ratelimit-Remaining-Requests", "499",
			"X-Ratelimit-Reset-Tokens", "20ms", "X-Ratelimit-Remaining-Tokens", "0"),
			20 * time.Millisecond, true},
		{"openai both exhausted", hdr(
			"X-Ratelimit-Reset-Requests", "1s", "X-Ratelimit-Remaining-Requests", "0",
			"X-Ratelimit-Reset-Tokens", "20ms", "X-Ratelimit-Remaining-Tokens", "0"),
			time.Second, true},
		{"openai exhausted one garbage", hdr(
			"X-Ratelimit-Reset-Requests", "soon", "X-Ratelimit-Remaining-Requests", "0",
			"X-Ratelimit-Reset-Tokens", "20ms", "X-Ratelimit-Remaining-Tokens", "12"),
			20 * time.Millisecond, true},
		{"openai remaining garbage", hdr(
			"X-Ratelimit-Reset-Requests", "1s", "X-Ratelimit-Remaining-Requests", "none",
			"X-Ratelimit-Reset-Tokens", "2s"),
			2 * time.Second, true},

		// Anthropic reset timestamps.
		{"anthropic requests", hdr("Anthropic-Ratelimit-Requests-Reset", "2026-11-27T14:00:30Z"), 30 * time.Second, true},
		{"anthropic offset", hdr("Anthropic-Ratelimit-Tokens-Reset", "2026-11-27T15:00:45+01:00"), 45 * time.Second, true},
		{"anthropic fractional", hdr("Anthropic-Ratelimit-Input-Tokens-Reset", "2026-11-27T14:00:01.25Z"), 1250 * time.Millisecond, true},
		{"anthropic past", hdr("Anthropic-Ratelimit-Output-Tokens-Reset", "2026-11-27T13:59:00Z"), 0, true},
		{"anthropic garbage", hdr("Anthropic-Ratelimit-Requests-Reset", "tomorrow"), 0, false},
		{"anthropic duration is not its format", hdr("Anthropic-Ratelimit-Requests-Reset", "30s"), 0, false},
		{"anthropic exhausted output", hdr(
			"Anthropic-Ratelimit-Requests-Reset", "2026-11-27T14:01:00Z", "Anthropic-Ratelimit-Requests-Remaining", "40",
			"Anthropic-Ratelimit-Input-Tokens-Reset", "2026-11-27T14:00:50Z", "Anthropic-Ratelimit-Input-Tokens-Remaining", "1000",
			"Anthropic-Ratelimit-Output-Tokens-Reset", "2026-11-27T14:00:05Z", "Anthropic-Ratelimit-Output-Tokens-Remaining", "0"),
			5 * time.Second, true},
		{"anthropic none exhausted takes largest", hdr(
			"Anthropic-Ratelimit-Requests-Reset", "2026-11-27T14:01:00Z", "Anthropic-Ratelimit-Requests-Remaining", "40",
			"Anthropic-Ratelimit-Tokens-Reset", "2026-11-27T14:00:05Z", "Anthropic-Ratelimit-Tokens-Remaining", "10"),
			time.Minute, true},

		// Several at once: the retry-after family wins, the more precise first.
		{"ms beats seconds", hdr("Retry-After-Ms", "1500", "Retry-After", "2"), 1500 * time.Millisecond, true},
		{"ms zero beats seconds", hdr("Retry-After-Ms", "0", "Retry-After", "2"), 0, true},
		{"garbage ms falls to seconds", hdr("Retry-After-Ms", "x", "Retry-After", "2"), 2 * time.Second, true},
		{"negative ms falls to seconds", hdr("Retry-After-Ms", "-5", "Retry-After", "2"), 2 * time.Second, true},
		{"seconds beat resets", hdr("Retry-After", "2", "X-Ratelimit-Reset-Tokens", "6m0s"), 2 * time.Second, true},
		{"past date beats resets", hdr("Retry-After", httpDate(t0.Add(-time.Minute)),
			"X-Ratelimit-Reset-Tokens", "6m0s"), 0, true},
		{"garbage retry-after falls to resets", hdr("Retry-After", "later",
			"X-Ratelimit-Reset-Tokens", "6m0s"), 6 * time.Minute, true},
		{"everything garbage", hdr("Retry-After-Ms", "x", "Retry-After", "-1",
			"X-Ratelimit-Reset-Tokens", "-6m", "Anthropic-Ratelimit-Tokens-Reset", "x"), 0, false},
		{"first of repeated values", hdr("Retry-After", "4", "Retry-After", "9"), 4 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// On a 429 every header counts; TestServerDelayStatus covers other statuses.
			got, ok := ServerDelay(429, tt.h, t0)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ServerDelay(429, %v) = %v, %v, want %v, %v", tt.h, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestServerDelayStatus checks that the reset headers, which every response carries, ask
// for a wait only on a 429 or for an exhausted dimension, while Retry-After and
// retry-after-ms are honoured whatever the status. The header sets are those of real
// OpenAI and Anthropic responses, with our own values.
func TestServerDelayStatus(t *testing.T) {
	t.Parallel()
	openaiHealthy := hdr(
		"X-Ratelimit-Limit-Requests", "10000", "X-Ratelimit-Limit-Tokens", "30000000",
		"X-Ratelimit-Remaining-Requests", "9998", "X-Ratelimit-Remaining-Tokens", "29975510",
		"X-Ratelimit-Reset-Requests", "12ms", "X-Ratelimit-Reset-Tokens", "24.042s")
	openaiTokensGone := hdr(
		"X-Ratelimit-Limit-Requests", "500", "X-Ratelimit-Limit-Tokens", "30000",
		"X-Ratelimit-Remaining-Requests", "497", "X-Ratelimit-Remaining-Tokens", "0",
		"X-Ratelimit-Reset-Requests", "360ms", "X-Ratelimit-Reset-Tokens", "7.5s")
	anthropicHealthy := hdr(
		"Anthropic-Ratelimit-Requests-Limit", "4000", "Anthropic-Ratelimit-Requests-Remaining", "3999",
		"Anthropic-Ratelimit-Requests-Reset", "2026-11-27T14:00:01Z",
		"Anthropic-Ratelimit-Input-Tokens-Limit", "2000000", "Anthropic-Ratelimit-Input-Tokens-Remaining", "1996000",
		"Anthropic-Ratelimit-Input-Tokens-Reset", "2026-11-27T14:00:02Z",
		"Anthropic-Ratelimit-Output-Tokens-Limit", "400000", "Anthropic-Ratelimit-Output-Tokens-Remaining", "399000",
		"Anthropic-Ratelimit-Output-Tokens-Reset", "2026-11-27T14:00:03Z",
		"Anthropic-Ratelimit-Tokens-Limit", "2400000", "Anthropic-Ratelimit-Tokens-Remaining", "2395000",
		"Anthropic-Ratelimit-Tokens-Reset", "2026-11-27T14:00:42Z")
	with := func(h http.Header, kv ...string) http.Header {
		c := h.Clone()
		for i := 0; i < len(kv); i += 2 {
			c.Set(kv[i], kv[i+1])
		}
		return c
	}
	tests := []struct {
		name   string
		status int
		h      http.Header
		want   time.Duration
		wantOK bool
	}{
		{"openai 500, tokens remain: back off, not 24s", 500, openaiHealthy, 0, false},
		{"openai 502, tokens remain", 502, openaiHealthy, 0, false},
		{"openai 200-like headers on a 400", 400, openaiHealthy, 0, false},
		{"openai 429, none exhausted: longest", 429, openaiHealthy, 24042 * time.Millisecond, true},
		{"openai 500, tokens exhausted", 500, openaiTokensGone, 7500 * time.Millisecond, true},
		{"openai 429, tokens exhausted", 429, openaiTokensGone, 7500 * time.Millisecond, true},
		{"openai 503 retry-after", 503, with(openaiHealthy, "Retry-After", "2"), 2 * time.Second, true},
		{"openai 500 retry-after-ms", 500, with(openaiHealthy, "Retry-After-Ms", "150"), 150 * time.Millisecond, true},
		{"anthropic 529 overloaded, limits healthy", 529, with(anthropicHealthy, "X-Should-Retry", "true"), 0, false},
		{"anthropic 529 with retry-after", 529, with(anthropicHealthy, "Retry-After", "3"), 3 * time.Second, true},
		{"anthropic 500 api_error, limits healthy", 500, anthropicHealthy, 0, false},
		{"anthropic 429, none exhausted: longest", 429, with(anthropicHealthy, "Retry-After", "x"), 42 * time.Second, true},
		{"anthropic 500, output tokens exhausted", 500,
			with(anthropicHealthy, "Anthropic-Ratelimit-Output-Tokens-Remaining", "0"), 3 * time.Second, true},
		{"anthropic 429 with retry-after wins", 429,
			with(anthropicHealthy, "Retry-After", "5", "Anthropic-Ratelimit-Output-Tokens-Remaining", "0"), 5 * time.Second, true},
		{"transport failure, no status", 0, openaiHealthy, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := ServerDelay(tt.status, tt.h, t0)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ServerDelay(%d, …) = %v, %v, want %v, %v", tt.status, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestHeaderKeysCanonical guards the direct map lookups in ServerDelay: a key that is not
// canonical would never match a header from net/http.
func TestHeaderKeysCanonical(t *testing.T) {
	t.Parallel()
	keys := []string{"Retry-After-Ms", "Retry-After"}
	for _, r := range resetHeaders {
		keys = append(keys, r.reset, r.remaining)
	}
	for _, k := range keys {
		if got := textproto.CanonicalMIMEHeaderKey(k); got != k {
			t.Errorf("CanonicalMIMEHeaderKey(%q) = %q, want it unchanged", k, got)
		}
	}
}

func FuzzServerDelay(f *testing.F) {
	f.Add(429, "250", "3", "6m0s", "1m30.5s", "0", "2026-11-27T14:00:30Z", "0")
	f.Add(503, "20.5", "Fri, 27 Nov 2026 14:01:00 GMT", "20ms", "2h1m", "5", "2026-11-27T13:00:00Z", "7")
	f.Add(500, "", "", "1s", "24.042s", "149000", "", "")
	f.Add(429, "-1", "-1", "-1s", "x", "", "tomorrow", "")
	f.Add(0, "", "", "", "", "", "", "")
	f.Add(529, "1e300", "99999999999999999999", "9999999999h", "0.5s", "0.0", "9999-12-31T23:59:59Z", "0")
	f.Fuzz(func(t *testing.T, status int, ms, ra, resetReq, resetTok, remTok, anthReset, anthRem string) {
		h := http.Header{}
		set := func(k, v string) {
			if v != "" {
				h.Set(k, v)
			}
		}
		set("Retry-After-Ms", ms)
		set("Retry-After", ra)
		set("X-Ratelimit-Reset-Requests", resetReq)
		set("X-Ratelimit-Reset-Tokens", resetTok)
		set("X-Ratelimit-Remaining-Tokens", remTok)
		set("Anthropic-Ratelimit-Tokens-Reset", anthReset)
		set("Anthropic-Ratelimit-Tokens-Remaining", anthRem)
		got, ok := ServerDelay(status, h, t0)
		if got < 0 {
			t.Errorf("ServerDelay(%v) = %v, want non-negative", h, got)
		}
		if !ok && got != 0 {
			t.Errorf("ServerDelay(%v) = %v, false, want 0 when not ok", h, got)
		}
		if got2, ok2 := ServerDelay(status, h, t0); got2 != got || ok2 != ok {
			t.Errorf("ServerDelay(%v) = %v, %v then %v, %v, want the same", h, got, ok, got2, ok2)
		}
		// A status other than 429 can only ask for less: the reset headers of dimensions
		// that are not exhausted stop counting, nothing starts to.
		if status != 429 {
			if got429, ok429 := ServerDelay(429, h, t0); ok && (!ok429 || got > got429) {
				t.Errorf("ServerDelay(%d, %v) = %v, %v but on a 429 %v, %v", status, h, got, ok, got429, ok429)
			}
		}
	})
}

func BenchmarkServerDelay(b *testing.B) {
	cases := []struct {
		name string
		h    http.Header
	}{
		{"retry-after-ms", hdr("Retry-After-Ms", "1500", "Retry-After", "2")},
		{"openai-resets", hdr(
			"X-Ratelimit-Limit-Requests", "500", "X-Ratelimit-Limit-Tokens", "150000",
			"X-Ratelimit-Remaining-Requests", "499", "X-Ratelimit-Remaining-Tokens", "0",
			"X-Ratelimit-Reset-Requests", "120ms", "X-Ratelimit-Reset-Tokens", "1m30.5s")},
		{"anthropic-resets", hdr(
			"Anthropic-Ratelimit-Requests-Remaining", "40", "Anthropic-Ratelimit-Requests-Reset", "2026-11-27T14:01:00Z",
			"Anthropic-Ratelimit-Tokens-Remaining", "0", "Anthropic-Ratelimit-Tokens-Reset", "2026-11-27T14:00:05Z",
			"Anthropic-Ratelimit-Input-Tokens-Remaining", "0", "Anthropic-Ratelimit-Input-Tokens-Reset", "2026-11-27T14:00:05Z",
			"Anthropic-Ratelimit-Output-Tokens-Remaining", "800", "Anthropic-Ratelimit-Output-Tokens-Reset", "2026-11-27T14:00:02Z")},
		{"none", hdr("Content-Type", "application/json")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ServerDelay(429, c.h, t0)
			}
		})
	}
}

func TestParseReset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v      string
		want   time.Duration
		wantOK bool
	}{
		{"6m0s", 6 * time.Minute, true},
		{"20ms", 20 * time.Millisecond, true},
		{"1m30.5s", 90500 * time.Millisecond, true},
		{" 1s ", time.Second, true},
		{"2026-11-27T14:00:07Z", 7 * time.Second, true},
		{"2026-11-27T15:00:00+01:00", 0, true},
		{"2026-11-27T13:59:00Z", 0, true},
		{"-1s", 0, false},
		{"6", 0, false},
		{"tomorrow", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseReset(tt.v, t0)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseReset(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.wantOK)
		}
	}
}
