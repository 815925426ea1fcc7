package fallback

import (
	"slices"
	"strings"
	"time"
)

// Breaker is one deployment's circuit breaker, as Breakers reports it to an operator.
type Breaker struct {
	Deployment string
	State      State
	// Until is when an open breaker lets a probe through; zero unless State is Open.
	Until time.Time
	// Failures counts consecutive failures while closed; Trips counts the trips since the
	// last success, which double each open period.
	Failures, Trips int
}

// Breakers returns the breaker of every deployment that has failed since it was last
// reset, by name, at now. Deployments that never failed are closed and absent.
func (c *Cooldowns) Breakers(now time.Time) []Breaker {
	c.mu.Lock()
	out := make([]Breaker, 0, len(c.m))
	for d, b := range c.m {
		br := Breaker{Deployment: d, State: b.state(now), Failures: b.failures, Trips: b.trips}
		if br.State == Open {
			br.Until = b.openUntil
		}
		out = append(out, br)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Breaker) int { return strings.Compare(a.Deployment, b.Deployment) })
	return out
}

// Reset closes deployment's breaker and forgets its failures, as an operator does once the
// cause is fixed, and reports whether it had any state. Results of calls let through
// before the reset are ignored (the generation moves on), so a late failure cannot reopen
// it.
func (c *Cooldowns) Reset(deployment string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.m[deployment]
	if b == nil {
		return false
	}
	*b = breaker{gen: b.gen + 1}
	return true
}
