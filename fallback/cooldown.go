package fallback

import (
	"cmp"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// State is a deployment's circuit-breaker state.
type State int

// The states. The zero State is Closed.
const (
	Closed   State = iota // calls go through
	Open                  // cooling down: calls are refused until the open period ends
	HalfOpen              // the open period ended: one probe call decides
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Defaults for the zero CooldownConfig.
const (
	DefaultCooldown         = 30 * time.Second
	DefaultFailureThreshold = 3
	DefaultMaxCooldown      = 5 * time.Minute
)

// CooldownConfig configures Cooldowns. The zero value is valid and means the defaults.
type CooldownConfig struct {
	// Cooldown is the first open period after a trip without a server-given Retry-After;
	// each further trip without an intervening success doubles it. 0 means DefaultCooldown
	// (30s).
	Cooldown time.Duration
	// FailureThreshold is how many consecutive failures (overloaded, server error, timeout,
	// connection) open a closed deployment. A rate limit opens it at once. 0 means
	// DefaultFailureThreshold (3).
	FailureThreshold int
	// MaxCooldown caps every open period, Retry-After included, and is the open period after
	// an auth failure or an exhausted quota. 0 means DefaultMaxCooldown (5m).
	MaxCooldown time.Duration
	// ProbeTimeout is how long a half-open probe may stay unanswered before it is deemed
	// lost (its done never called) and another probe is let through; the lost probe's late
	// result is then ignored. 0 means MaxCooldown.
	ProbeTimeout time.Duration
}

// Validate reports the first field that is out of range.
func (c CooldownConfig) Validate() error {
	switch {
	case c.Cooldown < 0:
		return fmt.Errorf("fallback: CooldownConfig.Cooldown %v is negative", c.Cooldown)
	case c.FailureThreshold < 0:
		return fmt.Errorf("fallback: CooldownConfig.FailureThreshold %d is negative", c.FailureThreshold)
	case c.MaxCooldown < 0:
		return fmt.Errorf("fallback: CooldownConfig.MaxCooldown %v is negative", c.MaxCooldown)
	case c.ProbeTimeout < 0:
		return fmt.Errorf("fallback: CooldownConfig.ProbeTimeout %v is negative", c.ProbeTimeout)
	}
	cooldown, maxCooldown := cmp.Or(c.Cooldown, DefaultCooldown), cmp.Or(c.MaxCooldown, DefaultMaxCooldown)
	if maxCooldown < cooldown {
		return fmt.Errorf("fallback: CooldownConfig.MaxCooldown %v is below Cooldown %v", maxCooldown, cooldown)
	}
	return nil
}

func (c CooldownConfig) withDefaults() CooldownConfig {
	if c.Cooldown <= 0 {
		c.Cooldown = DefaultCooldown
	}
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = DefaultFailureThreshold
	}
	if c.MaxCooldown <= 0 {
		c.MaxCooldown = DefaultMaxCooldown
	}
	c.MaxCooldown = max(c.MaxCooldown, c.Cooldown)
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = c.MaxCooldown
	}
	return c
}

// breaker is one deployment's state. It is deliberately small and made of plain values so
// that a Redis-shared version can keep it in one hash (openUntil and probeSince as Unix
// milliseconds, failures, trips, gen) and run the same transitions in a Lua script with
// Redis's TIME as now.
type breaker struct {
	openUntil  time.Time // zero while closed
	probeSince time.Time // when the half-open probe was let through; zero when none is out
	failures   int       // consecutive failures while closed
	trips      int       // trips since the last success: the backoff exponent
	gen        uint64    // changes on every transition; results of older generations are dropped
}

func (b *breaker) state(now time.Time) State {
	switch {
	case b.openUntil.IsZero():
		return Closed
	case now.Before(b.openUntil):
		return Open
	}
	return HalfOpen
}

// Cooldowns is a circuit breaker per deployment ("openai/gpt-4o"). It is safe for concurrent
// use; the zero Cooldowns is not usable, create it with NewCooldowns.
//
// A closed deployment opens on a rate limit (for the server's Retry-After, else the backoff
// period) or after FailureThreshold consecutive failures (for the backoff period:
// Cooldown doubled per trip since the last success, capped at MaxCooldown). When the period
// ends it is half-open: exactly one probe goes through while other callers see it cooling
// down; the probe's success closes it, its failure re-opens it for the next, doubled,
// period. Each transition starts a new generation, and a result reported for an older
// generation (a call that started before the transition) is ignored.
//
// It is written by hand rather than on github.com/sony/gobreaker/v2, whose shape it
// borrows (generations, the two-step Allow/done API), because gobreaker reads time.Now
// itself, which rules out deterministic tests with explicit instants, and has one fixed
// Timeout per breaker, while a 429 must open a deployment for the Retry-After that the
// server gave for that one trip.
//
// Memory: a deployment gets state only at its first counted failure, so requests to
// arbitrary names that fail with final errors do not grow it.
type Cooldowns struct {
	cfg CooldownConfig

	mu sync.Mutex
	m  map[string]*breaker
}

// NewCooldowns returns Cooldowns with every deployment closed. Fields that cfg.Validate
// would reject are replaced by their defaults; call Validate first to report them.
func NewCooldowns(cfg CooldownConfig) *Cooldowns {
	return &Cooldowns{cfg: cfg.withDefaults(), m: make(map[string]*breaker)}
}

// Allow asks whether a call to deployment may start at now. When ok is false the deployment
// is cooling down and until is the earliest time worth trying again (while a half-open probe
// is out, the time at which that probe would be deemed lost). When ok is true the caller
// must call done exactly once with the call's result and the time it ended; later calls of
// done are ignored.
//
// done classifies err by llm.KindOf: nil is a success; a rate limit opens the deployment
// (for the *llm.Error's RetryAfter if set, else the backoff period); overloaded, server,
// timeout and connection errors are failures; auth and quota-exhausted errors open it for
// MaxCooldown, since every call would fail the same way until an operator acts; final
// errors about the request (bad request, context length, too large, unknown) and errors
// that are not *llm.Error (such as the client's own cancellation) do not count. A
// caller's attempt deadline must therefore be reported as an *llm.Error of KindTimeout.
func (c *Cooldowns) Allow(deployment string, now time.Time) (done func(err error, now time.Time), until time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.m[deployment]
	if b == nil {
		// A breaker created later by a failure starts at generation 0, so this call's result
		// still counts towards it.
		return c.doneFunc(deployment, 0), time.Time{}, true
	}
	switch b.state(now) {
	case Open:
		return nil, b.openUntil, false
	case HalfOpen:
		if !b.probeSince.IsZero() {
			if lost := b.probeSince.Add(c.cfg.ProbeTimeout); now.Before(lost) {
				return nil, lost, false
			}
		}
		b.gen++
		b.probeSince = now
	}
	return c.doneFunc(deployment, b.gen), time.Time{}, true
}

func (c *Cooldowns) doneFunc(deployment string, gen uint64) func(error, time.Time) {
	var called atomic.Bool
	return func(err error, now time.Time) {
		if called.Swap(true) {
			return
		}
		c.report(deployment, gen, err, now)
	}
}

type verdict int

const (
	neutral verdict = iota
	success
	failure
	rateLimited
	disabled
)

func classify(err error) (verdict, time.Duration) {
	if err == nil {
		return success, 0
	}
	var e *llm.Error
	if !errors.As(err, &e) {
		return neutral, 0
	}
	switch e.Kind {
	case llm.KindRateLimited:
		return rateLimited, e.RetryAfter
	case llm.KindOverloaded, llm.KindServer, llm.KindTimeout, llm.KindConnection:
		return failure, 0
	case llm.KindAuth, llm.KindQuotaExhausted:
		return disabled, 0
	}
	return neutral, 0
}

func (c *Cooldowns) report(deployment string, gen uint64, err error, now time.Time) {
	v, retryAfter := classify(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.m[deployment]
	if b == nil {
		if gen != 0 || v == neutral || v == success {
			return
		}
		b = &breaker{}
		c.m[deployment] = b
	}
	if b.gen != gen {
		return
	}
	probe := b.state(now) != Closed
	switch v {
	case neutral:
		if probe {
			// The probe proved nothing either way: let the next caller probe.
			b.probeSince = time.Time{}
		}
	case success:
		if probe {
			*b = breaker{gen: b.gen + 1}
		} else {
			b.failures, b.trips = 0, 0
		}
	case failure:
		b.failures++
		if probe || b.failures >= c.cfg.FailureThreshold {
			c.trip(b, c.backoff(b.trips), now)
		}
	case rateLimited:
		d := c.backoff(b.trips)
		if retryAfter > 0 {
			d = min(retryAfter, c.cfg.MaxCooldown)
		}
		c.trip(b, d, now)
	case disabled:
		c.trip(b, c.cfg.MaxCooldown, now)
	}
}

func (c *Cooldowns) trip(b *breaker, d time.Duration, now time.Time) {
	b.openUntil = now.Add(d)
	b.probeSince = time.Time{}
	b.failures = 0
	b.trips++
	b.gen++
}

// backoff returns Cooldown doubled trips times, capped at MaxCooldown.
func (c *Cooldowns) backoff(trips int) time.Duration {
	d := c.cfg.Cooldown
	for range trips {
		if d >= c.cfg.MaxCooldown/2 {
			return c.cfg.MaxCooldown
		}
		d *= 2
	}
	return min(d, c.cfg.MaxCooldown)
}

// State returns deployment's state at now, for metrics and tests. It changes nothing.
func (c *Cooldowns) State(deployment string, now time.Time) State {
	st, _ := c.StateUntil(deployment, now)
	return st
}

// StateUntil returns deployment's state at now and, when it is Open, when it half-opens
// (zero otherwise): what a caller refused by every deployment of a chain is told to wait.
// It changes nothing.
func (c *Cooldowns) StateUntil(deployment string, now time.Time) (State, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.m[deployment]; b != nil {
		st := b.state(now)
		if st == Open {
			return st, b.openUntil
		}
		return st, time.Time{}
	}
	return Closed, time.Time{}
}
