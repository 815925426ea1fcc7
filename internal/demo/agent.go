package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// The routes agents call: "smart" falls from gpt-4o to gpt-4o-mini, then to a cached or a
// static answer; "fast" tries gpt-4o-mini, then Anthropic's haiku, then the cache.
const (
	routeSmart = "smart"
	routeFast  = "fast"
)

// priorities are the agents' priorities, dealt to each session in turn so that every
// session has the same mix: a fifth critical, two fifths high, two fifths normal.
var priorities = [...]int{3, 2, 1, 1, 2, 1, 1, 2}

// agentCounts are the swarm's own counters: what the agents saw, independently of the
// engine's events, so that each side checks the other.
type agentCounts struct {
	started, answered, errored atomic.Int64
	budgetStops, shed          atomic.Int64
	budgetRefusals             atomic.Int64 // errors that were budget refusals
	cancelled                  atomic.Int64
	rateLimited                atomic.Int64 // 429s that reached an agent
	cachedAnswers, static      atomic.Int64
	fellBack, clamped          atomic.Int64 // answers that said so
	streams                    atomic.Int64
	streamsCut                 atomic.Int64

	mu       sync.Mutex
	errors   map[string]int64 // by reason, for the report
	statuses map[int]int64    // by HTTP status received; 0 is no response (or in-process)
	latency  []time.Duration  // of answered requests, from the call to the end of the answer
	failed   []time.Duration  // of errors, likewise
}

func (c *agentCounts) fail(reason string) {
	c.mu.Lock()
	if c.errors == nil {
		c.errors = map[string]int64{}
	}
	c.errors[reason]++
	c.mu.Unlock()
}

// observe records one finished call: the HTTP status it got and how long the agent
// waited for it (a stream to its end).
func (c *agentCounts) observe(status int, took time.Duration, answered bool) {
	c.mu.Lock()
	if c.statuses == nil {
		c.statuses = map[int]int64{}
	}
	c.statuses[status]++
	if answered {
		c.latency = append(c.latency, took)
	} else {
		c.failed = append(c.failed, took)
	}
	c.mu.Unlock()
}

// agent is one simulated agent: a loop of requests until the run ends or its budget
// stops it.
type agent struct {
	id       int
	name     string
	session  string
	priority int
	rng      *rand.Rand
	think    time.Duration
	faq      []faqPrompt
	counts   *agentCounts
	// stopped is set when a budget stopped the agent; it is read after the agent's
	// goroutine has ended.
	stopped bool
}

// faqPrompt is a prompt many agents send word for word, so that the cache answers it.
type faqPrompt struct {
	text      string
	maxTokens int
}

// run loops until stopAt, a budget stop, or ctx (the drain context) is done. Each request
// runs under reqCtx's limits: it is not cut when stopAt passes, only when ctx ends.
func (a *agent) run(ctx context.Context, c client, stopAt time.Time) {
	// Agents start spread over the first second, as a fleet does.
	if !pause(ctx, time.Duration(a.rng.Int64N(int64(time.Second)))) {
		return
	}
	for time.Now().Before(stopAt) {
		req := a.next()
		a.counts.started.Add(1)
		if req.Stream {
			a.counts.streams.Add(1)
		}
		began := time.Now()
		ans, err := c.Do(ctx, req)
		took := time.Since(began)
		if err == nil {
			a.counts.answered.Add(1)
			a.counts.observe(ans.Status, took, true)
			if ans.Cached {
				a.counts.cachedAnswers.Add(1)
			}
			if ans.Static {
				a.counts.static.Add(1)
			}
			if ans.FellBack {
				a.counts.fellBack.Add(1)
			}
			if ans.Clamped {
				a.counts.clamped.Add(1)
			}
			if ans.BudgetStop {
				a.counts.budgetStops.Add(1)
				a.stopped = true
				return
			}
		} else {
			a.counts.errored.Add(1)
			class, reason, status := classOf(err)
			a.counts.observe(status, took, false)
			switch {
			case class == classBudget:
				a.counts.budgetRefusals.Add(1)
				a.counts.budgetStops.Add(1)
				a.stopped = true
				return
			case class == classShed:
				// Shed by tollgate's queue with a Retry-After: the agent backs off.
				a.counts.shed.Add(1)
			case ctx.Err() != nil:
				a.counts.cancelled.Add(1)
				return
			default:
				switch class {
				case classStreamCut:
					a.counts.streamsCut.Add(1)
				case classUpstream429:
					a.counts.rateLimited.Add(1)
				}
				a.counts.fail(reason)
			}
		}
		if !pause(ctx, min(a.pause(), time.Until(stopAt))) {
			return
		}
	}
}

// next builds the agent's next request: a third of them repeat a common prompt (the
// cache's part), a quarter of the rest stream.
func (a *agent) next() *llm.Request {
	route := routeFast
	switch a.priority {
	case 3:
		route = routeSmart
	case 2:
		if a.rng.IntN(10) < 5 {
			route = routeSmart
		}
	default:
		if a.rng.IntN(20) < 3 {
			route = routeSmart
		}
	}
	req := &llm.Request{Format: llm.OpenAI, Model: route, System: "You are a careful assistant.",
		Identity: llm.Identity{Key: "demo", Tenant: "demo", Agent: a.name, Session: a.session, Priority: a.priority}}
	if a.rng.IntN(3) == 0 && len(a.faq) > 0 {
		f := a.faq[a.rng.IntN(len(a.faq))]
		req.Messages = []llm.Message{{Role: "user", Content: f.text}}
		req.MaxTokens = f.maxTokens
		return req
	}
	words := 40 + a.rng.IntN(900)
	req.Messages = []llm.Message{{Role: "user", Content: fmt.Sprintf("Task %s-%d: %s", a.name, a.rng.Uint32(), prose(a.rng, words))}}
	req.MaxTokens = 128 * (1 + a.rng.IntN(4))
	req.Stream = a.rng.IntN(4) == 0
	return req
}

func (a *agent) pause() time.Duration {
	if a.think <= 0 {
		return 0
	}
	return a.think/2 + time.Duration(a.rng.Int64N(int64(a.think)))
}

// pause waits d or until ctx is done, and reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// faqPrompts returns n common prompts, the same for every agent of a run.
func faqPrompts(seed uint64, n int) []faqPrompt {
	rng := rand.New(rand.NewPCG(seed, 0xfa9))
	out := make([]faqPrompt, n)
	for i := range out {
		out[i] = faqPrompt{text: fmt.Sprintf("FAQ %d: %s?", i, prose(rng, 20+rng.IntN(120))), maxTokens: 256}
	}
	return out
}

var vocabulary = strings.Fields(`the a of to and in that is for it as with on by this be are from at or
an which not have has rate limit budget token model agent request answer queue retry fallback cache
price cost session tenant window minute second fleet upstream provider latency stream reserve settle
release quota burst priority critical normal high low wait shed overload error server client gateway
engine route chain cooldown breaker jitter backoff deadline header usage report spend dollar ledger
summarize explain compare list draft review plan check compute translate classify extract`)

// prose returns n words drawn from a small vocabulary.
func prose(rng *rand.Rand, n int) string {
	var b strings.Builder
	b.Grow(n * 7)
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
	}
	return b.String()
}

// reasonOf names an error for the report's error table.
func reasonOf(err error) string {
	if k := llm.KindOf(err); k != llm.KindUnknown {
		return k.String()
	}
	s := err.Error()
	if i := strings.IndexByte(s, ':'); i > 0 {
		s = s[:i]
	}
	return s
}
