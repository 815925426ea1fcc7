package retry

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// resetHeader pairs a rate-limit dimension's reset header with the header that says how
// much of that dimension remains.
type resetHeader struct {
	reset, remaining string
	rfc3339          bool // Anthropic sends a timestamp; OpenAI sends a Go-like duration
}

// resetHeaders are the per-dimension reset headers that OpenAI and Anthropic send. Only one
// provider's appear in one response; they are pooled because the choice among them is the
// same rule.
var resetHeaders = [...]resetHeader{
	{reset: "X-Ratelimit-Reset-Requests", remaining: "X-Ratelimit-Remaining-Requests"},
	{reset: "X-Ratelimit-Reset-Tokens", remaining: "X-Ratelimit-Remaining-Tokens"},
	{reset: "Anthropic-Ratelimit-Requests-Reset", remaining: "Anthropic-Ratelimit-Requests-Remaining", rfc3339: true},
	{reset: "Anthropic-Ratelimit-Tokens-Reset", remaining: "Anthropic-Ratelimit-Tokens-Remaining", rfc3339: true},
	{reset: "Anthropic-Ratelimit-Input-Tokens-Reset", remaining: "Anthropic-Ratelimit-Input-Tokens-Remaining", rfc3339: true},
	{reset: "Anthropic-Ratelimit-Output-Tokens-Reset", remaining: "Anthropic-Ratelimit-Output-Tokens-Remaining", rfc3339: true},
}

// ServerDelay returns the wait that a provider's response to a request (its status and
// headers) asks for before the next request, relative to now, and whether it asked for one
// at all. Provider adapters call it to fill llm.Error.RetryAfter.
//
// The first usable header in this order wins, the explicit retry instructions before the
// rate-limit state that merely implies one:
//
//  1. retry-after-ms: milliseconds, possibly fractional (OpenAI and Anthropic send it; it
//     is the most precise). Honoured on any status that carries it.
//  2. Retry-After: delta-seconds (a decimal fraction is accepted too) or an HTTP-date; a
//     date in the past means "now", a wait of 0. Honoured on any status that carries it
//     (429, 503, Anthropic's 529).
//  3. The reset headers: OpenAI x-ratelimit-reset-requests and -tokens (durations such as
//     "20ms", "6m0s", "1m30.5s"), Anthropic anthropic-ratelimit-{requests,tokens,
//     input-tokens,output-tokens}-reset (RFC 3339 timestamps; past means 0). They describe
//     the rate-limit window, which every response carries, not a request to wait: they
//     count only for a dimension whose matching remaining header
//     (x-ratelimit-remaining-*, anthropic-ratelimit-*-remaining) is 0, or, on a 429, for
//     any dimension. The longest wait among the exhausted dimensions is used, since that
//     dimension is what refused; on a 429 where none says it is exhausted, the longest of
//     all, since any of them may be the one that refused and a short guess only earns
//     another 429. A 500 whose tokens reset in 24s while tokens remain asks for no wait:
//     the caller backs off as it would without headers.
//
// Missing, negative, unparsable and overflowing values are skipped, never errors: a
// provider's odd header must not turn a retryable failure into a different one. The
// result is never negative, and it is 0 when ok is false.
//
// h is looked up by canonical key, as http.Header.Get does, so its keys must be canonical,
// as net/http makes them. ServerDelay is safe for concurrent use and does not modify h.
func ServerDelay(status int, h http.Header, now time.Time) (time.Duration, bool) {
	if v := get(h, "Retry-After-Ms"); v != "" {
		if d, ok := parseDecimal(v, float64(time.Millisecond)); ok {
			return d, true
		}
	}
	if v := get(h, "Retry-After"); v != "" {
		if d, ok := parseDecimal(v, float64(time.Second)); ok {
			return d, true
		}
		if t, err := http.ParseTime(strings.TrimSpace(v)); err == nil {
			return until(t, now), true
		}
	}
	var (
		all, exhausted     time.Duration
		anyAll, anyExhaust bool
	)
	for _, r := range resetHeaders {
		v := get(h, r.reset)
		if v == "" {
			continue
		}
		d, ok := parseReset(v, r.rfc3339, now)
		if !ok {
			continue
		}
		all, anyAll = max(all, d), true
		if rem, ok := parseDecimal(get(h, r.remaining), 1); ok && rem == 0 {
			exhausted, anyExhaust = max(exhausted, d), true
		}
	}
	switch {
	case anyExhaust:
		return exhausted, true
	case anyAll && status == http.StatusTooManyRequests:
		return all, true
	}
	return 0, false
}

// get returns h's first value for key, which must be canonical. It is h.Get without the
// key's canonicalization, which cost more than the rest of ServerDelay on a response
// without retry headers.
func get(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// ParseReset parses the value of a rate-limit reset header relative to now: OpenAI's
// Go-like duration (x-ratelimit-reset-*: "20ms", "6m0s", "1m30.5s") or Anthropic's RFC 3339
// instant (anthropic-ratelimit-*-reset; an instant in the past is 0). ok is false for a
// value in neither form or a negative duration. Package learn reads limits with it.
func ParseReset(v string, now time.Time) (d time.Duration, ok bool) {
	// An RFC 3339 instant has a 'T' between date and time; a duration never has one.
	// Choosing first spares the failed parse, which allocates its error.
	return parseReset(v, strings.IndexByte(v, 'T') >= 0, now)
}

// parseReset parses one reset header: an RFC 3339 time relative to now, or a duration.
func parseReset(v string, rfc3339 bool, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if rfc3339 {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return 0, false
		}
		return until(t, now), true
	}
	// time.ParseDuration reads exactly what OpenAI sends ("1s", "6m0s", "1m30.5s", "2h1m",
	// "20ms"), since OpenAI's servers format these with a Go-like duration printer.
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// until returns t - now, or 0 when t is not after now.
func until(t, now time.Time) time.Duration {
	return max(t.Sub(now), 0)
}

// parseDecimal parses a non-negative decimal number (digits with at most one '.', no sign,
// exponent, "inf" or hex, which strconv.ParseFloat would all accept) and scales it by unit
// into a Duration. It fails on anything else and on values that overflow a Duration.
func parseDecimal(v string, unit float64) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" || v == "." {
		return 0, false
	}
	dot := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, false
	}
	f *= unit
	// float64(math.MaxInt64) rounds up to 2^63, so >= excludes every value that would not
	// convert.
	if f >= float64(math.MaxInt64) {
		return 0, false
	}
	return time.Duration(f), true
}
