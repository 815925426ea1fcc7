package engine

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// run is the state of one request inside Do: the chain walked so far and what Do will
// return. Its phases live in their own files: plan (estimate, cap, reserve), attempt (the
// upstream call and its retries) and settle (the one place where an attempt's
// reservation, hold and ledger record end).
type run struct {
	e        *Engine
	req      *llm.Request
	id       string
	start    time.Time
	route    fallback.Route
	outcome  fallback.Outcome
	attempts int // upstream attempts across the chain
	level    queue.Level
	quotas   *quotaSet // of the model step being tried
	statuses []quota.Status
	// inputs are the prompt's estimates per provider family (a chain rarely spans more
	// than two), made at the first step of each.
	inputs   []estimate
	inputBuf [2]estimate
	// att is the attempt under way. A run makes one attempt at a time and each ends
	// (settled or released) before the next starts, except the last: a stream, or a call
	// its caller abandoned, which ends after Do has returned.
	att attempt
	// res collects what Do returns besides the answer.
	res Result
	// coolUntil is when the first deployment skipped for its cooldown half-opens; zero
	// when none was skipped so or its breaker did not say.
	coolUntil time.Time
}

func (e *Engine) newRun(ctx context.Context, req *llm.Request) *run {
	id := req.ID
	if id == "" {
		id = llm.NewRequestID()
	}
	r := &run{e: e, req: req, id: id, start: time.Now(), level: queue.LevelOf(req.Identity.Priority)}
	r.inputs = r.inputBuf[:0]
	return r
}

// observed reports whether events are observed: the hot path builds its events (a few
// hundred bytes each) only then.
func (r *run) observed() bool { return r.e.cfg.OnEvent != nil }

func (r *run) emit(ev Event) {
	if !r.observed() {
		return
	}
	ev.Time = time.Now()
	ev.RequestID = r.id
	ev.Route = r.route.Name
	ev.Identity = r.req.Identity
	ev.Level = r.level
	r.e.cfg.OnEvent(ev)
}

func (r *run) run(ctx context.Context) (*llm.Response, error) {
	route, err := r.e.Route(r.req.Model)
	if err != nil {
		return nil, err
	}
	r.route = route
	if route.CacheFirst {
		if resp := r.fromCache(ctx, false); resp != nil {
			return resp, nil
		}
	}
	var last error
	for i, step := range route.Steps {
		switch step.Kind {
		case fallback.StepModel:
			resp, err, next := r.tryModel(ctx, step, r.laterModel(i))
			if err == nil {
				return resp, nil
			}
			last = err
			if !next {
				return nil, err
			}
		case fallback.StepCached:
			if resp := r.fromCache(ctx, true); resp != nil {
				return resp, nil
			}
			r.outcome.Record(fallback.Attempt{Model: "cached", Result: fallback.Skipped, Why: fallback.WhyCacheMiss, Reason: "no cached answer"})
		case fallback.StepStatic:
			// A static answer stands in for a model that is down, not for a budget that
			// is spent: an agent must see its budget stop, or it would loop on the answer.
			if errors.Is(last, quota.ErrBudget) || errors.Is(last, quota.ErrTooLarge) {
				return nil, last
			}
			if r.noStepCould() {
				// Nor would any model: the request itself needs what no step has, and its
				// caller must hear why rather than get a stand-in answer.
				return nil, last
			}
			if !r.req.Format.Generates() {
				// A text is no embedding: the caller could not tell it from a real answer.
				r.outcome.Record(fallback.Attempt{Model: "static", Result: fallback.Skipped, Why: fallback.WhyUnsupported,
					Reason: "a static answer is text, and an " + string(r.req.Format) + " request generates none"})
				continue
			}
			return r.static(step), nil
		}
	}
	if last == nil {
		last = ErrNoRoute
	}
	return nil, r.chainError(last)
}

// chainError decides what a chain that no step served fails with, from last (the last
// step's error) and the outcome:
//
//   - a final refusal wins over a transient one: when a step was refused by a budget and
//     the chain then ended on a failure that time cures (a cooldown, a full rate, an
//     overloaded upstream), the budget's refusal is the answer, so that the caller stops
//     instead of retrying what cannot pass;
//   - when no step reached an upstream and some were skipped for their cooldown, a
//     *CooldownError that says when the first breaker half-opens;
//   - otherwise last: when every step refused the request as one it cannot carry (an
//     untranslatable or unsupported field), that refusal, which names the field.
func (r *run) chainError(last error) error {
	if finalErr(last) {
		return last
	}
	for _, a := range r.outcome.Attempts {
		var qe *quota.ExceededError
		if a.Err != nil && errors.As(a.Err, &qe) && qe.Permanent() {
			return qe
		}
	}
	var cooling []string
	for _, a := range r.outcome.Attempts {
		switch {
		case a.Result != fallback.Skipped:
			return last // an upstream was tried: its failure is the answer
		case a.Why == fallback.WhyCooldown:
			cooling = append(cooling, fallback.Deployment(a.Provider, a.Model))
		}
	}
	if len(cooling) == 0 {
		return last
	}
	ce := &CooldownError{Deployments: cooling, Until: r.coolUntil}
	if !ce.Until.IsZero() {
		ce.RetryAfter = max(time.Until(ce.Until), time.Millisecond)
	}
	return ce
}

// finalErr reports whether err is a refusal that retrying cannot cure: a budget, a
// request larger than a quota or an upstream's limit, a spent upstream quota, rejected
// credentials, or the caller's own cancellation.
func finalErr(err error) bool {
	switch {
	case errors.Is(err, quota.ErrBudget), errors.Is(err, quota.ErrTooLarge),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	switch llm.KindOf(err) {
	case llm.KindQuotaExhausted, llm.KindTooLarge, llm.KindAuth:
		return true
	}
	return false
}

// coolingUntil notes that a deployment skipped for its cooldown half-opens at until.
func (r *run) coolingUntil(until time.Time) {
	if !until.IsZero() && (r.coolUntil.IsZero() || until.Before(r.coolUntil)) {
		r.coolUntil = until
	}
}

// noStepCould reports whether every step tried so far was skipped as unable to serve the
// request at all (an endpoint, stored state or a field that it lacks), at least one.
func (r *run) noStepCould() bool {
	for _, a := range r.outcome.Attempts {
		if a.Why != fallback.WhyUnsupported && a.Why != fallback.WhyUntranslatable {
			return false
		}
	}
	return len(r.outcome.Attempts) > 0
}

// laterModel reports whether a model step follows step i: only then is skipping step i for
// the budget a downgrade rather than a refusal.
func (r *run) laterModel(i int) bool {
	for _, s := range r.route.Steps[i+1:] {
		if s.Kind == fallback.StepModel {
			return true
		}
	}
	return false
}

// fromCache serves the chain's cached step (stale allowed) or a cache-first lookup (fresh
// only), trying each model's family in chain order.
func (r *run) fromCache(ctx context.Context, staleOK bool) *llm.Response {
	c := r.e.cache
	if c == nil {
		return nil
	}
	now := time.Now()
	for _, s := range r.route.Steps {
		if s.Kind != fallback.StepModel {
			continue
		}
		family := s.Model
		if m, err := r.e.prices.Lookup(s.Model); err == nil {
			family = m.Name
		}
		k, err := cache.NewKey(family, r.req)
		if err != nil {
			return nil
		}
		ent, fresh, ok := c.Get(ctx, k, now)
		if !ok || (!fresh && !staleOK) {
			continue
		}
		resp := ent.Response
		resp.Cached = true
		r.outcome.Record(fallback.Attempt{Model: "cached", Result: fallback.Served, Reason: "cached answer of " + family})
		r.outcome.Stale = !fresh
		r.emit(Event{Kind: Served, Model: resp.Model, Cached: true, Stale: !fresh, Latency: time.Since(r.start),
			FellBack: r.outcome.FellBack()})
		return &resp
	}
	return nil
}

func (r *run) static(step fallback.Step) *llm.Response {
	r.outcome.Record(fallback.Attempt{Model: "static", Result: fallback.Served})
	r.emit(Event{Kind: Served, Model: "static", Static: true, Latency: time.Since(r.start), FellBack: r.outcome.FellBack()})
	return &llm.Response{Model: "static", Text: step.Message, StopReason: "stop"}
}

// storeInCache keeps a whole answer of model for later cache lookups, on a context
// detached from the caller's: a response too large to cache, or a shared cache that is
// down, only costs a later cache miss.
func (r *run) storeInCache(model string, resp *llm.Response) {
	c := r.e.cache
	if c == nil {
		return
	}
	k, err := cache.NewKey(model, r.req)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.e.cfg.CacheTimeout)
	defer cancel()
	if err := c.Put(ctx, k, resp, time.Now()); err != nil && !errors.Is(err, cache.ErrNotCacheable) && !errors.Is(err, cache.ErrTooLarge) {
		r.e.log.Warn("cache put failed", "request", r.id, "err", err)
	}
}
