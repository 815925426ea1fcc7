package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/tokens"
)

// The plan phase: the prompt's size, the output cap a model step may use, and the
// reservation of its worst case, clamped or downgraded by the budgets' answer.

// shape is what an attempt's worst case is made of besides its model and cap: the
// estimated prompt, the number of choices (each may produce the cap) and the longest
// prompt-cache TTL (cache writes are priced above input).
type shape struct {
	input   int64
	choices int64
	ttl     time.Duration
	// window, when positive, is the context window of a request that continues state
	// stored at the upstream (llm.Request.NeedsStoredState): its stored conversation,
	// which the body does not show, may fill whatever the window leaves beside the
	// output cap, so its input is reserved as that much.
	window int64
	// stored, when known, is the size of the conversation the request continues, as the
	// engine remembers the response it served (see conversations): the input is then
	// reserved as the body plus that, when it is less than the window's bound.
	stored int64
	known  bool
}

// shapeFor returns the shape of an attempt at model m whose prompt is estimated at
// input tokens. ctx bounds a look-up of a continued conversation in the shared store.
func (r *run) shapeFor(ctx context.Context, m pricing.Model, input int64) shape {
	s := shape{input: input, choices: int64(r.req.Choices()), ttl: r.req.CacheTTL}
	if r.req.NeedsStoredState() {
		s.window = int64(m.ContextWindow)
		if st := &r.req.State; st.PreviousResponseID != "" && st.Refs == 1 {
			s.stored, s.known = r.conversationSize(ctx, st.PreviousResponseID, m.Name)
		}
	}
	return s
}

// worst is the most an attempt of this shape at model m with a cap of maxOut tokens per
// choice can use: one request, the input, n × the cap, and their price at the dearest
// rates the request can incur. A request that continues stored state may bring up to
// the context window less the cap as input: the upstream refuses a prompt that leaves
// no room for the cap, and a smaller cap (a clamp) leaves room for more input. When the
// stored conversation's size is known, it brings at most the body and that.
func (s shape) worst(m pricing.Model, maxOut int64) quota.Amount {
	out := s.choices * maxOut
	in := s.inputAt(out)
	return quota.Amount{Requests: 1, InputTokens: in, OutputTokens: out,
		MicroUSD: m.WorstCost(in, out, s.ttl)}
}

// inputAt is the input an attempt of this shape reserves beside out output tokens: the
// prompt, or for a continuation of stored state what the window leaves beside out, at
// most the prompt plus the stored conversation when its size is known. inputAt(0) is the
// most any cap reserves (a smaller cap leaves room for more stored input).
func (s shape) inputAt(out int64) int64 {
	if s.window <= 0 {
		return s.input
	}
	in := max(s.input, s.window-out)
	if s.known {
		in = min(in, s.input+s.stored)
	}
	return in
}

// inputFor estimates the prompt as a model of provider bills it, once per provider family.
// A Responses API request's InputTokens is its parser's estimate, calibrated for OpenAI:
// served by an Anthropic model, whose tokenizer counts more, it gets
// tokens.AnthropicMargin on top, as the OfflineTokenizer gives a chat body.
func (r *run) inputFor(provider string) (int64, error) {
	// The parser's count is the offline estimate: taken as it is unless a Tokenizer was
	// configured, which is asked instead for the chat formats it counts.
	chat := r.req.Format == llm.OpenAI || r.req.Format == llm.Anthropic
	if n := int64(r.req.InputTokens); n > 0 && (r.e.parsedInput || !chat) {
		if r.req.Format == llm.Responses && provider == pricing.ProviderAnthropic {
			n = (n*tokens.AnthropicMargin + 3) / 4
		}
		return n, nil
	}
	for i := range r.inputs {
		if r.inputs[i].provider == provider {
			return r.inputs[i].n, nil
		}
	}
	n, err := r.e.tokenizer.Input(r.req, provider)
	if err != nil {
		return 0, &llm.Error{Kind: llm.KindBadRequest, Provider: "tollgate", Message: err.Error(), Err: err}
	}
	if len(r.inputs) < cap(r.inputs) {
		r.inputs = append(r.inputs, estimate{provider, n})
	}
	return n, nil
}

// estimate is a prompt's size for one provider family.
type estimate struct {
	provider string
	n        int64
}

// capFor returns the output cap per choice for model m: the caller's max_tokens, else the
// default, within the model's maximum and the context window left by the prompt. It
// returns a context-length error when the prompt alone does not fit.
func (r *run) capFor(m pricing.Model, input int64) (int64, error) {
	maxOut := int64(r.req.MaxTokens)
	if maxOut <= 0 {
		maxOut = int64(r.e.cfg.DefaultMaxTokens)
	}
	maxOut = min(maxOut, int64(m.MaxOutput))
	if input >= int64(m.ContextWindow) {
		return 0, &llm.Error{Kind: llm.KindContextLength, Provider: "tollgate",
			Message: fmt.Sprintf("prompt of about %d tokens does not fit %s's context window of %d", input, m.Name, m.ContextWindow)}
	}
	return min(maxOut, int64(m.ContextWindow)-input), nil
}

// fitDefaultCap lowers maxOut, the default output cap of a request whose caller set none,
// to what every quota of the attempt can hold at all: a token or money quota whose whole
// capacity (a rate's burst, a budget's limit) is below the worst case would refuse the
// request as one that can never fit, for a cap the caller never asked for. Only the
// capacities count, not the use: a full rate is waited for and a spent budget refused as
// ever. It returns maxOut unchanged when the prompt alone cannot fit, so that the store's
// refusal says so.
func (r *run) fitDefaultCap(m pricing.Model, s shape, maxOut int64) int64 {
	rm := room{math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64, ""}
	for i := range r.quotas.all {
		q := &r.quotas.all[i]
		switch c := q.Capacity(); q.Unit {
		case quota.InputTokens:
			rm.input = min(rm.input, c)
		case quota.OutputTokens:
			rm.output = min(rm.output, c)
		case quota.Tokens:
			rm.tokens = min(rm.tokens, c)
		case quota.MicroUSD:
			rm.usd = min(rm.usd, c)
		}
	}
	if rm.fits(s.worst(m, maxOut)) {
		return maxOut
	}
	if n := rm.maxOutput(m, s, maxOut); n > 0 {
		return n
	}
	return maxOut
}

// room is what the budgets of one attempt have left, per unit; math.MaxInt64 where no
// budget counts that unit. Rates are not budgets: a full rate means waiting, not
// downgrading.
type room struct {
	input, output, tokens, usd int64
	// past is the first budget past its downgrade threshold, "" when none is.
	past string
}

// roomOf computes the room left from the statuses of budget quotas.
func roomOf(sts []quota.Status) room {
	r := room{math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64, ""}
	for i := range sts {
		s := &sts[i]
		q := s.Quota
		if !q.Window.Kind.IsBudget() {
			continue
		}
		switch q.Unit {
		case quota.InputTokens:
			r.input = min(r.input, s.Remaining)
		case quota.OutputTokens:
			r.output = min(r.output, s.Remaining)
		case quota.Tokens:
			r.tokens = min(r.tokens, s.Remaining)
		case quota.MicroUSD:
			r.usd = min(r.usd, s.Remaining)
		}
		if r.past == "" {
			r.past = past(q, s.Used)
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
		q := sts[i].Quota
		if q.Window.Kind.IsBudget() {
			if p := past(q, sts[i].Used-own.Of(q.Unit)); p != "" {
				return p
			}
		}
	}
	return ""
}

// fits reports whether worst case w fits the room.
func (r room) fits(w quota.Amount) bool {
	return w.InputTokens <= r.input && w.OutputTokens <= r.output &&
		w.InputTokens+w.OutputTokens <= r.tokens && w.MicroUSD <= r.usd
}

// maxOutput returns the largest output cap per choice, at most maxOut, whose worst case at
// model m fits the room; 0 when even the prompt alone does not fit. The output budgets
// are shared by the choices: the total they allow is divided by their number.
func (r room) maxOutput(m pricing.Model, s shape, maxOut int64) int64 {
	in := s.inputAt(0)
	if in > r.input || in > r.tokens {
		return 0
	}
	total := min(maxOut*s.choices, r.output, r.tokens-in)
	if r.usd != math.MaxInt64 {
		// MaxOutputForTTL caps at the model's MaxOutput, a per-choice limit: the total
		// over n choices may reach n times it.
		m.MaxOutput = int(min(total, math.MaxInt32))
		total = min(total, m.MaxOutputForTTL(r.usd, in, s.ttl))
	}
	return max(total/s.choices, 0)
}

// planBudget decides, from the budgets' statuses that refused model m's worst case at
// maxOut, whether m may run clamped (a smaller cap, returned, to reserve again), must be
// skipped for a cheaper step (only when a later model step exists), or neither: then the
// store's own refusal is the answer, with its limit, use and reset time, and planBudget
// returns maxOut itself.
func (r *run) planBudget(m pricing.Model, s shape, maxOut int64, later bool, sts []quota.Status) (int64, string, bool) {
	rm := roomOf(sts)
	if later && rm.past != "" {
		return 0, "budget: " + rm.past, false
	}
	w := s.worst(m, maxOut)
	if rm.fits(w) {
		return maxOut, "", true
	}
	if r.route.ClampMaxTokens {
		if n := rm.maxOutput(m, s, maxOut); n >= int64(r.e.cfg.MinClampTokens) {
			r.outcome.Clamped = int(n)
			r.emit(Event{Kind: Clamped, Model: m.Name, MaxTokens: int(n)})
			return n, "", true
		}
	}
	if !later {
		return maxOut, "", true
	}
	reason := fmt.Sprintf("worst case %s > %s left", quota.MicroUSD.Format(w.MicroUSD), quota.MicroUSD.Format(rm.usd))
	if rm.usd == math.MaxInt64 {
		reason = fmt.Sprintf("worst case %d tokens > %d left", w.InputTokens+w.OutputTokens,
			min(rm.tokens, satAdd(rm.output, s.input)))
	}
	return 0, "budget: " + reason, false
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// admit reserves model m's worst case at maxOut per choice through the queue into a, and
// returns the cap it was reserved at. The planner's budget look-up is folded into the
// reserve, so that a request costs the store one round trip to admit: a refusal by a
// budget answers with the budgets' state, from which the cap is clamped (and reserved
// again) or the model skipped for a cheaper step (a *budgetSkip); a reservation granted on
// a budget that was past its downgrade threshold is given back when a cheaper model step
// follows.
func (r *run) admit(ctx context.Context, a *attempt, maxOut int64, later bool) (int64, error) {
	m := a.model
	var maxWait time.Duration
	if later {
		// A full rate is worth waiting for only as long as the route waits before moving
		// on: past that, the next model answers sooner.
		maxWait = r.e.cfg.FallbackAfter
	}
	for clamped := false; ; clamped = true {
		worst := a.shape.worst(m, maxOut)
		grant, err := r.e.queue.Acquire(ctx, queue.Waiter{
			Request:  &quota.Request{Quotas: r.quotas.all, Amount: worst},
			Priority: r.req.Identity.Priority, Tenant: r.req.Identity.Tenant, Statuses: r.statuses[:0], MaxWait: maxWait})
		if grant.Statuses != nil {
			r.statuses = grant.Statuses
		}
		if err == nil {
			if later && len(r.quotas.budget) > 0 {
				if p := pastBefore(grant.Statuses, worst); p != "" {
					if rerr := r.e.queue.Release(context.WithoutCancel(ctx), grant.Reservation.ID); rerr != nil {
						r.e.log.Error("release failed", "request", r.id, "reservation", grant.Reservation.ID.String(), "err", rerr)
					}
					return 0, &budgetSkip{reason: "budget: " + p}
				}
			}
			a.grant, a.worst, a.maxOut = grant, worst, maxOut
			return maxOut, nil
		}
		var qe *quota.ExceededError
		if errors.As(err, &qe) && a.shape.window > 0 && !a.shape.known && worst.InputTokens > a.shape.input &&
			(qe.Quota.Unit == quota.Tokens || qe.Quota.Unit == quota.InputTokens || qe.Quota.Unit == quota.MicroUSD) {
			qe.Why = fmt.Sprintf("a continuation of stored state (%s) is reserved at %s's context window of %d tokens, "+
				"less the output cap, unless it continues a response this gateway served", r.req.State.Field, m.Name, a.shape.window)
		}
		if clamped || len(r.quotas.budget) == 0 || !errors.As(err, &qe) || !qe.Permanent() ||
			!qe.Quota.Window.Kind.IsBudget() || len(grant.Statuses) == 0 {
			return maxOut, err
		}
		n, reason, ok := r.planBudget(m, a.shape, maxOut, later, grant.Statuses)
		if !ok {
			skip := &budgetSkip{reason: reason}
			if q := &qe.Quota; q.Scope.Provider == "" && q.Scope.Model == "" {
				// A budget of the tenant, key, agent or session binds every step alike:
				// should no later step serve, its refusal is the answer.
				skip.refusal = qe
			}
			return 0, skip
		}
		if n >= maxOut {
			return maxOut, err
		}
		maxOut = n
	}
}

// budgetSkip is the error of a model step skipped to save budget for a cheaper one. It
// is a downgrade: it unwraps to ErrDowngraded, and also to the budget's refusal when the
// refusing budget binds every step of the chain (it is not a model's or a provider's), so
// that a chain whose later steps fail for passing reasons ends with that final refusal.
type budgetSkip struct {
	reason  string
	refusal *quota.ExceededError
}

func (b *budgetSkip) Error() string { return b.reason }

func (b *budgetSkip) Unwrap() []error {
	if b.refusal == nil {
		return []error{ErrDowngraded}
	}
	return []error{ErrDowngraded, b.refusal}
}

// skip records a step skipped without an error of its own.
func (r *run) skip(step fallback.Step, provider string, why fallback.Why, reason string, downgrade bool) {
	r.skipErr(step, provider, why, reason, downgrade, nil)
}

// skipErr records a skipped step with the error that caused it, so that callers can
// branch on it (errors.Is(attempt.Err, quota.ErrBudget)) instead of reading the reason.
func (r *run) skipErr(step fallback.Step, provider string, why fallback.Why, reason string, downgrade bool, err error) {
	r.outcome.Record(fallback.Attempt{Model: step.Model, Provider: provider, Result: fallback.Skipped, Why: why, Reason: reason, Err: err})
	r.emit(Event{Kind: Skipped, Model: step.Model, Provider: provider, Why: why, Reason: reason, Downgrade: downgrade})
}

// supported reports whether the step of model m at provider prov can serve the request
// at all, before anything is reserved for it: an embeddings request needs an embedding
// model and any other request a model that generates; and a provider that is an
// llm.Supporter is asked about its endpoints, the state it holds (a previous_response_id
// stored at OpenAI) and what its translation can carry. A step that cannot is recorded
// as skipped, WhyUnsupported or WhyUntranslatable, and its error returned: when no step
// can, that error is the request's, which the gateway answers with a 400 naming the
// field.
func (r *run) supported(step fallback.Step, provName string, prov llm.Provider, m pricing.Model) error {
	var err error
	switch f := r.req.Format; {
	case !f.Generates() && m.Kind != pricing.KindEmbedding:
		err = &llm.UnsupportedError{Provider: provName, Format: f,
			Reason: fmt.Sprintf("%s is not an embedding model", m.Name)}
	case f.Generates() && m.Kind == pricing.KindEmbedding:
		err = &llm.UnsupportedError{Provider: provName, Format: f,
			Reason: fmt.Sprintf("%s is an embedding model, which generates no text", m.Name)}
	default:
		if s, ok := prov.(llm.Supporter); ok {
			err = s.Supports(r.req)
		}
	}
	if err == nil {
		return nil
	}
	why := fallback.WhyUnsupported
	if errors.Is(err, llm.ErrUntranslatable) {
		why = fallback.WhyUntranslatable
	}
	r.skipErr(step, provName, why, err.Error(), false, err)
	return err
}
