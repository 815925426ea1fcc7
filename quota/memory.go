package quota

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemoryConfig configures a MemoryStore. The zero value is ready to use.
type MemoryConfig struct {
	// TTL is how long a reservation may stay open before it is settled at its worst case.
	// Zero means 10 minutes.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports a bad field.
func (c *MemoryConfig) Validate() error {
	if c.TTL < 0 {
		return fmt.Errorf("quota: MemoryConfig.TTL must not be negative, got %v", c.TTL)
	}
	return nil
}

// MemoryStore is a Store in this process's memory. It is exact under concurrency: one mutex
// makes every Reserve and Settle atomic over all of its quotas. On a small machine a single
// uncontended mutex beats lock striping, which would need every request's shards locked in
// order; BENCHMARKS.md has the figures.
type MemoryStore struct {
	ttl time.Duration
	now func() time.Time
	ids *IDGen

	mu      sync.Mutex
	buckets map[string]*bucket
	holds   map[ID]*hold
	// oldest and newest end a list of open holds in reservation order, which with one TTL
	// is expiry order: expiring is O(1) per hold, and settling unlinks in O(1).
	oldest, newest *hold
	free           []*hold
	ops            int
}

// bucket is the state of one quota key.
type bucket struct {
	tat        int64 // Rate: theoretical arrival time, unix ns
	used       int64 // budgets: settled use in the current window
	held       int64 // budgets and leases: held by open reservations
	start, end int64 // Day, Month: the current window, unix ns
	refs       int32 // open reservations that point here
}

// entry is one quota's part of a hold.
type entry struct {
	b      *bucket
	unit   Unit
	kind   Kind
	limit  int64
	period time.Duration
	start  int64 // the calendar window charged
	amount int64
}

type hold struct {
	id         ID
	prev, next *hold
	expires    int64
	amount     Amount
	n          int
	inline     [8]entry
	extra      []entry
}

func (h *hold) entries() []entry {
	if h.extra != nil {
		return h.extra
	}
	return h.inline[:h.n]
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore(cfg MemoryConfig) *MemoryStore {
	s := &MemoryStore{ttl: cfg.TTL, now: cfg.Now, ids: NewIDGen(),
		buckets: make(map[string]*bucket), holds: make(map[ID]*hold)}
	if s.ttl <= 0 {
		s.ttl = 10 * time.Minute
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Reserve implements Store.
func (s *MemoryStore) Reserve(_ context.Context, req *Request) (Reservation, error) {
	return s.ReserveAt(s.now(), req)
}

// Settle implements Store.
func (s *MemoryStore) Settle(_ context.Context, id ID, actual Amount) error {
	return s.finish(id, &actual)
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, id ID) error {
	return s.finish(id, nil)
}

// Status implements Store.
func (s *MemoryStore) Status(_ context.Context, quotas []Quota, dst []Status) ([]Status, error) {
	return s.StatusAt(s.now(), quotas, dst), nil
}

// ReserveAt is Reserve at an explicit instant.
func (s *MemoryStore) ReserveAt(now time.Time, req *Request) (Reservation, error) {
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(t)

	h := s.newHold(len(req.Quotas))
	es := h.entries()
	var refused *ExceededError
	var warned uint64
	var tats [8]int64
	var tatx []int64
	if len(req.Quotas) > len(tats) {
		tatx = make([]int64, len(req.Quotas))
	}
	for i := range req.Quotas {
		q := &req.Quotas[i]
		b := s.bucket(q.Key)
		n := req.Amount.Of(q.Unit)
		e := &es[i]
		*e = entry{b: b, unit: q.Unit, kind: q.Window.Kind, limit: q.Limit, period: q.Window.Period, amount: n}
		var newTAT int64
		var err *ExceededError
		newTAT, err = check(q, b, n, t)
		if tatx != nil {
			tatx[i] = newTAT
		} else {
			tats[i] = newTAT
		}
		if err != nil {
			if refused == nil || worse(err, refused) {
				refused = err
			}
			continue
		}
		e.start = b.start
		if q.Window.Kind.IsBudget() {
			if w := q.warnAt(); w >= 0 && i < 64 {
				before := b.used + b.held
				if before < w && before+n >= w {
					warned |= 1 << i
				}
			}
		}
	}
	if refused == nil && hasDuplicate(req.Quotas) {
		refused = nil
		s.recycle(h)
		return Reservation{}, fmt.Errorf("quota: reserve: duplicate quota key in one request")
	}
	if refused != nil {
		s.recycle(h)
		return Reservation{}, refused
	}
	for i := range es {
		e := &es[i]
		switch e.kind {
		case Rate:
			if tatx != nil {
				e.b.tat = tatx[i]
			} else {
				e.b.tat = tats[i]
			}
		default:
			e.b.held += e.amount
		}
		e.b.refs++
	}
	h.id = s.ids.Next()
	h.amount = req.Amount
	h.expires = t + int64(s.ttl)
	s.holds[h.id] = h
	h.prev = s.newest
	if s.newest != nil {
		s.newest.next = h
	} else {
		s.oldest = h
	}
	s.newest = h
	s.ops++
	if s.ops&1023 == 0 {
		s.sweep(t)
	}
	return Reservation{ID: h.id, ExpiresAt: time.Unix(0, h.expires), Warned: warned}, nil
}

// check decides whether n more units of q fit bucket b at t, refreshing a calendar window
// that has ended. For a Rate it returns the new TAT.
func check(q *Quota, b *bucket, n, t int64) (int64, *ExceededError) {
	switch q.Window.Kind {
	case Rate:
		burst := q.burst()
		if n > burst {
			return 0, refusal(q, ErrTooLarge, rateUsed(b.tat, t, q.Limit, q.Window.Period), n, 0, 0)
		}
		tat, wait, ok := gcra(b.tat, t, n, q.Limit, burst, q.Window.Period)
		if !ok {
			return 0, refusal(q, ErrExceeded, rateUsed(b.tat, t, q.Limit, q.Window.Period), n, wait, 0)
		}
		return tat, nil
	case Day, Month:
		if t >= b.end || t < b.start {
			b.start, b.end = calendarWindow(q.Window.Kind, q.Window.Location, t)
			// Holds from the ended window are dropped with it; settling them is a no-op.
			b.used, b.held = 0, 0
		}
		return 0, fitCounter(q, b, n, t, b.end)
	default: // Lifetime, Lease
		return 0, fitCounter(q, b, n, t, 0)
	}
}

func fitCounter(q *Quota, b *bucket, n, t, end int64) *ExceededError {
	used := b.used + b.held
	switch {
	case n > q.Limit:
		return refusal(q, ErrTooLarge, used, n, 0, end)
	case used+n <= q.Limit:
		return nil
	case q.Window.Kind == Lease || b.used+n <= q.Limit:
		// Open reservations hold the room; it comes back when they settle.
		return refusal(q, ErrExceeded, used, n, 0, end)
	}
	var wait time.Duration
	if end > 0 {
		wait = time.Duration(end - t)
	}
	return refusal(q, ErrBudget, used, n, wait, end)
}

// worse reports whether refusal a should be reported over b: the one that cannot be helped
// by waiting, else the longer wait.
func worse(a, b *ExceededError) bool {
	rank := func(e *ExceededError) int {
		switch e.kind {
		case ErrTooLarge:
			return 2
		case ErrBudget:
			return 1
		}
		return 0
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra > rb
	}
	return a.RetryAfter > b.RetryAfter
}

func hasDuplicate(qs []Quota) bool {
	for i := 1; i < len(qs); i++ {
		for j := range i {
			if qs[i].Key == qs[j].Key {
				return true
			}
		}
	}
	return false
}

// SettleAt is Settle at an explicit instant. Settling needs no clock (only Reserve expires
// reservations); the instant is accepted so tests read as step tables.
func (s *MemoryStore) SettleAt(_ time.Time, id ID, actual Amount) error {
	return s.finish(id, &actual)
}

// ReleaseAt is Release at an explicit instant; see SettleAt.
func (s *MemoryStore) ReleaseAt(_ time.Time, id ID) error { return s.finish(id, nil) }

func (s *MemoryStore) finish(id ID, actual *Amount) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.holds[id]
	if !ok {
		return fmt.Errorf("quota: settle %s: %w", id, ErrUnknownReservation)
	}
	var a Amount
	if actual != nil {
		a = *actual
	}
	s.apply(h, a)
	return nil
}

// apply settles h at actual (zero for a release) and frees it.
func (s *MemoryStore) apply(h *hold, actual Amount) {
	for _, e := range h.entries() {
		b := e.b
		b.refs--
		got := actual.Of(e.unit)
		switch e.kind {
		case Rate:
			b.tat += interval(got, e.limit, e.period) - interval(e.amount, e.limit, e.period)
		case Lease:
			b.held -= e.amount
		case Day, Month:
			if b.start != e.start {
				continue // the window this was charged to has ended
			}
			b.held -= e.amount
			b.used += got
		default:
			b.held -= e.amount
			b.used += got
		}
	}
	delete(s.holds, h.id)
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		s.oldest = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	} else {
		s.newest = h.prev
	}
	s.recycle(h)
}

// expire settles, at their worst case, reservations whose TTL has passed. A caller that
// vanished may have spent the money, so its hold is charged, never refunded; its leases
// come back.
func (s *MemoryStore) expire(t int64) {
	for s.oldest != nil && s.oldest.expires <= t {
		s.apply(s.oldest, s.oldest.amount)
	}
}

// sweep forgets a bounded number of buckets that hold nothing: rates fully refilled and
// calendar windows that have ended. Lifetime budgets are kept: forgetting one would reset it.
func (s *MemoryStore) sweep(t int64) {
	n := 0
	for k, b := range s.buckets {
		if n++; n > 256 {
			return
		}
		if b.refs != 0 || b.held != 0 {
			continue
		}
		if (b.end != 0 && t >= b.end) || (b.end == 0 && b.used == 0 && b.tat <= t) {
			delete(s.buckets, k)
		}
	}
}

func (s *MemoryStore) bucket(key string) *bucket {
	b, ok := s.buckets[key]
	if !ok {
		b = &bucket{}
		s.buckets[key] = b
	}
	return b
}

func (s *MemoryStore) newHold(n int) *hold {
	var h *hold
	if k := len(s.free); k > 0 {
		h = s.free[k-1]
		s.free = s.free[:k-1]
	} else {
		h = new(hold)
	}
	h.n = n
	if n > len(h.inline) {
		h.extra = make([]entry, n)
	}
	return h
}

func (s *MemoryStore) recycle(h *hold) {
	*h = hold{}
	if len(s.free) < 4096 {
		s.free = append(s.free, h)
	}
}

// StatusAt is Status at an explicit instant.
func (s *MemoryStore) StatusAt(now time.Time, quotas []Quota, dst []Status) []Status {
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range quotas {
		q := &quotas[i]
		st := Status{Quota: *q}
		b := s.buckets[q.Key]
		if b == nil {
			b = &bucket{}
		}
		switch q.Window.Kind {
		case Rate:
			st.Used = rateUsed(b.tat, t, q.Limit, q.Window.Period)
			st.Remaining = max(q.burst()-st.Used, 0)
			if b.tat > t {
				st.ResetAt = time.Unix(0, b.tat)
			}
		case Day, Month:
			start, end := b.start, b.end
			if t < start || t >= end {
				start, end = calendarWindow(q.Window.Kind, q.Window.Location, t)
			}
			if b.start == start {
				st.Used, st.Held = b.used+b.held, b.held
			}
			st.ResetAt = time.Unix(0, end)
		default:
			st.Used, st.Held = b.used+b.held, b.held
		}
		if q.Window.Kind != Rate {
			st.Remaining = max(q.Limit-st.Used, 0)
		}
		dst = append(dst, st)
	}
	return dst
}

// Open returns the number of reservations neither settled, released nor expired: the
// figure that must be zero once every caller is done.
func (s *MemoryStore) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.holds)
}

// Restore sets the settled use of a budget quota in its current window, as a ledger read
// at start-up found it. It replaces what the store had.
func (s *MemoryStore) Restore(now time.Time, q Quota, used int64) {
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucket(q.Key)
	if q.Window.Kind == Day || q.Window.Kind == Month {
		b.start, b.end = calendarWindow(q.Window.Kind, q.Window.Location, t)
	}
	b.used = used
}
