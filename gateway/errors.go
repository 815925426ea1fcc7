package gateway

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// Outcomes label the requests metric and the log line of a request.
const (
	outcomeOK           = "ok"
	outcomeFallback     = "fallback"
	outcomeCached       = "cached"
	outcomeStatic       = "static"
	outcomeBadRequest   = "bad_request"
	outcomeUnauthorized = "unauthorized"
	outcomeForbidden    = "forbidden"
	outcomeNotFound     = "not_found"
	outcomeTooLarge     = "body_too_large"
	outcomeBudget       = "budget_exceeded"
	outcomeRateLimited  = "rate_limited"
	outcomeQueueFull    = "queue_full"
	outcomeQueueTimeout = "queue_timeout"
	outcomeUpstream     = "upstream_error"
	outcomeTimeout      = "timeout"
	outcomeCancelled    = "cancelled"
	outcomeUnavailable  = "unavailable"
	outcomeStreamError  = "stream_error"
	outcomeCooldown     = "cooldown"
	outcomeSlowBody     = "slow_body"
)

// apiError is a refusal as the caller sees it: an HTTP status and the error's type and
// code in each wire format.
type apiError struct {
	status  int
	oaType  string // OpenAI error.type
	oaCode  string // OpenAI error.code; "" is null
	anType  string // Anthropic error.type
	msg     string
	outcome string
	// retryAfter, when positive, is sent as Retry-After (seconds, rounded up) and
	// retry-after-ms, which the official SDKs honour.
	retryAfter time.Duration
	// final sends "x-should-retry: false": the official SDKs would otherwise retry a 429
	// or a 5xx, and this refusal cannot pass by retrying.
	final bool
	// upstream marks a failure of the upstreams (the chain was exhausted) rather than a
	// refusal by tollgate itself; both may be a 429 rate_limit_exceeded, which SDKs need,
	// so HeaderErrorSource tells them apart.
	upstream bool
	// budget marks a budget refusal, whose status Config.BudgetStatus may change.
	budget bool
	// quota, when set, is the refusing budget's state, sent as X-Tollgate-Budget-Remaining.
	quota *quota.Status
}

func (e *apiError) Error() string { return e.msg }

// source is HeaderErrorSource's value: who refused.
func (e *apiError) source() string {
	if e.upstream {
		return "upstream"
	}
	return "tollgate"
}

// statusFor is the status a caller of format f gets: budgetStatus (Config.BudgetStatus)
// for a budget refusal when set, and 529 for an overload in Anthropic's format, as
// Anthropic sends it.
func (e *apiError) statusFor(f llm.Format, budgetStatus int) int {
	s := e.status
	if e.budget && budgetStatus != 0 {
		s = budgetStatus
	}
	if f == llm.Anthropic && e.anType == "overloaded_error" && s == http.StatusServiceUnavailable {
		return 529
	}
	return s
}

// anStatus is the status in Anthropic's format at the default budget status.
func (e *apiError) anStatus() int { return e.statusFor(llm.Anthropic, 0) }

func badRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, oaType: "invalid_request_error", anType: "invalid_request_error",
		msg: msg, outcome: outcomeBadRequest}
}

var errUnauthorized = &apiError{status: http.StatusUnauthorized, oaType: "invalid_request_error",
	oaCode: "invalid_api_key", anType: "authentication_error", outcome: outcomeUnauthorized,
	msg: "invalid or missing tollgate virtual key: send it as \"Authorization: Bearer <key>\" or \"x-api-key: <key>\""}

// classify maps any error of a request to what the caller sees. Every message says what
// failed; quota refusals say which quota, its limit, its use and when it resets.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var slow *errSlowBody
	if errors.As(err, &slow) {
		// The client is slow, not the gateway: 408, as HTTP says, never a 503 that invites
		// the same slow upload again at once.
		return &apiError{status: http.StatusRequestTimeout, oaType: "invalid_request_error", oaCode: "request_timeout",
			anType: "invalid_request_error", outcome: outcomeSlowBody, msg: slow.Error()}
	}
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return &apiError{status: http.StatusRequestEntityTooLarge, oaType: "invalid_request_error",
			oaCode: "request_too_large", anType: "request_too_large", outcome: outcomeTooLarge,
			msg: "request body larger than the gateway's limit of " + strconv.FormatInt(mb.Limit, 10) + " bytes"}
	}
	var bh *badHeader
	if errors.Is(err, openai.ErrBadRequest) || errors.Is(err, anthropic.ErrBadRequest) || errors.As(err, &bh) {
		return badRequest(err.Error())
	}

	// Queue refusals before quota ones: a WaitError also unwraps to the quota that it
	// waited on, and to the context's deadline.
	var shed *queue.ShedError
	var wait *queue.WaitError
	switch {
	case errors.As(err, &shed):
		return rateLimited("tollgate: "+err.Error(), shed.RetryAfter, outcomeQueueFull)
	case errors.Is(err, queue.ErrClosed):
		return &apiError{status: http.StatusServiceUnavailable, oaType: "server_error", oaCode: "unavailable",
			anType: "overloaded_error", outcome: outcomeUnavailable, retryAfter: time.Second,
			msg: "tollgate: the gateway is shutting down; retry on another replica"}
	case errors.As(err, &wait):
		return rateLimited("tollgate: "+err.Error(), wait.RetryAfter, outcomeQueueTimeout)
	}

	var qe *quota.ExceededError
	if errors.As(err, &qe) {
		switch {
		case errors.Is(qe, quota.ErrBudget):
			// OpenAI's own code for a spent quota, which clients recognise as final
			// (LangChain, agent frameworks); tollgate's detail is in the message and the
			// budget headers.
			e := &apiError{status: http.StatusTooManyRequests, oaType: "insufficient_quota", oaCode: "insufficient_quota",
				anType: "billing_error", outcome: outcomeBudget, final: true, budget: true, msg: "tollgate: " + qe.Error(),
				quota: refusedBudget(qe)}
			if !qe.ResetAt.IsZero() {
				e.retryAfter = qe.RetryAfter
			}
			return e
		case errors.Is(qe, quota.ErrTooLarge):
			// A request larger than a budget's whole limit: final as well, with the same
			// code; the message says it can never fit.
			return &apiError{status: http.StatusTooManyRequests, oaType: "insufficient_quota", oaCode: "insufficient_quota",
				anType: "billing_error", outcome: outcomeBudget, final: true, budget: true, msg: "tollgate: " + qe.Error(),
				quota: refusedBudget(qe)}
		}
		return rateLimited("tollgate: "+qe.Error(), qe.RetryAfter, outcomeRateLimited)
	}

	var cool *engine.CooldownError
	var untranslatable *llm.UntranslatableError
	var unsupported *llm.UnsupportedError
	switch {
	case errors.As(err, &cool):
		// No upstream was called: tollgate refuses, and says when the first breaker
		// half-opens.
		return &apiError{status: http.StatusServiceUnavailable, oaType: "server_error", oaCode: "models_cooling_down",
			anType: "overloaded_error", outcome: outcomeCooldown, retryAfter: cool.RetryAfter, msg: "tollgate: " + cool.Error()}
	case errors.Is(err, engine.ErrHold):
		// Before the deadline case: the ledger's own timeout unwraps to it too. The
		// ledger is tollgate's; another replica, or this one shortly, may do better.
		return &apiError{status: http.StatusServiceUnavailable, oaType: "server_error", oaCode: "unavailable",
			anType: "api_error", outcome: outcomeUnavailable, retryAfter: time.Second,
			msg: "tollgate: the request was not sent: " + err.Error()}
	case errors.As(err, &untranslatable):
		// Every step of the route refused the request as one it cannot carry; no upstream
		// was called. The message names the field.
		return unsupportedRequest(untranslatable)
	case errors.As(err, &unsupported):
		return unsupportedRequest(unsupported)
	}

	switch {
	case errors.Is(err, quota.ErrUnavailable):
		// Before the deadline case: a store that timed out also unwraps to
		// context.DeadlineExceeded, but the request's own deadline did not pass.
		return &apiError{status: http.StatusServiceUnavailable, oaType: "server_error", oaCode: "unavailable",
			anType: "overloaded_error", outcome: outcomeUnavailable, retryAfter: time.Second,
			msg: "tollgate: the quota store is unavailable, so no request can be admitted safely (" + err.Error() + ")"}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusGatewayTimeout, oaType: "timeout", oaCode: "timeout", anType: "timeout_error",
			outcome: outcomeTimeout, msg: "tollgate: the request's deadline passed before an answer (" + err.Error() + ")"}
	case errors.Is(err, context.Canceled):
		// The client went away: nobody reads this answer, but the log and metrics do.
		return &apiError{status: 499, oaType: "server_error", anType: "api_error", outcome: outcomeCancelled,
			msg: "tollgate: the client closed the request"}
	case errors.Is(err, engine.ErrUnknownRoute), errors.Is(err, pricing.ErrUnknownModel):
		return notFound("tollgate: " + err.Error())
	case errors.Is(err, engine.ErrNoRoute):
		return &apiError{status: http.StatusServiceUnavailable, oaType: "server_error", oaCode: "no_route",
			anType: "overloaded_error", outcome: outcomeUnavailable, msg: "tollgate: " + err.Error()}
	}

	if errors.Is(err, llm.ErrUnsupported) || errors.Is(err, llm.ErrUntranslatable) {
		return unsupportedRequest(err)
	}

	var le *llm.Error
	if !errors.As(err, &le) {
		// Not an upstream's answer: tollgate's own state (the quota store unreachable) or
		// configuration failed; another replica, or this one shortly, may do better.
		return &apiError{status: http.StatusServiceUnavailable, oaType: "server_error", oaCode: "unavailable",
			anType: "api_error", outcome: outcomeUnavailable, retryAfter: time.Second, msg: "tollgate: " + err.Error()}
	}
	if le.Provider == "tollgate" {
		return tollgateError(le)
	}
	return upstreamError(le)
}

// tollgateError maps a failure that tollgate itself found in the request (the engine
// reports them as *llm.Error with Provider "tollgate"): the caller's to fix, not an
// upstream's.
func tollgateError(le *llm.Error) *apiError {
	switch le.Kind {
	case llm.KindContextLength:
		return &apiError{status: http.StatusBadRequest, oaType: "invalid_request_error", oaCode: "context_length_exceeded",
			anType: "invalid_request_error", outcome: outcomeBadRequest, msg: "tollgate: " + le.Message}
	case llm.KindBadRequest:
		return badRequest(le.Message)
	}
	e := upstreamError(le)
	e.upstream = false
	return e
}

// classifyResult maps Do's error with what its Result says of the chain: a route none of
// whose steps reached an upstream (every model too small for the prompt, unpriced, or
// without an upstream) failed in tollgate, so the error is tollgate's, not the upstreams',
// whatever the last step's error names. Which of the steps' errors is the answer (a
// budget's final refusal over a later transient failure, a cooldown of the whole route)
// the engine decides.
func classifyResult(err error, res *engine.Result) *apiError {
	e := classify(err)
	if res == nil || !e.upstream || len(res.Outcome.Attempts) == 0 {
		return e
	}
	for _, a := range res.Outcome.Attempts {
		if a.Result != fallback.Skipped {
			return e // an upstream was called: its failure is the answer
		}
	}
	e.upstream = false
	return e
}

// refusedBudget is the state of the budget that refused a request, as its refusal says it.
func refusedBudget(qe *quota.ExceededError) *quota.Status {
	return &quota.Status{Quota: &qe.Quota, Used: qe.Used, Remaining: max(qe.Quota.Limit-qe.Used, 0), ResetAt: qe.ResetAt}
}

func notFound(msg string) *apiError {
	return &apiError{status: http.StatusNotFound, oaType: "invalid_request_error", oaCode: "model_not_found",
		anType: "not_found_error", outcome: outcomeNotFound, msg: msg}
}

func rateLimited(msg string, after time.Duration, outcome string) *apiError {
	return &apiError{status: http.StatusTooManyRequests, oaType: "requests", oaCode: "rate_limit_exceeded",
		anType: "rate_limit_error", outcome: outcome, retryAfter: after, msg: msg}
}

// upstreamError maps an upstream failure that exhausted the chain: the caller's request
// was fine, the upstreams could not answer it.
func upstreamError(le *llm.Error) *apiError {
	oaType, oaCode := openai.ErrorType(le.Kind)
	e := &apiError{oaType: oaType, oaCode: oaCode, anType: anthropic.ErrorType(le.Kind),
		outcome: outcomeUpstream, msg: "upstream " + le.Error(), upstream: true}
	switch le.Kind {
	case llm.KindRateLimited:
		e.status, e.retryAfter, e.outcome = http.StatusTooManyRequests, le.RetryAfter, outcomeRateLimited
	case llm.KindQuotaExhausted, llm.KindTooLarge:
		e.status, e.final = http.StatusTooManyRequests, true
	case llm.KindOverloaded:
		e.status, e.retryAfter = http.StatusServiceUnavailable, le.RetryAfter
	case llm.KindTimeout:
		e.status = http.StatusGatewayTimeout
	case llm.KindContextLength, llm.KindBadRequest:
		e.status, e.outcome = http.StatusBadRequest, outcomeBadRequest
	case llm.KindAuth:
		// The upstream refused tollgate's own provider key: the caller cannot fix that.
		e.status, e.final = http.StatusBadGateway, true
		e.oaType, e.oaCode, e.anType = "server_error", "upstream_auth", "api_error"
		e.msg = "upstream " + le.Provider + " refused tollgate's provider credentials (" + strconv.Itoa(le.Status) +
			"); the gateway's configuration must be fixed"
	default:
		e.status = http.StatusBadGateway
	}
	return e
}

// writeError writes e in the caller's format with its status and retry headers;
// budgetStatus is Config.BudgetStatus.
func writeError(w http.ResponseWriter, f llm.Format, e *apiError, budgetStatus int) {
	h := w.Header()
	h[headerContentType] = valueJSON
	if e.retryAfter > 0 {
		h[headerRetryAfter] = []string{strconv.FormatInt(int64(math.Ceil(e.retryAfter.Seconds())), 10)}
		h[headerRetryAfterMs] = []string{strconv.FormatInt(int64(math.Ceil(float64(e.retryAfter)/float64(time.Millisecond))), 10)}
	}
	if e.final {
		h[headerShouldRetry] = valueFalse
	}
	if e.quota != nil {
		h[HeaderBudgetRemaining] = []string{budgetValue(e.quota)}
	}
	if e.upstream {
		h[HeaderErrorSource] = valueUpstream
	} else {
		h[HeaderErrorSource] = valueTollgate
	}
	if e.status == http.StatusRequestTimeout {
		// The connection's read side is in an unknown state after a timed-out body.
		h[headerConnection] = valueClose
	}
	w.WriteHeader(e.statusFor(f, budgetStatus))
	if f == llm.Anthropic {
		w.Write(anthropic.EncodeError(e.anType, e.msg))
		return
	}
	w.Write(openai.EncodeError(e.oaType, e.oaCode, e.msg))
}

// headerValue makes s safe for a header value: one line, printable, bounded. A value that
// is already safe, as nearly all are, is returned as it is, without a copy.
func headerValue(s string) string {
	const max = 300
	if len(s) > max {
		s = s[:max]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f || r > 0x7e {
					return ' '
				}
				return r
			}, s)
		}
	}
	return s
}

// unsupportedRequest is the refusal of a request that no step of the route can serve as it
// is (a field a translation cannot carry, an endpoint a provider lacks): the caller's to
// change (another route, or without the field), and final. No upstream was called.
func unsupportedRequest(err error) *apiError {
	e := badRequest("tollgate: no model of the route can serve this request: " + err.Error())
	e.oaCode = "unsupported_request"
	return e
}
