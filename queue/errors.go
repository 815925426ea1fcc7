package queue

import (
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// Sentinel errors. Acquire's refusals unwrap to exactly one of them (or are a permanent quota
// error, or the context's error); callers branch with errors.Is. Check these before
// quota.ErrExceeded: a *WaitError also unwraps to the quota refusal it waited on.
var (
	// ErrFull: the queue sheds the request because too many are waiting (ShedError).
	ErrFull = errors.New("queue full")
	// ErrTimeout: the request could not be admitted before its deadline (WaitError).
	ErrTimeout = errors.New("queue wait timed out")
	// ErrClosed: the queue was closed before the request was admitted.
	ErrClosed = errors.New("queue closed")
)

// ShedError is an immediate refusal because the queue is full. It unwraps to ErrFull.
type ShedError struct {
	// Reason says which limit was hit: "tenant" (Config.MaxQueued) or "all" (MaxQueuedAll).
	Reason string
	Tenant string
	// RetryAfter estimates when the queue may have room: the blocking key's next refill or
	// the recent average wait.
	RetryAfter time.Duration
}

// Unwrap returns ErrFull.
func (e *ShedError) Unwrap() error { return ErrFull }

// Error says which limit shed the request and when to retry.
func (e *ShedError) Error() string {
	who := "in all"
	if e.Reason == "tenant" {
		who = "for tenant " + e.Tenant
	}
	return fmt.Sprintf("%s: too many waiting %s; retry after %v", ErrFull, who, e.RetryAfter.Round(time.Millisecond))
}

// WaitError is a refusal after (or instead of) waiting: ErrTimeout when the deadline comes
// first or the wait estimate already passes it, ErrClosed when the queue closes. It unwraps
// to Err, to the quota refusal that made the request wait (when there was one), and to the
// context's error when the context's deadline was the one that expired.
type WaitError struct {
	// Err is ErrTimeout or ErrClosed.
	Err error
	// Quota is the last refusal by the store (a *quota.ExceededError), or nil when the
	// request queued behind others without trying the store.
	Quota error
	// Waited is how long the request waited; 0 when it was refused at once.
	Waited time.Duration
	// RetryAfter estimates when a retry may be admitted.
	RetryAfter time.Duration
	ctxErr     error
}

// Unwrap returns Err, Quota and the context's error, those that are set.
func (e *WaitError) Unwrap() []error {
	errs := []error{e.Err}
	if e.Quota != nil {
		errs = append(errs, e.Quota)
	}
	if e.ctxErr != nil {
		errs = append(errs, e.ctxErr)
	}
	return errs
}

// Error says why the wait ended, how long it lasted, the quota refusal and when to retry.
func (e *WaitError) Error() string {
	msg := e.Err.Error()
	if e.Waited > 0 {
		msg += " after " + e.Waited.Round(time.Millisecond).String()
	}
	if e.Quota != nil {
		msg += ": " + e.Quota.Error()
	}
	if e.RetryAfter > 0 && !saysWhen(e.Quota) {
		msg += "; retry after " + e.RetryAfter.Round(time.Millisecond).String()
	}
	return msg
}

// saysWhen reports whether a quota refusal's message already says when to retry (a rate's
// wait, a window's reset), so that a WaitError does not say it twice.
func saysWhen(err error) bool {
	var qe *quota.ExceededError
	return errors.As(err, &qe) && (qe.RetryAfter > 0 || !qe.ResetAt.IsZero())
}
