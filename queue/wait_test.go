package queue

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/quota"
)

func TestCancelRemovesWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := newQueue(t, Config{})
		slot := pool("pool", 1)
		mustAcquire(t, q, Waiter{Request: req(slot)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := q.Acquire(ctx, Waiter{Request: req(slot), Tenant: "acme"})
			done <- err
		}()
		synctest.Wait()
		if got := q.Stats(); got.Queued != 1 || got.Tenants["acme"] != 1 || got.Waiting[Normal] != 1 {
			t.Fatalf("Stats() = %+v, want 1 Normal waiter for acme", got)
		}
		cancel()
		synctest.Wait()
		got := q.Stats()
		want := Stats{Tenants: map[string]int{}, Granted: 1, Cancelled: 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Stats() after cancel (-want +got):\n%s", diff)
		}
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Acquire = %v, want context.Canceled", err)
		}
	})
}

// TestDeadlineRefusedAtOnce: when the store's wait estimate passes the deadline, Acquire
// refuses at once with ErrTimeout and a Retry-After, without taking any quota.
func TestDeadlineRefusedAtOnce(t *testing.T) {
	rate := quota.Quota{Name: "rpm", Key: "model", Unit: quota.Requests, Limit: 1, Window: quota.PerMinute()}
	for _, tc := range []struct {
		name       string
		maxWait    time.Duration
		ctxWait    time.Duration
		waiterWait time.Duration // Waiter.MaxWait
	}{
		{"max wait", 10 * time.Second, 0, 0},
		{"ctx deadline", time.Hour, 10 * time.Second, 0},
		{"the waiter's own max wait", time.Hour, 0, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q, store := newQueue(t, Config{MaxWait: tc.maxWait})
				mustAcquire(t, q, Waiter{Request: req(rate)})
				before, _ := store.Status(t.Context(), []quota.Quota{rate}, nil)
				ctx := t.Context()
				if tc.ctxWait > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.ctxWait)
					defer cancel()
				}
				start := time.Now()
				_, err := q.Acquire(ctx, Waiter{Request: req(rate), MaxWait: tc.waiterWait})
				var we *WaitError
				if !errors.Is(err, ErrTimeout) || !errors.As(err, &we) {
					t.Fatalf("Acquire = %v, want *WaitError with ErrTimeout", err)
				}
				if n := strings.Count(err.Error(), "retry after"); n != 1 {
					t.Errorf("Acquire = %q, want it to say once when to retry", err)
				}
				if we.RetryAfter != time.Minute || we.Waited != 0 || time.Since(start) != 0 {
					t.Errorf("RetryAfter %v, Waited %v, took %v; want 1m, 0, 0", we.RetryAfter, we.Waited, time.Since(start))
				}
				if !errors.Is(err, quota.ErrExceeded) {
					t.Errorf("Acquire = %v, want it to unwrap to the quota refusal", err)
				}
				after, _ := store.Status(t.Context(), []quota.Quota{rate}, nil)
				if diff := cmp.Diff(before, after); diff != "" {
					t.Errorf("store status changed (-before +after):\n%s", diff)
				}
				if got := q.Stats(); got.Queued != 0 || got.Timeouts != 1 {
					t.Errorf("Stats() = %+v, want none queued and 1 timeout", got)
				}
			})
		})
	}
}

func TestShed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := newQueue(t, Config{MaxQueued: 2, MaxQueuedAll: 3})
		slot := pool("pool", 1)
		mustAcquire(t, q, Waiter{Request: req(slot)})
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, tenant := range []string{"a", "a", "b"} {
			wg.Go(func() { _, _ = q.Acquire(ctx, Waiter{Request: req(slot), Tenant: tenant}) })
			synctest.Wait()
		}
		for _, tc := range []struct {
			tenant, reason string
		}{{"a", "tenant"}, {"c", "all"}} {
			_, err := q.Acquire(t.Context(), Waiter{Request: req(slot), Tenant: tc.tenant})
			var se *ShedError
			if !errors.Is(err, ErrFull) || !errors.As(err, &se) {
				t.Fatalf("Acquire(%s) = %v, want *ShedError", tc.tenant, err)
			}
			if se.Reason != tc.reason || se.RetryAfter <= 0 {
				t.Errorf("Acquire(%s) = %+v, want reason %q and a positive RetryAfter", tc.tenant, se, tc.reason)
			}
		}
		if got := q.Stats(); got.Shed != 2 || got.Queued != 3 {
			t.Errorf("Stats() = %+v, want 2 shed, 3 queued", got)
		}
		cancel()
		wg.Wait()
	})
}

func TestPermanentRefusals(t *testing.T) {
	budget := quota.Quota{Name: "session", Key: "session", Unit: quota.Requests, Limit: 1, Window: quota.Forever()}
	for _, tc := range []struct {
		name string
		req  *quota.Request
		want error
	}{
		{"budget", req(budget), quota.ErrBudget},
		{"too large", &quota.Request{Quotas: []quota.Quota{perSecond("m")}, Amount: quota.Amount{Requests: 2}}, quota.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q, store := newQueue(t, Config{})
				g := mustAcquire(t, q, Waiter{Request: req(budget)})
				_, _ = q.Settle(t.Context(), g.Reservation.ID, quota.Amount{Requests: 1}, nil)
				start := time.Now()
				_, err := q.Acquire(t.Context(), Waiter{Request: tc.req})
				var ex *quota.ExceededError
				if !errors.Is(err, tc.want) || !errors.As(err, &ex) {
					t.Errorf("Acquire = %v, want %v", err, tc.want)
				}
				if time.Since(start) != 0 || q.Stats().Queued != 0 || store.Open() != 0 {
					t.Errorf("took %v, %d queued, %d open; want an immediate refusal", time.Since(start), q.Stats().Queued, store.Open())
				}
			})
		})
	}
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := newQueue(t, Config{})
		slot := pool("pool", 1)
		mustAcquire(t, q, Waiter{Request: req(slot)})
		done := make(chan error)
		go func() {
			_, err := q.Acquire(t.Context(), Waiter{Request: req(slot)})
			done <- err
		}()
		synctest.Wait()
		if err := q.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Errorf("waiting Acquire = %v, want ErrClosed", err)
		}
		if _, err := q.Acquire(t.Context(), Waiter{Request: req(slot)}); !errors.Is(err, ErrClosed) {
			t.Errorf("Acquire after Close = %v, want ErrClosed", err)
		}
		if got := q.Stats().Queued; got != 0 {
			t.Errorf("Stats().Queued = %d, want 0", got)
		}
	})
}

// TestNestedAgentDeadlock is the classic: an agent holding the only slot of a pool calls
// another agent that needs a slot of the same pool. The inner call cannot be admitted until
// the outer one finishes, which waits for the inner one: it must fail with ErrTimeout at its
// deadline, not hang. With a pool per call depth, as the package doc advises, it succeeds.
func TestNestedAgentDeadlock(t *testing.T) {
	const maxWait = 5 * time.Second
	for _, tc := range []struct {
		name     string
		innerKey string
		ctxWait  time.Duration
		wantErr  error
	}{
		{"same pool, max wait", "agents", 0, ErrTimeout},
		{"same pool, ctx deadline", "agents", 2 * time.Second, ErrTimeout},
		{"pool per depth", "agents/depth=1", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q, store := newQueue(t, Config{MaxWait: maxWait})
				outer := mustAcquire(t, q, Waiter{Request: req(pool("agents", 1))})
				ctx := t.Context()
				wantWait := maxWait
				if tc.ctxWait > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.ctxWait)
					defer cancel()
					wantWait = tc.ctxWait
				}
				start := time.Now()
				inner, err := q.Acquire(ctx, Waiter{Request: req(pool(tc.innerKey, 1))})
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("inner Acquire = %v, want %v", err, tc.wantErr)
				}
				if tc.ctxWait > 0 && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("inner Acquire = %v, want it to unwrap to context.DeadlineExceeded", err)
				}
				if err != nil {
					if got := time.Since(start); got != wantWait {
						t.Errorf("inner gave up after %v, want %v", got, wantWait)
					}
				} else {
					_, _ = q.Settle(t.Context(), inner.Reservation.ID, quota.Amount{}, nil)
				}
				_, _ = q.Settle(t.Context(), outer.Reservation.ID, quota.Amount{}, nil)
				if n := store.Open(); n != 0 {
					t.Errorf("store.Open() = %d, want 0", n)
				}
			})
		})
	}
}

// TestRecheck: with a store shared with other processes, room freed elsewhere (here: settled
// on the store directly) is found by the recheck timer.
func TestRecheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, store := newQueue(t, Config{Recheck: 500 * time.Millisecond})
		slot := pool("pool", 1)
		res, _, err := store.Reserve(t.Context(), req(slot), nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan Grant)
		go func() {
			g, err := q.Acquire(t.Context(), Waiter{Request: req(slot)})
			if err != nil {
				t.Errorf("Acquire = %v", err)
			}
			done <- g
		}()
		time.Sleep(700 * time.Millisecond) // fake time: the other process works for 700ms
		_ = store.Release(t.Context(), res.ID)
		if g := <-done; g.Waited != time.Second {
			t.Errorf("waited %v, want 1s (the second recheck)", g.Waited)
		}
	})
}
