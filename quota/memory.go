package quota

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// MemoryConfig configures a MemoryStore. The zero value is ready to use.
type MemoryConfig struct {
	// TTL is how long a reservation may stay open before it is settled at its worst case.
	// Zero means DefaultTTL (10 minutes).
	TTL time.Duration
	// IdleTTL is how long a Lifetime quota's state is kept after its last reservation when
	// its Window.Idle is zero. Zero means DefaultIdle (30 days), as in the Redis store; a
	// negative value keeps it for the life of the store.
	IdleTTL time.Duration
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
//
// Its memory is bounded by the keys in use: a key's state is forgotten once it equals a
// fresh key's and no reservation points at it: a rate one period after it refilled, a day
// or month once the window has ended, a lease holding nothing, a lifetime budget after its
// Window.Idle (MemoryConfig.IdleTTL) without a reservation. The work is spread over
// reservations (each forgets at most a few more keys than it may create), so the store
// starts no goroutine and needs no Close.
type MemoryStore struct {
	ttl, idle time.Duration
	now       func() time.Time
	ids       *IDGen

	mu      sync.Mutex
	buckets map[string]*bucket
	idleq   bucketHeap // every bucket, by when to look at it for eviction
	holds   map[ID]*hold
	// oldest and newest end a list of open holds in reservation order, which with one TTL
	// is expiry order: expiring is O(1) per hold, and settling unlinks in O(1).
	oldest, newest *hold
	free           []*hold
	// peakBuckets and peakHolds are the maps' sizes at their largest: Go maps never shrink,
	// so a map that has lost three quarters of them is rebuilt.
	peakBuckets, peakHolds int
}

// grace is how long a key whose state equals a fresh key's is kept anyway (a rate: one
// period), so that a key in steady use is not dropped and rebuilt between two requests.
const grace = int64(time.Minute)

// bucket is the state of one quota key.
type bucket struct {
	State
	key  string
	last int64 // the last reservation or settle, unix ns
	at   int64 // when the eviction heap looks at it next
	// linger is, with kind, what the quota last reserved on the key says about when its
	// state equals a fresh key's: a Rate's period, a Lifetime's idle TTL (negative: never).
	linger int64
	idx    int32 // its index in the eviction heap
	// refs counts the open reservations that point here; while a reservation is being
	// decided it also carries seen, to find a key repeated in one request in O(1).
	refs int32
	kind Kind
}

// seen marks, in bucket.refs, a bucket that the request being decided already took.
const seen = 1 << 30

// entry is one quota's part of a hold.
type entry struct {
	b      *bucket
	amount int64
	start  int64 // Day, Month: the window charged
	tat    int64 // Rate: the TAT once taken, between check and commit
	// limit and burst are a Rate's as the reservation was decided: a Live's may have moved
	// by the time it settles, and the refund must undo exactly what was taken.
	limit, burst int64
}

type hold struct {
	id         ID
	prev, next *hold
	expires    int64
	amount     Amount
	quotas     []Quota // the Request's, for the settle's statuses
	es         []entry // one per quota; its capacity is kept across recycling
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore(cfg MemoryConfig) *MemoryStore {
	s := &MemoryStore{ttl: cfg.TTL, idle: cfg.IdleTTL, now: cfg.Now, ids: NewIDGen(),
		buckets: make(map[string]*bucket), holds: make(map[ID]*hold)}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.idle == 0 {
		s.idle = DefaultIdle
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Reserve implements Store.
func (s *MemoryStore) Reserve(_ context.Context, req *Request, dst []Status) (Reservation, []Status, error) {
	return s.ReserveAt(s.now(), req, dst)
}

// Settle implements Store. It reads the clock for the statuses it appends.
func (s *MemoryStore) Settle(_ context.Context, id ID, actual Amount, dst []Status) ([]Status, error) {
	return s.SettleAt(s.now(), id, actual, dst)
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, id ID) error {
	return s.ReleaseAt(s.now(), id)
}

// Status implements Store.
func (s *MemoryStore) Status(_ context.Context, quotas []Quota, dst []Status) ([]Status, error) {
	return s.StatusAt(s.now(), quotas, dst), nil
}

// ReserveAt is Reserve at an explicit instant.
func (s *MemoryStore) ReserveAt(now time.Time, req *Request, dst []Status) (Reservation, []Status, error) {
	t := now.UnixNano()
	n := len(req.Quotas)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(t)
	// A reservation may create up to n keys; forgetting up to n+4 keeps the key count
	// bounded by the keys in use, however the requests come.
	s.evict(t, n+4)

	h := s.newHold(n)
	dst = slices.Grow(dst, n)
	var refused *ExceededError
	for i := range req.Quotas {
		q := &req.Quotas[i]
		b := s.bucket(q.Key, t)
		if b.refs >= seen {
			for j := range i {
				h.es[j].b.refs -= seen
			}
			s.recycle(h)
			return Reservation{}, dst, fmt.Errorf("quota: reserve: duplicate quota key %q in one request", q.Key)
		}
		s.forgetIdle(b, q, t)
		b.refs += seen
		b.Roll(q, t)
		amount := req.Amount.Of(q.Unit)
		e := entry{b: b, amount: amount, start: b.Start, limit: q.Limit, burst: q.Capacity()}
		var err *ExceededError
		if q.Live != nil {
			var floor int64
			e.limit, e.burst, floor = q.resolve(amount)
			// The provider's own word on its state: the rate has no more room than it.
			b.TAT = max(b.TAT, floor)
			if e.tat, err = b.checkRate(q, amount, t, e.limit, e.burst); err != nil {
				q.Live.Refused()
			}
		} else {
			e.tat, err = b.check(q, amount, t)
		}
		h.es[i] = e
		if err != nil {
			refused = Worst(refused, err)
		}
	}
	for i := range h.es {
		h.es[i].b.refs -= seen
	}
	if refused != nil {
		for i := range h.es {
			e := &h.es[i]
			dst = e.b.appendStatus(dst, &req.Quotas[i], t, e.limit, e.burst)
		}
		s.recycle(h)
		return Reservation{}, dst, refused
	}
	var warned uint64
	for i := range h.es {
		q, e := &req.Quotas[i], &h.es[i]
		b := e.b
		if i < 64 && q.Warns(b.Used+b.Held, e.amount) {
			warned |= 1 << i
		}
		if q.Window.Kind == Rate {
			b.TAT = e.tat
		} else {
			b.Held += e.amount
		}
		b.refs++
		b.last = t
		b.setWindow(q, s.idle)
		dst = b.appendStatus(dst, q, t, e.limit, e.burst)
	}
	h.id = s.ids.Next()
	h.amount = req.Amount
	h.quotas = req.Quotas
	h.expires = t + int64(s.ttl)
	s.holds[h.id] = h
	s.peakHolds = max(s.peakHolds, len(s.holds))
	h.prev = s.newest
	if s.newest != nil {
		s.newest.next = h
	} else {
		s.oldest = h
	}
	s.newest = h
	return Reservation{ID: h.id, ExpiresAt: time.Unix(0, h.expires), Warned: warned}, dst, nil
}

// SettleAt is Settle at an explicit instant, the instant of the statuses it appends.
func (s *MemoryStore) SettleAt(now time.Time, id ID, actual Amount, dst []Status) ([]Status, error) {
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.holds[id]
	if !ok {
		return dst, fmt.Errorf("quota: settle %s: %w", id, ErrUnknownReservation)
	}
	return s.apply(h, actual, slices.Grow(dst, len(h.es)), t), nil
}

// ReleaseAt is Release at an explicit instant. Releasing needs no clock (only Reserve
// expires reservations); the instant is accepted so tests read as step tables.
func (s *MemoryStore) ReleaseAt(_ time.Time, id ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.holds[id]
	if !ok {
		return fmt.Errorf("quota: release %s: %w", id, ErrUnknownReservation)
	}
	s.apply(h, Amount{}, nil, -1)
	return nil
}

// apply settles h at actual (zero for a release) and frees it. For a settle at t (t >= 0)
// it appends to dst the state of each quota after settling; -1 is for a release or an
// expiry, which report nothing.
func (s *MemoryStore) apply(h *hold, actual Amount, dst []Status, t int64) []Status {
	for i := range h.es {
		e := &h.es[i]
		q := &h.quotas[i]
		b := e.b
		b.refs--
		got := q.Settled(h.amount, actual)
		switch q.Window.Kind {
		case Rate:
			b.TAT += interval(got, e.limit, q.Window.Period) - interval(e.amount, e.limit, q.Window.Period)
		case Lease:
			b.Held -= e.amount
		case Day, Month:
			if b.Start == e.start { // else the window this was charged to has ended
				b.Held -= e.amount
				b.Used += got
			}
		default:
			b.Held -= e.amount
			b.Used += got
		}
		if t >= 0 {
			b.last = max(b.last, t)
			limit, burst, _ := q.resolve(0)
			dst = b.appendStatus(dst, q, t, limit, burst)
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
	if s.peakHolds > 64 && len(s.holds) < s.peakHolds/4 {
		s.holds = rebuilt(s.holds)
		s.peakHolds = len(s.holds)
	}
	return dst
}

// expire settles, at their worst case, reservations whose TTL has passed. A caller that
// vanished may have spent the money, so its hold is charged, never refunded; its leases
// come back.
func (s *MemoryStore) expire(t int64) {
	for s.oldest != nil && s.oldest.expires <= t {
		s.apply(s.oldest, s.oldest.amount, nil, -1)
	}
}

func (s *MemoryStore) bucket(key string, t int64) *bucket {
	b, ok := s.buckets[key]
	if !ok {
		b = &bucket{key: key, at: t + grace}
		s.buckets[key] = b
		s.peakBuckets = max(s.peakBuckets, len(s.buckets))
		s.idleq.push(b)
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
	if cap(h.es) < n {
		h.es = make([]entry, n)
	}
	h.es = h.es[:n]
	return h
}

func (s *MemoryStore) recycle(h *hold) {
	clear(h.es) // drop the bucket pointers: a forgotten key must not stay reachable
	*h = hold{es: h.es[:0]}
	if len(s.free) < 4096 {
		s.free = append(s.free, h)
	}
}

// StatusAt is Status at an explicit instant.
func (s *MemoryStore) StatusAt(now time.Time, quotas []Quota, dst []Status) []Status {
	t := now.UnixNano()
	dst = slices.Grow(dst, len(quotas))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range quotas {
		q := &quotas[i]
		var st State
		if b := s.buckets[q.Key]; b != nil {
			st = b.State
			if s.idleFor(b, q, t) {
				st.Used = 0
			}
		}
		limit, burst, floor := q.resolve(0)
		st.TAT = max(st.TAT, floor)
		dst = st.appendStatus(dst, q, t, limit, burst)
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

// Keys returns the number of quota keys whose state the store keeps.
func (s *MemoryStore) Keys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buckets)
}

// Restore sets the settled use of a budget quota in its current window, as a ledger read
// at start-up found it. It replaces what the store had. A restored lifetime budget counts
// as used at now for its idle expiry.
func (s *MemoryStore) Restore(now time.Time, q Quota, used int64) {
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucket(q.Key, t)
	if q.Window.Kind == Day || q.Window.Kind == Month {
		b.Start, b.End = q.Window.Span(t)
	}
	b.Used = used
	b.last = t
	b.setWindow(&q, s.idle)
}

func (b *bucket) setWindow(q *Quota, idle time.Duration) {
	b.kind = q.Window.Kind
	switch b.kind {
	case Rate:
		b.linger = int64(q.Window.Period)
	case Lifetime:
		b.linger = int64(q.IdleTTL(idle))
	}
}

// idleFor reports whether b, holding lifetime budget q, has been idle (no reservation open,
// none made or settled) past q's idle TTL at t: its spend is then forgotten, whether or not
// eviction has come to it yet.
func (s *MemoryStore) idleFor(b *bucket, q *Quota, t int64) bool {
	if q.Window.Kind != Lifetime || b.refs != 0 || b.Held != 0 {
		return false
	}
	idle := q.IdleTTL(s.idle)
	return idle >= 0 && t-b.last >= int64(idle)
}

func (s *MemoryStore) forgetIdle(b *bucket, q *Quota, t int64) {
	if s.idleFor(b, q, t) {
		b.Used = 0
	}
}

// freshAt returns when b's state will equal a fresh key's, grace included; math.MaxInt64
// for a lifetime budget with spend that is kept forever. Holds are checked by the caller.
func (b *bucket) freshAt() int64 {
	switch b.kind {
	case Rate:
		return satAdd(max(b.TAT, b.last), b.linger)
	case Day, Month:
		if b.Used == 0 {
			return b.last + grace
		}
		return b.End
	case Lifetime:
		switch {
		case b.Used == 0:
			return b.last + grace
		case b.linger < 0:
			return math.MaxInt64
		}
		return satAdd(b.last, b.linger)
	}
	return b.last + grace
}

// evict forgets at most limit keys whose state equals a fresh key's at t, and puts the ones
// it looked at and kept back in the heap for later.
func (s *MemoryStore) evict(t int64, limit int) {
	for n := 0; n < limit && len(s.idleq) > 0 && s.idleq[0].at <= t; n++ {
		b := s.idleq[0]
		at := b.freshAt()
		if b.refs == 0 && b.Held == 0 && at <= t {
			s.idleq.remove(0)
			delete(s.buckets, b.key)
			continue
		}
		// Look again when it will be fresh (never, for a lifetime budget kept forever: it
		// sinks to the bottom of the heap), or after a grace while reservations hold it.
		b.at = at
		if b.refs != 0 || b.Held != 0 {
			b.at = max(at, t+grace)
		}
		s.idleq.fix(0)
	}
	if s.peakBuckets > 64 && len(s.buckets) < s.peakBuckets/4 {
		s.buckets = rebuilt(s.buckets)
		s.peakBuckets = len(s.buckets)
		s.idleq.shrink()
	}
}

// rebuilt returns a copy of m sized for its entries: a map that has shrunk a lot keeps the
// memory of its largest size otherwise.
func rebuilt[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
