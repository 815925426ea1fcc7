package retry

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// The defaults that a zero Policy field stands for.
const (
	DefaultMaxAttempts   = 3
	DefaultInitial       = 500 * time.Millisecond
	DefaultMax           = 20 * time.Second
	DefaultMultiplier    = 2.0
	DefaultMaxServerWait = 60 * time.Second
)

// Policy says when and after how long a failed upstream attempt is tried again.
//
// Every field's zero value stands for its documented default, so the zero Policy is ready to
// use: 3 attempts, backoff from 500ms doubling up to 20s, server waits honoured up to 60s.
// A Policy is a value with no internal state; it is safe for concurrent use when Rand is.
type Policy struct {
	// MaxAttempts is the number of attempts in all, the first one included; 1 means no
	// retries. Zero means DefaultMaxAttempts.
	MaxAttempts int

	// Initial is the backoff ceiling before the first retry; the ceiling before retry n is
	// min(Max, Initial*Multiplier^(n-1)) and the wait is drawn uniformly from
	// [0, ceiling) (full jitter). Zero means DefaultInitial.
	Initial time.Duration

	// Max caps the backoff ceiling. It must not be below Initial. Zero means DefaultMax.
	Max time.Duration

	// Multiplier is the growth of the ceiling per retry, at least 1. Zero means
	// DefaultMultiplier.
	Multiplier float64

	// MaxServerWait is the longest server-requested wait (llm.Error.RetryAfter) that is
	// worth sleeping through. A longer one stops retries at once: the model is effectively
	// down for this request and the caller should fall back. Zero means
	// DefaultMaxServerWait.
	MaxServerWait time.Duration

	// Rand returns a number in [0, 1) and drives the jitter; tests set it to get exact
	// waits. It must be safe for concurrent use when the Policy is shared (a *rand.Rand's
	// Float64 is not: guard it, or give each goroutine its own Policy). Nil means
	// math/rand/v2's Float64, which is safe for concurrent use and cannot be reseeded by
	// anyone, so a nil Rand shares no mutable state that a caller could disturb.
	Rand func() float64
}

// Reasons that a Decision gives. A retry is explained by ReasonBackoff or ReasonServer;
// a stop by any of the others.
const (
	ReasonBackoff    = "backoff"     // retry after the jittered exponential backoff
	ReasonServer     = "server_wait" // retry after the wait the server asked for
	ReasonSuccess    = "success"     // the attempt did not fail
	ReasonFinal      = "final"       // the error is not retryable (llm.Kind, or not an llm error)
	ReasonAttempts   = "attempts"    // MaxAttempts attempts have been made
	ReasonServerLong = "server_long" // the server asked for a wait beyond MaxServerWait
	ReasonDeadline   = "deadline"    // the wait would end at or past the deadline
	ReasonBudget     = "budget"      // the retry Budget refused (Do only; Next never says it)
)

// Decision is what to do after a failed attempt.
type Decision struct {
	Retry  bool          // whether to make another attempt
	Wait   time.Duration // how long to wait before it; 0 when Retry is false
	Reason string        // one of the Reason constants
}

// Validate reports the first invalid field, by name. Zero fields are valid: they stand for
// their defaults.
func (p Policy) Validate() error {
	switch {
	case p.MaxAttempts < 0:
		return fmt.Errorf("retry: Policy.MaxAttempts %d is negative", p.MaxAttempts)
	case p.Initial < 0:
		return fmt.Errorf("retry: Policy.Initial %v is negative", p.Initial)
	case p.Max < 0:
		return fmt.Errorf("retry: Policy.Max %v is negative", p.Max)
	case p.Multiplier != 0 && !(p.Multiplier >= 1 && !math.IsInf(p.Multiplier, 1)):
		return fmt.Errorf("retry: Policy.Multiplier %v must be finite and at least 1", p.Multiplier)
	case p.MaxServerWait < 0:
		return fmt.Errorf("retry: Policy.MaxServerWait %v is negative", p.MaxServerWait)
	}
	if q := p.withDefaults(); q.Max < q.Initial {
		return fmt.Errorf("retry: Policy.Max %v is below Policy.Initial %v", q.Max, q.Initial)
	}
	return nil
}

// withDefaults replaces zero (and, defensively, invalid) fields by their defaults, so that
// Next and Backoff behave sanely even on a Policy that was never validated.
func (p Policy) withDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.Initial <= 0 {
		p.Initial = DefaultInitial
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if !(p.Multiplier >= 1) || math.IsInf(p.Multiplier, 1) {
		p.Multiplier = DefaultMultiplier
	}
	if p.MaxServerWait <= 0 {
		p.MaxServerWait = DefaultMaxServerWait
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	return p
}

// Ceiling returns the backoff ceiling before retry n (n = 1 for the first retry):
// min(Max, Initial*Multiplier^(n-1)). Backoff draws the actual wait below it.
func (p Policy) Ceiling(n int) time.Duration {
	p = p.withDefaults()
	if n < 1 {
		n = 1
	}
	c := float64(p.Initial) * math.Pow(p.Multiplier, float64(n-1))
	// The comparison in float64 also catches +Inf and values past math.MaxInt64, whose
	// conversion to Duration would be undefined.
	if c >= float64(p.Max) {
		return p.Max
	}
	return time.Duration(c)
}

// Backoff returns the wait before retry n (n = 1 for the first retry): a uniform draw from
// [0, Ceiling(n)), the "full jitter" of the AWS architecture blog's backoff study.
//
// It is written here rather than taken from cenkalti/backoff's ExponentialBackOff because
// that one draws from Interval*(1±RandomizationFactor): its waits never go below half the
// interval, so a fleet that failed together retries in a band, together. Full jitter spreads
// the retries over the whole interval, which is what empties a rate limit fastest. It is
// also a pure function of n, with no state to reset and nothing to guard across goroutines.
// [Policy.BackOff] adapts it to cenkalti/backoff's interface for users of backoff.Retry.
func (p Policy) Backoff(n int) time.Duration {
	q := p.withDefaults()
	r := q.Rand()
	// A caller's Rand that strays outside [0, 1) must not produce a negative wait or one
	// above the ceiling.
	if !(r > 0) {
		return 0
	}
	if r > 1 {
		r = 1
	}
	return time.Duration(r * float64(q.Ceiling(n)))
}

// Next decides what to do after attempt number attempt (1 for the first) failed with err,
// at now, for a request that must be done by deadline (the zero Time for none).
//
// In order: a nil err is a success; an error whose llm.KindOf is not Retryable is final
// (bad request, auth, context length, quota exhausted, too large, and every error that is
// not an *llm.Error, such as tollgate's own budget refusal or a cancelled context); no retry
// once MaxAttempts attempts were made; the wait is the *llm.Error's RetryAfter when it is
// positive (and no retry at all when that exceeds MaxServerWait), else Backoff(attempt);
// finally no retry when the wait would end at or past the deadline, since failing now lets
// the caller fall back while there is still time.
//
// Next is pure apart from Rand. It does not consult a Budget: when Next says Retry, the
// caller then asks its Budget with TryRetry, so that refused retries cost no tokens.
func (p Policy) Next(attempt int, err error, now, deadline time.Time) Decision {
	if err == nil {
		return Decision{Reason: ReasonSuccess}
	}
	// One errors.As both classifies and finds RetryAfter: the same as llm.KindOf, which
	// would walk the chain (and allocate its target) a second time.
	var e *llm.Error
	if !errors.As(err, &e) || !e.Kind.Retryable() {
		return Decision{Reason: ReasonFinal}
	}
	q := p.withDefaults()
	if attempt < 1 {
		attempt = 1
	}
	if attempt >= q.MaxAttempts {
		return Decision{Reason: ReasonAttempts}
	}
	d := Decision{Retry: true, Reason: ReasonBackoff}
	if e.RetryAfter > 0 {
		if e.RetryAfter > q.MaxServerWait {
			return Decision{Reason: ReasonServerLong}
		}
		d.Wait, d.Reason = e.RetryAfter, ReasonServer
	} else {
		d.Wait = q.Backoff(attempt)
	}
	// deadline.Sub saturates instead of overflowing, unlike now.Add(d.Wait).
	if !deadline.IsZero() && deadline.Sub(now) <= d.Wait {
		return Decision{Reason: ReasonDeadline}
	}
	return d
}
