package demo

import (
	"sync"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/queue"
)

// collector turns the engine's events into the run's figures. Its on method is the
// engine's OnEvent: it takes one short lock, so that it stays fast under a swarm.
type collector struct {
	start time.Time

	mu          sync.Mutex
	served      int64
	upstream    int64 // upstream errors of every kind
	upstream429 int64
	retries     int64
	retried429  int64 // retries after an upstream 429
	fallbacks   int64
	skips       int64 // budget skips (downgrades to a cheaper step)
	clamps      int64
	warnings    int64
	refused     int64
	settled     map[string]*ModelFigures // by model
	sessions    map[string]int64         // settled micro-USD by session
	perSecond   map[string][]int         // served by model ("cached", "static" too), per second
	waits       map[queue.Level][]time.Duration
	upstreamBy  map[string]int64 // upstream errors by kind
}

func newCollector(start time.Time) *collector {
	return &collector{start: start, settled: map[string]*ModelFigures{}, sessions: map[string]int64{},
		perSecond: map[string][]int{}, waits: map[queue.Level][]time.Duration{}, upstreamBy: map[string]int64{}}
}

func (c *collector) on(ev engine.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Kind {
	case engine.Admitted:
		c.waits[ev.Level] = append(c.waits[ev.Level], ev.Waited)
	case engine.UpstreamError:
		c.upstream++
		c.upstreamBy[ev.ErrKind.String()]++
		if ev.ErrKind == llm.KindRateLimited {
			c.upstream429++
		}
	case engine.Retried:
		c.retries++
		if llm.KindOf(ev.Err) == llm.KindRateLimited {
			c.retried429++
		}
	case engine.Skipped:
		if ev.Downgrade {
			c.skips++
		}
	case engine.Clamped:
		c.clamps++
	case engine.BudgetWarning:
		c.warnings++
	case engine.Served:
		c.served++
		if ev.FellBack {
			c.fallbacks++
		}
		name := ev.Model
		switch {
		case ev.Static:
			name = "static"
		case ev.Cached:
			name = "cached"
		}
		sec := max(0, int(ev.Time.Sub(c.start)/time.Second))
		s := c.perSecond[name]
		for len(s) <= sec {
			s = append(s, 0)
		}
		s[sec]++
		c.perSecond[name] = s
	case engine.Refused:
		c.refused++
	case engine.Settled:
		m := c.settled[ev.Model]
		if m == nil {
			m = &ModelFigures{Model: ev.Model}
			c.settled[ev.Model] = m
		}
		m.Requests++
		m.InputTokens += ev.Usage.InputTokens
		m.OutputTokens += ev.Usage.OutputTokens
		m.MicroUSD += ev.MicroUSD
		c.sessions[ev.Identity.Session] += ev.MicroUSD
	}
}

// Progress is a snapshot of the running counts, for the live display.
type Progress struct {
	Elapsed, Duration time.Duration
	Started, Done     int64
	Upstream429       int64
	Retries           int64
	Fallbacks         int64
	Downgrades        int64 // budget skips plus clamps
	BudgetStops       int64
	Shed              int64
	Errors            int64
	MicroUSD          int64
}

func (c *collector) progress(p *Progress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p.Upstream429 = c.upstream429
	p.Retries = c.retries
	p.Fallbacks = c.fallbacks
	p.Downgrades = c.skips + c.clamps
	p.MicroUSD = 0
	for _, m := range c.settled {
		p.MicroUSD += m.MicroUSD
	}
}
