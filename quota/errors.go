package quota

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. A refusal from Reserve is an *ExceededError that unwraps to exactly one of
// ErrExceeded, ErrBudget or ErrTooLarge; callers branch with errors.Is.
var (
	// ErrExceeded: a rate or concurrency quota is full now and will have room after RetryAfter.
	ErrExceeded = errors.New("quota exceeded")
	// ErrBudget: a budget (day, month, lifetime) has no room for this request before it resets.
	ErrBudget = errors.New("budget exhausted")
	// ErrTooLarge: the request is larger than the quota's limit or burst; it can never fit.
	ErrTooLarge = errors.New("request larger than quota limit")
	// ErrUnavailable: the store could not be reached in time (a shared store such as Redis
	// under a fail-closed policy). Nothing was reserved; the request should be refused with
	// a 503, not waited on.
	ErrUnavailable = errors.New("quota store unavailable")
	// ErrUnknownReservation: the reservation was already settled or released, or expired.
	ErrUnknownReservation = errors.New("unknown reservation")
)

// ExceededError is a refusal by one quota. It names the quota, its limit, its use, what was
// asked for, and when there will be room.
type ExceededError struct {
	Quota      Quota
	Used       int64         // the quota's use when the request was refused
	Requested  int64         // what the request asked of this quota
	RetryAfter time.Duration // for ErrExceeded: when the request would fit; for budgets: until ResetAt
	ResetAt    time.Time     // when the window resets; zero for lifetime budgets and rates
	// Why says what made the request as large as Requested when its body does not show it
	// (set by the caller that sized it, such as the engine); it ends the message.
	Why  string
	kind error
}

// Unwrap returns ErrExceeded, ErrBudget or ErrTooLarge.
func (e *ExceededError) Unwrap() error { return e.kind }

// Permanent reports whether waiting cannot help before the window resets.
func (e *ExceededError) Permanent() bool { return e.kind != ErrExceeded }

func (e *ExceededError) Error() string {
	u := e.Quota.Unit
	msg := fmt.Sprintf("%s: %s: limit %s, used %s, requested %s", e.kind, e.Quota.describe(),
		u.Format(e.Quota.Limit), u.Format(e.Used), u.Format(e.Requested))
	if e.Why != "" {
		msg += " (" + e.Why + ")"
	}
	switch {
	case e.kind == ErrTooLarge:
		return msg + "; it can never fit"
	case !e.ResetAt.IsZero():
		return msg + "; resets at " + e.ResetAt.Format(time.RFC3339)
	case e.kind == ErrBudget:
		return msg + "; it does not reset"
	case e.RetryAfter > 0:
		return msg + "; retry after " + e.RetryAfter.Round(time.Millisecond).String()
	}
	return msg
}

func refusal(q *Quota, kind error, used, requested int64, wait time.Duration, resetAt int64) *ExceededError {
	e := &ExceededError{Quota: *q, Used: used, Requested: requested, RetryAfter: wait, kind: kind}
	if resetAt > 0 {
		e.ResetAt = inZone(resetAt, q.Window.Location)
	}
	return e
}
