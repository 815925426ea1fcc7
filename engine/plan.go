package engine

import (
	"context"
	"fmt"
	"math"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
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
		if r.Past == "" && q.DowngradeAt > 0 && s.Fraction() >= q.DowngradeAt {
			r.Past = fmt.Sprintf("%s past its downgrade threshold (%s of %s used)", q.Name,
				q.Unit.Format(s.Used), q.Unit.Format(q.Limit))
		}
	}
	return r
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

// planBudget decides whether model m may run with maxOut, may run clamped, or must be
// skipped for a cheaper step (only when a later model step exists: otherwise the store's
// own refusal at reserve is the answer, with its limit, use and reset time).
func (r *run) planBudget(ctx context.Context, m pricing.Model, maxOut int64, later bool) (int64, string, bool) {
	budget := r.quotas.budget
	if len(budget) == 0 {
		return maxOut, "", true
	}
	sts, err := r.e.store.Status(ctx, budget, r.statuses[:0])
	if err != nil {
		return maxOut, "", true // reserve will meet the same store and decide
	}
	r.statuses = sts
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
