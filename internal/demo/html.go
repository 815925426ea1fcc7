package demo

import (
	"fmt"
	"html"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The HTML report is one file with inline CSS and inline SVG drawn here: it must open
// from a mail attachment or a CI artifact with no network, so no chart library or font is
// fetched. The SVG is a few dozen rectangles per chart, which does not need one.

// WriteHTMLFile writes the HTML report to path.
func (r *Report) WriteHTMLFile(path string) error {
	var b strings.Builder
	r.WriteHTML(&b)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("demo: html report: %w", err)
	}
	return nil
}

// seriesColors gives each model a fixed colour, so that charts of different runs compare.
var seriesColors = map[string]string{
	"gpt-4o": "#4e79a7", "gpt-4o-mini": "#59a14f", "claude-haiku-4-5": "#f28e2b",
	"cached": "#b07aa1", "static": "#9c755f",
}

var otherColors = []string{"#76b7b2", "#edc948", "#e15759", "#ff9da7", "#bab0ac"}

// WriteHTML writes the self-contained HTML report: the three charts (ids chart-throughput,
// chart-spend and chart-wait) and the summary tables.
func (r *Report) WriteHTML(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	e := html.EscapeString
	p(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tollgate demo report</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;max-width:980px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 16px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}
th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}
.ok{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.kpi{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}.kpi div{background:#f6f8fa;border-radius:6px;padding:8px 12px;min-width:120px}
.kpi b{display:block;font-size:20px}svg{background:#fff;border:1px solid #eee;border-radius:6px}
svg text{font:11px system-ui,sans-serif;fill:#444}
</style></head><body>
`)
	how := "Agents called the gateway over HTTP with the official OpenAI Go SDK (SDK retries off, one virtual key per session); the gateway ran each request through the engine, which called the emulator over HTTP through the OpenAI and Anthropic adapters."
	if !r.viaGateway() {
		how = "Agents called the engine in-process (-direct); the engine called the emulator over HTTP through the OpenAI and Anthropic adapters."
	}
	p("<h1>tollgate demo</h1>\n<p class=\"sub\">%d agents in %d sessions for %s (drain %s), seed %d. %s</p>\n",
		r.Agents, r.Sessions, r.Duration.Round(time.Second), max(r.Elapsed-r.Duration, 0).Round(100*time.Millisecond), r.Seed, e(how))

	p(`<div class="kpi">`)
	kpi := func(v any, label string) { p("<div><b>%v</b>%s</div>", v, e(label)) }
	kpi(r.Started, "requests started")
	kpi(r.Answered, "answered")
	kpi(r.Upstream429, "upstream 429s absorbed")
	kpi(r.Agent429, "429s that reached an agent")
	kpi(r.Retries, "retries")
	kpi(r.Fallbacks, "fallbacks")
	kpi(r.BudgetSkips+r.Clamps, "downgrades")
	kpi(r.BudgetStops, "budget stops")
	kpi(usd(r.Engine), "spent")
	p("</div>\n")

	p("<h2>Invariants</h2>\n<table>")
	for _, c := range r.checks() {
		cls, mark := "ok", "ok"
		switch {
		case !c.ok && c.soft:
			cls, mark = "fail", "note"
		case !c.ok:
			cls, mark = "fail", "FAIL"
		}
		p(`<tr><td class="%s">%s</td><td style="text-align:left">%s</td></tr>`, cls, mark, e(c.text))
	}
	p("</table>\n")

	p("<h2>What the agents saw</h2>\n<table>")
	lrow := func(name string, l Latency) {
		p("<tr><td>%s</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", e(name), l.N, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
	}
	p("<tr><th>end-to-end latency (agents' clock)</th><th>calls</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\n")
	lrow("answers (streams to their end)", r.Latency)
	lrow("errors", r.ErrorLatency)
	p("</table>\n")
	if r.viaGateway() {
		p("<table><tr><th>HTTP status (as the SDK received it)</th><th>calls</th></tr>\n")
		for _, k := range slices.Sorted(maps.Keys(r.HTTPStatus)) {
			name := strconv.Itoa(k)
			if k == 0 {
				name = "no response"
			}
			p("<tr><td>%s</td><td>%d</td></tr>\n", name, r.HTTPStatus[k])
		}
		p("</table>\n<table><tr><th>outcome (the gateway's own count)</th><th>requests</th></tr>\n")
		for _, k := range slices.Sorted(maps.Keys(r.GatewayOutcomes)) {
			p("<tr><td>%s</td><td>%d</td></tr>\n", e(k), r.GatewayOutcomes[k])
		}
		p("<tr><th>total</th><th>%d</th></tr></table>\n", r.GatewayRequests)
	}

	p("<h2>Throughput by model (answers per second)</h2>\n")
	r.throughputSVG(w)
	p("<h2>Spend against budget</h2>\n")
	r.spendSVG(w)
	p("<h2>Queue wait by priority</h2>\n")
	r.waitSVG(w)

	p("<h2>Models</h2>\n<table><tr><th>model</th><th>calls</th><th>tokens in</th><th>tokens out</th><th>spend (tollgate)</th><th>emulator served</th><th>emulator count</th></tr>\n")
	for _, m := range r.Models {
		p("<tr><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td><td>%d</td><td>%s</td></tr>\n", e(m.Model), m.Requests,
			m.InputTokens, m.OutputTokens, usd(m.MicroUSD), m.UpstreamServed, usd(m.UpstreamMicroUSD))
	}
	p("<tr><th>total</th><th></th><th></th><th></th><th>%s</th><th></th><th>%s</th></tr></table>\n", usd(r.Engine), usd(r.Upstream))

	p("<h2>Sessions</h2>\n<table><tr><th>session</th><th>agents</th><th>stopped by budget</th><th>budget</th><th>spent</th><th>used</th></tr>\n")
	for _, s := range r.Spend {
		p("<tr><td>%s</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td><td>%.0f%%</td></tr>\n", e(s.Session), s.Agents, s.Stopped,
			usd(s.Budget), usd(s.Used), pct(s.Used, s.Budget))
	}
	p("<tr><td>%s</td><td></td><td></td><td>%s</td><td>%s</td><td>%.0f%%</td></tr></table>\n", e(r.Daily.Name), usd(r.Daily.Limit),
		usd(r.Daily.Used), pct(r.Daily.Used, r.Daily.Limit))

	p("<h2>Queue wait</h2>\n<table><tr><th>priority</th><th>admissions</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\n")
	for _, l := range r.Waits {
		p("<tr><td>%s</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", e(l.Level), l.Admissions, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
	}
	p("</table>\n")

	p("<h2>Requests and failures</h2>\n<table>")
	row := func(k string, v any) { p("<tr><td>%s</td><td>%v</td></tr>", e(k), e(fmt.Sprint(v))) }
	row("started", r.Started)
	row("answered", r.Answered)
	row("errors (all kinds)", r.Errored)
	row("budget refusals", r.BudgetErrors)
	row("shed by the queue (agent retried)", r.Shed)
	row("cancelled at the end", r.Cancelled)
	row("streamed to the end", r.Streams)
	row("answers from the cache", r.CachedAnswers)
	row("static answers", r.StaticAnswers)
	row("answers that said they came from a fallback step (agents)", r.AgentFallbacks)
	row("answers with max_tokens clamped (agents)", r.AgentClamps)
	row("answers from a fallback step (engine events)", r.Fallbacks)
	row("max_tokens clamped (engine events)", r.Clamps)
	row("upstream 429s (emulator's count)", fmt.Sprintf("%d (%d)", r.Upstream429, r.Emulator429))
	row("failed upstream attempts", counts(r.UpstreamErrors))
	row("errors that reached agents", counts(r.Errors))
	row("budget warnings", r.Warnings)
	p("</table>\n</body></html>\n")
}

// chart geometry shared by the three charts.
const (
	svgW, svgH             = 940, 280
	padL, padR, padT, padB = 56, 16, 16, 40
)

func (r *Report) seriesNames() []string {
	names := slices.Collect(maps.Keys(r.Throughput))
	order := map[string]int{"gpt-4o": 0, "gpt-4o-mini": 1, "claude-haiku-4-5": 2, "cached": 8, "static": 9}
	slices.SortFunc(names, func(a, b string) int {
		oa, ok := order[a]
		if !ok {
			oa = 5
		}
		ob, ok := order[b]
		if !ok {
			ob = 5
		}
		if oa != ob {
			return oa - ob
		}
		return strings.Compare(a, b)
	})
	return names
}

func colorOf(name string, i int) string {
	if c, ok := seriesColors[name]; ok {
		return c
	}
	return otherColors[i%len(otherColors)]
}

// throughputSVG draws answers per second as bars stacked by model.
func (r *Report) throughputSVG(w io.Writer) {
	names := r.seriesNames()
	secs := 0
	for _, s := range r.Throughput {
		secs = max(secs, len(s))
	}
	secs = max(secs, 1)
	peak := 1
	for t := range secs {
		sum := 0
		for _, s := range r.Throughput {
			if t < len(s) {
				sum += s[t]
			}
		}
		peak = max(peak, sum)
	}
	yMax := niceCeil(float64(peak))
	plotW, plotH := float64(svgW-padL-padR), float64(svgH-padT-padB)
	fmt.Fprintf(w, `<svg id="chart-throughput" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="answers per second by model">`+"\n", svgW, svgH, svgW, svgH)
	yAxis(w, yMax, plotH, func(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) })
	bw := plotW / float64(secs)
	for t := range secs {
		y := float64(padT) + plotH
		for i, name := range names {
			s := r.Throughput[name]
			if t >= len(s) || s[t] == 0 {
				continue
			}
			h := float64(s[t]) / yMax * plotH
			y -= h
			fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%ds: %s %d</title></rect>`+"\n",
				float64(padL)+float64(t)*bw+0.5, y, max(bw-1, 0.5), h, colorOf(name, i), t, html.EscapeString(name), s[t])
		}
	}
	// The end of the agents' duration: later answers are the drain.
	if d := int(r.Duration / time.Second); d > 0 && d < secs {
		x := float64(padL) + float64(d)*bw
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="4 3"/><text x="%.1f" y="%d" text-anchor="end">agents stop starting ▸</text>`+"\n",
			x, padT, x, float64(padT)+plotH, x-4, padT+10)
	}
	step := max(1, secs/10)
	for t := 0; t <= secs; t += step {
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%ds</text>`+"\n", float64(padL)+float64(t)*bw, svgH-padB+16, t)
	}
	x := float64(padL)
	for i, name := range names {
		fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="10" height="10" fill="%s"/><text x="%.1f" y="%d">%s</text>`+"\n",
			x, svgH-14, colorOf(name, i), x+14, svgH-5, html.EscapeString(name))
		x += 30 + 7*float64(len(name))
	}
	fmt.Fprintln(w, "</svg>")
}

// spendSVG draws each session's spend as a share of its own budget, then the tenant's
// day, with the warn and downgrade thresholds marked: budgets differ by session, so a
// common dollar scale would hide how close each came to its own.
func (r *Report) spendSVG(w io.Writer) {
	type row struct {
		name        string
		used, limit int64
	}
	rows := make([]row, 0, len(r.Spend)+1)
	for _, s := range r.Spend {
		rows = append(rows, row{"session " + s.Session, s.Used, s.Budget})
	}
	rows = append(rows, row{r.Daily.Name, r.Daily.Used, r.Daily.Limit})
	const rowH, labelW = 26, 150
	h := padT + rowH*len(rows) + 40
	plotW := float64(svgW - labelW - padR - 230)
	fmt.Fprintf(w, `<svg id="chart-spend" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="spend against budget per session">`+"\n", svgW, h, svgW, h)
	for i, x := range rows {
		y := padT + i*rowH
		f := 0.0
		if x.limit > 0 {
			f = float64(x.used) / float64(x.limit)
		}
		color := "#4e79a7"
		switch {
		case f > 1:
			color = "#cf222e"
		case f >= r.downgradeAt():
			color = "#e8a33d"
		}
		fmt.Fprintf(w, `<text x="%d" y="%d">%s</text>`, 4, y+15, html.EscapeString(x.name))
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="16" fill="#f0f0f0" stroke="#bbb"/>`, labelW, y+3, plotW)
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="16" fill="%s"><title>%s of %s</title></rect>`, labelW, y+3,
			min(f, 1.05)*plotW, color, usd(x.used), usd(x.limit))
		fmt.Fprintf(w, `<text x="%.1f" y="%d">%s of %s (%.0f%%)</text>`+"\n", float64(labelW)+plotW*1.06+6, y+15, usd(x.used), usd(x.limit), 100*f)
	}
	bottom := padT + rowH*len(rows)
	// The warn and downgrade lines are close: their labels go left and right of them.
	for _, t := range []struct {
		f      float64
		label  string
		anchor string
		dx     float64
		y      int
	}{{r.warnAt(), "warn", "end", -3, bottom + 12}, {r.downgradeAt(), "downgrade", "start", 3, bottom + 12},
		{1, "budget", "middle", 0, padT - 3}} {
		x := float64(labelW) + t.f*plotW
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#666" stroke-dasharray="3 3"/><text x="%.1f" y="%d" text-anchor="%s">%s %.0f%%</text>`+"\n",
			x, padT, x, bottom, x+t.dx, t.y, t.anchor, t.label, 100*t.f)
	}
	fmt.Fprintf(w, `<text x="%d" y="%d">each bar is one budget: settled spend as a share of it (amber past the downgrade threshold, red past the budget)</text>`+"\n", labelW, h-6)
	fmt.Fprintln(w, "</svg>")
}

// waitSVG draws p50 and p99 queue waits side by side for each priority.
func (r *Report) waitSVG(w io.Writer) {
	var top time.Duration = time.Millisecond
	for _, l := range r.Waits {
		top = max(top, l.P99)
	}
	yMax := niceCeil(float64(top) / float64(time.Millisecond))
	plotW, plotH := float64(svgW-padL-padR), float64(svgH-padT-padB)
	fmt.Fprintf(w, `<svg id="chart-wait" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="queue wait p50 and p99 by priority">`+"\n", svgW, svgH, svgW, svgH)
	yAxis(w, yMax, plotH, func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) + "ms" })
	n := max(len(r.Waits), 1)
	gw := plotW / float64(n)
	for i, l := range r.Waits {
		x0 := float64(padL) + float64(i)*gw
		for j, v := range []struct {
			name  string
			d     time.Duration
			color string
		}{{"p50", l.P50, "#4e79a7"}, {"p90", l.P90, "#f28e2b"}, {"p99", l.P99, "#e15759"}} {
			hgt := float64(v.d) / float64(time.Millisecond) / yMax * plotH
			x := x0 + gw*0.14 + float64(j)*gw*0.25
			fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`, x,
				float64(padT)+plotH-hgt, gw*0.22, hgt, v.color, html.EscapeString(l.Level), v.name, ms(v.d))
			fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%s %s</text>`+"\n", x+gw*0.11, float64(padT)+plotH-hgt-4, v.name, ms(v.d))
		}
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%s (%d admissions)</text>`+"\n", x0+gw/2, svgH-padB+16, html.EscapeString(l.Level), l.Admissions)
	}
	fmt.Fprintln(w, "</svg>")
}

// yAxis draws six horizontal grid lines with labels from 0 to yMax (see niceCeil).
func yAxis(w io.Writer, yMax, plotH float64, label func(float64) string) {
	for i := 0; i <= 5; i++ {
		v := yMax * float64(i) / 5
		y := float64(padT) + plotH - plotH*float64(i)/5
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
			padL, y, svgW-padR, y, padL-6, y+4, label(v))
	}
}

// niceCeil rounds v up to a round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of
// ten) whose fifths are round too, for axis labels.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
