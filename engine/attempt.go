package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// The attempt phase: one model step's reservations, upstream calls and retries.

// attempt is one reserved upstream attempt: its plan, reservation and hold, and
// everything its settle needs. The settle of a stream or of an abandoned call runs after
// Do has returned, in another goroutine, so the fields are set before the call starts and
// only read after.
type attempt struct {
	r        *run
	n        int // the attempt's number across the chain (Record.Attempt)
	step     fallback.Step
	provider string
	model    pricing.Model
	shape    shape
	grant    queue.Grant
	worst    quota.Amount
	maxOut   int64 // the cap per choice reserved and sent
	timeouts Timeouts
	holdID   string // the hold's id; "" without a ledger
	held     bool   // the hold is durable
	// fallbackReason is the chain's FallbackReason when the attempt started.
	fallbackReason string
	callStart      time.Time
	// done reports the call's result to the deployment's circuit breaker, exactly once.
	done      func(error, time.Time)
	stopRenew func()
	// cancel releases the call's context, detached from the caller's; nil when the call
	// ran on the caller's own (which nothing can cancel).
	cancel context.CancelFunc
}

// tryModel runs one model step: plan, reserve, hold, call with retries. next reports
// whether the chain should go on to its next step after err.
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
	if err := r.supported(step, provName, prov, model); err != nil {
		return nil, err, true
	}
	deployment := provName + "/" + step.Model
	if st, until := r.cooldownState(deployment); st == fallback.Open {
		err := &llm.Error{Kind: llm.KindOverloaded, Provider: provName, Message: "in cooldown"}
		r.coolingUntil(until)
		r.skip(step, provName, fallback.WhyCooldown, "cooldown", false)
		return nil, err, true
	}
	input, err := r.inputFor(model.Provider)
	if err != nil {
		return nil, err, false
	}
	maxOut, err := r.capFor(model, input)
	if err != nil {
		r.skip(step, provName, fallback.WhyContextWindow, fmt.Sprintf("context window %d < %d tokens", model.ContextWindow, input), false)
		return nil, err, true
	}
	labels := quota.Labels{Provider: provName, Model: model.Name, Tenant: r.req.Identity.Tenant,
		Key: r.req.Identity.Key, Agent: r.req.Identity.Agent, Session: r.req.Identity.Session}
	r.quotas = e.quotas.get(labels)
	sh := r.shapeFor(ctx, model, input)
	timeouts := e.timeouts(r.route.Name, provName)
	if r.req.MaxTokens <= 0 {
		maxOut = r.fitDefaultCap(model, sh, maxOut)
	}

	var last error
	for try := 1; ; try++ {
		if r.attempts >= r.chainCap() {
			r.outcome.Record(fallback.Attempt{Model: step.Model, Provider: provName, Result: fallback.Failed,
				Why: fallback.WhyAttemptCap, Reason: fmt.Sprintf("attempt cap (%d) reached", r.chainCap()), Err: last})
			if last == nil {
				last = errors.New("attempt cap reached")
			}
			return nil, last, true
		}
		a := &r.att
		*a = attempt{r: r, step: step, provider: provName, model: model, shape: sh, timeouts: timeouts}
		n, err := r.admit(ctx, a, maxOut, later)
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
			var we *queue.WaitError
			if errors.As(err, &we) && errors.Is(err, queue.ErrTimeout) && ctx.Err() == nil {
				// A rate would hold the request longer than the route waits (or than the
				// queue lets it wait): the next step may answer at once.
				r.skipErr(step, provName, fallback.WhyRateWait, rateWaitReason(we, later, e.cfg.FallbackAfter), false, err)
				return nil, err, true
			}
			return nil, err, false
		}
		maxOut = n
		r.admitted(a)

		done, until, ok := e.cooldowns.Allow(deployment, time.Now())
		if !ok {
			a.release()
			r.coolingUntil(until)
			r.skip(step, provName, fallback.WhyCooldown, "cooldown until "+until.Format(time.TimeOnly), false)
			return nil, &llm.Error{Kind: llm.KindOverloaded, Provider: provName, Message: "in cooldown"}, true
		}
		a.done = done
		r.attempts++
		a.n, a.fallbackReason = r.attempts, r.outcome.FallbackReason
		if err := a.openHold(ctx); err != nil {
			a.done(err, time.Now())
			a.release()
			why, reason := fallback.WhyHold, "hold not journaled: "+err.Error()
			if ctx.Err() != nil {
				why, reason = fallback.WhyCancelled, "cancelled while the hold was journaled"
			}
			r.outcome.Record(fallback.Attempt{Model: step.Model, Provider: provName, Result: fallback.Failed,
				Why: why, Reason: reason, Err: err})
			return nil, err, false
		}
		if try == 1 {
			e.budget.Request(time.Now())
		}
		a.callStart = time.Now()
		resp, err, abandoned := a.call(ctx, prov, llm.Call{Request: r.req, Model: step.Model, MaxTokens: int(maxOut), RequestID: r.id})
		a.learn(resp, err, abandoned)
		if abandoned {
			r.outcome.Record(fallback.Attempt{Model: step.Model, Provider: provName, Result: fallback.Failed,
				Why: fallback.WhyCancelled, Reason: "the caller went away before the upstream answered; settled when it does", Err: ctx.Err()})
			return nil, fmt.Errorf("%w (the upstream call goes on and is settled when it ends)", ctx.Err()), false
		}
		// settled: the attempt ended in its stream's settle (a failure before its first
		// content), not here.
		settled := false
		if err == nil && resp.Stream != nil {
			// Nothing of a stream reaches the caller before its first content: a failure
			// until then falls back as if the upstream had refused the call.
			m := a.meter(resp.Stream, resp.UpstreamRequestID, ctx)
			if err = m.awaitContent(); err == nil {
				resp.Stream = m
			} else {
				settled = true
			}
		}
		if err == nil {
			return r.served(ctx, a, resp), nil, false
		}
		if why, refusal := cannotCarry(err); refusal != nil && !settled {
			// The adapter refused the request before sending it (an upstream without
			// Supports, or a field Supports let through): nothing reached the upstream.
			a.done(refusal, time.Now())
			a.release()
			r.skipErr(step, provName, why, refusal.Error(), false, refusal)
			return nil, refusal, true
		}
		if !settled {
			a.done(err, time.Now())
			if r.req.Stream || !(cutAfterAnswer(err) || errors.Is(err, ErrAttemptTimeout)) {
				a.failed(err, ledger.OutcomeError)
			} else {
				// The upstream generated the answer, or was generating it when the
				// attempt timed out, and may bill it; what it used is unknown.
				a.settle(a.worstUsage(), ledger.OutcomeError, upstreamID(err), nil)
			}
		}
		last = err
		var le *llm.Error
		status := 0
		if errors.As(err, &le) {
			status = le.Status
		}
		r.emit(Event{Kind: UpstreamError, Model: model.Name, Provider: provName, Err: err,
			ErrKind: llm.KindOf(err), Status: status, UpstreamRequestID: upstreamID(err)})
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (upstream: %v)", ctx.Err(), err), false
		}
		now := time.Now()
		deadline, _ := ctx.Deadline()
		d := e.cfg.Retry.Next(try, err, now, deadline)
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
		var te *TimeoutError
		if errors.As(err, &te) {
			reason = te.Error()
		}
		if try > 1 {
			reason += fmt.Sprintf(" after %d attempts", try)
		}
		why := fallback.WhyUpstream
		if kind == llm.KindTimeout {
			why = fallback.WhyTimeout
		}
		r.outcome.Record(fallback.Attempt{Model: step.Model, Provider: provName, Result: fallback.Failed, Why: why,
			Reason: reason, Err: err, UpstreamRequestID: upstreamID(err)})
		return nil, err, fallsBack(kind)
	}
}

// rateWaitReason says why a step's rate wait ended it, once: the refusing quota (which
// says when it has room) and how long the route was willing to wait.
func rateWaitReason(we *queue.WaitError, later bool, threshold time.Duration) string {
	what := "queued behind other requests"
	if we.Quota != nil {
		what = we.Quota.Error()
	}
	if later {
		return fmt.Sprintf("rate: %s; the route moves on after waiting %v", what, threshold)
	}
	return "rate: " + we.Error()
}

// cannotCarry returns the untranslatable or unsupported refusal inside err, an adapter's
// refusal of a request it cannot send, and its reason class; nil for any other error.
func cannotCarry(err error) (fallback.Why, error) {
	var ut *llm.UntranslatableError
	if errors.As(err, &ut) {
		return fallback.WhyUntranslatable, ut
	}
	var us *llm.UnsupportedError
	if errors.As(err, &us) {
		return fallback.WhyUnsupported, us
	}
	return fallback.WhyNone, nil
}

// cooldownState returns deployment's breaker state and, when it is open and the breakers
// say, when it half-opens.
func (r *run) cooldownState(deployment string) (fallback.State, time.Time) {
	now := time.Now()
	if su, ok := r.e.cooldowns.(stateUntil); ok {
		return su.StateUntil(deployment, now)
	}
	return r.e.cooldowns.State(deployment, now), time.Time{}
}

// cutAfterAnswer reports whether a whole answer's call failed after the upstream answered
// 200: the connection broke while its body was read. The adapters report that as a
// connection failure (or a timeout) that names the upstream's id of the call, which only
// an answer's headers carry.
func cutAfterAnswer(err error) bool {
	var le *llm.Error
	return errors.As(err, &le) && le.UpstreamRequestID != "" && le.Status == 0 &&
		(le.Kind == llm.KindConnection || le.Kind == llm.KindTimeout)
}

// upstreamID returns the upstream's id of a failed call, "" when it sent none.
func upstreamID(err error) string {
	var le *llm.Error
	if errors.As(err, &le) {
		return le.UpstreamRequestID
	}
	return ""
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

// admitted notes a granted reservation: it is open until its settle or release.
func (r *run) admitted(a *attempt) {
	g := &a.grant
	r.e.open.Add(1)
	r.res.Waited += g.Waited
	a.stopRenew = r.renewLeases(g.Reservation.ID)
	model, provider := a.model.Name, a.provider
	if r.observed() {
		r.emit(Event{Kind: Admitted, Model: model, Provider: provider, Waited: g.Waited})
	}
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
				r.emit(Event{Kind: BudgetWarning, Model: model, Provider: provider, Quota: name, Budget: *q})
			}
		}
	}
}

// renewLeases keeps a reservation's leases alive while its call runs, when the store's
// leases expire and the attempt holds one, and returns the function that stops it; nil
// when there is nothing to renew.
func (r *run) renewLeases(id quota.ID) func() {
	every := r.e.cfg.LeaseRenew
	rn, ok := r.e.store.(renewer)
	if every <= 0 || !ok || !r.quotas.lease {
		return nil
	}
	stop := make(chan struct{})
	reqID, log := r.id, r.e.log
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
					log.Warn("lease renewal failed", "request", reqID, "err", err)
				}
				cancel()
			}
		}
	}()
	return func() { close(stop) }
}

// openHold journals the attempt's worst case in the ledger, durable when it returns nil.
// Its error wraps ErrHold (also when the ledger cannot commit within durableWait: a ledger
// that is down fails requests at once rather than at their deadline), or is the caller's
// cancellation.
func (a *attempt) openHold(ctx context.Context) error {
	l := a.r.e.cfg.Ledger
	if l == nil {
		return nil
	}
	r := a.r
	id := &r.req.Identity
	a.holdID = a.grant.Reservation.ID.String()
	hctx, cancel := context.WithTimeout(ctx, durableWait)
	err := l.OpenHold(hctx, ledger.Hold{ID: a.holdID, RequestID: r.id, Tenant: id.Tenant, Key: id.Key,
		Agent: id.Agent, Session: id.Session, Route: r.route.Name, Provider: a.provider, Model: a.model.Name,
		Attempt: a.n, InputTokens: a.worst.InputTokens, OutputTokens: a.worst.OutputTokens, MicroUSD: a.worst.MicroUSD})
	cancel()
	if err == nil {
		a.held = true
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w (journaling the hold)", ctx.Err())
	}
	r.e.log.Error("hold not journaled; the attempt is not made", "request", r.id, "hold", a.holdID, "err", err)
	return fmt.Errorf("%w: %w", ErrHold, err)
}

// pendingCall hands an upstream call's result to whichever of the caller and the call's
// goroutine claims it first: the caller while it waits, the goroutine once the caller has
// gone, which then settles the call itself.
type pendingCall struct {
	owner atomic.Int32 // 0 unclaimed, 1 the caller's, 2 the goroutine's
	ready chan struct{}
	resp  *llm.Response
	err   error
	ctx   context.Context // the call's own
	grace *time.Timer     // set by the caller before it gives the call up
}

// call performs the upstream call on a context that the caller's cancellation and deadline
// do not reach. When ctx ends before the upstream answers, call returns abandoned: the
// call goes on in the background for at most Config.AbandonTimeout and settles itself.
func (a *attempt) call(ctx context.Context, prov llm.Provider, c llm.Call) (_ *llm.Response, _ error, abandoned bool) {
	// A stream must send its headers within Timeouts.Headers, a whole answer must be
	// done within Timeouts.Answer: past it the call's context is cancelled.
	phase, limit := "answer", a.timeouts.Answer
	if c.Request.Stream {
		phase, limit = "headers", a.timeouts.Headers
	}
	if ctx.Done() == nil {
		// Nothing can cancel the caller: the call runs in its goroutine, on a context
		// only its timeout cancels.
		cctx, cancel := context.WithCancel(ctx)
		a.cancel = cancel
		timer := time.AfterFunc(limit, cancel)
		resp, err := prov.Do(cctx, c)
		resp, err = a.bounded(timer, resp, err, phase, limit)
		return resp, err, false
	}
	e := a.r.e
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	p := &pendingCall{ready: make(chan struct{}), ctx: actx}
	e.calls.add()
	timer := time.AfterFunc(limit, cancel)
	go func() {
		defer e.calls.done()
		p.resp, p.err = prov.Do(actx, c)
		p.resp, p.err = a.bounded(timer, p.resp, p.err, phase, limit)
		if p.owner.CompareAndSwap(0, 1) {
			close(p.ready)
			return
		}
		a.settleAbandoned(p)
	}()
	select {
	case <-p.ready:
		return p.resp, p.err, false
	case <-ctx.Done():
		p.grace = time.AfterFunc(e.cfg.AbandonTimeout, cancel)
		if p.owner.CompareAndSwap(0, 2) {
			return nil, nil, true
		}
		// The answer came as the caller left: it is the caller's.
		p.grace.Stop()
		<-p.ready
		return p.resp, p.err, false
	}
}

// bounded stops a call's timeout timer once the call has returned resp and err, and makes
// the call's failure, or a stream whose context the timer cancelled as it came, the
// attempt's timeout. A whole answer that came in time is kept.
func (a *attempt) bounded(timer *time.Timer, resp *llm.Response, err error, phase string, limit time.Duration) (*llm.Response, error) {
	if timer.Stop() {
		return resp, err
	}
	if err == nil && resp.Stream == nil {
		return resp, nil
	}
	if err == nil {
		_ = resp.Stream.Close()
	}
	return nil, a.timedOut(phase, limit)
}

// settleAbandoned settles a call whose caller went away before it returned: a whole answer
// at the usage it reports, a stream closed at once and charged by the early-end rule, a
// failure as one, and a call cut by AbandonTimeout at its worst case.
func (a *attempt) settleAbandoned(p *pendingCall) {
	defer p.grace.Stop()
	resp, err := p.resp, p.err
	switch {
	case err != nil && p.ctx.Err() != nil:
		// Cut by AbandonTimeout: the upstream may have billed any part of it.
		a.done(err, time.Now())
		a.settle(a.worstUsage(), ledger.OutcomeCancelled, "", nil)
	case err != nil:
		a.done(err, time.Now())
		a.failed(err, ledger.OutcomeError)
	case resp.Stream != nil:
		_ = a.meter(resp.Stream, resp.UpstreamRequestID, nil).Close()
	default:
		a.done(nil, time.Now())
		a.settle(answerUsage(resp, a), ledger.OutcomeCancelled, resp.UpstreamRequestID, nil)
	}
}

// served settles a successful call (or, for a stream, arranges for its end to settle it)
// and records it.
func (r *run) served(ctx context.Context, a *attempt, resp *llm.Response) *llm.Response {
	step, model := a.step, a.model
	r.outcome.Record(fallback.Attempt{Model: step.Model, Provider: a.provider, Result: fallback.Served,
		UpstreamRequestID: resp.UpstreamRequestID})
	if resp.Model == "" {
		resp.Model = step.Model
	}
	r.res.Provider, r.res.Model, r.res.MaxTokens = a.provider, step.Model, int(a.maxOut)
	r.res.UpstreamRequestID = resp.UpstreamRequestID
	latency := time.Since(r.start)
	if resp.Stream != nil {
		// The stream (metered since its call returned) settles at its end, after Do has
		// returned: the caller gets the reservation's statuses.
		r.res.Statuses = slices.Clone(r.statuses)
		if r.observed() {
			r.emit(Event{Kind: Served, Model: model.Name, Provider: a.provider, Latency: latency, FellBack: r.outcome.FellBack()})
		}
		return resp
	}
	a.done(nil, time.Now())
	u := answerUsage(resp, a)
	r.statuses = a.settle(u, ledger.OutcomeOK, resp.UpstreamRequestID, r.statuses[:0])
	if !resp.Cached {
		a.stored(resp.ID, resp.Conversation)
	}
	r.res.Statuses = r.statuses
	r.storeInCache(model.Name, resp)
	if r.observed() {
		r.emit(Event{Kind: Served, Model: model.Name, Provider: a.provider, Latency: latency, FellBack: r.outcome.FellBack(),
			Usage: u, MicroUSD: model.Cost(u)})
	}
	return resp
}

// callTracker counts the upstream calls running in goroutines of their own, so that Close
// can wait for them. Unlike a sync.WaitGroup it may be added to while Close waits.
type callTracker struct {
	mu   sync.Mutex
	n    int
	idle sync.Cond
}

func (t *callTracker) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *callTracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.idle.L != nil {
		t.idle.Broadcast()
	}
	t.mu.Unlock()
}

// wait returns once no call runs.
func (t *callTracker) wait() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idle.L == nil {
		t.idle.L = &t.mu
	}
	for t.n > 0 {
		t.idle.Wait()
	}
}
