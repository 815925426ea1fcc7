package redisstore

import (
	"errors"

	"github.com/tollgate/tollgate/quota"
)

var (
	// ErrUnavailable means Redis did not answer in time and the policy is FailClosed (or the
	// reservation lives in Redis and cannot be settled elsewhere). A gateway maps it to 503.
	ErrUnavailable = errors.New("redis unavailable")
	// ErrLeaseLost means a concurrency lease lapsed before Renew: its slot may already be
	// another call's.
	ErrLeaseLost = errors.New("concurrency lease lapsed before renewal")
)

// UnavailableError is a failure to reach Redis. It unwraps to ErrUnavailable, to
// quota.ErrUnavailable (so that callers need not know which store failed) and to the cause
// (a net error, context.DeadlineExceeded, ...).
type UnavailableError struct {
	Policy Policy
	Err    error
}

func (e *UnavailableError) Error() string {
	return "redis unavailable: " + e.Err.Error() + "; policy " + e.Policy.String()
}

// Unwrap returns ErrUnavailable, quota.ErrUnavailable and the cause.
func (e *UnavailableError) Unwrap() []error {
	return []error{ErrUnavailable, quota.ErrUnavailable, e.Err}
}
