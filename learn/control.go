package learn

import (
	"time"
)

// state is the learning state of one upstream and model: the control law's variables,
// which replicas share (see Shared), as JSON.
type state struct {
	// Version counts the shared state's writes; it is not part of the JSON.
	Version int64 `json:"-"`
	// First is when the first call observed was sent, unix ns.
	First int64 `json:"first,omitempty"`
	// Dims holds one dimension's variables per Dim.
	Dims [numDims]dimCtl `json:"dims"`
}

// dimCtl is one dimension's variables. Times are unix ns; limits are per period.
type dimCtl struct {
	// Limit is the learned limit; 0 while none is known.
	Limit  float64 `json:"limit,omitempty"`
	Source Source  `json:"source,omitempty"`
	// Stated is the limit the provider last stated (headers, a refusal's message).
	Stated int64 `json:"stated,omitempty"`
	// Wmax is the best estimate of the provider's limit at the last cut; Plateau is when
	// the limit last came under it, from which it holds for Config.Hold.
	Wmax    float64 `json:"wmax,omitempty"`
	Plateau int64   `json:"plateau,omitempty"`
	// Cut is when the limit was last cut, emptying the quota with the provider's bucket:
	// the refusals of calls sent before it are the same overload, and the stretch since
	// it measures the provider's rate. Integ is the integral of the limit over the
	// stretch up to Set (per period × seconds): what the quota let through.
	Cut   int64   `json:"cut,omitempty"`
	Integ float64 `json:"integ,omitempty"`
	Set   int64   `json:"set,omitempty"`
	// Check is when binding was last checked for a raise; Refused when a refusal was
	// last observed; Step is the next raise, a fraction of the limit.
	Check   int64   `json:"check,omitempty"`
	Refused int64   `json:"refused,omitempty"`
	Step    float64 `json:"step,omitempty"`
	// Accepted is what the provider accepted of the calls sent up to its first refusal
	// (sent at FirstCut, observed at FirstAt): the numerator of the first estimate.
	Accepted float64 `json:"accepted,omitempty"`
	FirstCut int64   `json:"first_cut,omitempty"`
	FirstAt  int64   `json:"first_at,omitempty"`

	Decreases uint64 `json:"decreases,omitempty"`
	Increases uint64 `json:"increases,omitempty"`
	Updated   int64  `json:"updated,omitempty"`
}

// evKind is what an event reports.
type evKind uint8

const (
	evStated   evKind = iota + 1 // the provider stated the limit (Limit, Source)
	evAccepted                   // the provider accepted a call sent at Sent, of Amount
	evRefused                    // the provider refused a call sent at Sent, of Amount
	evProbe                      // a check for a raise; Binding: the quota made requests wait
)

// event is one observation, as the control law takes it. A learner applies its events to
// its own state at once and, when replicas share the state, again to the shared state
// (Set.Sync): the law is a function of the state and the event, so that the shared state
// ends as if one learner had seen every replica's events.
type event struct {
	Kind    evKind
	Dim     Dim
	Now     int64 // when it was observed
	Sent    int64 // when its call was sent
	Amount  float64
	Limit   int64
	Source  Source
	Binding bool
}

// move is a change of a limit that apply made, for the log.
type move struct {
	dim      Dim
	from, to float64
	why      string
}

// apply applies ev to st under cfg's law, and reports the move of a limit it made.
func (st *state) apply(cfg *Config, ev *event) (move, bool) {
	if ev.Sent != 0 && (st.First == 0 || ev.Sent < st.First) {
		st.First = ev.Sent
	}
	d := &st.Dims[ev.Dim]
	from := d.Limit
	var why string
	switch ev.Kind {
	case evStated:
		if ev.Limit <= 0 || ev.Limit == d.Stated {
			return move{}, false
		}
		d.Stated = ev.Limit
		d.set(ev.Now, float64(ev.Limit), ev.Source)
		// The stated limit holds from now: the refusals of calls sent before it (the one
		// that stated it, those sent before the limit was known) are no evidence against
		// it. A limit stated only in a refusal's message is not stated again when the
		// provider raises it (no refusal comes to say so): it is the floor of a probe,
		// held for Config.Hold from now.
		d.Wmax, d.Plateau, d.Step = float64(ev.Limit), ev.Now, cfg.Increase
		d.restart(ev.Now)
		why = "stated by " + ev.Source.String()
	case evAccepted:
		if d.Stated > 0 || d.FirstCut != 0 && ev.Sent > d.FirstCut {
			return move{}, false
		}
		d.Accepted += ev.Amount
		if d.FirstCut == 0 || ev.Now-d.FirstAt > int64(cfg.Period) {
			return move{}, false
		}
		// A call sent before the first refusal and answered after it: the first estimate
		// counted it short.
		est := st.firstEstimate(d, cfg)
		if est <= d.Limit {
			return move{}, false
		}
		d.Wmax = max(d.Wmax, est)
		d.set(ev.Now, est, d.Source)
		why = "late answers to the first refusal"
	case evRefused:
		why = st.refused(cfg, d, ev)
	case evProbe:
		why = d.probe(cfg, ev)
	}
	if why == "" || d.Limit == from {
		return move{}, false
	}
	return move{dim: ev.Dim, from: from, to: d.Limit, why: why}, true
}

// firstEstimate is the limit that what the provider accepted up to its first refusal
// shows: its bucket started full and had just run dry, so it accepted one bucket plus
// what it refilled since the first call was sent.
func (st *state) firstEstimate(d *dimCtl, cfg *Config) float64 {
	elapsed := max(float64(d.FirstCut-st.First)/float64(cfg.Period), 0)
	return d.Accepted / (1 + elapsed)
}

// refused applies a refusal in d's dimension and says why the limit moved ("" if not).
func (st *state) refused(cfg *Config, d *dimCtl, ev *event) string {
	d.Refused = max(d.Refused, ev.Now)
	d.Step = cfg.Increase
	switch {
	case d.Limit == 0:
		d.FirstCut, d.FirstAt = ev.Sent, ev.Now
		est := max(st.firstEstimate(d, cfg), ev.Amount, 1)
		// Calls still in flight make it short: their answers raise it (evAccepted), and
		// it is not held, so that probing corrects the rest.
		d.Wmax, d.Plateau = est, 0
		d.set(ev.Now, est, SourceRefusals)
		d.restart(ev.Now)
		return "first refusal"
	case d.Stated > 0 && (d.Source == SourceHeaders || d.Limit <= float64(d.Stated)):
		// The provider stated the limit (its headers, or a refusal's message): a refusal
		// says its window is spent, not that the limit is lower. Calls sent before the
		// limit was known (a fleet's startup burst, replicas that had not learned it
		// yet) spend it ahead of the quota, and a cut for them would hold the limit
		// under the stated one for as long as it holds. The refusal empties the quota's
		// room instead (Learner.Observe), up to its retry-after, and the provider's
		// remaining count floors it from then on. A limit stated only by a message is
		// held again from now: it does not bind without refusals.
		if d.Source != SourceHeaders {
			d.Plateau = max(d.Plateau, ev.Now)
		}
		return ""
	case ev.Sent > d.Cut:
		src := d.Source
		if src == SourceNone {
			src = SourceRefusals
		}
		wmax, v := d.Limit, d.Limit*cfg.Decrease
		if est, ok := d.estimate(ev.Sent, ev.Amount, cfg.Period); ok {
			wmax, v = min(wmax, est), min(v, est*(1-cfg.Margin))
		}
		// The hold counts from the cut: the climb back under wmax is part of it. A probe
		// above a limit stated by a message is cut back no lower than it: only a new
		// statement says that the limit fell.
		floor := max(float64(d.Stated), 1)
		d.Wmax, d.Plateau = max(wmax, floor), ev.Now
		d.set(ev.Now, max(v, floor), src)
		d.Decreases++
		d.restart(ev.Now)
		return "refused"
	}
	return ""
}

// estimate returns the provider's limit per period as the stretch that a refusal of a
// call of amount, sent at sent, ends shows it, and whether the stretch shows it within
// 10%. The provider's bucket was empty at both ends of the stretch (a refusal at each),
// and the quota, emptied at its start, let through the integral of its limit over it
// (less, when demand fell short: the estimate is then too high, and the caller's
// multiplicative cut is the lower). So the provider refilled that integral minus the
// refused amount, give or take one call.
func (d *dimCtl) estimate(sent int64, amount float64, period time.Duration) (float64, bool) {
	tau := float64(sent-d.Cut) / float64(time.Second)
	if d.Cut == 0 || tau <= 0 {
		return 0, false
	}
	integ := d.Integ + d.Limit*float64(sent-d.Set)/float64(time.Second)
	slack := amount * period.Seconds()
	est := (integ - slack) / tau
	return est, est > 0 && slack/tau <= 0.1*est
}

// probe raises the limit when a check interval has passed in which its quota bound (made
// requests wait) and the upstream refused nothing: back quickly toward just under the
// estimate of the provider's limit, held there for Config.Hold, then up in steps that
// double while nothing is refused, to find a limit that rose. It never goes above a
// limit the provider's headers state: they are read on every answer and follow a raise.
// A limit stated only by a refusal's message is probed above like an unstated one, from
// the stated value.
func (d *dimCtl) probe(cfg *Config, ev *event) string {
	if d.Limit == 0 || ev.Now-d.Check < int64(cfg.Interval) {
		return ""
	}
	binding := ev.Binding && d.Refused <= d.Check
	d.Check = ev.Now
	if d.Step == 0 {
		d.Step = cfg.Increase
	}
	if !binding {
		d.Step = cfg.Increase
		return ""
	}
	ceiling := float64(maxLimit)
	if d.Stated > 0 && d.Source == SourceHeaders {
		ceiling = float64(d.Stated)
	}
	target := ceiling
	if d.Wmax > 0 {
		target = min(target, d.Wmax*(1-cfg.Margin))
	}
	switch {
	case d.Limit < target:
		d.set(ev.Now, min(target, d.Limit+max((target-d.Limit)/2, d.Limit*cfg.Increase, 1)), d.Source)
		d.Increases++
		return "recovering"
	case d.Limit >= ceiling || ev.Now-d.Plateau < int64(cfg.Hold):
		d.Step = cfg.Increase
		return ""
	}
	d.set(ev.Now, min(max(d.Limit*(1+d.Step), d.Limit+1), ceiling), d.Source)
	d.Increases++
	d.Step = min(d.Step*2, cfg.MaxIncrease)
	return "probing"
}

// restart starts a stretch at now, when the limit was just cut and the quota's room
// emptied with the provider's: the next refusal ends it.
func (d *dimCtl) restart(now int64) { d.Cut, d.Set, d.Integ = now, now, 0 }

// set moves the limit to v at now, keeping the stretch's integral.
func (d *dimCtl) set(now int64, v float64, src Source) {
	if now > d.Set {
		d.Integ += d.Limit * float64(now-d.Set) / float64(time.Second)
		d.Set = now
	}
	d.Limit, d.Source, d.Updated = v, src, now
}
