package gateway

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// Response headers the gateway sets; see the package documentation for their formats.
const (
	HeaderModel           = "X-Tollgate-Model"
	HeaderRoute           = "X-Tollgate-Route"
	HeaderFallbackReason  = "X-Tollgate-Fallback-Reason"
	HeaderCache           = "X-Tollgate-Cache"
	HeaderBudgetRemaining = "X-Tollgate-Budget-Remaining"
	HeaderPriorityOut     = "X-Tollgate-Priority"
	HeaderClamped         = "X-Tollgate-Max-Tokens"
	// HeaderRequestID is on every answer: the request's id (a UUIDv7), also in the ledger
	// and the log; OpenAI's SDKs read it as the request id. HeaderAnthropicRequestID
	// carries the same id on answers in Anthropic's format, under the name Anthropic's
	// SDKs read (see SetRequestID).
	HeaderRequestID          = "X-Request-Id"
	HeaderAnthropicRequestID = "Request-Id"
	// HeaderErrorSource is on every error: "tollgate" for tollgate's own refusals (a quota,
	// the queue, bad input), "upstream" when the providers failed the whole chain.
	HeaderErrorSource = "X-Tollgate-Error-Source"
)

// SetRequestID names an answer in format f after the request id: HeaderRequestID on
// every answer, and HeaderAnthropicRequestID too on Anthropic's format, as each
// provider's own answers do. Request-Id is not on the other formats' answers: no client
// of theirs reads it, and one header fewer keeps a rate-limited answer's header map from
// growing twice (it had 15 entries; Go's map doubles past 14).
func SetRequestID(h http.Header, f llm.Format, id string) {
	v := []string{id}
	h[HeaderRequestID] = v
	if f == llm.Anthropic {
		h[HeaderAnthropicRequestID] = v
	}
}

// Header names in canonical form and values shared by every answer, so that setting them
// is a map assignment: http.Header.Set canonicalizes the key and allocates the value's
// slice on every call, which was a fifth of the handler's CPU. The shared slices are
// never modified.
const (
	headerContentType   = "Content-Type"
	headerContentLength = "Content-Length"
	headerRetryAfter    = "Retry-After"
	headerRetryAfterMs  = "Retry-After-Ms"
	headerShouldRetry   = "X-Should-Retry"
	headerConnection    = "Connection"
	headerCacheControl  = "Cache-Control"
	headerAccelBuffer   = "X-Accel-Buffering"
	headerPolicy        = "Ratelimit-Policy"
	headerRateLimit     = "Ratelimit"
)

var (
	valueJSON        = []string{"application/json"}
	valueEventStream = []string{"text/event-stream"}
	valueNoCache     = []string{"no-cache"}
	valueNo          = []string{"no"}
	valueFalse       = []string{"false"}
	valueClose       = []string{"close"}
	valueHit         = []string{"hit"}
	valueStale       = []string{"stale"}
	valueUpstream    = []string{"upstream"}
	valueTollgate    = []string{"tollgate"}
)

// rateKeys are OpenAI's rate-limit header names, canonical: [requests, tokens] x [limit,
// remaining, reset].
var rateKeys = [2][3]string{
	{"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"},
	{"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"},
}

// headerValues builds several header values in one buffer, then makes them strings with
// one allocation for the bytes and one for the values' slices: rendering the quota headers
// one h.Set at a time cost a fifth of the handler's CPU. The buffer is passed and returned
// rather than kept in the struct, so that a buffer on the caller's stack stays there.
type headerValues struct {
	keys [9]string
	ends [9]int
	n    int
}

// end closes the value appended to b so far as the value of key.
func (hv *headerValues) end(b []byte, key string) {
	hv.keys[hv.n] = key
	hv.ends[hv.n] = len(b)
	hv.n++
}

// set writes every value, read from b, into h.
func (hv *headerValues) set(h http.Header, b []byte) {
	all := string(b)
	vals := make([]string, hv.n)
	start := 0
	for i, k := range hv.keys[:hv.n] {
		vals[i] = all[start:hv.ends[i]]
		h[k] = vals[i : i+1 : i+1]
		start = hv.ends[i]
	}
}

// setQuotaHeaders describes the quotas a request was subject to, from their statuses after
// it was admitted:
//
//   - x-ratelimit-{limit,remaining,reset}-{requests,tokens}: OpenAI's names, for the
//     tightest rate quota (least remaining) counting requests, and the tightest counting
//     tokens (any token unit); reset is when the rate is fully refilled, as a duration;
//   - RateLimit-Policy and RateLimit (IETF draft-ietf-httpapi-ratelimit-headers): one item
//     per rate and budget quota, named after its rule: q (limit), w (window in seconds, for
//     rates and calendar budgets), qu (unit); r (remaining), t (seconds until reset);
//   - X-Tollgate-Budget-Remaining for the tightest budget (smallest remaining fraction).
func setQuotaHeaders(h http.Header, sts []quota.Status, now time.Time) {
	var req, tok, budget *quota.Status
	n := 0 // rate and budget quotas: the ones RateLimit and RateLimit-Policy list
	for i := range sts {
		s := &sts[i]
		q := s.Quota
		switch {
		case q.Window.Kind == quota.Rate && q.Unit == quota.Requests:
			if req == nil || s.Remaining < req.Remaining {
				req = s
			}
		case q.Window.Kind == quota.Rate && isTokens(q.Unit):
			if tok == nil || s.Remaining < tok.Remaining {
				tok = s
			}
		case q.Window.Kind.IsBudget():
			if budget == nil || remainingFraction(s) < remainingFraction(budget) {
				budget = s
			}
		default:
			continue // leases: concurrency is not a quantity that resets
		}
		n++
	}
	// One buffer on the stack for every value (it moves to the heap only past 2 KiB),
	// made a string once in set.
	var stack [2048]byte
	var hv headerValues
	b := stack[:0]
	if req != nil {
		b = hv.appendRate(b, 0, req, now)
	}
	if tok != nil {
		b = hv.appendRate(b, 1, tok, now)
	}
	if n > 0 {
		b = appendPolicies(b, sts)
		hv.end(b, headerPolicy)
		b = appendStates(b, sts, now)
		hv.end(b, headerRateLimit)
	}
	if budget != nil {
		b = appendBudgetValue(b, budget)
		hv.end(b, HeaderBudgetRemaining)
	}
	hv.set(h, b)
}

// listed reports whether RateLimit and RateLimit-Policy list q: rates and budgets, not
// leases.
func listed(q *quota.Quota) bool {
	if q.Window.Kind == quota.Rate {
		return q.Unit == quota.Requests || isTokens(q.Unit)
	}
	return q.Window.Kind.IsBudget()
}

// appendPolicies appends RateLimit-Policy's value: each listed quota's limit, window and
// unit.
func appendPolicies(b []byte, sts []quota.Status) []byte {
	first := true
	for i := range sts {
		q := sts[i].Quota
		if !listed(q) {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = appendQuoted(b, q.Name)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, limitOf(q), 10)
		if w := windowSeconds(q.Window); w > 0 {
			b = append(b, ";w="...)
			b = strconv.AppendInt(b, w, 10)
		}
		b = append(b, ";qu="...)
		b = appendQuoted(b, q.Unit.String())
	}
	return b
}

// appendStates appends RateLimit's value: each listed quota's remaining and the seconds
// until it resets.
func appendStates(b []byte, sts []quota.Status, now time.Time) []byte {
	first := true
	for i := range sts {
		s := &sts[i]
		if !listed(s.Quota) {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = appendQuoted(b, s.Quota.Name)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, s.Remaining, 10)
		if !s.ResetAt.IsZero() {
			b = append(b, ";t="...)
			b = strconv.AppendInt(b, ceilSeconds(s.ResetAt.Sub(now)), 10)
		}
	}
	return b
}

func isTokens(u quota.Unit) bool {
	return u == quota.Tokens || u == quota.InputTokens || u == quota.OutputTokens
}

func limitOf(q *quota.Quota) int64 {
	if q.Window.Kind == quota.Rate && q.Burst > 0 {
		return q.Burst
	}
	return q.Limit
}

func remainingFraction(s *quota.Status) float64 {
	return float64(s.Remaining) / float64(s.Quota.Limit)
}

func windowSeconds(w quota.Window) int64 {
	switch w.Kind {
	case quota.Rate:
		return ceilSeconds(w.Period)
	case quota.Day:
		return 86400
	}
	return 0 // months vary; lifetimes never reset
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}

// appendRate appends OpenAI's three rate headers for unit i (0 requests, 1 tokens).
func (hv *headerValues) appendRate(b []byte, i int, s *quota.Status, now time.Time) []byte {
	b = strconv.AppendInt(b, limitOf(s.Quota), 10)
	hv.end(b, rateKeys[i][0])
	b = strconv.AppendInt(b, s.Remaining, 10)
	hv.end(b, rateKeys[i][1])
	reset := time.Duration(0)
	if !s.ResetAt.IsZero() {
		reset = max(s.ResetAt.Sub(now), 0).Round(time.Millisecond)
	}
	b = append(b, reset.String()...)
	hv.end(b, rateKeys[i][2])
	return b
}

// budgetValue renders a budget's remaining for X-Tollgate-Budget-Remaining:
//
//	0.42 usd; quota="session-usd"; limit=1.00; reset=2026-11-28T00:00:00Z
//
// The first element is the amount left and its unit (usd in dollars with at least two
// decimals, exact to the micro-dollar; token and request units as integers); reset is
// absent for a lifetime budget.
func budgetValue(s *quota.Status) string { return string(appendBudgetValue(nil, s)) }

// maxBudgetValue bounds X-Tollgate-Budget-Remaining, whose quota name is the operator's.
const maxBudgetValue = 300

func appendBudgetValue(b []byte, s *quota.Status) []byte {
	start := len(b)
	u := s.Quota.Unit
	b = appendAmount(b, u, s.Remaining)
	b = append(b, ' ')
	b = append(b, u.String()...)
	b = append(b, "; quota="...)
	b = appendQuoted(b, s.Quota.Name)
	b = append(b, "; limit="...)
	b = appendAmount(b, u, s.Quota.Limit)
	if !s.ResetAt.IsZero() {
		b = append(b, "; reset="...)
		b = s.ResetAt.UTC().AppendFormat(b, time.RFC3339)
	}
	if len(b)-start > maxBudgetValue {
		b = b[:start+maxBudgetValue]
	}
	// One line, printable: a quoted name is ASCII already; the unit's name could be
	// anything a library caller chose.
	for i := start; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c > 0x7e {
			b[i] = ' '
		}
	}
	return b
}

// appendAmount appends n in unit u: usd in dollars with at least two decimals and no
// trailing zeros beyond them (1.234567, 0.42, 50.00), others as integers.
func appendAmount(b []byte, u quota.Unit, n int64) []byte {
	if u != quota.MicroUSD {
		return strconv.AppendInt(b, n, 10)
	}
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/1e6, 10)
	b = append(b, '.')
	frac := n % 1e6
	digits := 6
	for digits > 2 && frac%10 == 0 {
		frac /= 10
		digits--
	}
	var tmp [6]byte
	for i := digits - 1; i >= 0; i-- {
		tmp[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(b, tmp[:digits]...)
}

// appendQuoted appends s as strconv.AppendQuote does, without its rune-by-rune walk for
// the common case of a name in printable ASCII with nothing to escape: quoting was a
// quarter of rendering the quota headers.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
