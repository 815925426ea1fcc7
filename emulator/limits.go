package emulator

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// bucket is a token bucket holding at most limit units that refills continuously at
// limit per minute. A negative level is debt (output charged after the answer). It also
// keeps what it offered and what was taken from it, for Stats.
type bucket struct {
	limit float64
	level float64
	last  time.Time
	// offered is every unit the bucket made available: its initial fill, then limit per
	// minute, whether or not the bucket was full. used is every unit taken, net of
	// refunds.
	offered, used float64
}

func newBucket(limit int, now time.Time) bucket {
	return bucket{limit: float64(limit), level: float64(limit), last: now, offered: float64(limit)}
}

func (b *bucket) on() bool { return b.limit > 0 }

func (b *bucket) refill(now time.Time) {
	if dt := now.Sub(b.last); dt > 0 {
		add := b.limit * dt.Minutes()
		b.offered += add
		b.level = math.Min(b.limit, b.level+add)
		b.last = now
	}
}

// take removes n units (a negative n refunds them), never above the limit.
func (b *bucket) take(n float64) {
	b.level = math.Min(b.limit, b.level-n)
	b.used += n
}

// setLimit moves the bucket to a new per-minute limit from now on: what it holds above the
// new limit is lost, and it refills at the new rate. A bucket turned on starts full.
func (b *bucket) setLimit(limit int, now time.Time) {
	switch {
	case limit == 0:
		b.refill(now)
		b.limit, b.level = 0, 0
	case !b.on():
		b.limit, b.level, b.last = float64(limit), float64(limit), now
		b.offered += float64(limit)
	default:
		b.refill(now)
		b.limit = float64(limit)
		b.level = math.Min(b.level, b.limit)
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

// use reports the bucket's capacity and use up to now, without changing it.
func (b *bucket) use(now time.Time) Use {
	u := Use{Limit: int64(b.limit), Offered: b.offered, Used: b.used}
	if dt := now.Sub(b.last); dt > 0 && b.on() {
		u.Offered += b.limit * dt.Minutes()
	}
	return u
}

// limitState holds one API key's buckets for one model (or, for count, its token-counting
// bucket). It is guarded by its own mutex so that different keys and models never contend.
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
				k.b.take(k.n)
			}
		}
	}
	d.req.set(&s.req)
	d.tok.set(&s.tok)
	d.in.set(&s.in)
	d.out.set(&s.outb)
	return d
}

// settle charges extra tokens (positive) or refunds them (negative) after an answer:
// OpenAI tokens, Anthropic input and output.
func (s *limitState) settle(now time.Time, c cost) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range [...]struct {
		b *bucket
		n float64
	}{{&s.tok, c.tokens}, {&s.in, c.input}, {&s.outb, c.output}} {
		if x.b.on() && x.n != 0 {
			x.b.refill(now)
			x.b.take(x.n)
		}
	}
}

// setLimits moves the buckets to new limits, those of the state's provider and kind.
func (s *limitState) setLimits(l *Limits, anthropic, count bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rpm, tpm, itpm, otpm := l.RPM, l.TPM, l.ITPM, l.OTPM
	switch {
	case count:
		rpm, tpm, itpm, otpm = l.CountTokensRPM, 0, 0, 0
	case anthropic:
		tpm = 0 // Anthropic limits input and output separately
	default:
		itpm, otpm = 0, 0
	}
	s.req.setLimit(rpm, now)
	s.tok.setLimit(tpm, now)
	s.in.setLimit(itpm, now)
	s.outb.setLimit(otpm, now)
}

// limiter maps (key, model, kind) to its buckets.
type limiter struct {
	mu     sync.RWMutex
	states map[limitID]*limitState
}

// limitID names the buckets of one key and model; count marks those of Anthropic's
// token-counting endpoint.
type limitID struct {
	key, model string
	count      bool
}

func (l *limiter) state(key string, m *model, count bool, now time.Time) *limitState {
	id := limitID{key, m.id, count}
	l.mu.RLock()
	s := l.states[id]
	l.mu.RUnlock()
	if s != nil {
		return s
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s = l.states[id]; s == nil {
		// Under the write lock, so that SetLimits cannot slip between the load of the
		// limits and the state's creation with them.
		s = &limitState{}
		s.setLimits(m.limits.Load(), m.provider == "anthropic", count, now)
		if l.states == nil {
			l.states = make(map[limitID]*limitState)
		}
		l.states[id] = s
	}
	return s
}

// ErrUnknownModel is returned by SetLimits for a model the emulator does not serve.
var ErrUnknownModel = errors.New("emulator: unknown model")

// SetLimits replaces the rate limits of one model (an id of the model table, or an id that
// resolves to one, such as a dated snapshot) from now on, for every API key: each key's
// buckets keep what they hold up to the new limit and refill at the new rate; a limit
// turned on starts full. It is safe to call while requests are served, which is how a test
// moves a hidden limit (120, then 60, then 200 per minute) under a client that must learn
// it. HTTP: PUT /emulator/limits/{model} with the Limits as JSON.
func (e *Emulator) SetLimits(model string, l Limits) error {
	if err := l.validate("Limits"); err != nil {
		return err
	}
	m := e.lookup(model)
	if m == nil {
		return fmt.Errorf("%w %q", ErrUnknownModel, model)
	}
	now := e.now()
	e.limits.mu.Lock()
	defer e.limits.mu.Unlock()
	m.limits.Store(&l)
	for id, s := range e.limits.states {
		if id.model == m.id {
			s.setLimits(&l, m.provider == "anthropic", id.count, now)
		}
	}
	return nil
}

// Limits returns the rate limits in force for a model, and false for an unknown model.
func (e *Emulator) Limits(model string) (Limits, bool) {
	m := e.lookup(model)
	if m == nil {
		return Limits{}, false
	}
	return *m.limits.Load(), true
}

// capacity sums the buckets of every key, per model, up to now.
func (l *limiter) capacity(now time.Time) map[string]*Capacity {
	out := map[string]*Capacity{}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for id, s := range l.states {
		c := out[id.model]
		if c == nil {
			c = &Capacity{}
			out[id.model] = c
		}
		s.mu.Lock()
		if id.count {
			c.CountTokens.add(s.req.use(now))
		} else {
			c.Requests.add(s.req.use(now))
			c.Tokens.add(s.tok.use(now))
			c.InputTokens.add(s.in.use(now))
			c.OutputTokens.add(s.outb.use(now))
		}
		s.mu.Unlock()
	}
	return out
}

// Capacity is a model's rate limits and how much of them requests used, summed over the
// API keys that called it (each key has limits of its own, as each organization does).
type Capacity struct {
	Requests     Use `json:"requests"`      // RPM
	Tokens       Use `json:"tokens"`        // TPM (OpenAI)
	InputTokens  Use `json:"input_tokens"`  // ITPM (Anthropic)
	OutputTokens Use `json:"output_tokens"` // OTPM (Anthropic)
	CountTokens  Use `json:"count_tokens"`  // CountTokensRPM (Anthropic)
}

// Use is one rate limit's capacity and its use. Offered is every unit the limit made
// available since each key's first request: a full bucket (one minute's worth) at first,
// then the limit in force at each moment per minute, whether used or not. Used is what
// admitted requests took, net of refunds (Anthropic's unused max_tokens and cache reads).
// Used/Offered is the share of capacity used; over a window, take the difference of two
// snapshots. Limit is the sum of the per-minute limits now in force; 0 when off.
type Use struct {
	Limit   int64   `json:"limit"`
	Offered float64 `json:"offered"`
	Used    float64 `json:"used"`
}

func (u *Use) add(v Use) {
	u.Limit += v.Limit
	u.Offered += v.Offered
	u.Used += v.Used
}

// Share is Used/Offered, 0 when nothing was offered.
func (u Use) Share() float64 {
	if u.Offered == 0 {
		return 0
	}
	return u.Used / u.Offered
}
