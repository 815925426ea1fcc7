package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// Learned configures the limits that the engine learns from its upstreams' answers (package
// learn): each upstream account's requests and tokens per minute, per model. The zero value
// learns nothing.
//
// Under enforcement the learner's quotas join every reservation of a call to its upstream
// and model, beside the configured ones, so that the queue waits for learned capacity
// instead of calling into a 429; a configured rate stays a ceiling, since every quota of a
// reservation must have room. Every answer and refusal of the upstream is observed.
//
// A 429 that the learner takes as a per-minute rate limit (learn.Learner.Observe) is not
// reported to the deployment's circuit breaker under enforcement: the learned quota already
// holds the deployment's calls back until the provider has room (until its retry-after,
// when it gave one), for waiting requests only, and at the rate the provider accepts,
// where an open breaker would turn every request away at once with "in cooldown" for as
// long, and then let all of them through together. The retry of the refused call waits in
// the queue like any other. Under Observe the breaker sees every 429, as without learning.
type Learned struct {
	// Set holds the learners. Nil learns nothing.
	Set *learn.Set
	// Observe learns and reports the limits (metrics, status, logs) without enforcing
	// them: the learned quotas are not reserved. Since nothing then waits on a learned
	// quota, a limit learned from refusals is not probed higher (see package learn);
	// limits stated by headers are exact either way. False enforces them.
	Observe bool
	// Upstreams names, by Config.Providers name, the account and wire format of every
	// upstream whose limits are learned; an upstream absent from it learns nothing.
	Upstreams map[string]learn.Upstream
}

// Validate reports an upstream named in Upstreams that is not a provider.
func (l *Learned) Validate(providers map[string]llm.Provider) error {
	if l.Set == nil {
		return nil
	}
	for name := range l.Upstreams {
		if providers[name] == nil {
			return fmt.Errorf("engine: Config.Learned.Upstreams[%q] names no provider", name)
		}
	}
	return nil
}

// learner returns the learner of provider and model; nil when their limits are not learned.
func (l *Learned) learner(provider, model string) *learn.Learner {
	if l.Set == nil {
		return nil
	}
	up, ok := l.Upstreams[provider]
	if !ok {
		return nil
	}
	return l.Set.Learner(up, model)
}

// errAbsorbed is what the circuit breaker is told of an upstream 429 that the learned
// limits absorbed: not an llm.Error, which the breakers take as neutral, neither success
// nor failure.
var errAbsorbed = errors.New("rate limited: absorbed by the learned limits")

// learn passes the outcome of the attempt's call, which ended with resp or err, to the
// learner of its upstream and model, and under enforcement keeps a 429 that the learner
// absorbed from the circuit breaker (see Learned). An abandoned call teaches nothing:
// its outcome is not known yet.
func (a *attempt) learn(resp *llm.Response, err error, abandoned bool) {
	l := a.r.quotas.learner
	if l == nil || abandoned {
		return
	}
	o := learn.OutcomeOf(a.callStart, a.worst, resp, err)
	if l.Observe(time.Now(), o) && !a.r.e.cfg.Learned.Observe && a.done != nil {
		done := a.done
		a.done = func(_ error, now time.Time) { done(errAbsorbed, now) }
	}
}

// learnedQuotas appends to dst the learned quotas of provider and model under enforcement,
// and returns the learner of the pair (nil when it is not learned).
func (l *Learned) learnedQuotas(dst []quota.Quota, provider, model string) ([]quota.Quota, *learn.Learner) {
	lr := l.learner(provider, model)
	if lr != nil && !l.Observe {
		dst = lr.Quotas(dst)
	}
	return dst, lr
}
