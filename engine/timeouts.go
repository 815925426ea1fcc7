package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// Timeouts bound one attempt at an upstream, so that an upstream that takes a call and then
// says nothing fails that step, and the chain moves on to the next, instead of holding the
// caller until its own deadline. Each is per attempt: a retry or the next step starts its
// own. A zero field takes the value of the next level (Config.RouteTimeouts, then
// Config.UpstreamTimeouts, then Config.Timeouts) and at last its default.
//
// A stream's failure before its first content (a timeout, an error event, a cut) falls back
// like a failure before the 200, since nothing of it has reached the caller; after its
// first content, a silence longer than Idle ends it with an error, as any failure then.
type Timeouts struct {
	// Headers bounds the wait for a stream's response status and headers, from the call.
	// 0 means 60s.
	Headers time.Duration
	// FirstToken bounds, for a stream, the time from its headers to its first content
	// event (text, tool call or reasoning): the preamble before it (a role chunk,
	// message_start, pings) does not count. 0 means 60s.
	FirstToken time.Duration
	// Idle bounds the silence between two events of a stream once its content has begun.
	// 0 means 30s.
	Idle time.Duration
	// Answer bounds a whole (non-streaming) answer, from the call to its last byte. An
	// upstream sends a whole answer's headers only once it has generated it, so this is
	// the time to generate it: long enough for 4,096 tokens at 15 tokens a second. 0 means
	// 5 minutes.
	Answer time.Duration
}

// The defaults of Timeouts' zero fields.
const (
	DefaultHeadersTimeout    = 60 * time.Second
	DefaultFirstTokenTimeout = 60 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
	DefaultAnswerTimeout     = 5 * time.Minute
)

// validate reports the first negative field, named under path.
func (t Timeouts) validate(path string) error {
	for _, f := range [...]struct {
		name string
		v    time.Duration
	}{{"Headers", t.Headers}, {"FirstToken", t.FirstToken}, {"Idle", t.Idle}, {"Answer", t.Answer}} {
		if f.v < 0 {
			return fmt.Errorf("engine: Config.%s.%s must not be negative, got %v", path, f.name, f.v)
		}
	}
	return nil
}

// or fills t's zero fields from d.
func (t Timeouts) or(d Timeouts) Timeouts {
	if t.Headers == 0 {
		t.Headers = d.Headers
	}
	if t.FirstToken == 0 {
		t.FirstToken = d.FirstToken
	}
	if t.Idle == 0 {
		t.Idle = d.Idle
	}
	if t.Answer == 0 {
		t.Answer = d.Answer
	}
	return t
}

var defaultTimeouts = Timeouts{Headers: DefaultHeadersTimeout, FirstToken: DefaultFirstTokenTimeout,
	Idle: DefaultIdleTimeout, Answer: DefaultAnswerTimeout}

// timeouts returns the attempt timeouts of a step of route that goes to upstream.
func (e *Engine) timeouts(route, upstream string) Timeouts {
	t := e.cfg.RouteTimeouts[route]
	if len(e.cfg.UpstreamTimeouts) > 0 {
		t = t.or(e.cfg.UpstreamTimeouts[upstream])
	}
	return t.or(e.cfg.Timeouts)
}

// ErrAttemptTimeout is wrapped by the error of an attempt that one of its Timeouts cut
// (a *TimeoutError inside an *llm.Error of llm.KindTimeout).
var ErrAttemptTimeout = errors.New("attempt timeout")

// TimeoutError says which attempt timeout cut a call to which deployment. It unwraps to
// ErrAttemptTimeout.
type TimeoutError struct {
	// Deployment is the step that timed out: "openai/gpt-4o".
	Deployment string
	// Phase is the timeout that passed: "headers", "first_token", "idle" or "answer", as
	// the Timeouts fields (in the configuration's spelling).
	Phase string
	// Limit is the timeout's value.
	Limit time.Duration
}

func (e *TimeoutError) Error() string {
	switch e.Phase {
	case "headers":
		return fmt.Sprintf("%s sent no response headers within %v (attempt timeout)", e.Deployment, e.Limit)
	case "first_token":
		return fmt.Sprintf("%s sent no first token within %v of its headers (attempt timeout)", e.Deployment, e.Limit)
	case "idle":
		return fmt.Sprintf("%s's stream was silent for %v (attempt timeout)", e.Deployment, e.Limit)
	}
	return fmt.Sprintf("%s sent no whole answer within %v (attempt timeout)", e.Deployment, e.Limit)
}

// Unwrap returns ErrAttemptTimeout.
func (e *TimeoutError) Unwrap() error { return ErrAttemptTimeout }

// timedOut is the error of attempt a cut by its phase timeout of limit: an upstream
// timeout, so that breakers and the chain treat it as one.
func (a *attempt) timedOut(phase string, limit time.Duration) error {
	return &llm.Error{Kind: llm.KindTimeout, Provider: a.provider,
		Err: &TimeoutError{Deployment: a.provider + "/" + a.step.Model, Phase: phase, Limit: limit}}
}
