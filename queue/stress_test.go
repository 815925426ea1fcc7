package queue

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// TestStress runs many callers over overlapping keys, with cancellations and deadlines in the
// mixed case; every reservation must end settled or released and the queue must end empty.
// With leases and rates only and no deadline short enough to matter, everyone is admitted.
func TestStress(t *testing.T) {
	for _, tc := range []struct {
		name      string
		deadlines bool
		maxWait   time.Duration
	}{
		{"everyone admitted", false, time.Hour},
		{"deadlines", true, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { stress(t, tc.deadlines, tc.maxWait) })
		})
	}
}

func stress(t *testing.T, deadlines bool, maxWait time.Duration) {
	const callers = 400
	q, store := newQueue(t, Config{MaxWait: maxWait, Aging: 500 * time.Millisecond})
	keys := []quota.Quota{pool("p1", 3), pool("p2", 2), perSecond("r1"),
		{Name: "rate", Key: "r2", Unit: quota.Requests, Limit: 20, Window: quota.Rolling(time.Second), Burst: 5}}
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			time.Sleep(time.Duration(i%37) * 50 * time.Millisecond) // fake time: staggered arrivals
			ctx := t.Context()
			if deadlines && i%5 == 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(i%7)*200*time.Millisecond)
				defer cancel()
			}
			r := req(keys[i%4], keys[(i/4)%4])
			if r.Quotas[0].Key == r.Quotas[1].Key {
				r.Quotas = r.Quotas[:1]
			}
			g, err := q.Acquire(ctx, Waiter{Request: r, Priority: i%5 - 1, Tenant: string(rune('a' + i%3))})
			if err != nil {
				if !deadlines || !errors.Is(err, ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Acquire = %v", err)
				}
				return
			}
			time.Sleep(time.Duration(i%3) * 100 * time.Millisecond) // fake time: the call
			if i%2 == 0 {
				_, _ = q.Settle(t.Context(), g.Reservation.ID, r.Amount, nil)
			} else {
				_ = q.Release(t.Context(), g.Reservation.ID)
			}
		})
	}
	wg.Wait()
	s := q.Stats()
	if s.Queued != 0 || store.Open() != 0 || len(q.held) != 0 {
		t.Errorf("after the run: %d queued, %d open, %d held; want none", s.Queued, store.Open(), len(q.held))
	}
	if !deadlines && s.Granted != callers {
		t.Errorf("Stats() = %+v, want all %d granted", s, callers)
	}
	if deadlines && (s.Granted == 0 || s.Timeouts == 0) {
		t.Errorf("Stats() = %+v, want both grants and timeouts", s)
	}
}
