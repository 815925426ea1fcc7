package llm

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind classifies an upstream failure by what the caller should do about it.
type Kind int

// The kinds of upstream failure.
const (
	KindUnknown        Kind = iota
	KindRateLimited         // 429 that will pass: retry after a wait
	KindOverloaded          // 529, 503: retry or fall back
	KindServer              // 500, 502, 504
	KindTimeout             // 408, or the attempt's own deadline
	KindConnection          // dropped or refused connection, cut stream
	KindContextLength       // the prompt does not fit the model: fall back to a larger one
	KindBadRequest          // 400, 404, 422: the caller's fault, final
	KindAuth                // 401, 403: final
	KindQuotaExhausted      // a 429 that will not pass: insufficient_quota, spend limit
	KindTooLarge            // the request exceeds a limit it can never fit
)

var kindNames = [...]string{"unknown", "rate_limited", "overloaded", "server_error", "timeout",
	"connection", "context_length", "bad_request", "auth", "quota_exhausted", "too_large"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Retryable reports whether another attempt at the same model may succeed.
func (k Kind) Retryable() bool {
	switch k {
	case KindRateLimited, KindOverloaded, KindServer, KindTimeout, KindConnection:
		return true
	}
	return false
}

// Error is an upstream failure, already classified.
type Error struct {
	Kind       Kind
	Provider   string
	Status     int           // HTTP status, 0 for transport failures
	Code       string        // the provider's error code or type
	Message    string        // the provider's message; never contains a credential
	RetryAfter time.Duration // the provider's requested wait, 0 when it gave none
	Err        error         // underlying transport error, if any
	// Header is the HTTP response header of the failed answer, read-only: a 429's
	// rate-limit state and retry-after, from which package learn learns the upstream's
	// limits. nil when no answer came (a transport failure) or it came inside a 200 stream.
	Header http.Header
	// UpstreamRequestID is the upstream's id of the failed call (its x-request-id or
	// request-id header); empty when it answered none.
	UpstreamRequestID string
}

func (e *Error) Error() string {
	s := e.Provider + ": " + e.Kind.String()
	if e.Status != 0 {
		s += fmt.Sprintf(" (%d", e.Status)
		if e.Code != "" {
			s += " " + e.Code
		}
		s += ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err: that of an *Error in its chain, KindUnknown otherwise.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// ErrUntranslatable is the sentinel that an *UntranslatableError unwraps to.
var ErrUntranslatable = errors.New("request cannot be translated")

// UntranslatableError says that a caller's request uses a field that has no equivalent in
// the wire format of the upstream it was to be sent to (From's "n": 3 to an Anthropic
// model, "logprobs", an Anthropic server tool to an OpenAI model). The request itself is
// valid: an upstream of its own format, or one that can carry the field, may serve it. A
// fallback chain skips such a step; when every step refuses, the caller's answer is a 400
// naming Field.
type UntranslatableError struct {
	From, To Format
	// Field is the JSON path of the field in the caller's body, such as "n" or
	// "messages[3].content[0]".
	Field string
	// Reason says why it cannot be carried.
	Reason string
}

func (e *UntranslatableError) Error() string {
	return fmt.Sprintf("%s: cannot be sent to an %s upstream: %s", e.Field, e.To, e.Reason)
}

// Unwrap returns ErrUntranslatable.
func (e *UntranslatableError) Unwrap() error { return ErrUntranslatable }
