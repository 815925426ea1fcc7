package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/tokens"
)

// run is the state of one request inside Do.
type run struct {
	e        *Engine
	req      *llm.Request
	id       string
	start    time.Time
	deadline time.Time
	route    fallback.Route
	outcome  fallback.Outcome
	attempts int // upstream attempts across the chain
	input    int64
	level    queue.Level
	quotas   *quotaSet // of the model step being tried
	statuses []quota.Status
	// stopRenew ends the lease renewal of the one reservation a run holds at a time.
	stopRenew func()
	// res collects what Do returns besides the answer.
	res Result
}

func (e *Engine) newRun(ctx context.Context, req *llm.Request) *run {
	id := req.ID
	if id == "" {
		id = llm.NewRequestID()
	}
	r := &run{e: e, req: req, id: id, start: time.Now(),
		level: queue.LevelOf(req.Identity.Priority)}
	r.deadline, _ = ctx.Deadline()
	return r
}

func (r *run) emit(ev Event) {
	if r.e.cfg.OnEvent == nil {
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
	if err := r.estimate(); err != nil {
		return nil, err
	}
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
			return r.static(step), nil
		}
	}
	if last == nil {
		last = ErrNoRoute
	}
	return nil, last
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

// estimate sets the prompt size, the basis of every worst case.
func (r *run) estimate() error {
	if r.req.InputTokens > 0 {
		r.input = int64(r.req.InputTokens)
		return nil
	}
	var n int
	var err error
	switch {
	case r.req.Body != nil && r.req.Format == llm.OpenAI:
		n, err = tokens.OpenAIChat(r.req.Body)
	case r.req.Body != nil && r.req.Format == llm.Anthropic:
		n, err = tokens.AnthropicMessages(r.req.Body)
	default:
		n = tokens.Messages(r.req.System, r.req.Messages)
	}
	if err != nil {
		return &llm.Error{Kind: llm.KindBadRequest, Provider: "tollgate", Message: err.Error(), Err: err}
	}
	r.input = int64(n)
	return nil
}

// tryModel runs one model step: plan, reserve, call with retries. next reports whether
// the chain should go on to its next step after err.
func (r *run) tryModel(ctx context.Context, step fallback.Step, later bool) (*llm.Response, error, bool) {
	e := r.e
	model, err := e.prices.Lookup(step.Model)
	if err != nil {
		r.skip(step, step.Provider, fallback.WhyUnpriced, "no price for this model: "+err.Error(), false)
		return nil, err, true
	}
	provName := step.Provider
	if provName == "" {
		provName = model.Provider
	}
	prov := e.providers[provName]
	if prov == nil {
		err := fmt.Errorf("no upstream configured for provider %q", provName)
		r.skip(step, provName, fallback.WhyNoUpstream, err.Error(), false)
		return nil, err, true
	}
	deployment := provName + "/" + step.Model
	if st := e.cooldowns.State(deployment, time.Now()); st == fallback.Open {
		err := &llm.Error{Kind: llm.KindOverloaded, Provider: provName, Message: "in cooldown"}
		r.skip(step, provName, fallback.WhyCooldown, "cooldown", false)
		return nil, err, true
	}

	// Plan the output cap: the caller's (or the default), within the model's limits.
	maxOut := int64(r.req.MaxTokens)
	if maxOut <= 0 {
		maxOut = int64(e.cfg.DefaultMaxTokens)
	}
	maxOut = min(maxOut, int64(model.MaxOutput))
	if r.input >= int64(model.ContextWindow) {
		err := &llm.Error{Kind: llm.KindContextLength, Provider: "tollgate",
			Message: fmt.Sprintf("prompt of about %d tokens does not fit %s's context window of %d", r.input, model.Name, model.ContextWindow)}
		r.skip(step, provName, fallback.WhyContextWindow, fmt.Sprintf("context window %d < %d tokens", model.ContextWindow, r.input), false)
		return nil, err, true
	}
	if room := int64(model.ContextWindow) - r.input; maxOut > room {
		maxOut = room
	}

	labels := quota.Labels{Provider: provName, Model: model.Name, Tenant: r.req.Identity.Tenant,
		Key: r.req.Identity.Key, Agent: r.req.Identity.Agent, Session: r.req.Identity.Session}
	r.quotas = e.quotas.get(labels)

	var last error
	for attempt := 1; ; attempt++ {
		if r.attempts >= r.chainCap() {
			r.outcome.Record(fallback.Attempt{Model: step.Model, Provider: provName, Result: fallback.Failed,
				Why: fallback.WhyAttemptCap, Reason: fmt.Sprintf("attempt cap (%d) reached", r.chainCap()), Err: last})
			if last == nil {
				last = errors.New("attempt cap reached")
			}
			return nil, last, true
		}
		grant, worst, n, err := r.admit(ctx, model, maxOut, later)
		if err != nil {
			var skipped *budgetSkip
			if errors.As(err, &skipped) {
				r.skipErr(step, provName, fallback.WhyBudget, skipped.reason, true, skipped)
				return nil, skipped, true
			}
			if errors.Is(err, quota.ErrBudget) || errors.Is(err, quota.ErrTooLarge) {
				r.skipErr(step, provName, fallback.WhyBudget, err.Error(), true, err)
				return nil, err, true
			}
			return nil, err, false
		}
		maxOut = n
		r.admitted(grant, model.Name, provName)

		done, until, ok := e.cooldowns.Allow(deployment, time.Now())
		if !ok {
			r.finish(grant.Reservation.ID, quota.Amount{}, false)
			r.skip(step, provName, fallback.WhyCooldown, "cooldown until "+until.Format(time.TimeOnly), false)
			return nil, &llm.Error{Kind: llm.KindOverloaded, Provider: provName, Message: "in cooldown"}, true
		}
		r.attempts++
		if attempt == 1 {
			e.budget.Request(time.Now())
		}
		callStart := time.Now()
		resp, err := prov.Do(ctx, llm.Call{Request: r.req, Model: step.Model, MaxTokens: int(maxOut)})
		if err == nil {
			return r.served(step, provName, model, grant, worst, done, resp, callStart), nil, false
		}
		done(err, time.Now())
		// The upstream saw the request: it counts against request rates, costs nothing.
		r.finish(grant.Reservation.ID, quota.Amount{Requests: 1}, true)
		last = err
		var le *llm.Error
		status := 0
		if errors.As(err, &le) {
			status = le.Status
		}
		r.emit(Event{Kind: UpstreamError, Model: model.Name, Provider: provName, Err: err,
			ErrKind: llm.KindOf(err), Status: status})
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (upstream: %v)", ctx.Err(), err), false
		}
		now := time.Now()
		d := e.cfg.Retry.Next(attempt, err, now, r.deadline)
		if d.Retry && later && d.Wait > e.cfg.FallbackAfter {
			d.Retry = false // the next model answers sooner than this one would
		}
		if d.Retry && r.attempts < r.chainCap() && e.budget.TryRetry(now) {
			r.emit(Event{Kind: Retried, Model: model.Name, Provider: provName, Wait: d.Wait, Reason: d.Reason, Err: err})
			if err := wait(ctx, d.Wait); err != nil {
				return nil, err, false
			}
			continue
		}
		kind := llm.KindOf(err)
		reason := kind.String()
		if status != 0 {
			reason = fmt.Sprintf("%d %s", status, kind)
		}
		if attempt > 1 {
			reason += fmt.Sprintf(" after %d attempts", attempt)
		}
		why := fallback.WhyUpstream
		if kind == llm.KindTimeout {
			why = fallback.WhyTimeout
		}
		r.outcome.Record(fallback.Attempt{Model: step.Model, Provider: provName, Result: fallback.Failed, Why: why, Reason: reason, Err: err})
		return nil, err, fallsBack(kind)
	}
}

// fallsBack reports whether an upstream failure of kind k sends the request to the next
// step: the model is busy, down or too small; the request itself is fine.
func fallsBack(k llm.Kind) bool {
	switch k {
	case llm.KindRateLimited, llm.KindOverloaded, llm.KindServer, llm.KindTimeout,
		llm.KindConnection, llm.KindContextLength, llm.KindQuotaExhausted, llm.KindTooLarge:
		return true
	}
	return false
}

func (r *run) chainCap() int {
	if n := r.e.cfg.ChainAttempts; n > 0 {
		return n
	}
	return 5
}

func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *run) skip(step fallback.Step, provider string, why fallback.Why, reason string, downgrade bool) {
	r.skipErr(step, provider, why, reason, downgrade, nil)
}

// skipErr records a skipped step with the error that caused it, so that callers can
// branch on it (errors.Is(attempt.Err, quota.ErrBudget)) instead of reading the reason.
func (r *run) skipErr(step fallback.Step, provider string, why fallback.Why, reason string, downgrade bool, err error) {
	r.outcome.Record(fallback.Attempt{Model: step.Model, Provider: provider, Result: fallback.Skipped, Why: why, Reason: reason, Err: err})
	r.emit(Event{Kind: Skipped, Model: step.Model, Provider: provider, Why: why, Reason: reason, Downgrade: downgrade})
}

func (r *run) admitted(g queue.Grant, model, provider string) {
	r.e.open.Add(1)
	r.res.Waited += g.Waited
	r.renewLeases(g.Reservation.ID)
	r.emit(Event{Kind: Admitted, Model: model, Provider: provider, Waited: g.Waited})
	if w := g.Reservation.Warned; w != 0 {
		for i := range r.quotas.all {
			if i < 64 && w&(1<<i) != 0 {
				q := &r.quotas.all[i]
				name := q.Name
				if s := q.Scope.String(); s != "" {
					name += " [" + s + "]"
				}
				r.e.log.Warn("budget warning threshold crossed", "quota", name, "limit", q.Unit.Format(q.Limit),
					"request", r.id)
				r.emit(Event{Kind: BudgetWarning, Model: model, Provider: provider, Quota: name})
			}
		}
	}
}

// renewLeases keeps a reservation's leases alive while its call runs, when the store's
// leases expire and the attempt holds one.
func (r *run) renewLeases(id quota.ID) {
	every := r.e.cfg.LeaseRenew
	rn, ok := r.e.store.(renewer)
	if every <= 0 || !ok || !r.quotas.lease {
		return
	}
	stop := make(chan struct{})
	r.stopRenew = func() { close(stop) }
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), every)
				if err := rn.Renew(ctx, id); err != nil {
					r.e.log.Warn("lease renewal failed", "request", r.id, "err", err)
				}
				cancel()
			}
		}
	}()
}

// finish settles (or, with sent false, releases) a reservation on a context detached from
// the caller's: a caller that went away still pays for what it used.
func (r *run) finish(id quota.ID, actual quota.Amount, sent bool) {
	e := r.e
	if r.stopRenew != nil {
		r.stopRenew()
		r.stopRenew = nil
	}
	// The memory store never blocks and the Redis store bounds each call by its own
	// timeout, so the detached context needs no deadline of its own.
	ctx := context.Background()
	var err error
	if sent {
		// The settle's statuses are what the response headers report (QuotaStatus).
		var sts []quota.Status
		if sts, err = e.queue.Settle(ctx, id, actual, r.statuses[:0]); err == nil && len(sts) > 0 {
			r.statuses = sts
			r.quotas.remember(sts)
		}
	} else {
		err = e.queue.Release(ctx, id)
	}
	e.open.Add(-1)
	if err != nil {
		e.log.Error("settle failed", "request", r.id, "reservation", id.String(), "err", err)
	}
}

// served settles a successful call (or, for a stream, arranges for its end to settle it)
// and records it.
func (r *run) served(step fallback.Step, provider string, model pricing.Model, g queue.Grant,
	worst quota.Amount, done func(error, time.Time), resp *llm.Response, callStart time.Time) *llm.Response {
	r.outcome.Record(fallback.Attempt{Model: step.Model, Provider: provider, Result: fallback.Served})
	if resp.Model == "" {
		resp.Model = step.Model
	}
	r.res.Provider, r.res.Model, r.res.MaxTokens = provider, step.Model, int(worst.OutputTokens)
	ev := Event{Kind: Served, Model: model.Name, Provider: provider, Latency: time.Since(r.start),
		FellBack: r.outcome.FellBack()}
	if resp.Stream != nil {
		resp.Stream = &meteredStream{Stream: resp.Stream, end: func(u llm.Usage, complete bool, err error) {
			done(streamErr(err), time.Now())
			if !complete && u.OutputTokens == 0 {
				u = llm.Usage{InputTokens: worst.InputTokens, OutputTokens: worst.OutputTokens}
			}
			r.settleUsage(g, model, provider, u, callStart, outcomeOf(complete, err))
		}}
		// The stream settles later, into r.statuses: the caller gets the reservation's.
		r.res.Statuses = slices.Clone(r.statuses)
		r.emit(ev)
		return resp
	}
	done(nil, time.Now())
	u := resp.Usage
	if u == (llm.Usage{}) {
		u = llm.Usage{InputTokens: worst.InputTokens, OutputTokens: worst.OutputTokens}
	}
	ev.Usage, ev.MicroUSD = u, model.Cost(u)
	r.settleUsage(g, model, provider, u, callStart, "ok")
	r.res.Statuses = r.statuses
	if c := r.e.cache; c != nil {
		if k, err := cache.NewKey(model.Name, r.req); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), r.e.cfg.CacheTimeout)
			// A response too large to cache, or a shared cache that is down, only costs a
			// later cache miss.
			if err := c.Put(ctx, k, resp, time.Now()); err != nil && !errors.Is(err, cache.ErrNotCacheable) && !errors.Is(err, cache.ErrTooLarge) {
				r.e.log.Warn("cache put failed", "request", r.id, "err", err)
			}
			cancel()
		}
	}
	r.emit(ev)
	return resp
}

func streamErr(err error) error {
	if errors.Is(err, llm.EOF) {
		return nil
	}
	return err
}

func outcomeOf(complete bool, err error) string {
	switch {
	case complete:
		return "ok"
	case err == nil || errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "error"
}

func (r *run) settleUsage(g queue.Grant, model pricing.Model, provider string, u llm.Usage, callStart time.Time, outcome string) {
	cost := model.Cost(u)
	r.finish(g.Reservation.ID, quota.Amount{Requests: 1, InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, MicroUSD: cost}, true)
	r.emit(Event{Kind: Settled, Model: model.Name, Provider: provider, Usage: u, MicroUSD: cost})
	if l := r.e.cfg.Ledger; l != nil {
		id := r.req.Identity
		err := l.Append(ledger.Record{Time: time.Now(), RequestID: r.id, Tenant: id.Tenant, Key: id.Key,
			Agent: id.Agent, Session: id.Session, Route: r.route.Name, Provider: provider, Model: model.Name,
			InputTokens: u.InputTokens, CachedInputTokens: u.CachedInputTokens, OutputTokens: u.OutputTokens,
			MicroUSD: cost, Outcome: outcome, FallbackReason: r.outcome.FallbackReason,
			Latency: time.Since(callStart), Attempt: r.attempts})
		if err != nil {
			r.e.log.Error("ledger append failed", "request", r.id, "err", err)
		}
	}
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

// budgetSkip is the error of a model step skipped to save budget for a cheaper one. It
// is a downgrade, not a refusal: it unwraps to ErrDowngraded.
type budgetSkip struct{ reason string }

func (b *budgetSkip) Error() string { return b.reason }
func (b *budgetSkip) Unwrap() error { return ErrDowngraded }
