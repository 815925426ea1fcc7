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

// keyQueue is the waiters refused by one quota key. Finding the next one to admit is
// O(log n): the waiters are kept in heaps, one per effective level, each in turn order (the
// fairness tag, then arrival); aging moves a waiter up one heap when its time comes, which
// a second set of heaps, by that time, finds without looking at the others.
type keyQueue struct {
	key string
	// turns[e] holds the waiters whose effective level is e, in turn order.
	turns [numLevels]waiterHeap
	// rising[e], for e below Critical, holds the waiters of turns[e] by when they rise.
	rising [numLevels - 1]waiterHeap
	n      int // waiters in the key, the one a pass holds back included
	// timer fires at timerAt, the key's next refill for its rate-limited waiters; timerAt is
	// zero when the timer is not armed. One timer per key, whatever the number of waiters.
	timer   *time.Timer
	timerAt time.Time
}

func newKeyQueue(key string) *keyQueue {
	k := &keyQueue{key: key}
	for i := range k.rising {
		k.rising[i].aging = true
	}
	return k
}

// effLevel is wt's level raised by aging at now.
func (q *Queue) effLevel(wt *waiter, now time.Time) Level {
	l := wt.level
	if q.cfg.Aging > 0 {
		l += Level(now.Sub(wt.start) / q.cfg.Aging)
	}
	return min(l, Critical)
}

// place puts wt in k's heaps for its effective level at now, at least floor.
func (q *Queue) place(k *keyQueue, wt *waiter, now time.Time, floor Level) {
	e := max(q.effLevel(wt, now), floor)
	wt.eff = e
	k.turns[e].push(wt)
	if q.cfg.Aging > 0 && e < Critical {
		// On the monotonic clock, as effLevel: a wall-clock step must not make a waiter
		// due to rise before effLevel agrees.
		wt.rise = int64(wt.start.Sub(q.epoch) + time.Duration(e-wt.level+1)*q.cfg.Aging)
		k.rising[e].push(wt)
	}
}

// unplace takes wt out of k's heaps.
func (q *Queue) unplace(k *keyQueue, wt *waiter) {
	k.turns[wt.eff].remove(wt)
	if wt.agingIdx >= 0 {
		k.rising[wt.eff].remove(wt)
	}
}

// promote moves the waiters of k that aging has raised by now to their new level's heap.
// Each waiter moves at most three times in all, so the cost is amortized O(log n).
func (q *Queue) promote(k *keyQueue, now time.Time) {
	if q.cfg.Aging <= 0 {
		return
	}
	t := int64(now.Sub(q.epoch))
	for e := range k.rising {
		h := &k.rising[e]
		for h.len() > 0 && h.top().rise <= t {
			wt := h.top()
			q.unplace(k, wt)
			q.place(k, wt, now, Level(e)+1)
		}
	}
}

// best returns k's next waiter in turn: the highest effective level, then the smallest
// fairness tag (weighted fairness between tenants), then first come. It returns nil when
// every waiter of k is held back by the pass that asks.
func (q *Queue) best(k *keyQueue, now time.Time) *waiter {
	q.promote(k, now)
	for e := Critical; e >= Low; e-- {
		if k.turns[e].len() > 0 {
			return k.turns[e].top()
		}
	}
	return nil
}

// busyKey returns the first key of req with a waiter of effective level at least l, or nil.
func (q *Queue) busyKey(req *quota.Request, l Level, now time.Time) *keyQueue {
	for i := range req.Quotas {
		k := q.keys[req.Quotas[i].Key]
		if k == nil {
			continue
		}
		q.promote(k, now)
		for e := l; e <= Critical; e++ {
			if k.turns[e].len() > 0 {
				return k
			}
		}
	}
	return nil
}

// join adds wt to key's waiters and arms the key's refill timer for est, or the recheck
// timer when the wait has no estimate (a lease or a held budget).
func (q *Queue) join(wt *waiter, key string, est time.Duration, now time.Time) {
	k := q.keys[key]
	if k == nil {
		k = newKeyQueue(key)
		q.keys[key] = k
	}
	wt.key = k
	k.n++
	q.place(k, wt, now, Low)
	if est > 0 {
		q.armKey(k, now.Add(est))
	} else if k.timerAt.IsZero() {
		q.armRecheck()
	}
}

// unlink takes wt out of its key, dropping the key when it empties.
func (q *Queue) unlink(wt *waiter) {
	k := wt.key
	if wt.heldBack {
		wt.heldBack = false
	} else {
		q.unplace(k, wt)
	}
	k.n--
	wt.key = nil
	if k.n == 0 {
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

// pass tries k's waiters in turn after k may have gained room. It stops at the second waiter
// refused by k itself (the room is gone), or at the first one that has been bypassed
// maxBypass times. Waiters refused by another key move to that key. The first waiter
// refused by k is held back from k's heaps while the pass looks behind it.
func (q *Queue) pass(k *keyQueue, now time.Time) {
	var blocked *waiter
	var refill time.Time
	for k.n > 0 {
		wt := q.best(k, now)
		if wt == nil {
			break
		}
		res, sts, err := q.store.Reserve(context.Background(), wt.w.Request, wt.w.Statuses)
		if err == nil {
			q.record(wt, wt.w, res, now)
			q.remove(wt)
			wt.ready <- outcome{grant: Grant{Reservation: res, Statuses: sts, Level: wt.level, Waited: now.Sub(wt.start)}}
			if blocked != nil {
				blocked.bypassed++
			}
			continue
		}
		var ex *quota.ExceededError
		if !errors.As(err, &ex) || ex.Permanent() {
			// A budget spent while it waited, or a store failure: waiting cannot help.
			q.remove(wt)
			wt.ready <- outcome{grant: Grant{Statuses: sts}, err: err}
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
		q.unplace(k, wt)
		wt.heldBack = true
	}
	if blocked != nil && blocked.heldBack {
		blocked.heldBack = false
		q.place(k, blocked, now, Low)
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
