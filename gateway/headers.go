package gateway

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

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
	// carries the same id under the name Anthropic's SDKs read.
	HeaderRequestID          = "X-Request-Id"
	HeaderAnthropicRequestID = "Request-Id"
	// HeaderErrorSource is on every error: "tollgate" for tollgate's own refusals (a quota,
	// the queue, bad input), "upstream" when the providers failed the whole chain.
	HeaderErrorSource = "X-Tollgate-Error-Source"
)

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
	var policy, state []string
	for i := range sts {
		s := &sts[i]
		q := &s.Quota
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
		name := strconv.Quote(q.Name)
		p := name + ";q=" + strconv.FormatInt(limitOf(q), 10)
		if w := windowSeconds(q.Window); w > 0 {
			p += ";w=" + strconv.FormatInt(w, 10)
		}
		policy = append(policy, p+";qu="+strconv.Quote(q.Unit.String()))
		st := name + ";r=" + strconv.FormatInt(s.Remaining, 10)
		if !s.ResetAt.IsZero() {
			st += ";t=" + strconv.FormatInt(ceilSeconds(s.ResetAt.Sub(now)), 10)
		}
		state = append(state, st)
	}
	if req != nil {
		setOpenAIRate(h, "requests", req, now)
	}
	if tok != nil {
		setOpenAIRate(h, "tokens", tok, now)
	}
	if len(policy) > 0 {
		h.Set("RateLimit-Policy", strings.Join(policy, ", "))
		h.Set("RateLimit", strings.Join(state, ", "))
	}
	if budget != nil {
		h.Set(HeaderBudgetRemaining, budgetValue(budget))
	}
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

func setOpenAIRate(h http.Header, unit string, s *quota.Status, now time.Time) {
	h.Set("X-Ratelimit-Limit-"+unit, strconv.FormatInt(limitOf(&s.Quota), 10))
	h.Set("X-Ratelimit-Remaining-"+unit, strconv.FormatInt(s.Remaining, 10))
	reset := time.Duration(0)
	if !s.ResetAt.IsZero() {
		reset = max(s.ResetAt.Sub(now), 0).Round(time.Millisecond)
	}
	h.Set("X-Ratelimit-Reset-"+unit, reset.String())
}

// budgetValue renders a budget's remaining for X-Tollgate-Budget-Remaining:
//
//	0.42 usd; quota="session-usd"; limit=1.00; reset=2026-11-28T00:00:00Z
//
// The first element is the amount left and its unit (usd in dollars with at least two
// decimals, exact to the micro-dollar; token and request units as integers); reset is
// absent for a lifetime budget.
func budgetValue(s *quota.Status) string {
	u := s.Quota.Unit
	v := amount(u, s.Remaining) + " " + u.String() + "; quota=" + strconv.Quote(s.Quota.Name) +
		"; limit=" + amount(u, s.Quota.Limit)
	if !s.ResetAt.IsZero() {
		v += "; reset=" + s.ResetAt.UTC().Format(time.RFC3339)
	}
	return headerValue(v)
}

func amount(u quota.Unit, n int64) string {
	if u == quota.MicroUSD {
		return strings.TrimPrefix(u.Format(n), "$")
	}
	return strconv.FormatInt(n, 10)
}
