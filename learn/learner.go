package learn

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// Outcome is what one upstream call told about the upstream's limits.
type Outcome struct {
	// Sent is when the call was sent. A refusal of a call sent before the limit's last
	// decrease belongs to the overload that decrease answered, and is not another.
	Sent time.Time
	// Reserved is what the call's reservation took: one request, the estimated prompt and
	// the output cap. It is what the provider counts when it admits a call.
	Reserved quota.Amount
	// Used is what the call really used, when known; zero otherwise (a refusal, a stream
	// observed at its first byte).
	Used quota.Amount
	// Header is the answer's HTTP header (llm.Response.Header, llm.Error.Header); nil when
	// there was none.
	Header http.Header
	// Refused says the upstream refused the call for a rate limit that will pass (an
	// llm.KindRateLimited error: a 429 that is neither a quota nor a request too large).
	Refused bool
	// Message is the refusal's message, which may name the limit and its dimension.
	Message string
	// RetryAfter is the wait the refusal asked for; 0 when it gave none.
	RetryAfter time.Duration
}

// OutcomeOf returns the outcome of a call sent at sent with a reservation of reserved that
// ended with resp or err, as an llm.Provider returns them. Usage counts only for a
// non-streaming answer; a failure other than a rate limit counts for its headers alone.
func OutcomeOf(sent time.Time, reserved quota.Amount, resp *llm.Response, err error) Outcome {
	o := Outcome{Sent: sent, Reserved: reserved}
	if err == nil {
		if resp != nil {
			o.Header = resp.Header
			if resp.Stream == nil {
				o.Used = quota.Amount{Requests: 1, InputTokens: resp.Usage.InputTokens, OutputTokens: resp.Usage.OutputTokens}
			}
		}
		return o
	}
	var le *llm.Error
	if errors.As(err, &le) {
		o.Header = le.Header
		if le.Kind == llm.KindRateLimited {
			o.Refused, o.Message, o.RetryAfter = true, le.Message, le.RetryAfter
		}
	}
	return o
}

// Learner learns the limits of one upstream account and model: requests and tokens per
// period, each the limit of a quota (Quotas) that a store enforces. It is safe for
// concurrent use.
type Learner struct {
	cfg    *Config
	up     Upstream
	model  string
	quotas []quota.Quota

	mu    sync.Mutex
	dims  [numDims]*dimState // nil for a dimension the upstream's format does not limit
	first time.Time          // when the first call observed was sent
}

// dimState is the learning state of one dimension.
type dimState struct {
	dim   Dim
	live  *quota.Live
	atCap bool

	limit  float64 // the learned limit per period; 0 when none is known
	source Source
	stated int64 // the limit the provider stated last; 0 when it never did
	remain int64 // what its last answer with headers said remained; -1 when none did

	// accepted is what the provider accepted (as it counts) of the calls sent up to the
	// first refusal (firstCut, observed at firstAt): the numerator of the first estimate.
	accepted        float64
	firstCut, first time.Time
	// lastDecrease starts the current overload: refusals of calls sent before it are part
	// of it. lastCheck is when binding was last checked for a raise.
	lastDecrease, lastCheck time.Time
	step                    float64 // the next raise, a fraction of the limit
	// wmax is the best estimate of the provider's limit at the last refusal; plateau is
	// when the limit came back to just under it (Config.Margin), from which it holds for
	// Config.Hold.
	wmax    float64
	plateau time.Time
	// integ is the integral of the limit (per period × seconds) from lastDecrease to
	// lastSet: what the quota let through since the stretch began.
	integ        float64
	lastSet      time.Time
	seenRefusals uint64 // the quota's refusals (Live.Refusals) at lastCheck
	refusedSince bool   // the upstream refused a call since lastCheck

	logged                         float64 // the limit last logged about
	refusals, decreases, increases uint64
	updated                        time.Time
}

// dimsOf returns the dimensions an upstream of format f limits, and whether its Tokens count
// a call's output at its cap (OpenAI counts max_tokens when it admits a call).
func dimsOf(f llm.Format) (dims []Dim, tokensAtCap bool) {
	switch f {
	case llm.OpenAI:
		return []Dim{Requests, Tokens}, true
	case llm.Anthropic:
		return []Dim{Requests, InputTokens, OutputTokens, Tokens}, false
	}
	return []Dim{Requests, Tokens, InputTokens, OutputTokens}, false
}

func newLearner(cfg *Config, up Upstream, model string) *Learner {
	l := &Learner{cfg: cfg, up: up, model: model}
	dims, atCap := dimsOf(up.Format)
	prefix := "learned|provider=" + up.Provider + "|account=" + up.Account + "|model=" + model + "|"
	for _, d := range dims {
		ds := &dimState{dim: d, live: quota.NewLive(0, 0), atCap: d == Tokens && atCap,
			remain: -1, step: cfg.Increase}
		l.dims[d] = ds
		l.quotas = append(l.quotas, quota.Quota{
			Name: "learned", Key: prefix + d.String(), Scope: quota.Labels{Provider: up.Provider, Model: model},
			Unit: d.Unit(), Limit: quota.Unlimited, Window: quota.Rolling(cfg.Period),
			Live: ds.live, OutputAtCap: ds.atCap,
		})
	}
	return l
}

// Quotas appends the learner's quotas to dst: one Rate per dimension that the upstream's
// format limits, whose limit is the learned one (quota.Live; Unlimited while none is
// known). Add them to every reservation of a call to this upstream and model, beside the
// configured quotas: a configured limit stays a ceiling, since every quota of a
// reservation must have room. The quotas are the same values on every call; they need no
// rebuilding when the limits move. OpenAI's token quota is OutputAtCap, as OpenAI counts
// a call's max_tokens when it admits it.
func (l *Learner) Quotas(dst []quota.Quota) []quota.Quota { return append(dst, l.quotas...) }

// Observe learns from one call's outcome, observed at now: the limits and the state that
// its headers state (which are exact, and preferred), or the refusal it met.
//
// With headers, a dimension's limit is the provider's, and the provider's remaining
// count becomes a floor under the quota's state, so that the quota has no more room than
// the provider. Without them, the first refusal of a dimension estimates its limit from
// what the provider accepted since the first call (its bucket starts full: accepted =
// limit × (1 + elapsed/period)); later refusals cut it by Config.Decrease, once per
// overload, and a limit that binds (its quota made requests wait) with nothing refused is
// raised every Config.Interval. Every refusal also empties the quota's room (the
// provider's bucket is empty), and a retry-after keeps it shut until then.
func (l *Learner) Observe(now time.Time, o Outcome) {
	ms, hasHeaders := readMeters(o.Header, now)
	var st stated
	if o.Refused {
		st = readMessage(o.Message)
		if st.perDay {
			// A daily limit is a budget for this package's purposes: no per-minute rate
			// explains it, and waiting a minute does not cure it.
			o.Refused = false
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first.IsZero() || o.Sent.Before(l.first) {
		l.first = o.Sent
	}
	if hasHeaders {
		for d, ds := range l.dims {
			if m := &ms[d]; ds != nil && m.hasLimit {
				if m.limit != ds.stated {
					ds.stated = m.limit
					l.set(ds, now, float64(m.limit), SourceHeaders, "stated by headers")
				}
			}
		}
	}
	if o.Refused {
		for _, d := range l.refusedDims(&o, &st, &ms) {
			l.refused(l.dims[d], now, &o, &st)
		}
	} else {
		for _, ds := range l.dims {
			if ds != nil {
				l.accept(ds, now, &o)
			}
		}
	}
	if hasHeaders {
		for d, ds := range l.dims {
			if m := &ms[d]; ds != nil && m.hasRem {
				ds.remain = m.remaining
				limit, burst := ds.live.Limit()
				if limit < quota.Unlimited {
					ds.live.RaiseFloor(quota.FloorFor(now, m.remaining, limit, burst, l.cfg.Period))
				}
			}
		}
	}
	for _, ds := range l.dims {
		if ds != nil {
			l.probe(ds, now)
		}
	}
}

// charged is what the provider counted of o in ds's dimension: what its reservation took
// when its use is not known, else its use (with the output cap, for OpenAI's tokens).
func (ds *dimState) charged(o *Outcome) float64 {
	if o.Used == (quota.Amount{}) {
		return float64(o.Reserved.Of(ds.dim.Unit()))
	}
	u := o.Used
	if ds.atCap {
		u.OutputTokens = max(u.OutputTokens, o.Reserved.OutputTokens)
	}
	return float64(u.Of(ds.dim.Unit()))
}

// refusedDims returns the dimensions that refused o: the one its message names, else those
// its headers say are exhausted, else every dimension it used whose limit binds or is not
// known (a bare 429 says nothing more).
func (l *Learner) refusedDims(o *Outcome, st *stated, ms *[numDims]meter) []Dim {
	if st.hasDim {
		d := st.dim
		if l.dims[d] == nil && (d == InputTokens || d == OutputTokens) {
			d = Tokens
		}
		if l.dims[d] != nil {
			return []Dim{d}
		}
	}
	var out []Dim
	for d, ds := range l.dims {
		if ds != nil && ms[d].hasRem && float64(ms[d].remaining) < max(ds.charged(o), 1) {
			out = append(out, Dim(d))
		}
	}
	if len(out) > 0 {
		return out
	}
	for d, ds := range l.dims {
		if ds == nil || o.Reserved.Of(ds.dim.Unit()) <= 0 {
			continue
		}
		if ds.limit == 0 || ds.live.Refusals() > ds.seenRefusals {
			out = append(out, Dim(d))
		}
	}
	if len(out) > 0 {
		return out
	}
	for d, ds := range l.dims {
		if ds != nil && o.Reserved.Of(ds.dim.Unit()) > 0 {
			out = append(out, Dim(d))
		}
	}
	return out
}

// refused learns from a refusal in ds's dimension.
func (l *Learner) refused(ds *dimState, now time.Time, o *Outcome, st *stated) {
	ds.refusals++
	ds.refusedSince = true
	if st.limit > 0 && st.hasDim && st.limit != ds.stated {
		ds.stated = st.limit
		l.set(ds, now, float64(st.limit), SourceMessage, "stated by a refusal")
	}
	amount := float64(o.Reserved.Of(ds.dim.Unit()))
	switch {
	case ds.limit == 0:
		ds.firstCut, ds.first = o.Sent, now
		est := max(l.firstEstimate(ds), amount, 1)
		// Calls still in flight make it short: answers that come later raise it (accept),
		// and it is not held, so probing corrects the rest.
		ds.wmax, ds.plateau = est, time.Time{}
		l.set(ds, now, est, SourceRefusals, "first refusal")
		ds.restart(now)
	case o.Sent.After(ds.lastDecrease):
		src := ds.source
		if src == SourceNone {
			src = SourceRefusals
		}
		wmax, v := ds.limit, ds.limit*l.cfg.Decrease
		if est, ok := ds.estimate(now, o.Sent, amount, l.cfg.Period); ok {
			wmax, v = min(wmax, est), min(v, est*(1-l.cfg.Margin))
		}
		// The hold counts from the cut: the climb back under wmax is part of it.
		ds.wmax, ds.plateau = wmax, now
		l.set(ds, now, max(v, 1), src, "refused")
		ds.decreases++
		ds.restart(now)
	}
	ds.step = l.cfg.Increase
	limit, burst := ds.live.Limit()
	ds.live.RaiseFloor(quota.FloorFor(now, 0, limit, burst, l.cfg.Period))
	if o.RetryAfter > 0 {
		ds.live.RaiseFloor(quota.FloorFor(now.Add(o.RetryAfter), int64(amount), limit, burst, l.cfg.Period))
	}
}

// accept counts a call the provider accepted toward the first estimate: calls sent before
// the first refusal, whose answers may come after it, for up to a period.
func (l *Learner) accept(ds *dimState, now time.Time, o *Outcome) {
	if !ds.firstCut.IsZero() && o.Sent.After(ds.firstCut) {
		return
	}
	ds.accepted += ds.charged(o)
	if ds.firstCut.IsZero() || now.Sub(ds.first) > l.cfg.Period {
		return
	}
	if est := l.firstEstimate(ds); est > ds.limit {
		ds.wmax = max(ds.wmax, est)
		l.set(ds, now, est, ds.source, "first refusal, late answers")
	}
}

// firstEstimate is the limit that what the provider accepted up to its first refusal
// shows: its bucket started full and had just run dry, so it accepted one bucket plus what
// it refilled since the first call was sent.
func (l *Learner) firstEstimate(ds *dimState) float64 {
	elapsed := max(ds.firstCut.Sub(l.first).Seconds()/l.cfg.Period.Seconds(), 0)
	return ds.accepted / (1 + elapsed)
}

// restart starts a stretch at now, when the limit was just cut and the quota's room
// emptied with the provider's: the next refusal ends it.
func (ds *dimState) restart(now time.Time) {
	ds.lastDecrease, ds.lastSet, ds.integ = now, now, 0
}

// estimate returns the provider's limit per period as the stretch that a refusal of a
// call of amount, sent at sent, ends shows it, and whether the stretch shows it within
// 10%. The provider's bucket was empty at both ends of the stretch (a refusal at each),
// and the quota, emptied at its start, let through the integral of its limit over it
// (less, when demand fell short: the estimate is then too high, and the caller's
// multiplicative cut is the lower). So the provider refilled that integral minus the
// refused amount, give or take one call.
func (ds *dimState) estimate(now, sent time.Time, amount float64, period time.Duration) (float64, bool) {
	tau := sent.Sub(ds.lastDecrease).Seconds()
	if tau <= 0 {
		return 0, false
	}
	integ := ds.integ + ds.limit*(sent.Sub(ds.lastSet).Seconds())
	slack := amount * period.Seconds()
	est := (integ - slack) / tau
	return est, est > 0 && slack/tau <= 0.1*est
}

// probe raises ds's limit when a check interval has passed in which its quota bound (made
// requests wait) and the upstream refused nothing: back quickly toward just under the
// limit that was last refused, held there for Config.Hold, then up in steps that double
// while nothing is refused, to find a limit that rose. It never goes above the limit the
// provider stated.
func (l *Learner) probe(ds *dimState, now time.Time) {
	if ds.limit == 0 || now.Sub(ds.lastCheck) < l.cfg.Interval {
		return
	}
	n := ds.live.Refusals()
	binding := n > ds.seenRefusals && !ds.refusedSince
	ds.seenRefusals, ds.refusedSince, ds.lastCheck = n, false, now
	if !binding {
		ds.step = l.cfg.Increase
		return
	}
	ceiling := float64(quota.Unlimited)
	if ds.stated > 0 {
		ceiling = float64(ds.stated)
	}
	target := ceiling
	if ds.wmax > 0 {
		target = min(target, ds.wmax*(1-l.cfg.Margin))
	}
	switch {
	case ds.limit < target:
		v := min(target, ds.limit+max((target-ds.limit)/2, ds.limit*l.cfg.Increase, 1))
		l.set(ds, now, v, ds.source, "recovering")
		ds.increases++
	case ds.limit >= ceiling || now.Sub(ds.plateau) < l.cfg.Hold:
		ds.step = l.cfg.Increase
	default:
		l.set(ds, now, min(max(ds.limit*(1+ds.step), ds.limit+1), ceiling), ds.source, "probing")
		ds.increases++
		ds.step = min(ds.step*2, l.cfg.MaxIncrease)
	}
}

// set moves ds's limit to v and logs a move of more than 10% since the last line.
func (l *Learner) set(ds *dimState, now time.Time, v float64, src Source, why string) {
	if now.After(ds.lastSet) {
		ds.integ += ds.limit * now.Sub(ds.lastSet).Seconds()
		ds.lastSet = now
	}
	ds.limit, ds.source, ds.updated = v, src, now
	n := max(int64(math.Round(v)), 1)
	ds.live.Set(n, 0)
	if ds.logged > 0 && math.Abs(v-ds.logged) <= 0.1*ds.logged {
		return
	}
	l.cfg.Logger.LogAttrs(context.Background(), slog.LevelInfo, "learned limit moved",
		slog.String("provider", l.up.Provider), slog.String("account", l.up.Account),
		slog.String("model", l.model), slog.String("unit", ds.dim.String()),
		slog.Int64("from", int64(math.Round(ds.logged))), slog.Int64("to", n),
		slog.String("source", src.String()), slog.String("why", why))
	ds.logged = v
}

// Status returns the learner's rows, as Set.Status does.
func (l *Learner) Status() []Limit { return l.appendStatus(nil) }

func (l *Learner) appendStatus(dst []Limit) []Limit {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ds := range l.dims {
		if ds == nil || (ds.source == SourceNone && ds.refusals == 0 && ds.remain < 0) {
			continue
		}
		lim := int64(0)
		if ds.limit > 0 {
			lim, _ = ds.live.Limit()
		}
		dst = append(dst, Limit{Upstream: l.up, Model: l.model, Dim: ds.dim, Limit: lim, Source: ds.source,
			Stated: ds.stated, Remaining: ds.remain, Refusals: ds.refusals, Decreases: ds.decreases,
			Increases: ds.increases, Updated: ds.updated})
	}
	return dst
}
