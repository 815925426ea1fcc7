package demo

import (
	"fmt"
	"strings"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// progressPrinter shows the run's counts while it runs: one line redrawn in place on a
// terminal, or a plain line every ProgressEvery otherwise (a log file or a pipe).
type progressPrinter struct {
	cfg    Config
	col    *collector
	counts *agentCounts
	start  time.Time
}

// loop prints until done is closed, then prints a last line.
func (p *progressPrinter) loop(done <-chan struct{}) {
	every := p.cfg.ProgressEvery
	if p.cfg.Terminal {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			p.print(true)
			return
		case <-t.C:
			p.print(false)
		}
	}
}

func (p *progressPrinter) snapshot() Progress {
	var s Progress
	p.col.progress(&s)
	s.Elapsed = time.Since(p.start)
	s.Duration = p.cfg.Duration
	s.Started = p.counts.started.Load()
	s.Done = p.counts.answered.Load() + p.counts.errored.Load()
	s.BudgetStops = p.counts.budgetStops.Load()
	s.Shed = p.counts.shed.Load()
	s.Errors = p.counts.errored.Load() - s.Shed - p.counts.cancelled.Load() - p.counts.budgetRefusals.Load()
	return s
}

func (p *progressPrinter) print(last bool) {
	if p.cfg.Quiet {
		return
	}
	s := p.snapshot()
	line := s.Line()
	if p.cfg.Terminal {
		// Carriage return and erase-line redraw the same line; the final one ends it.
		fmt.Fprint(p.cfg.Out, "\r\x1b[2K"+line)
		if last {
			fmt.Fprintln(p.cfg.Out)
		}
		return
	}
	fmt.Fprintln(p.cfg.Out, line)
}

// Line renders the snapshot as one line: a bar of elapsed against duration, then the
// counts.
func (s Progress) Line() string {
	const width = 24
	f := 1.0
	if s.Duration > 0 {
		f = min(1, float64(s.Elapsed)/float64(s.Duration))
	}
	n := int(f * width)
	bar := strings.Repeat("█", n) + strings.Repeat("░", width-n)
	phase := fmt.Sprintf("%4.1fs/%s", s.Elapsed.Seconds(), s.Duration.Round(time.Second))
	if inFlight := s.Started - s.Done; s.Elapsed > s.Duration && inFlight > 0 {
		phase += fmt.Sprintf(" draining %d", inFlight)
	}
	return fmt.Sprintf("%s %s │ done %d │ 429s absorbed %d │ retries %d │ fallbacks %d │ downgrades %d │ budget stops %d │ shed %d │ errors %d │ spent %s",
		bar, phase, s.Done, s.Upstream429, s.Retries, s.Fallbacks, s.Downgrades, s.BudgetStops, s.Shed, s.Errors,
		quota.MicroUSD.Format(s.MicroUSD))
}
