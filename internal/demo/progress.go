package demo

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/quota"
)

// progressPrinter shows the run's counts while it runs: one line redrawn in place on a
// terminal, or a plain line every ProgressEvery otherwise (a log file or a pipe).
type progressPrinter struct {
	cfg    Config
	col    *collector
	counts *agentCounts
	start  time.Time
	drawn  bool // a terminal frame is on screen
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
	if !p.cfg.Terminal {
		fmt.Fprintln(p.cfg.Out, s.Line())
		return
	}
	// Two lines, each cut to the terminal's width so that none wraps: a wrapped line
	// would break the redraw. The cursor goes back up one line to redraw both.
	head, counts := s.Lines()
	width := p.cfg.Width
	if width <= 0 {
		width = 80
	}
	up := ""
	if p.drawn {
		up = "\r\x1b[1A"
	}
	fmt.Fprint(p.cfg.Out, up+"\x1b[2K"+cut(head, width-1)+"\n\x1b[2K"+cut(counts, width-1))
	p.drawn = true
	if last {
		fmt.Fprintln(p.cfg.Out)
	}
}

// Lines renders the snapshot as two lines: a bar of elapsed against duration with the
// totals, then the counts of what tollgate absorbed.
func (s Progress) Lines() (head, counts string) {
	const width = 24
	f := 1.0
	if s.Duration > 0 {
		f = min(1, float64(s.Elapsed)/float64(s.Duration))
	}
	n := int(f * width)
	bar := strings.Repeat("█", n) + strings.Repeat("░", width-n)
	head = fmt.Sprintf("%s %4.1fs/%s · done %d · spent %s", bar, s.Elapsed.Seconds(),
		s.Duration.Round(time.Second), s.Done, quota.MicroUSD.Format(s.MicroUSD))
	if inFlight := s.Started - s.Done; s.Elapsed > s.Duration && inFlight > 0 {
		head += fmt.Sprintf(" · draining %d", inFlight)
	}
	counts = fmt.Sprintf("429s absorbed %d · retries %d · fallbacks %d · downgrades %d · budget stops %d · errors %d",
		s.Upstream429, s.Retries, s.Fallbacks, s.Downgrades, s.BudgetStops, s.Errors)
	if s.Shed > 0 {
		counts += fmt.Sprintf(" · shed %d", s.Shed)
	}
	return head, counts
}

// Line renders the snapshot as one line, for logs.
func (s Progress) Line() string {
	head, counts := s.Lines()
	return head + " · " + counts
}

// cut shortens s to at most n runes.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n, 0)])
}
