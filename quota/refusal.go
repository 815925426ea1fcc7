package quota

import "time"

// NewRefusal builds the refusal that a Store outside this package (the Redis store) returns
// from Reserve, so that callers see one error type whatever the store. kind must be
// ErrExceeded, ErrBudget or ErrTooLarge; resetAt is the zero time for rates and lifetime
// budgets.
func NewRefusal(q Quota, kind error, used, requested int64, retryAfter time.Duration, resetAt time.Time) *ExceededError {
	return &ExceededError{Quota: q, Used: used, Requested: requested, RetryAfter: retryAfter, ResetAt: resetAt, kind: kind}
}
