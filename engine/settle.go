package engine

import (
	"context"
	"time"

	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// The settle phase: the one place where an attempt's reservation, hold and ledger record
// end. An attempt that sent nothing is released; one that reached the upstream is settled
// at what it used, whether the upstream answered, failed, or the caller went away.

// release gives back the reservation of an attempt that sent nothing, as if it had never
// been made, and closes its hold.
func (a *attempt) release() {
	r := a.r
	e := r.e
	if a.holdID != "" {
		// As for a settle: the quotas give the worst case back once the hold's close is
		// durable, since until then a crash charges it.
		l := e.cfg.Ledger
		err := l.CloseHold(a.holdID)
		if err == nil && a.held {
			ctx, cancel := context.WithTimeout(context.Background(), durableWait)
			err = l.Flush(ctx)
			cancel()
		}
		if err != nil {
			e.log.Error("ledger: hold not closed; it is charged at its worst case when the ledger closes",
				"request", r.id, "hold", a.holdID, "err", err)
		}
	}
	// The memory store never blocks and the Redis store bounds each call by its own
	// timeout, so the detached context needs no deadline of its own.
	if err := e.queue.Release(context.Background(), a.grant.Reservation.ID); err != nil {
		e.log.Error("release failed", "request", r.id, "reservation", a.grant.Reservation.ID.String(), "err", err)
	}
	a.end()
}

// settle charges an attempt that reached the upstream at u, an outcome of ledger's: the
// attempt's ledger record is appended (closing its hold in the same transaction) and made
// durable, then u replaces the reservation's worst case in every quota, and a Settled
// event is emitted. The order matters: a crash before the record is durable charges the
// hold at its worst case, which the quotas still held. It appends the quotas' statuses
// after the settle to dst and returns it. It runs on contexts detached from the caller's:
// a caller that went away still pays for what it used.
func (a *attempt) settle(u llm.Usage, outcome, upstreamID string, dst []quota.Status) []quota.Status {
	r := a.r
	e := r.e
	cost := a.model.Cost(u)
	if l := e.cfg.Ledger; l != nil {
		id := &r.req.Identity
		err := l.Append(ledger.Record{RequestID: r.id, UpstreamRequestID: upstreamID, HoldID: a.holdID,
			Tenant: id.Tenant, Key: id.Key, Agent: id.Agent, Session: id.Session, Route: r.route.Name,
			Provider: a.provider, Model: a.model.Name, InputTokens: u.InputTokens,
			CachedInputTokens: u.CachedInputTokens, CacheWriteTokens: u.CacheWriteTokens,
			CacheWrite1hTokens: u.CacheWrite1hTokens, OutputTokens: u.OutputTokens,
			ReasoningTokens: u.ReasoningTokens, MicroUSD: cost, Outcome: outcome,
			FallbackReason: a.fallbackReason, Latency: time.Since(a.callStart), Attempt: a.n})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), durableWait)
			err = l.Flush(ctx)
			cancel()
		}
		if err != nil {
			// The quotas are settled all the same: holding the budget until the ledger
			// recovers would refuse requests for a record that a restart charges anyway.
			e.log.Error("ledger record not durable; a crash now charges the attempt at its worst case",
				"request", r.id, "hold", a.holdID, "err", err)
		}
	}
	sts, err := e.queue.Settle(context.Background(), a.grant.Reservation.ID,
		quota.Amount{Requests: 1, InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, MicroUSD: cost}, dst)
	if err != nil {
		e.log.Error("settle failed", "request", r.id, "reservation", a.grant.Reservation.ID.String(), "err", err)
		sts = dst
	}
	a.end()
	if r.observed() {
		r.emit(Event{Kind: Settled, Model: a.model.Name, Provider: a.provider, Usage: u, MicroUSD: cost,
			Outcome: outcome, UpstreamRequestID: upstreamID})
	}
	return sts
}

// durableWait bounds how long an attempt waits for the ledger to make its hold, record or
// release durable: a ledger whose commits fail keeps retrying them, and requests cannot
// wait that long.
const durableWait = 10 * time.Second

// failed settles an attempt whose upstream call failed: it counts against request rates
// and costs nothing, and its ledger record says so.
func (a *attempt) failed(err error, outcome string) {
	a.settle(llm.Usage{}, outcome, upstreamID(err), nil)
}

// end closes what an attempt holds besides its reservation: the lease renewal and the
// call's detached context.
func (a *attempt) end() {
	if a.stopRenew != nil {
		a.stopRenew()
	}
	if a.cancel != nil {
		a.cancel()
	}
	a.r.e.open.Add(-1)
}

// worstUsage is the reservation's worst case as a usage: what a call whose use cannot be
// known is charged.
func (a *attempt) worstUsage() llm.Usage {
	return llm.Usage{InputTokens: a.worst.InputTokens, OutputTokens: a.worst.OutputTokens}
}

// answerUsage is what a whole answer is charged: the usage it reports, or its worst case
// when it reports none (some OpenAI-compatible servers).
func answerUsage(resp *llm.Response, a *attempt) llm.Usage {
	if resp.Usage == (llm.Usage{}) {
		return a.worstUsage()
	}
	return resp.Usage
}

// earlyUsage is the charge of a stream that ended before its final usage (see the charging
// rules in the package documentation): the input side the upstream reported, else the
// estimate; the output the upstream reported, or the counted relayed text when larger,
// within the reservation's n × cap; and the whole cap for a model whose reasoning is
// billed but never streamed.
func (a *attempt) earlyUsage(reported llm.Usage, counted int64) llm.Usage {
	u := reported
	if reported.InputTokens == 0 {
		// The reservation's input: the estimate, or, for a request that continues stored
		// state, all the window could hold, since the stored part is unknown.
		u = llm.Usage{InputTokens: a.worst.InputTokens, ReasoningTokens: reported.ReasoningTokens}
	}
	u.OutputTokens = max(reported.OutputTokens, min(counted, a.worst.OutputTokens))
	if a.model.HiddenReasoning {
		u.OutputTokens = max(reported.OutputTokens, a.worst.OutputTokens)
	}
	return u
}
