package demo

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WriteText writes the report for a terminal: a few short tables, readable in ten
// seconds, ending with the invariants.
func (r *Report) WriteText(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("\ntollgate demo: %d agents in %d sessions for %s (drain %s), seed %d\n", r.Agents, r.Sessions,
		r.Duration.Round(time.Second), max(r.Elapsed-r.Duration, 0).Round(100*time.Millisecond), r.Seed)
	p("%s\n", r.pathLine())
	if r.Interrupted {
		p("interrupted after %s: requests in flight were cancelled\n", r.Elapsed.Round(100*time.Millisecond))
	}
	p("\n")

	p("requests   %d started, %d answered, %s", r.Started, r.Answered, plural(r.Errored, "error"))
	if r.Errored > 0 {
		p(" (%s, %d shed by tollgate and retried by their agent, %d cancelled at the end, %d other)",
			plural(r.BudgetErrors, "budget refusal"), r.Shed, r.Cancelled, r.Errored-r.BudgetErrors-r.Shed-r.Cancelled)
	}
	if r.StreamsCut > 0 {
		p("\n           %s cut after the first byte reached the agent as an error: too late to fall back", plural(r.StreamsCut, "stream"))
	}
	p("\n           %d streamed to the end, %d from the cache, %d static, %s stopped by a budget\n",
		r.Streams, r.CachedAnswers, r.StaticAnswers, plural(r.BudgetStops, "agent"))
	if r.viaGateway() {
		p("           %d answers said they came from a fallback step (X-Tollgate-Fallback-Reason), %d had max_tokens\n"+
			"           clamped to fit a budget (X-Tollgate-Max-Tokens)\n", r.AgentFallbacks, r.AgentClamps)
	} else {
		p("           %d answers came from a fallback step, %d had max_tokens clamped to fit a budget\n", r.AgentFallbacks, r.AgentClamps)
	}
	if len(r.Errors) > 0 {
		p("           errors that reached agents: %s\n", counts(r.Errors))
	}
	if r.viaGateway() {
		p("http       %s  (statuses the agents' SDK received)\n", statuses(r.HTTPStatus))
		p("gateway    %d requests by its own count: %s\n", r.GatewayRequests, counts(r.GatewayOutcomes))
		if r.GatewayDrain != "" {
			p("           drain: %s\n", r.GatewayDrain)
		}
	}
	p("latency    answers p50 %s, p99 %s (max %s, %d)", ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.Max), r.Latency.N)
	if r.ErrorLatency.N > 0 {
		p("; errors p50 %s, p99 %s (%d)", ms(r.ErrorLatency.P50), ms(r.ErrorLatency.P99), r.ErrorLatency.N)
	}
	p("\n           end to end by the agents' clock, queue wait and streams to their end included\n")

	p("\nThe figures below are the engine's (its events, in-process) and the emulator's own counts.\n")
	p("\nupstream   %d × 429 met by tollgate (the emulator sent %d); %d reached an agent: %d retried after their\n"+
		"           Retry-After, %d fell back along the route (next model, cache or static answer)\n",
		r.Upstream429, r.Emulator429, r.Agent429, r.Retried429, max(r.Upstream429-r.Retried429-r.Agent429, 0))
	if len(r.UpstreamErrors) > 0 {
		p("           failed attempts by kind: %s; %d retries in all, %d answers from a fallback step\n",
			counts(r.UpstreamErrors), r.Retries, r.Fallbacks)
	}
	p("budgets    %d downgrades (%d model steps skipped for the budget, %d max_tokens clamped), %d warnings\n",
		r.BudgetSkips+r.Clamps, r.BudgetSkips, r.Clamps, r.Warnings)

	p("\nqueue wait   %9s %9s %9s %9s %11s\n", "p50", "p90", "p99", "max", "admissions")
	for _, l := range r.Waits {
		p("  %-10s %9s %9s %9s %9s %11d\n", l.Level, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), l.Admissions)
	}

	p("\nmodel              calls  tokens in  tokens out     spend   emulator count\n")
	for _, m := range r.Models {
		p("  %-16s %5d %10d %11d %9s   %s (%d served)\n", m.Model, m.Requests, m.InputTokens, m.OutputTokens,
			usd(m.MicroUSD), usd(m.UpstreamMicroUSD), m.UpstreamServed)
	}
	p("  %-16s %5s %10s %11s %9s   %s\n", "total", "", "", "", usd(r.Engine), usd(r.Upstream))

	p("\nsession   budget   spent\n")
	for _, s := range r.Spend {
		p("  %-6s %7s   %s %7s %4.0f%%  %d agents", s.Session, usd(s.Budget), bar(s.Used, s.Budget, 20),
			usd(s.Used), pct(s.Used, s.Budget), s.Agents)
		if s.Stopped > 0 {
			p(", %d stopped by the budget", s.Stopped)
		}
		p("\n")
	}
	p("  %-6s %7s   %s %7s %4.0f%%  (%s)\n", "day", usd(r.Daily.Limit), bar(r.Daily.Used, r.Daily.Limit, 20),
		usd(r.Daily.Used), pct(r.Daily.Used, r.Daily.Limit), r.Daily.Name)

	p("\ninvariants\n")
	for _, c := range r.checks() {
		mark := "ok  "
		switch {
		case !c.ok && c.soft:
			mark = "note"
		case !c.ok:
			mark = "FAIL"
		}
		p("  %s %s\n", mark, c.text)
	}
}

// check is one invariant as the report states it.
type check struct {
	ok   bool
	soft bool // a goal the report shows, not an invariant of Check
	text string
}

// checks states the invariants of Check for people, each with its figures.
func (r *Report) checks() []check {
	over := 0
	for _, s := range r.Spend {
		if s.Used > s.Budget || s.Settled > s.Budget {
			over++
		}
	}
	var calls int64
	for _, m := range r.Models {
		calls += m.Requests
	}
	diff := r.Engine - r.Upstream
	agree := diff >= -calls && (diff <= calls || r.Cancelled+r.StreamsCut > 0)
	lost := r.Started - r.Answered - r.Errored
	return []check{
		{over == 0 && r.Daily.Used <= r.Daily.Limit, false,
			fmt.Sprintf("overspend: none (%d sessions within budget, the day at %s of %s)", len(r.Spend)-over, usd(r.Daily.Used), usd(r.Daily.Limit))},
		{agree && r.Upstream <= r.Daily.Limit, false, spendText(r)},
		{r.OpenReservations == 0 && r.StoreHolds == 0, false,
			fmt.Sprintf("leaked reservations: %d (engine.Open() = %d, store holds = %d)", r.OpenReservations+int64(r.StoreHolds), r.OpenReservations, r.StoreHolds)},
		{lost == 0 && !r.gatewayMissed(), false, lostText(r, lost)},
		{r.Agent429 == 0, true, fmt.Sprintf("upstream 429s that reached an agent: %d of %d", r.Agent429, r.Upstream429)},
	}
}

func lostText(r *Report, lost int64) string {
	s := fmt.Sprintf("lost requests: %d (%d started = %d answered + %d errors", lost, r.Started, r.Answered, r.Errored)
	if r.viaGateway() {
		s += fmt.Sprintf("; the gateway counted %d", r.GatewayRequests)
		if r.GatewayRequests != r.Started && !r.gatewayMissed() {
			s += ": calls cancelled at the end or unanswered may not have reached it"
		}
	}
	return s + ")"
}

// pathLine says how the agents reached tollgate.
func (r *Report) pathLine() string {
	if !r.viaGateway() {
		return "agents → engine in-process (-direct) → provider adapters → emulator over HTTP"
	}
	return "agents (official OpenAI Go SDK, SDK retries off, one virtual key per session) → gateway " +
		r.GatewayURL + " → engine → emulator"
}

// statuses renders HTTP status counts in status order: "200 ×790 · 429 ×19".
func statuses(m map[int]int64) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := strconv.Itoa(k)
		if k == 0 {
			name = "no response"
		}
		parts[i] = fmt.Sprintf("%s ×%d", name, m[k])
	}
	return strings.Join(parts, " · ")
}

func spendText(r *Report) string {
	s := fmt.Sprintf("spend agrees with the emulator's own count at list price: tollgate %s, emulator %s", usd(r.Engine), usd(r.Upstream))
	if cut := r.StreamsCut + r.Cancelled; cut > 0 && r.Engine != r.Upstream {
		s += fmt.Sprintf(" (%s cut short: tollgate charges a stream cut after its first byte at its worst case, the emulator counts it as unserved)", plural(cut, "call"))
	}
	return s
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func counts(m map[string]int64) string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func bar(used, limit int64, width int) string {
	n := 0
	if limit > 0 {
		n = int(min(1, float64(used)/float64(limit))*float64(width) + 0.5)
	}
	return strings.Repeat("█", n) + strings.Repeat("░", width-n)
}

func pct(used, limit int64) float64 {
	if limit <= 0 {
		return 0
	}
	return 100 * float64(used) / float64(limit)
}

func ms(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return d.Round(100 * time.Millisecond).String()
}
