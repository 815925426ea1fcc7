package llm

import (
	"errors"
	"fmt"
)

// ErrUnsupported is the sentinel that an *UnsupportedError unwraps to.
var ErrUnsupported = errors.New("request not supported by the upstream")

// UnsupportedError says that an upstream cannot serve a kind of request at all, whatever
// its body: an endpoint its API lacks (Anthropic has no embeddings) or state it does not
// hold (a previous_response_id stored at OpenAI). Like an UntranslatableError, it is no
// fault of the caller's: a fallback chain skips the step, and when every step refuses,
// the caller's answer is a 400 that says why.
type UnsupportedError struct {
	Provider string // the upstream's name
	Format   Format // the request's format
	// Field is the request member that needs what the upstream lacks, such as
	// "previous_response_id"; empty when the whole request is out of its reach.
	Field  string
	Reason string
}

func (e *UnsupportedError) Error() string {
	s := e.Provider + ": cannot serve a " + string(e.Format) + " request"
	if e.Field != "" {
		s += fmt.Sprintf(" with %s", e.Field)
	}
	return s + ": " + e.Reason
}

// Unwrap returns ErrUnsupported.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// Supporter is implemented by a Provider that can tell, without calling the upstream,
// whether it can serve a request at all, so that a fallback chain skips a step that
// cannot before reserving anything for it. Supports returns nil, an *UnsupportedError
// (an endpoint or stored state the upstream lacks: errors.Is ErrUnsupported), or an
// *UntranslatableError (a field the translation to the upstream's format cannot carry:
// errors.Is ErrUntranslatable). It is safe for concurrent use and does no I/O.
type Supporter interface {
	Supports(req *Request) error
}
