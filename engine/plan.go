package engine

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// Room is what the budgets of one attempt have left, per unit; math.MaxInt64 where no
// budget counts that unit. Rates are not budgets: a full rate means waiting, not downgrading.
type Room struct {
	InputTokens, OutputTokens, Tokens, MicroUSD int64
	// Past is the first budget past its downgrade threshold, "" when none is.
	Past string
}

// RoomOf computes the room left from the statuses of budget quotas.
func RoomOf(sts []quota.Status) Room {
	r := Room{math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64, ""}
	for i := range sts {
		s := &sts[i]
		q := &s.Quota
		if !q.Window.Kind.IsBudget() {
			continue
		}
		switch q.Unit {
		case quota.InputTokens:
			r.InputTokens = min(r.InputTokens, s.Remaining)
		case quota.OutputTokens:
			r.OutputTokens = min(r.OutputTokens, s.Remaining)
		case quota.Tokens:
			r.Tokens = min(r.Tokens, s.Remaining)
		case quota.MicroUSD:
			r.MicroUSD = min(r.MicroUSD, s.Remaining)
		}
		if r.Past == "" {
			r.Past = past(q, s.Used)
		}
	}
	return r
}

// past says why budget q, at used, is past its downgrade threshold; "" when it is not.
func past(q *quota.Quota, used int64) string {
	if q.DowngradeAt <= 0 || float64(used)/float64(q.Limit) < q.DowngradeAt {
		return ""
	}
	return fmt.Sprintf("%s past its downgrade threshold (%s of %s used)", q.Name,
		q.Unit.Format(used), q.Unit.Format(q.Limit))
}

// pastBefore returns the first budget of sts, the statuses of a granted reservation of
// own, that was past its downgrade threshold before that reservation; "" when none was.
func pastBefore(sts []quota.Status, own quota.Amount) string {
	for i := range sts {
		q := &sts[i].Quota
		if q.Window.Kind.IsBudget() {
			if p := past(q, sts[i].Used-own.Of(q.Unit)); p != "" {
				return p
			}
		}
	}
	return ""
}

// Fits reports whether a call to m with input prompt tokens and up to maxOut output tokens
// fits the room at its worst case.
func (r Room) Fits(m pricing.Model, input, maxOut int64) bool {
	return input <= r.InputTokens && maxOut <= r.OutputTokens && input+maxOut <= r.Tokens &&
		m.Cost(llm.Usage{InputTokens: input, OutputTokens: maxOut}) <= r.MicroUSD
}

// MaxOutput returns the largest output cap, at most maxOut, whose worst case fits the room;
// 0 when even the prompt alone does not fit.
func (r Room) MaxOutput(m pricing.Model, input, maxOut int64) int64 {
	if input > r.InputTokens || input > r.Tokens {
		return 0
	}
	n := min(maxOut, r.OutputTokens, r.Tokens-input)
	if r.MicroUSD != math.MaxInt64 {
		n = min(n, m.MaxOutputFor(r.MicroUSD, input))
	}
	return max(n, 0)
}

// planBudget decides, from the budgets' statuses that refused model m's worst case at
// maxOut, whether m may run clamped (a smaller cap, returned, to reserve again), must be
// skipped for a cheaper step (only when a later model step exists), or neither: then the
// store's own refusal is the answer, with its limit, use and reset time, and planBudget
// returns maxOut itself.
func (r *run) planBudget(m pricing.Model, maxOut int64, later bool, sts []quota.Status) (int64, string, bool) {
	room := RoomOf(sts)
	if later && room.Past != "" {
		return 0, "budget: " + room.Past, false
	}
	if room.Fits(m, r.input, maxOut) {
		return maxOut, "", true
	}
	if r.route.ClampMaxTokens {
		if n := room.MaxOutput(m, r.input, maxOut); n >= int64(r.e.cfg.MinClampTokens) {
			r.outcome.Clamped = int(n)
			r.emit(Event{Kind: Clamped, Model: m.Name, MaxTokens: int(n)})
			return n, "", true
		}
	}
	if !later {
		return maxOut, "", true
	}
	worst := m.Cost(llm.Usage{InputTokens: r.input, OutputTokens: maxOut})
	reason := fmt.Sprintf("worst case %s > %s left", quota.MicroUSD.Format(worst), quota.MicroUSD.Format(room.MicroUSD))
	if room.MicroUSD == math.MaxInt64 {
		reason = fmt.Sprintf("worst case %d tokens > %d left", r.input+maxOut, min(room.Tokens, room.OutputTokens+r.input))
	}
	return 0, "budget: " + reason, false
}

// admit reserves model m's worst case at maxOut through the queue, and returns the grant,
// that worst case and the output cap it was reserved at. The planner's budget look-up is
// folded into the reserve, so that a request costs the store one round trip to admit: a
// refusal by a budget answers with the budgets' state, from which the cap is clamped (and
// reserved again) or the model skipped for a cheaper step (a *budgetSkip); a reservation
// granted on a budget that was past its downgrade threshold is given back when a cheaper
// model step follows.
func (r *run) admit(ctx context.Context, m pricing.Model, maxOut int64, later bool) (queue.Grant, quota.Amount, int64, error) {
	for clamped := false; ; clamped = true {
		worst := quota.Amount{Requests: 1, InputTokens: r.input, OutputTokens: maxOut,
			MicroUSD: m.Cost(llm.Usage{InputTokens: r.input, OutputTokens: maxOut})}
		grant, err := r.e.queue.Acquire(ctx, queue.Waiter{
			Request:  &quota.Request{Quotas: r.quotas.all, Amount: worst},
			Priority: r.req.Identity.Priority, Tenant: r.req.Identity.Tenant, Statuses: r.statuses[:0]})
		if grant.Statuses != nil {
			r.statuses = grant.Statuses
		}
		if err == nil {
			r.quotas.remember(grant.Statuses)
			if later && len(r.quotas.budget) > 0 {
				if p := pastBefore(grant.Statuses, worst); p != "" {
					if rerr := r.e.queue.Release(context.WithoutCancel(ctx), grant.Reservation.ID); rerr != nil {
						r.e.log.Error("release failed", "request", r.id, "reservation", grant.Reservation.ID.String(), "err", rerr)
					}
					return queue.Grant{}, worst, 0, &budgetSkip{reason: "budget: " + p}
				}
			}
			return grant, worst, maxOut, nil
		}
		var qe *quota.ExceededError
		if clamped || len(r.quotas.budget) == 0 || !errors.As(err, &qe) || !qe.Permanent() ||
			!qe.Quota.Window.Kind.IsBudget() || len(grant.Statuses) == 0 {
			return grant, worst, maxOut, err
		}
		n, reason, ok := r.planBudget(m, maxOut, later, grant.Statuses)
		if !ok {
			return queue.Grant{}, worst, 0, &budgetSkip{reason: reason}
		}
		if n >= maxOut {
			return grant, worst, maxOut, err
		}
		maxOut = n
	}
}
