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

// maxLimit is the largest limit learned: the quota's Unlimited.
const maxLimit = quota.Unlimited

// Outcome is what one upstream call told about the upstream's limits.
type Outcome struct {
	// Sent is when the call was sent. A refusal of a call sent before the limit's last
	// cut belongs to the overload that cut answered, and is not another.
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
	key    string // of the shared state
	quotas []quota.Quota

	mu    sync.Mutex
	local state              // the state with every event of this replica applied
	dims  [numDims]*dimLocal // nil for a dimension the upstream's format does not limit
	// base is the shared state as last read or written, and pending the events applied
	// to local since; only when the Set shares its state.
	base    state
	pending []event
}

// dimLocal is what one replica keeps of a dimension beside the shared state.
type dimLocal struct {
	dim   Dim
	live  *quota.Live
	atCap bool
	// seen is the quota's refusals (Live.Refusals) at the last check for a raise.
	seen uint64
	// remain is what the last answer with headers said remained; -1 when none did.
	remain int64
	// refusals counts the upstream's refusals that this replica observed.
	refusals uint64
	// logged is the limit the last log line reported.
	logged float64
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
	l := &Learner{cfg: cfg, up: up, model: model, key: up.Provider + ":" + up.Account + ":" + model}
	dims, atCap := dimsOf(up.Format)
	prefix := "learned|provider=" + up.Provider + "|account=" + up.Account + "|model=" + model + "|"
	for _, d := range dims {
		dl := &dimLocal{dim: d, live: quota.NewLive(0, 0), atCap: d == Tokens && atCap, remain: -1}
		l.dims[d] = dl
		l.quotas = append(l.quotas, quota.Quota{
			Name: "learned-" + d.String(), Key: prefix + d.String(), Scope: quota.Labels{Provider: up.Provider, Model: model},
			Unit: d.Unit(), Limit: quota.Unlimited, Window: quota.Rolling(cfg.Period),
			Live: dl.live, OutputAtCap: dl.atCap,
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
// the provider. A refusal empties the quota's room, as the provider's bucket is empty,
// and a retry-after keeps it shut until then; it never cuts a limit that the provider
// stated (headers, a refusal's message). Without such a statement, the first refusal of a
// dimension estimates its limit from what the provider accepted since the first call
// (its bucket started full); each later refusal of a call sent after the last cut
// measures the provider's rate over the stretch since that cut, and cuts the limit to
// just under it (by Config.Decrease at least). A limit that binds (its quota made
// requests wait) while nothing is refused comes back under the estimate within a few
// Config.Interval, holds there for Config.Hold, then probes higher.
//
// Observe reports whether it took o as a refusal for a per-minute rate: the learned
// quotas then hold calls back until the provider has room (the engine need not also
// open a circuit breaker). A refusal for a daily limit (RPD, TPD) is not one.
func (l *Learner) Observe(now time.Time, o Outcome) (absorbed bool) {
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
	t, sent := now.UnixNano(), o.Sent.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	if hasHeaders {
		for d, dl := range l.dims {
			if m := &ms[d]; dl != nil && m.hasLimit {
				l.apply(event{Kind: evStated, Dim: Dim(d), Now: t, Sent: sent, Limit: m.limit, Source: SourceHeaders})
			}
		}
	}
	var refused []Dim
	if o.Refused {
		refused = l.refusedDims(&o, &st, &ms)
		for _, d := range refused {
			l.dims[d].refusals++
			if st.hasDim && st.limit > 0 {
				l.apply(event{Kind: evStated, Dim: d, Now: t, Sent: sent, Limit: st.limit, Source: SourceMessage})
			}
			l.apply(event{Kind: evRefused, Dim: d, Now: t, Sent: sent, Amount: float64(o.Reserved.Of(d.Unit()))})
		}
	} else {
		for d, dl := range l.dims {
			c := &l.local.Dims[d]
			// Only the first estimate counts what was accepted.
			if dl != nil && (c.FirstCut == 0 || sent <= c.FirstCut && t-c.FirstAt <= int64(l.cfg.Period)) {
				l.apply(event{Kind: evAccepted, Dim: Dim(d), Now: t, Sent: sent, Amount: dl.charged(&o)})
			}
		}
	}
	for d, dl := range l.dims {
		if dl == nil {
			continue
		}
		if c := &l.local.Dims[d]; c.Limit > 0 && t-c.Check >= int64(l.cfg.Interval) {
			n := dl.live.Refusals()
			l.apply(event{Kind: evProbe, Dim: Dim(d), Now: t, Binding: n > dl.seen})
			dl.seen = n
		}
	}
	for _, d := range refused {
		dl := l.dims[d]
		limit, burst := dl.live.Limit()
		dl.live.RaiseFloor(quota.FloorFor(now, 0, limit, burst, l.cfg.Period))
		if o.RetryAfter > 0 {
			dl.live.RaiseFloor(quota.FloorFor(now.Add(o.RetryAfter), o.Reserved.Of(d.Unit()), limit, burst, l.cfg.Period))
		}
	}
	absorbed = len(refused) > 0
	if hasHeaders {
		for d, dl := range l.dims {
			if m := &ms[d]; dl != nil && m.hasRem {
				dl.remain = m.remaining
				if limit, burst := dl.live.Limit(); limit < quota.Unlimited {
					dl.live.RaiseFloor(quota.FloorFor(now, m.remaining, limit, burst, l.cfg.Period))
				}
			}
		}
	}
	return absorbed
}

// apply applies ev to the local state, keeps it for the shared state, and moves the
// quota's limit. The caller holds l.mu.
func (l *Learner) apply(ev event) {
	m, moved := l.local.apply(l.cfg, &ev)
	if l.cfg.Shared != nil {
		l.pending = append(l.pending, ev)
	}
	if moved {
		l.moved(m)
	}
}

// moved sets a dimension's quota to its limit in the local state and logs a move of more
// than 10% since the last line about it. The caller holds l.mu.
func (l *Learner) moved(m move) {
	dl := l.dims[m.dim]
	if dl == nil {
		return
	}
	n := int64(0)
	if m.to > 0 {
		n = max(int64(math.Round(m.to)), 1)
	}
	dl.live.Set(n, 0)
	if dl.logged > 0 && math.Abs(m.to-dl.logged) <= 0.1*dl.logged {
		return
	}
	l.cfg.Logger.LogAttrs(context.Background(), slog.LevelInfo, "learned limit moved",
		slog.String("provider", l.up.Provider), slog.String("account", l.up.Account),
		slog.String("model", l.model), slog.String("unit", m.dim.String()),
		slog.Int64("from", int64(math.Round(dl.logged))), slog.Int64("to", n),
		slog.String("source", l.local.Dims[m.dim].Source.String()), slog.String("why", m.why))
	dl.logged = m.to
}

// charged is what the provider counted of o in dl's dimension: what its reservation took
// when its use is not known, else its use (with the output cap, for OpenAI's tokens).
func (dl *dimLocal) charged(o *Outcome) float64 {
	if o.Used == (quota.Amount{}) {
		return float64(o.Reserved.Of(dl.dim.Unit()))
	}
	u := o.Used
	if dl.atCap {
		u.OutputTokens = max(u.OutputTokens, o.Reserved.OutputTokens)
	}
	return float64(u.Of(dl.dim.Unit()))
}

// refusedDims returns the dimensions that refused o: the one its message names, else those
// its headers say are exhausted, else every dimension it used whose limit binds or is not
// known, else every dimension it used (a bare 429 says nothing more).
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
	for d, dl := range l.dims {
		if dl != nil && ms[d].hasRem && float64(ms[d].remaining) < max(dl.charged(o), 1) {
			out = append(out, Dim(d))
		}
	}
	if len(out) > 0 {
		return out
	}
	for d, dl := range l.dims {
		if dl != nil && o.Reserved.Of(dl.dim.Unit()) > 0 &&
			(l.local.Dims[d].Limit == 0 || dl.live.Refusals() > dl.seen) {
			out = append(out, Dim(d))
		}
	}
	if len(out) > 0 {
		return out
	}
	for d, dl := range l.dims {
		if dl != nil && o.Reserved.Of(dl.dim.Unit()) > 0 {
			out = append(out, Dim(d))
		}
	}
	return out
}

// Status returns the learner's rows, as Set.Status does.
func (l *Learner) Status() []Limit { return l.appendStatus(nil) }

func (l *Learner) appendStatus(dst []Limit) []Limit {
	l.mu.Lock()
	defer l.mu.Unlock()
	for d, dl := range l.dims {
		c := &l.local.Dims[d]
		if dl == nil || (c.Source == SourceNone && dl.refusals == 0 && dl.remain < 0) {
			continue
		}
		lim := int64(0)
		if c.Limit > 0 {
			lim, _ = dl.live.Limit()
		}
		var updated time.Time
		if c.Updated != 0 {
			updated = time.Unix(0, c.Updated)
		}
		dst = append(dst, Limit{Upstream: l.up, Model: l.model, Dim: Dim(d), Limit: lim, Source: c.Source,
			Stated: c.Stated, Remaining: dl.remain, Refusals: dl.refusals, Decreases: c.Decreases,
			Increases: c.Increases, Updated: updated})
	}
	return dst
}
