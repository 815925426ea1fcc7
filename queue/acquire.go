package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// waiter is one blocked Acquire.
type waiter struct {
	w      Waiter
	level  Level
	tenant *tenant
	seq    uint64
	// tag is its turn among its tenants' waiters: the tenant's virtual start time when it
	// arrived (start-time fair queuing), fixed for its whole wait.
	tag      float64
	start    time.Time
	deadline time.Time
	key      *keyQueue // the key it waits on; nil once it has left the queue
	eff      Level     // its effective level in key's heaps
	rise     int64     // when aging raises it a level, ns since the queue's epoch
	turnIdx  int       // its index in key.turns[eff]
	agingIdx int       // its index in key.rising[eff], -1 when in none
	heldBack bool      // out of key's heaps while a pass looks behind it
	bypassed int       // grants on its key to waiters behind it while it did not fit
	lastErr  *quota.ExceededError
	ready    chan outcome // buffered: the queue never blocks handing over a result
}

type outcome struct {
	grant Grant
	err   error
}

func quotaErr(e *quota.ExceededError) error {
	if e == nil {
		return nil
	}
	return e
}

// Acquire admits w: it reserves w.Request in the store, waiting in the queue while the store
// refuses with quota.ErrExceeded. It returns permanent refusals (quota.ErrBudget,
// quota.ErrTooLarge) and other store errors unchanged and at once; a *ShedError (ErrFull)
// when too many are waiting; a *WaitError (ErrTimeout) when the deadline — the earlier of
// ctx's and now+Config.MaxWait — comes first or the store's wait estimate already passes it;
// and ctx's error, wrapped, when ctx is cancelled. On success the caller must settle or
// release Grant.Reservation through q.
//
// Grant.Statuses is the store's answer to the reserve that decided: the quotas' state after
// the reservation, or, alongside a permanent refusal, the state that refused it (the only
// field of Grant then set), from which a caller can clamp or downgrade its request.
func (q *Queue) Acquire(ctx context.Context, w Waiter) (Grant, error) {
	if w.Request == nil {
		return Grant{}, errors.New("queue: acquire: nil request")
	}
	if err := ctx.Err(); err != nil {
		return Grant{}, fmt.Errorf("queue: acquire: %w", err)
	}
	if q.closing.Load() {
		return Grant{}, fmt.Errorf("queue: acquire: %w", ErrClosed)
	}
	level := LevelOf(w.Priority)

	if q.queued.Load() > 0 {
		now := time.Now()
		q.mu.Lock()
		if k := q.busyKey(w.Request, level, now); k != nil {
			// Waiters of this level or higher were here first: queue behind them without
			// touching the store, whose free room is theirs.
			wt := newWaiter(ctx, q.cfg.MaxWait, w, level, now)
			var est time.Duration
			if !k.timerAt.IsZero() {
				est = k.timerAt.Sub(now)
			}
			if err := q.enqueue(wt, k.key, est, now); err != nil {
				q.mu.Unlock()
				return Grant{}, err
			}
			q.mu.Unlock()
			return q.wait(ctx, wt)
		}
		q.mu.Unlock()
	}

	frees := q.frees.Load()
	res, sts, err := q.store.Reserve(ctx, w.Request, w.Statuses)
	if err == nil {
		// The uncontended path reads no clock: on some machines a clock read costs as much as
		// the rest of the queue's work.
		q.mu.Lock()
		q.record(nil, w, res, time.Time{})
		q.mu.Unlock()
		return Grant{Reservation: res, Statuses: sts, Level: level}, nil
	}
	var ex *quota.ExceededError
	if !errors.As(err, &ex) || ex.Permanent() {
		return Grant{Statuses: sts}, err
	}
	now := time.Now()
	wt := newWaiter(ctx, q.cfg.MaxWait, w, level, now)
	wt.lastErr = ex
	q.mu.Lock()
	if err := q.enqueue(wt, ex.Quota.Key, ex.RetryAfter, now); err != nil {
		q.mu.Unlock()
		return Grant{}, err
	}
	if q.frees.Load() != frees {
		// Capacity was freed after the store refused us and before we were queued, and its
		// wake-up did not see us: try the key now.
		q.pass(wt.key, now)
	}
	q.mu.Unlock()
	return q.wait(ctx, wt)
}

// newWaiter makes the waiter for w, whose deadline is the earlier of ctx's and now+maxWait
// (w.MaxWait when shorter).
func newWaiter(ctx context.Context, maxWait time.Duration, w Waiter, level Level, now time.Time) *waiter {
	if w.MaxWait > 0 && w.MaxWait < maxWait {
		maxWait = w.MaxWait
	}
	deadline := now.Add(maxWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return &waiter{w: w, level: level, start: now, deadline: deadline, turnIdx: -1, agingIdx: -1}
}

// enqueue adds wt to key's list, or refuses it at once: ErrClosed, ErrTimeout when est (the
// store's wait estimate, 0 if unknown) passes its deadline, ErrFull when too many wait.
func (q *Queue) enqueue(wt *waiter, key string, est time.Duration, now time.Time) error {
	if q.closed {
		return fmt.Errorf("queue: acquire: %w", ErrClosed)
	}
	if est > 0 && now.Add(est).After(wt.deadline) {
		q.timeouts++
		return &WaitError{Err: ErrTimeout, Quota: quotaErr(wt.lastErr), RetryAfter: est}
	}
	t := q.tenants[wt.w.Tenant]
	switch {
	case t != nil && t.waiting >= q.cfg.MaxQueued:
		q.shed++
		return &ShedError{Reason: "tenant", Tenant: wt.w.Tenant, RetryAfter: q.estimate(q.keys[key], est, now)}
	case q.total >= q.cfg.MaxQueuedAll:
		q.shed++
		return &ShedError{Reason: "all", Tenant: wt.w.Tenant, RetryAfter: q.estimate(q.keys[key], est, now)}
	}
	if t == nil {
		weight := 1
		if w, ok := q.cfg.Weights[wt.w.Tenant]; ok {
			weight = w
		}
		// A tenant that was idle starts at the current virtual time: idleness earns no credit.
		t = &tenant{name: wt.w.Tenant, weight: float64(weight), next: q.vclock}
		q.tenants[wt.w.Tenant] = t
	}
	wt.tenant = t
	t.waiting++
	// Start-time fair queuing: each waiter's turn is fixed when it arrives, its tenant's
	// turns spaced 1/weight apart and never behind the virtual time, so turn order is the
	// weighted interleaving of the tenants' queues and a heap can keep it.
	wt.tag = max(t.next, q.vclock)
	t.next = wt.tag + 1/t.weight
	q.seq++
	wt.seq = q.seq
	wt.ready = make(chan outcome, 1)
	q.waiting[wt.level]++
	q.total++
	q.queued.Add(1)
	q.join(wt, key, est, now)
	return nil
}

// estimate is a Retry-After hint: the store's estimate, else the key's next refill, else the
// recent average wait, else one second.
func (q *Queue) estimate(k *keyQueue, est time.Duration, now time.Time) time.Duration {
	switch {
	case est > 0:
		return est
	case k != nil && !k.timerAt.IsZero() && k.timerAt.After(now):
		return k.timerAt.Sub(now)
	case q.avgWait > 0:
		return q.avgWait
	}
	return time.Second
}

// wait blocks until wt is granted or refused, ctx is done or its deadline passes.
func (q *Queue) wait(ctx context.Context, wt *waiter) (Grant, error) {
	// When ctx's deadline is the earlier one, ctx.Done alone ends the wait, so that the
	// error reliably carries context.DeadlineExceeded.
	var expired <-chan time.Time
	if d, ok := ctx.Deadline(); !ok || wt.deadline.Before(d) {
		timer := time.NewTimer(time.Until(wt.deadline))
		defer timer.Stop()
		expired = timer.C
	}
	var cause error
	select {
	case o := <-wt.ready:
		return o.grant, o.err
	case <-ctx.Done():
		cause = ctx.Err()
	case <-expired:
	}
	q.mu.Lock()
	if wt.key != nil {
		now := time.Now()
		k := wt.key
		q.remove(wt)
		if q.keys[k.key] == k && !q.closed {
			// The waiters left behind may have been queued behind this one without trying
			// the store, or held back by it (maxBypass): give them their chance.
			q.pass(k, now)
		}
		var err error
		if cause == nil || errors.Is(cause, context.DeadlineExceeded) {
			q.timeouts++
			err = &WaitError{Err: ErrTimeout, Quota: quotaErr(wt.lastErr), Waited: now.Sub(wt.start),
				RetryAfter: q.estimate(k, 0, now), ctxErr: cause}
		} else {
			q.cancelled++
			err = fmt.Errorf("queue: acquire: %w", cause)
		}
		q.mu.Unlock()
		return Grant{}, err
	}
	q.mu.Unlock()
	// The queue decided at the same instant; its outcome is (or is about to be) in ready.
	o := <-wt.ready
	if o.err != nil || cause == nil {
		return o.grant, o.err
	}
	// Granted, but the caller has gone: give the room back to the next waiter.
	_ = q.Release(context.WithoutCancel(ctx), o.grant.Reservation.ID)
	q.mu.Lock()
	q.cancelled++
	q.mu.Unlock()
	return Grant{}, fmt.Errorf("queue: acquire: %w", cause)
}

// record books a grant: the reservation's keys for the wake-up at settle, fairness, counters.
// wt is the waiter for a grant after waiting, nil for one at once; now may be zero then.
func (q *Queue) record(wt *waiter, w Waiter, res quota.Reservation, now time.Time) {
	q.grants++
	q.held[res.ID] = heldRes{quotas: w.Request.Quotas, expires: res.ExpiresAt}
	if q.grants&1023 == 0 {
		// Reservations that expired in the store without being settled would otherwise stay
		// here forever.
		if now.IsZero() {
			now = time.Now()
		}
		for id, h := range q.held {
			if !h.expires.IsZero() && h.expires.Before(now) {
				delete(q.held, id)
			}
		}
	}
	if wt != nil {
		q.avgWait += (now.Sub(wt.start) - q.avgWait) / 8
		q.vclock = max(q.vclock, wt.tag)
	} else if t := q.tenants[w.Tenant]; t != nil {
		// A tenant admitted at once on one key while it waits on another has had a turn.
		t.next = max(t.next, q.vclock) + 1/t.weight
	}
}

// Settle settles a reservation in the store, then wakes the waiters on its keys. It
// appends to dst the store's statuses of the reservation's quotas after settling (see
// quota.Store.Settle).
func (q *Queue) Settle(ctx context.Context, id quota.ID, actual quota.Amount, dst []quota.Status) ([]quota.Status, error) {
	dst, err := q.store.Settle(ctx, id, actual, dst)
	q.freed(id)
	return dst, err
}

// Release releases a reservation in the store, then wakes the waiters on its keys.
func (q *Queue) Release(ctx context.Context, id quota.ID) error {
	err := q.store.Release(ctx, id)
	q.freed(id)
	return err
}

func (q *Queue) freed(id quota.ID) {
	q.frees.Add(1)
	q.mu.Lock()
	defer q.mu.Unlock()
	h, ok := q.held[id]
	if !ok {
		return
	}
	delete(q.held, id)
	if q.closed {
		return
	}
	now := time.Now()
	for i := range h.quotas {
		if k := q.keys[h.quotas[i].Key]; k != nil {
			q.pass(k, now)
		}
	}
}
