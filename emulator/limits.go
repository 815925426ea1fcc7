package emulator

import (
	"math"
	"sync"
	"time"
)

// bucket is a token bucket holding at most limit units that refills continuously at
// limit per minute. A negative level is debt (output charged after the answer).
type bucket struct {
	limit float64
	level float64
	last  time.Time
}

func newBucket(limit int, now time.Time) bucket {
	return bucket{limit: float64(limit), level: float64(limit), last: now}
}

func (b *bucket) on() bool { return b.limit > 0 }

func (b *bucket) refill(now time.Time) {
	if dt := now.Sub(b.last); dt > 0 {
		b.level = math.Min(b.limit, b.level+b.limit*dt.Minutes())
		b.last = now
	}
}

// wait is how long until n units are available (0 when they are).
func (b *bucket) wait(n float64) time.Duration {
	if need := n - b.level; need > 0 {
		return time.Duration(math.Ceil(need / b.limit * float64(time.Minute)))
	}
	return 0
}

// untilFull is how long until the bucket is full again: the "reset" the providers report.
func (b *bucket) untilFull() time.Duration { return b.wait(b.limit) }

func (b *bucket) remaining() int64 { return int64(math.Max(0, math.Floor(b.level))) }

// limitState holds one API key's buckets for one model. It is guarded by its own mutex so
// that different keys and models never contend.
type limitState struct {
	mu                 sync.Mutex
	req, tok, in, outb bucket
}

// limitKind names the limit that refused a request.
type limitKind int

const (
	limitNone limitKind = iota
	limitRequests
	limitTokens       // OpenAI TPM
	limitInputTokens  // Anthropic ITPM
	limitOutputTokens // Anthropic OTPM
)

// meter is one bucket's state as the headers report it.
type meter struct {
	on        bool
	limit     int64
	remaining int64
	reset     time.Duration // until full
}

// decision is the outcome of admit.
type decision struct {
	refused    limitKind
	tooLarge   bool          // the request exceeds the limit itself: it can never pass
	retryAfter time.Duration // when refused
	used       int64         // of the refusing limit, for the message
	requested  int64
	req, tok   meter
	in, out    meter
}

func (m *meter) set(b *bucket) {
	*m = meter{on: b.on(), limit: int64(b.limit), remaining: b.remaining(), reset: b.untilFull()}
}

// cost is what one request takes from each bucket.
type cost struct {
	tokens, input, output float64
}

// admit takes cost from every bucket that is on, all or nothing.
func (s *limitState) admit(now time.Time, c cost) decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d decision
	type check struct {
		b    *bucket
		n    float64
		kind limitKind
	}
	checks := [...]check{{&s.req, 1, limitRequests}, {&s.tok, c.tokens, limitTokens},
		{&s.in, c.input, limitInputTokens}, {&s.outb, c.output, limitOutputTokens}}
	for _, k := range checks {
		if !k.b.on() {
			continue
		}
		k.b.refill(now)
		if k.n > k.b.limit {
			d.refused, d.tooLarge, d.requested = k.kind, true, int64(k.n)
			break
		}
		if w := k.b.wait(k.n); w > 0 && (d.refused == limitNone || w > d.retryAfter) {
			if d.refused == limitNone {
				d.used, d.requested = int64(math.Ceil(k.b.limit-k.b.level)), int64(k.n)
				d.refused = k.kind
			}
			d.retryAfter = w
		}
	}
	if d.refused == limitNone {
		for _, k := range checks {
			if k.b.on() {
				k.b.level -= k.n
			}
		}
	}
	d.req.set(&s.req)
	d.tok.set(&s.tok)
	d.in.set(&s.in)
	d.out.set(&s.outb)
	return d
}

// settle charges extra tokens (positive) or refunds them (negative) after an answer.
func (s *limitState) settle(now time.Time, tokens, output float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.on() && tokens != 0 {
		s.tok.refill(now)
		s.tok.level = math.Min(s.tok.limit, s.tok.level-tokens)
	}
	if s.outb.on() && output != 0 {
		s.outb.refill(now)
		s.outb.level = math.Min(s.outb.limit, s.outb.level-output)
	}
}

// limiter maps (key, model) to its buckets.
type limiter struct {
	mu     sync.RWMutex
	states map[limitID]*limitState
}

type limitID struct{ key, model string }

func (l *limiter) state(key string, m *model, now time.Time) *limitState {
	id := limitID{key, m.id}
	l.mu.RLock()
	s := l.states[id]
	l.mu.RUnlock()
	if s != nil {
		return s
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s = l.states[id]; s == nil {
		lim := m.limits
		s = &limitState{req: newBucket(lim.RPM, now), tok: newBucket(lim.TPM, now),
			in: newBucket(lim.ITPM, now), outb: newBucket(lim.OTPM, now)}
		if m.provider == "anthropic" {
			s.tok = bucket{} // Anthropic limits input and output separately
		} else {
			s.in, s.outb = bucket{}, bucket{}
		}
		if l.states == nil {
			l.states = make(map[limitID]*limitState)
		}
		l.states[id] = s
	}
	return s
}
