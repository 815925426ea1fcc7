package retry

import (
	"context"
	"fmt"
	"time"
)

// GiveUpError is what Do returns when it stopped retrying an error that was retryable in
// itself: attempts, deadline, server wait or budget ran out. It unwraps to the last
// attempt's error, so llm.KindOf and errors.As see the upstream failure through it.
type GiveUpError struct {
	Reason   string // ReasonAttempts, ReasonDeadline, ReasonServerLong or ReasonBudget
	Attempts int    // attempts made, the first one included
	Err      error  // the last attempt's error
}

func (e *GiveUpError) Error() string {
	return fmt.Sprintf("retry: gave up after %d attempt(s) (%s): %v", e.Attempts, e.Reason, e.Err)
}

func (e *GiveUpError) Unwrap() error { return e.Err }

// Do calls fn until it succeeds or Next (then b) says to stop, waiting between attempts on
// a timer. It is the engine's loop for library users who want retries around their own
// calls; the engine itself calls Next between attempts because it also falls back.
//
// The ctx deadline is the request's deadline for Next. Cancelling ctx ends a wait at once
// and no attempt starts after it. b may be nil for no retry budget; otherwise Do records
// the first attempt with b.Request and asks b.TryRetry before each retry.
//
// Do returns nil on success; the last error unchanged when it was final (not retryable);
// a *GiveUpError wrapping the last error when retries ran out; and, when ctx ended first,
// an error that wraps both context.Cause(ctx) and the last error (if any). It returns
// Validate's error, without calling fn, for an invalid Policy.
func (p Policy) Do(ctx context.Context, b *Budget, fn func(ctx context.Context) error) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	b.Request(time.Now())
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if cause := context.Cause(ctx); cause != nil {
			return canceled(cause, err)
		}
		now := time.Now()
		d := p.Next(attempt, err, now, deadline)
		switch {
		case d.Reason == ReasonFinal:
			return err
		case !d.Retry:
			return &GiveUpError{Reason: d.Reason, Attempts: attempt, Err: err}
		case !b.TryRetry(now):
			return &GiveUpError{Reason: ReasonBudget, Attempts: attempt, Err: err}
		}
		if d.Wait <= 0 {
			continue
		}
		if timer == nil {
			timer = time.NewTimer(d.Wait)
		} else {
			timer.Reset(d.Wait) // since Go 1.23, Reset needs no drain
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return canceled(context.Cause(ctx), err)
		}
	}
}

// canceled wraps the context's cause together with the last attempt's error, so that
// errors.Is(err, context.Canceled) and llm.KindOf(err) both see what happened.
func canceled(cause, last error) error {
	return fmt.Errorf("retry: %w (last attempt: %w)", cause, last)
}
