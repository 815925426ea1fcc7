package retry

import (
	"time"

	"github.com/cenkalti/backoff/v5"
)

// BackOff returns the Policy's full-jitter backoff as a cenkalti/backoff BackOff, for code
// that already retries with backoff.Retry. It returns backoff.Stop once MaxAttempts-1
// retries were handed out and restarts at the first retry on Reset.
//
// It carries only what that interface can: no server waits, deadline or Budget (use Next or
// Do for those). Like every BackOff it holds a retry counter and is not safe for
// concurrent use; make one per retry loop.
func (p Policy) BackOff() backoff.BackOff {
	return &policyBackOff{p: p.withDefaults()}
}

// Interface guard: backoff.Retry must accept what BackOff returns.
var _ backoff.BackOff = (*policyBackOff)(nil)

type policyBackOff struct {
	p Policy
	n int // retries handed out since the last Reset
}

func (b *policyBackOff) NextBackOff() time.Duration {
	if b.n+1 >= b.p.MaxAttempts {
		return backoff.Stop
	}
	b.n++
	return b.p.Backoff(b.n)
}

func (b *policyBackOff) Reset() { b.n = 0 }
