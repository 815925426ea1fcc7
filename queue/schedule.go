package queue

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// maxBypass is how many times waiters behind a key's best waiter may be admitted while that
// waiter does not fit the room a wake-up found (a large request on a rate whose refill only
// fits small ones). Without a bound a large request would starve behind a stream of small
// ones; with it, once bypassed maxBypass times, the key's list stops at it until it fits, and
// the small ones wait their turn behind it.
const maxBypass = 4

// keyQueue is the list of waiters refused by one quota key.
type keyQueue struct {
	key     string
	waiters []*waiter
	// timer fires at timerAt, the key's next refill for its rate-limited waiters; timerAt is
	// zero when the timer is not armed. One timer per key, whatever the number of waiters.
	timer   *time.Timer
	timerAt time.Time
}

// effLevel is wt's level raised by aging at now.
func (q *Queue) effLevel(wt *waiter, now time.Time) Level {
	l := wt.level
	if q.cfg.Aging > 0 {
		l += Level(now.Sub(wt.start) / q.cfg.Aging)
	}
	return min(l, Critical)
}

// before reports whether a goes before b: higher effective level, then the tenant with the
// smaller virtual time (weighted fairness), then first come.
func (q *Queue) before(a, b *waiter, now time.Time) bool {
	if la, lb := q.effLevel(a, now), q.effLevel(b, now); la != lb {
		return la > lb
	}
	if a.tenant != b.tenant && a.tenant.vtime != b.tenant.vtime {
		return a.tenant.vtime < b.tenant.vtime
	}
	return a.seq < b.seq
}

// best returns k's first waiter other than skip, or nil. A linear scan: effective levels
// change with time and virtual times with every grant, so a heap would need rebuilding at
// every pick anyway.
func (q *Queue) best(k *keyQueue, skip *waiter, now time.Time) *waiter {
	var b *waiter
	for _, wt := range k.waiters {
		if wt != skip && (b == nil || q.before(wt, b, now)) {
			b = wt
		}
	}
	return b
}

// busyKey returns the first key of req with a waiter of level at least l, or nil.
func (q *Queue) busyKey(req *quota.Request, l Level, now time.Time) *keyQueue {
	for i := range req.Quotas {
		k := q.keys[req.Quotas[i].Key]
		if k == nil {
			continue
		}
		for _, wt := range k.waiters {
			if q.effLevel(wt, now) >= l {
				return k
			}
		}
	}
	return nil
}

// join appends wt to key's list and arms the key's refill timer for est, or the recheck timer
// when the wait has no estimate (a lease or a held budget).
func (q *Queue) join(wt *waiter, key string, est time.Duration, now time.Time) {
	k := q.keys[key]
	if k == nil {
		k = &keyQueue{key: key}
		q.keys[key] = k
	}
	wt.key = k
	wt.idx = len(k.waiters)
	k.waiters = append(k.waiters, wt)
	if est > 0 {
		q.armKey(k, now.Add(est))
	} else if k.timerAt.IsZero() {
		q.armRecheck()
	}
}

// unlink takes wt out of its key's list, dropping the list when it empties.
func (q *Queue) unlink(wt *waiter) {
	k := wt.key
	last := len(k.waiters) - 1
	k.waiters[wt.idx] = k.waiters[last]
	k.waiters[wt.idx].idx = wt.idx
	k.waiters[last] = nil
	k.waiters = k.waiters[:last]
	wt.key = nil
	if len(k.waiters) == 0 {
		if k.timer != nil {
			k.timer.Stop()
		}
		k.timerAt = time.Time{}
		delete(q.keys, k.key)
	}
}

// remove takes wt out of the queue.
func (q *Queue) remove(wt *waiter) {
	q.unlink(wt)
	q.waiting[wt.level]--
	q.total--
	q.queued.Add(-1)
	t := wt.tenant
	if t.waiting--; t.waiting == 0 {
		delete(q.tenants, t.name)
	}
}

// pass tries k's waiters in order after k may have gained room. It stops at the second waiter
// refused by k itself (the room is gone), or at the first one that has been bypassed
// maxBypass times. Waiters refused by another key move to that key's list.
func (q *Queue) pass(k *keyQueue, now time.Time) {
	var blocked *waiter
	var refill time.Time
	for len(k.waiters) > 0 {
		wt := q.best(k, blocked, now)
		if wt == nil {
			break
		}
		res, err := q.store.Reserve(context.Background(), wt.w.Request)
		if err == nil {
			q.record(wt, wt.w, res, now)
			q.remove(wt)
			wt.ready <- outcome{grant: Grant{Reservation: res, Level: wt.level, Waited: now.Sub(wt.start)}}
			if blocked != nil {
				blocked.bypassed++
			}
			continue
		}
		var ex *quota.ExceededError
		if !errors.As(err, &ex) || ex.Permanent() {
			// A budget spent while it waited, or a store failure: waiting cannot help.
			q.remove(wt)
			wt.ready <- outcome{err: err}
			continue
		}
		wt.lastErr = ex
		if ex.RetryAfter > 0 && now.Add(ex.RetryAfter).After(wt.deadline) {
			q.remove(wt)
			q.timeouts++
			wt.ready <- outcome{err: &WaitError{Err: ErrTimeout, Quota: ex, Waited: now.Sub(wt.start), RetryAfter: ex.RetryAfter}}
			continue
		}
		if ex.Quota.Key != k.key {
			q.unlink(wt)
			q.join(wt, ex.Quota.Key, ex.RetryAfter, now)
			continue
		}
		if ex.RetryAfter > 0 {
			if at := now.Add(ex.RetryAfter); refill.IsZero() || at.Before(refill) {
				refill = at
			}
		}
		// A lease takes one slot from everyone, so no one behind can fit either.
		if blocked != nil || wt.bypassed >= maxBypass || ex.Quota.Unit == quota.Concurrent {
			break
		}
		blocked = wt
	}
	if q.keys[k.key] != k {
		return
	}
	if !refill.IsZero() {
		q.armKey(k, refill)
	} else if k.timerAt.IsZero() {
		q.armRecheck()
	}
}

// armKey makes k's timer fire at at, unless it is armed to fire sooner.
func (q *Queue) armKey(k *keyQueue, at time.Time) {
	if !k.timerAt.IsZero() && !at.Before(k.timerAt) {
		return
	}
	k.timerAt = at
	d := time.Until(at)
	if k.timer == nil {
		k.timer = time.AfterFunc(d, func() { q.refilled(k) })
		return
	}
	k.timer.Reset(d)
}

// refilled runs when k's rate may have refilled.
func (q *Queue) refilled(k *keyQueue) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.keys[k.key] != k {
		return
	}
	now := time.Now()
	if k.timerAt.After(now) {
		return // re-armed for later while this firing was on its way
	}
	k.timerAt = time.Time{}
	q.pass(k, now)
}

// armRecheck arms the one recheck timer, when Config.Recheck asks for it.
func (q *Queue) armRecheck() {
	if q.cfg.Recheck <= 0 || q.recheckArmed || q.closed {
		return
	}
	q.recheckArmed = true
	if q.recheck == nil {
		q.recheck = time.AfterFunc(q.cfg.Recheck, q.rechecked)
		return
	}
	q.recheck.Reset(q.cfg.Recheck)
}

// rechecked tries every key that waits without a refill time: capacity may have been freed by
// another process sharing the store.
func (q *Queue) rechecked() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.recheckArmed = false
	if q.closed {
		return
	}
	now := time.Now()
	var again bool
	for _, k := range q.keys {
		if k.timerAt.IsZero() {
			q.pass(k, now)
		}
	}
	for _, k := range q.keys {
		if k.timerAt.IsZero() {
			again = true
			break
		}
	}
	if again {
		q.armRecheck()
	}
}
