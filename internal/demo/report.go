package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// Report is what a run did, with every figure the text and HTML reports show. Money is in
// micro-USD.
type Report struct {
	Duration time.Duration // agents started requests for this long
	Elapsed  time.Duration // the whole run, drain included
	Agents   int
	Sessions int
	Seed     uint64
	// Interrupted says the caller's context ended the run early.
	Interrupted bool
	// GatewayURL is the base URL of the gateway the agents called over HTTP with the
	// official OpenAI Go SDK; "" when they called the engine in-process (Config.Direct).
	GatewayURL string

	// What the agents saw. Every request started ends answered or errored; Shed,
	// Cancelled and the budget refusals are errors of their own kinds.
	Started, Answered, Errored int64
	Shed                       int64 // refused by tollgate's queue (wait too long), then retried by the agent
	Cancelled                  int64 // cancelled by the end of the drain or the caller
	BudgetStops                int64 // agents stopped by a budget refusal or a last resort served for the budget
	BudgetErrors               int64 // of which by a budget refusal (an error) rather than a last resort
	Streams                    int64 // streamed requests, each read to its end
	StreamsCut                 int64 // streams that failed after their first byte (an error the agent saw)
	CachedAnswers              int64
	StaticAnswers              int64
	// AgentFallbacks and AgentClamps are the answers that told their agent they came from
	// a fallback step or with max_tokens lowered (through the gateway: the
	// X-Tollgate-Fallback-Reason and X-Tollgate-Max-Tokens headers), beside the engine's
	// own counts in Fallbacks and Clamps.
	AgentFallbacks, AgentClamps int64
	Errors                      map[string]int64 // other errors that reached an agent, by kind
	// HTTPStatus counts the calls by the HTTP status the agents' SDK received (0: no
	// response at all); a stream cut after its 200 counts as a 200. Empty in-process.
	HTTPStatus map[int]int64
	// Latency and ErrorLatency are the time an agent waited for an answer (a stream read to
	// its end) or for an error, by the agents' own clock.
	Latency, ErrorLatency Latency

	// What the gateway counted itself (its tollgate_requests_total metric), by outcome;
	// empty in-process.
	GatewayOutcomes map[string]int64
	GatewayRequests int64
	// GatewayDrain is the gateway's error when its drain had to cut requests; "" after a
	// clean drain.
	GatewayDrain string

	// What the engine did.
	Served         int64
	UpstreamErrors map[string]int64 // failed upstream attempts, by kind
	Upstream429    int64            // upstream 429s the engine met
	Retried429     int64            // of which were retried at the same model
	Emulator429    int64            // 429s the emulator says it sent
	Agent429       int64            // upstream 429s that reached an agent
	Retries        int64
	Fallbacks      int64 // answers from a step after the first
	BudgetSkips    int64 // model steps skipped for the budget (downgrades)
	Clamps         int64 // max_tokens lowered to fit the budget
	Warnings       int64 // budget warning thresholds crossed

	Waits  []LevelWait      // queue wait by priority, highest first
	Models []ModelFigures   // by model, as the engine settled them and the emulator counted them
	Spend  []SessionFigures // by session
	Daily  BudgetFigures    // the tenant's day
	// WarnAt and DowngradeAt are the budgets' thresholds, as fractions.
	WarnAt, DowngradeAt float64
	Engine              int64 // micro-USD settled by the engine (all models)
	Upstream            int64 // micro-USD at list price by the emulator's own count

	OpenReservations int64 // engine.Open() at the end: must be 0
	StoreHolds       int   // holds still open in the quota store: must be 0

	// Throughput is answers served per second since the start, by model ("cached" and
	// "static" included).
	Throughput map[string][]int
	// HTMLPath is where the HTML report was written, "" when none was.
	HTMLPath string
}

// Latency is a distribution of durations by the nearest-rank method.
type Latency struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func latencyOf(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return Latency{N: len(s), P50: quantile(s, 0.50), P90: quantile(s, 0.90), P99: quantile(s, 0.99), Max: s[len(s)-1]}
}

// LevelWait is the queue wait of one priority level.
type LevelWait struct {
	Level              string
	Admissions         int
	P50, P90, P99, Max time.Duration
}

// ModelFigures are one model's requests, tokens and spend.
type ModelFigures struct {
	Model                     string
	Requests                  int64 // settled attempts
	InputTokens, OutputTokens int64
	MicroUSD                  int64 // settled by the engine
	UpstreamServed            int64 // the emulator's count of answers served
	UpstreamMicroUSD          int64 // the emulator's count, at list price
}

// SessionFigures is one session's spend against its budget.
type SessionFigures struct {
	Session string
	Agents  int
	Stopped int   // agents of the session stopped by the budget
	Budget  int64 // lifetime limit
	Used    int64 // the quota store's Status: settled plus held
	Held    int64 // still held by open reservations: must be 0 at the end
	Settled int64 // the sum of the engine's Settled events
}

// BudgetFigures is one budget's state at the end.
type BudgetFigures struct {
	Name        string
	Limit, Used int64
}

// Check returns nil when every invariant held, or an error naming each that broke:
// overspend (a session or the tenant's day past its budget, by the store, by the engine's
// events or by the emulator's own count), spend that disagrees between the engine and the
// emulator beyond rounding, a leaked reservation, or a lost request.
func (r *Report) Check() error {
	var errs []error
	for _, s := range r.Spend {
		if s.Used > s.Budget || s.Settled > s.Budget {
			errs = append(errs, fmt.Errorf("overspend: session %s used %s (settled %s) of a %s budget", s.Session,
				usd(s.Used), usd(s.Settled), usd(s.Budget)))
		}
		if s.Used-s.Held != s.Settled {
			errs = append(errs, fmt.Errorf("spend mismatch: session %s: store %s, engine events %s", s.Session,
				usd(s.Used-s.Held), usd(s.Settled)))
		}
	}
	if r.Daily.Used > r.Daily.Limit {
		errs = append(errs, fmt.Errorf("overspend: tenant day used %s of %s", usd(r.Daily.Used), usd(r.Daily.Limit)))
	}
	if r.Upstream > r.Daily.Limit {
		errs = append(errs, fmt.Errorf("overspend: the emulator counted %s at list price, over the %s day budget",
			usd(r.Upstream), usd(r.Daily.Limit)))
	}
	// Both sides price each call with one ceiling division, so they agree to the micro-USD
	// per call. A call cut short (a stream cut after its first byte, or one cancelled at the
	// end of the drain) is charged its worst case by the engine and nothing by the emulator:
	// then only "engine >= emulator" holds.
	var calls int64
	for _, m := range r.Models {
		calls += m.Requests
	}
	switch diff := r.Engine - r.Upstream; {
	case diff < -calls:
		errs = append(errs, fmt.Errorf("under-charged: the engine settled %s but the emulator counted %s", usd(r.Engine), usd(r.Upstream)))
	case diff > calls && r.Cancelled+r.StreamsCut == 0:
		errs = append(errs, fmt.Errorf("spend mismatch: the engine settled %s but the emulator counted %s", usd(r.Engine), usd(r.Upstream)))
	}
	if r.OpenReservations != 0 || r.StoreHolds != 0 {
		errs = append(errs, fmt.Errorf("leaked reservations: engine.Open() = %d, store holds = %d", r.OpenReservations, r.StoreHolds))
	}
	if lost := r.Started - r.Answered - r.Errored; lost != 0 {
		errs = append(errs, fmt.Errorf("lost requests: %d started, %d answered, %d errored", r.Started, r.Answered, r.Errored))
	}
	if r.gatewayMissed() {
		errs = append(errs, fmt.Errorf("lost requests: the agents started %d, the gateway counted %d", r.Started, r.GatewayRequests))
	}
	return errors.Join(errs...)
}

// gatewayMissed reports whether the gateway counted fewer requests than the agents sent,
// where it must have seen each: when no call was cancelled (one cancelled at the end of the
// drain may never have left the agent) and every call got an HTTP answer.
func (r *Report) gatewayMissed() bool {
	return r.viaGateway() && r.Cancelled == 0 && r.HTTPStatus[0] == 0 && r.GatewayRequests != r.Started
}

// viaGateway reports whether the agents called the gateway over HTTP.
func (r *Report) viaGateway() bool { return r.GatewayURL != "" }

// reportInputs is everything buildReport reads.
type reportInputs struct {
	start    time.Time
	eng      *engine.Engine
	store    *quota.MemoryStore
	emu      emulator.Stats
	col      *collector
	counts   *agentCounts
	sessions []sessionBudget
	agents   []*agent
	rules    quota.Rules
	gateway  *gatewayView // nil when Direct
}

func buildReport(ctx context.Context, cfg Config, in reportInputs) *Report {
	c, n := in.col, in.counts
	r := &Report{Interrupted: ctx.Err() != nil, WarnAt: cfg.Budgets.WarnAt, DowngradeAt: cfg.Budgets.DowngradeAt, Duration: cfg.Duration, Elapsed: time.Since(in.start), Agents: cfg.Agents, Sessions: cfg.Sessions, Seed: cfg.Seed,
		Started: n.started.Load(), Answered: n.answered.Load(), Errored: n.errored.Load(), Shed: n.shed.Load(),
		Cancelled: n.cancelled.Load(), BudgetStops: n.budgetStops.Load(), BudgetErrors: n.budgetRefusals.Load(), Streams: n.streams.Load(), StreamsCut: n.streamsCut.Load(),
		CachedAnswers: n.cachedAnswers.Load(), StaticAnswers: n.static.Load(),
		AgentFallbacks: n.fellBack.Load(), AgentClamps: n.clamped.Load(), Agent429: n.rateLimited.Load(),
		OpenReservations: in.eng.Open(), StoreHolds: in.store.Open()}
	n.mu.Lock()
	r.Errors = maps.Clone(n.errors)
	r.Latency, r.ErrorLatency = latencyOf(n.latency), latencyOf(n.failed)
	if in.gateway != nil {
		r.HTTPStatus = maps.Clone(n.statuses)
	}
	n.mu.Unlock()
	if g := in.gateway; g != nil {
		r.GatewayURL = g.url
		r.GatewayOutcomes = g.outcomes
		for _, v := range g.outcomes {
			r.GatewayRequests += v
		}
		if g.drainErr != nil {
			r.GatewayDrain = g.drainErr.Error()
		}
	}
	if r.Errors == nil {
		r.Errors = map[string]int64{}
	}

	c.mu.Lock()
	r.Served, r.Upstream429, r.Retried429, r.Retries, r.Fallbacks = c.served, c.upstream429, c.retried429, c.retries, c.fallbacks
	r.BudgetSkips, r.Clamps, r.Warnings = c.skips, c.clamps, c.warnings
	r.UpstreamErrors = maps.Clone(c.upstreamBy)
	r.Throughput = map[string][]int{}
	for k, v := range c.perSecond {
		r.Throughput[k] = slices.Clone(v)
	}
	for lv := queue.Critical; lv >= queue.Low; lv-- {
		if w := c.waits[lv]; len(w) > 0 {
			r.Waits = append(r.Waits, levelWait(lv, w))
		}
	}
	settled := map[string]ModelFigures{}
	for k, v := range c.settled {
		settled[k] = *v
		r.Engine += v.MicroUSD
	}
	sessionSettled := maps.Clone(c.sessions)
	c.mu.Unlock()

	for _, reason := range []emulator.Reason{emulator.RefusedRPM, emulator.RefusedTPM, emulator.RefusedITPM, emulator.RefusedOTPM} {
		r.Emulator429 += in.emu.Total.Refused[reason]
	}
	r.Upstream = in.emu.Total.CostMicroUSD
	names := slices.Sorted(maps.Keys(settled))
	for name := range in.emu.Models {
		if _, ok := settled[name]; !ok {
			names = append(names, name)
		}
	}
	for _, name := range names {
		m := settled[name]
		m.Model = name
		if e, ok := in.emu.Models[name]; ok {
			m.UpstreamServed, m.UpstreamMicroUSD = e.Served, e.CostMicroUSD
		}
		r.Models = append(r.Models, m)
	}
	slices.SortFunc(r.Models, func(a, b ModelFigures) int { return cmp.Compare(b.MicroUSD, a.MicroUSD) })

	stopped := map[string]int{}
	agentsOf := map[string]int{}
	for _, a := range in.agents {
		agentsOf[a.session]++
		if a.stopped {
			stopped[a.session]++
		}
	}
	var qs []quota.Quota
	for _, s := range in.sessions {
		// A session's quotas are its tenant's (quota.Rule.ScopedByTenant); the tenant's own
		// are added once, below.
		for i := range in.rules {
			if q, ok := in.rules[i].For(quota.Labels{Tenant: tenant, Session: s.name}); ok && q.Scope.Session != "" {
				qs = append(qs, q)
			}
		}
	}
	qs = in.rules.For(qs, quota.Labels{Tenant: tenant})
	var budgets []quota.Quota
	for _, q := range qs {
		if q.Window.Kind.IsBudget() {
			budgets = append(budgets, q)
		}
	}
	sts, _ := in.store.Status(ctx, budgets, nil)
	for _, st := range sts {
		if st.Quota.Scope.Session == "" {
			r.Daily = BudgetFigures{Name: "tenant " + st.Quota.Scope.Tenant + " today", Limit: st.Quota.Limit, Used: st.Used}
			continue
		}
		s := st.Quota.Scope.Session
		r.Spend = append(r.Spend, SessionFigures{Session: s, Agents: agentsOf[s], Stopped: stopped[s],
			Budget: st.Quota.Limit, Used: st.Used, Held: st.Held, Settled: sessionSettled[s]})
	}
	return r
}

func (r *Report) warnAt() float64 { return cmp.Or(r.WarnAt, 0.8) }

func (r *Report) downgradeAt() float64 { return cmp.Or(r.DowngradeAt, 0.85) }

func levelWait(lv queue.Level, w []time.Duration) LevelWait {
	s := slices.Clone(w)
	slices.Sort(s)
	return LevelWait{Level: lv.String(), Admissions: len(s), P50: quantile(s, 0.50), P90: quantile(s, 0.90), P99: quantile(s, 0.99), Max: s[len(s)-1]}
}

// quantile returns the q-quantile of sorted s by the nearest-rank method.
func quantile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func usd(n int64) string { return quota.MicroUSD.Format(n) }
