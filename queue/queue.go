// Package queue is tollgate's admission queue: it sits in front of a quota.Store and admits
// requests in priority order once every quota they need can be reserved.
//
// Acquire first tries the store. A permanent refusal (quota.ErrBudget, quota.ErrTooLarge)
// returns at once, unchanged. A refusal that time can cure (quota.ErrExceeded: a rate, a
// lease, a budget held by open reservations) makes the request wait, grouped under the quota
// key that refused it, so a request blocked on one model's rate never delays requests blocked
// on another's. A key's waiters are tried again when the key may have room: when a reservation
// that held it is settled or released through the queue, when its rate refills (one timer per
// key), or every Config.Recheck for stores shared with other processes. They are tried
// highest effective level first (a waiter rises one level per Config.Aging waited), then by
// weighted fairness between tenants, then first come first served. Newcomers queue behind
// waiters of equal or higher level instead of taking the room those waiters were waiting for.
//
// A request waits at most until the earlier of its context's deadline and Config.MaxWait; if
// the store's estimate of the wait already passes that deadline it is refused at once with
// ErrTimeout, before it takes any quota. Too many waiters are shed with ErrFull. Both carry a
// Retry-After estimate.
//
// # Concurrency limits and nested agents
//
// A concurrency limit is a lease quota (quota.Concurrent over quota.Leased()) in the same
// Request as the rates; it waits here like a rate and comes back when the caller settles or
// releases its reservation through the Queue, which every caller must do on every path. An
// agent that holds the only slot of a pool and then calls another agent needing a slot of the
// same pool would wait for itself: the queue cannot see that dependency, so the inner call
// waits until its deadline and fails with ErrTimeout. Give nested calls their own scope: a
// pool per agent or per call depth (a quota key that includes the depth), so that an inner
// call never needs the slot its caller holds.
//
// Every method of Queue is safe for concurrent use. The Queue starts no goroutines of its own:
// a waiter blocks in its caller's goroutine, and wake-ups come from Settle and Release and
// from timers that the Queue owns and Close stops. An uncontended Acquire calls the store
// without holding the queue's lock; waking waiters calls the store under it, so that a
// request's refusal and its place in the queue are decided together and no wake-up is lost.
// With a remote store this serializes the retries of waiters (not first attempts) on one
// round trip at a time per process, which is the price of exact ordering.
package queue

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// Level is a request's priority class. Higher levels are admitted first.
type Level int

// The levels, lowest first.
const (
	Low Level = iota
	Normal
	High
	Critical

	numLevels = 4
)

var levelNames = [numLevels]string{"low", "normal", "high", "critical"}

// String returns the level's name in lower case: "critical", "high", "normal", "low".
func (l Level) String() string {
	if l >= Low && l <= Critical {
		return levelNames[l]
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// LevelOf maps an integer priority, as sent in an X-Priority header, to a Level: 3 or more is
// Critical, 2 High, 1 and 0 Normal (0 is "unset", which must not demote a request), and any
// negative value Low.
func LevelOf(priority int) Level {
	switch {
	case priority >= 3:
		return Critical
	case priority == 2:
		return High
	case priority >= 0:
		return Normal
	}
	return Low
}

// Config configures a Queue. The zero value is ready to use; each field documents its default.
type Config struct {
	// MaxWait is the longest a request waits before ErrTimeout; 0 means 30s.
	MaxWait time.Duration
	// MaxQueued is how many requests of one tenant may wait before more are shed with
	// ErrFull; 0 means 1000.
	MaxQueued int
	// MaxQueuedAll is how many requests may wait in all; 0 means 10000.
	MaxQueuedAll int
	// Aging raises a waiter one level per Aging waited, which bounds a Low waiter's wait under
	// sustained Critical load to 3 x Aging plus one refill, plus the turns of Critical waiters
	// that arrived before it (ties go first come first served). 0 means 5s; a negative value
	// disables aging.
	Aging time.Duration
	// Weights gives tenants shares of a contended key: a tenant of weight 3 is granted about
	// three times as often as one of weight 1 when both have waiters at the same level.
	// Tenants not listed weigh 1.
	Weights map[string]int
	// Recheck is for stores shared with other processes (Redis), where capacity freed
	// elsewhere raises no local signal: waiters blocked on a lease or a held budget are tried
	// again this often. 0 means never, which suits the memory store.
	Recheck time.Duration
}

// Validate reports the first bad field.
func (c *Config) Validate() error {
	switch {
	case c.MaxWait < 0:
		return fmt.Errorf("queue: Config.MaxWait must not be negative, got %v", c.MaxWait)
	case c.MaxQueued < 0:
		return fmt.Errorf("queue: Config.MaxQueued must not be negative, got %d", c.MaxQueued)
	case c.MaxQueuedAll < 0:
		return fmt.Errorf("queue: Config.MaxQueuedAll must not be negative, got %d", c.MaxQueuedAll)
	case c.Recheck < 0:
		return fmt.Errorf("queue: Config.Recheck must not be negative, got %v", c.Recheck)
	}
	for t, w := range c.Weights {
		if w <= 0 {
			return fmt.Errorf("queue: Config.Weights[%q] must be positive, got %d", t, w)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxWait == 0 {
		c.MaxWait = 30 * time.Second
	}
	if c.MaxQueued == 0 {
		c.MaxQueued = 1000
	}
	if c.MaxQueuedAll == 0 {
		c.MaxQueuedAll = 10000
	}
	if c.Aging == 0 {
		c.Aging = 5 * time.Second
	}
	return c
}

// Waiter is one request asking for admission.
type Waiter struct {
	// Request is what to reserve. The queue keeps a reference to its Quotas until the
	// reservation is settled or released: do not modify it before then.
	Request *quota.Request
	// Priority is the integer priority; see LevelOf.
	Priority int
	// Tenant is who the request is for, for per-tenant limits and fairness.
	Tenant string
	// Statuses is where Acquire appends the store's statuses (Grant.Statuses); it may be
	// nil. Reusing a buffer saves an allocation per request.
	Statuses []quota.Status
	// MaxWait, when positive and shorter than Config.MaxWait, is the longest this request
	// waits: a caller with somewhere else to go (a fallback chain's next model) waits no
	// longer than it is worth, and is refused at once when the store's estimate already
	// passes it.
	MaxWait time.Duration
}

// Grant is an admitted request.
type Grant struct {
	// Reservation must be settled or released through the Queue (not the store directly),
	// so that waiters on its keys are woken.
	Reservation quota.Reservation
	// Statuses is the store's answer to the reserve that admitted the request: one Status
	// per quota of the Request, after the reservation (see Acquire for refusals).
	Statuses []quota.Status
	// Level is the request's level (before aging).
	Level Level
	// Waited is how long the request waited in the queue; 0 when admitted at once.
	Waited time.Duration
}

// Stats is a snapshot of the queue.
type Stats struct {
	// Waiting counts waiters by their own Level (Waiting[queue.High], ...), not raised by aging.
	Waiting [Critical + 1]int
	// Queued is the number of waiters in all.
	Queued int
	// Tenants counts waiters by tenant; tenants with none are absent.
	Tenants map[string]int
	// Granted, Shed, Timeouts and Cancelled count requests since New: admitted (at once or
	// after waiting), refused with ErrFull, refused with ErrTimeout, and given up by their
	// caller's context.
	Granted, Shed, Timeouts, Cancelled uint64
}

// Queue admits requests to a quota.Store in priority order. Create it with New; it is safe for
// concurrent use. Close it to stop its timers and wake its waiters.
type Queue struct {
	store quota.Store
	cfg   Config
	// epoch is the origin of the waiters' rise times, on the monotonic clock.
	epoch time.Time

	// queued mirrors total for the fast path: with no waiter anywhere, Acquire goes straight
	// to the store without the lock.
	queued atomic.Int64
	// closing mirrors closed for the fast path.
	closing atomic.Bool
	// frees counts Settle and Release wake-ups; Acquire compares it across its store call to
	// catch a free that happened between its refusal and its enqueue.
	frees atomic.Uint64

	mu      sync.Mutex
	closed  bool
	keys    map[string]*keyQueue
	tenants map[string]*tenant
	held    map[quota.ID]heldRes
	seq     uint64
	vclock  float64 // the fairness tag of the last waiter admitted
	grants  uint64
	avgWait time.Duration
	waiting [numLevels]int
	total   int

	recheck      *time.Timer
	recheckArmed bool

	shed, timeouts, cancelled uint64
}

// heldRes is a reservation granted through the queue: the keys to wake when it is settled.
type heldRes struct {
	quotas  []quota.Quota
	expires time.Time
}

// tenant is one tenant's fairness state; it exists while the tenant has waiters.
type tenant struct {
	name   string
	weight float64
	// next is the virtual time of the tenant's next turn: the tag its next waiter gets,
	// unless the queue's virtual time is already past it.
	next    float64
	waiting int
}

// New returns a Queue in front of store.
func New(store quota.Store, cfg Config) (*Queue, error) {
	if store == nil {
		return nil, fmt.Errorf("queue: nil store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Queue{
		store:   store,
		cfg:     cfg.withDefaults(),
		epoch:   time.Now(),
		keys:    make(map[string]*keyQueue),
		tenants: make(map[string]*tenant),
		held:    make(map[quota.ID]heldRes),
	}, nil
}

// Stats returns a snapshot of the queue's waiters and counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{Waiting: q.waiting, Queued: q.total, Tenants: make(map[string]int, len(q.tenants)),
		Granted: q.grants, Shed: q.shed, Timeouts: q.timeouts, Cancelled: q.cancelled}
	for name, t := range q.tenants {
		if t.waiting > 0 {
			s.Tenants[name] = t.waiting
		}
	}
	return s
}

// Close wakes every waiter with ErrClosed, stops the queue's timers and refuses later
// Acquires. Settle and Release still reach the store. Close is idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	q.closing.Store(true)
	now := time.Now()
	for _, k := range q.keys {
		for e := range k.turns {
			for k.turns[e].len() > 0 {
				wt := k.turns[e].top()
				q.remove(wt)
				wt.ready <- outcome{err: &WaitError{Err: ErrClosed, Quota: quotaErr(wt.lastErr), Waited: now.Sub(wt.start)}}
			}
		}
	}
	if q.recheck != nil {
		q.recheck.Stop()
	}
	return nil
}
