package quota

import (
	"sync/atomic"
	"time"
)

// Unlimited is the limit of a Live that knows no limit yet: a rate so high (2^53 per
// period, the largest count the Redis store's scripts hold exactly) that it never refuses.
const Unlimited int64 = 1 << 53

// Live is the limit of a Rate quota that changes while the quota is in use: an upstream's
// limit as package learn learns it from the provider's answers. A Quota whose Live is set
// takes its limit and burst from the Live each time a store decides a reservation on it, so
// that a request waiting in a queue is judged by the limit in force when it is tried again,
// not by the one in force when it arrived; and the quota value itself (in a rule cache, a
// queue, an open reservation) never needs rebuilding.
//
// A Live also carries a floor under the rate's theoretical arrival time (TAT): what the
// provider said of its own state ("12 requests remain", "rate limited now") expressed in
// GCRA terms. A store raises the quota's TAT to the floor before deciding a reservation,
// so the rate has at most the room the provider has, whatever this process counted.
//
// A Live counts the reservations that its quota refused (Refusals): the learner's evidence
// that demand reached the limit, without which it does not raise it.
//
// The zero value is not usable; use NewLive. A Live is safe for concurrent use: a store
// reads it without locks (two atomic loads per reservation), a learner writes it.
type Live struct {
	lim     atomic.Pointer[liveLimit]
	floor   atomic.Int64
	refused atomic.Uint64
}

type liveLimit struct{ limit, burst int64 }

// NewLive returns a Live at limit per period with burst; see Set.
func NewLive(limit, burst int64) *Live {
	l := new(Live)
	l.Set(limit, burst)
	return l
}

// Set replaces the limit and the burst, together: a store never sees the new limit with
// the old burst. A limit <= 0 means no limit is known (Unlimited); a burst <= 0 means the
// limit (one period's worth at once); a burst above the limit is the limit.
func (l *Live) Set(limit, burst int64) {
	if limit <= 0 || limit > Unlimited {
		limit = Unlimited
	}
	if burst <= 0 || burst > limit {
		burst = limit
	}
	l.lim.Store(&liveLimit{limit, burst})
}

// Limit returns the limit and the burst in force.
func (l *Live) Limit() (limit, burst int64) {
	v := l.lim.Load()
	return v.limit, v.burst
}

// RaiseFloor raises the floor under the rate's TAT to tat, unix ns; a lower value changes
// nothing. It reports whether the floor rose.
func (l *Live) RaiseFloor(tat int64) bool {
	for {
		old := l.floor.Load()
		if tat <= old {
			return false
		}
		if l.floor.CompareAndSwap(old, tat) {
			return true
		}
	}
}

// Floor returns the floor under the rate's TAT, unix ns; 0 when none was set.
func (l *Live) Floor() int64 { return l.floor.Load() }

// Refused records that the quota refused a reservation. The memory store calls it; a store
// outside this package (the Redis store) calls it for each Live quota whose state refused.
func (l *Live) Refused() { l.refused.Add(1) }

// Refusals returns how many reservations the quota has refused since the Live was made.
func (l *Live) Refusals() uint64 { return l.refused.Load() }

// Resolve returns q as a store applies it to a reservation of n units: for a quota with a
// Live, its Limit and Burst are the Live's, and its burst is at least n, so that a learned
// limit refuses no request as too large (one larger than the burst waits until the rate is
// fully refilled, then goes: the average rate still holds). floor is the Live's floor
// under the TAT (unix ns; 0 for none). A quota without a Live comes back unchanged.
func (q *Quota) Resolve(n int64) (r Quota, floor int64) {
	r = *q
	r.Limit, r.Burst, floor = q.resolve(n)
	if q.Live == nil {
		r.Burst = q.Burst
	}
	return r, floor
}

// resolve returns the limit, the burst (never 0) and the TAT floor that a reservation of n
// units is decided with: q's own, or for a Live quota its Live's, with a burst of at least n.
func (q *Quota) resolve(n int64) (limit, burst, floor int64) {
	if q.Live == nil {
		return q.Limit, q.Capacity(), 0
	}
	limit, burst = q.Live.Limit()
	return limit, max(burst, min(n, Unlimited)), q.Live.Floor()
}

// FloorFor returns the TAT floor (unix ns) that leaves a rate of limit per period with
// burst exactly room units of room at now: what a provider reporting room remaining means
// to a store. It is 0 when room is at least the burst (nothing to lower).
func FloorFor(now time.Time, room, limit, burst int64, period time.Duration) int64 {
	if room >= burst || limit <= 0 {
		return 0
	}
	room = max(room, 0)
	return satAdd(now.UnixNano(), interval(burst-room, limit, period))
}

// Settled returns what a settle charges to q for a reservation of reserved that used
// actual: actual's part in q's unit, with the reserved output when q is OutputAtCap and
// the call used less. A call that used no tokens at all was not admitted (a 429): it is
// charged no output either.
func (q *Quota) Settled(reserved, actual Amount) int64 {
	if q.OutputAtCap && actual.InputTokens+actual.OutputTokens > 0 {
		actual.OutputTokens = max(actual.OutputTokens, reserved.OutputTokens)
	}
	return actual.Of(q.Unit)
}
