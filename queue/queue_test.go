package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/quota"
)

func pool(key string, n int64) quota.Quota {
	return quota.Quota{Name: "pool", Key: key, Unit: quota.Concurrent, Limit: n, Window: quota.Leased()}
}

// perSecond is a rate of one request a second with no burst beyond one.
func perSecond(key string) quota.Quota {
	return quota.Quota{Name: "rps", Key: key, Unit: quota.Requests, Limit: 1, Window: quota.Rolling(time.Second)}
}

func req(qs ...quota.Quota) *quota.Request {
	return &quota.Request{Quotas: qs, Amount: quota.Amount{Requests: 1}}
}

func newQueue(t testing.TB, cfg Config) (*Queue, *quota.MemoryStore) {
	t.Helper()
	store := quota.NewMemoryStore(quota.MemoryConfig{})
	q, err := New(store, cfg)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q, store
}

// mustAcquire acquires at once or fails the test.
func mustAcquire(t *testing.T, q *Queue, w Waiter) Grant {
	t.Helper()
	g, err := q.Acquire(t.Context(), w)
	if err != nil {
		t.Fatalf("Acquire(%v) = %v", w.Request.Quotas[0].Key, err)
	}
	return g
}

// recorder collects grant order.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.got = append(r.got, s)
	r.mu.Unlock()
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func TestLevelOf(t *testing.T) {
	for _, tc := range []struct {
		p    int
		want Level
	}{{5, Critical}, {3, Critical}, {2, High}, {1, Normal}, {0, Normal}, {-1, Low}, {-9, Low}} {
		if got := LevelOf(tc.p); got != tc.want {
			t.Errorf("LevelOf(%d) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := Critical.String(); got != "critical" {
		t.Errorf("Critical.String() = %q, want critical", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"negative wait", Config{MaxWait: -1}, false},
		{"negative queued", Config{MaxQueued: -1}, false},
		{"negative all", Config{MaxQueuedAll: -1}, false},
		{"negative recheck", Config{Recheck: -1}, false},
		{"zero weight", Config{Weights: map[string]int{"a": 0}}, false},
		{"aging off", Config{Aging: -1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestPriorityOrder holds the only slot of a pool, queues waiters of mixed levels, then frees
// the slot: they must be admitted by level, first come first within a level.
func TestPriorityOrder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		priorities []int
		want       []string
	}{
		{"mixed levels", []int{0, -1, 3, 2, 0, 3, -1, 2, 1, 0},
			[]string{"w2", "w5", "w3", "w7", "w0", "w4", "w8", "w9", "w1", "w6"}},
		{"fifo within a level", []int{1, 1, 1, 1, 1},
			[]string{"w0", "w1", "w2", "w3", "w4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q, _ := newQueue(t, Config{Aging: time.Hour})
				slot := pool("pool", 1)
				holder := mustAcquire(t, q, Waiter{Request: req(slot)})
				var rec recorder
				var wg sync.WaitGroup
				for i, p := range tc.priorities {
					name := fmt.Sprintf("w%d", i)
					wg.Go(func() {
						g, err := q.Acquire(t.Context(), Waiter{Request: req(slot), Priority: p})
						if err != nil {
							t.Errorf("Acquire(%s) = %v", name, err)
							return
						}
						rec.add(name)
						if err := q.Release(t.Context(), g.Reservation.ID); err != nil {
							t.Errorf("Release(%s) = %v", name, err)
						}
					})
					synctest.Wait() // queued in this order
				}
				if got := q.Stats().Queued; got != len(tc.priorities) {
					t.Fatalf("Stats().Queued = %d, want %d", got, len(tc.priorities))
				}
				if err := q.Release(t.Context(), holder.Reservation.ID); err != nil {
					t.Fatal(err)
				}
				wg.Wait()
				if diff := cmp.Diff(tc.want, rec.list()); diff != "" {
					t.Errorf("grant order (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestAgingBound: a Low waiter under a sustained stream of Critical arrivals, more than the
// rate admits, is admitted within 3 levels x Aging plus one refill.
func TestAgingBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const aging = 2 * time.Second
		const refill = time.Second
		q, _ := newQueue(t, Config{Aging: aging, MaxWait: time.Hour})
		rate := perSecond("model")
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		critical := func() {
			wg.Go(func() {
				g, err := q.Acquire(ctx, Waiter{Request: req(rate), Priority: 3})
				if err == nil {
					_, _ = q.Settle(ctx, g.Reservation.ID, quota.Amount{Requests: 1}, nil)
				}
			})
		}
		critical()
		synctest.Wait()
		lowDone := make(chan Grant, 1)
		wg.Go(func() {
			g, err := q.Acquire(t.Context(), Waiter{Request: req(rate), Priority: -1})
			if err != nil {
				t.Errorf("Acquire(low) = %v", err)
			}
			lowDone <- g
		})
		synctest.Wait()
		// Two Critical arrivals per refill: the rate can never catch up.
		wg.Go(func() {
			tick := time.NewTicker(refill / 2)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					critical()
				}
			}
		})
		g := <-lowDone
		bound := 3*aging + refill
		if g.Waited > bound {
			t.Errorf("low waited %v, want at most %v", g.Waited, bound)
		}
		if g.Waited < 3*aging {
			t.Errorf("low waited %v, want at least %v (the Critical stream goes first until it has aged)", g.Waited, 3*aging)
		}
		cancel()
		wg.Wait()
	})
}

// TestNoHeadOfLineBlocking: waiters on a full pool for model A do not delay requests for
// model B, whether admitted at once or after B's own refill.
func TestNoHeadOfLineBlocking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := newQueue(t, Config{})
		a, b := pool("model-a", 1), perSecond("model-b")
		holder := mustAcquire(t, q, Waiter{Request: req(a)})
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := q.Acquire(t.Context(), Waiter{Request: req(a), Priority: 3}); !errors.Is(err, ErrClosed) {
				t.Errorf("Acquire(a) = %v, want ErrClosed", err)
			}
		})
		synctest.Wait()
		if g := mustAcquire(t, q, Waiter{Request: req(b), Priority: -1}); g.Waited != 0 {
			t.Errorf("first b waited %v, want 0", g.Waited)
		}
		g := mustAcquire(t, q, Waiter{Request: req(b), Priority: -1})
		if g.Waited != time.Second {
			t.Errorf("second b waited %v, want 1s (its own refill)", g.Waited)
		}
		_ = holder
		_ = q.Close()
		wg.Wait()
	})
}

// TestRefillTimer: waiters on a rate are admitted at each refill, by one timer on the key.
func TestRefillTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := newQueue(t, Config{})
		rate := perSecond("model")
		start := time.Now()
		mustAcquire(t, q, Waiter{Request: req(rate)})
		var wg sync.WaitGroup
		var rec recorder
		for i := range 3 {
			wg.Go(func() {
				g, err := q.Acquire(t.Context(), Waiter{Request: req(rate)})
				if err != nil {
					t.Errorf("Acquire = %v", err)
					return
				}
				rec.add(fmt.Sprintf("w%d at %v waited %v", i, time.Since(start), g.Waited))
			})
			synctest.Wait()
		}
		q.mu.Lock()
		keys, k := len(q.keys), q.keys["model"]
		if keys != 1 || k == nil || !k.timerAt.Equal(start.Add(time.Second)) {
			t.Errorf("keys = %d, timer at %v; want 1 key with its timer at %v", keys, k.timerAt.Sub(start), time.Second)
		}
		q.mu.Unlock()
		wg.Wait()
		want := []string{"w0 at 1s waited 1s", "w1 at 2s waited 2s", "w2 at 3s waited 3s"}
		if diff := cmp.Diff(want, rec.list()); diff != "" {
			t.Errorf("grants (-want +got):\n%s", diff)
		}
	})
}

// TestWeightedFairness: two tenants of weights 3 and 1 flooding one key share it 3:1, also
// once every waiter has aged to Critical.
func TestWeightedFairness(t *testing.T) {
	for _, tc := range []struct {
		name  string
		aging time.Duration
		wait  time.Duration // before the key frees
	}{
		{"one level", -1, 0},
		{"all aged to critical", time.Second, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q, _ := newQueue(t, Config{Weights: map[string]int{"big": 3}, Aging: tc.aging, MaxWait: time.Hour})
				slot := pool("pool", 1)
				holder := mustAcquire(t, q, Waiter{Request: req(slot)})
				var rec recorder
				var wg sync.WaitGroup
				for i := range 80 {
					tenant := "big"
					if i%2 == 1 {
						tenant = "small"
					}
					wg.Go(func() {
						g, err := q.Acquire(t.Context(), Waiter{Request: req(slot), Tenant: tenant, Priority: -1})
						if err != nil {
							t.Errorf("Acquire = %v", err)
							return
						}
						rec.add(tenant)
						_ = q.Release(t.Context(), g.Reservation.ID)
					})
				}
				synctest.Wait()
				time.Sleep(tc.wait) // fake time
				_ = q.Release(t.Context(), holder.Reservation.ID)
				wg.Wait()
				got := map[string]int{}
				for _, tenant := range rec.list()[:40] {
					got[tenant]++
				}
				if want := map[string]int{"big": 30, "small": 10}; !cmp.Equal(got, want) {
					t.Errorf("first 40 grants by tenant = %v, want %v", got, want)
				}
			})
		})
	}
}

// TestMovesToRefusingKey: a waiter woken on one key that is then refused by another waits in
// that key's list and is admitted when that key frees.
func TestMovesToRefusingKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := newQueue(t, Config{})
		a, b := pool("a", 1), pool("b", 1)
		ga := mustAcquire(t, q, Waiter{Request: req(a)})
		gb := mustAcquire(t, q, Waiter{Request: req(b)})
		done := make(chan Grant)
		go func() {
			g, err := q.Acquire(t.Context(), Waiter{Request: req(a, b)})
			if err != nil {
				t.Errorf("Acquire = %v", err)
			}
			done <- g
		}()
		synctest.Wait()
		_ = q.Release(t.Context(), ga.Reservation.ID)
		synctest.Wait()
		q.mu.Lock()
		_, inA := q.keys["a"]
		_, inB := q.keys["b"]
		q.mu.Unlock()
		if inA || !inB {
			t.Errorf("waiting in a: %v, in b: %v; want only b", inA, inB)
		}
		time.Sleep(time.Second)
		_ = q.Release(t.Context(), gb.Reservation.ID)
		if g := <-done; g.Waited != time.Second {
			t.Errorf("waited %v, want 1s", g.Waited)
		}
	})
}

// TestBypassBound: a waiter too large for the room a wake-up finds lets smaller ones behind it
// through, but at most maxBypass times; then the key waits for it.
func TestBypassBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := newQueue(t, Config{})
		held := quota.Quota{Name: "tokens", Key: "tokens", Unit: quota.InputTokens, Limit: 10, Window: quota.Forever()}
		tokens := func(n int64) *quota.Request {
			return &quota.Request{Quotas: []quota.Quota{held}, Amount: quota.Amount{InputTokens: n}}
		}
		var holders []quota.ID
		for range 10 {
			holders = append(holders, mustAcquire(t, q, Waiter{Request: tokens(1)}).Reservation.ID)
		}
		var rec recorder
		var wg sync.WaitGroup
		for i, n := range []int64{6, 1, 1, 1, 1, 1, 1} {
			name := fmt.Sprintf("w%d(%d)", i, n)
			wg.Go(func() {
				_, err := q.Acquire(t.Context(), Waiter{Request: tokens(n)})
				if errors.Is(err, ErrClosed) {
					return // the ones left when the test ends
				}
				if err != nil {
					t.Errorf("Acquire(%s) = %v", name, err)
					return
				}
				rec.add(name) // kept: the room stays held
			})
			synctest.Wait()
		}
		for _, id := range holders {
			_ = q.Release(t.Context(), id)
			synctest.Wait()
		}
		want := []string{"w1(1)", "w2(1)", "w3(1)", "w4(1)", "w0(6)"}
		if diff := cmp.Diff(want, rec.list()); diff != "" {
			t.Errorf("grant order (-want +got):\n%s", diff)
		}
		_ = q.Close()
		wg.Wait()
	})
}

// TestNewcomersQueueBehind: a newcomer does not take room that waiters of its level or higher
// are waiting for, even when the store would grant it; a newcomer of a higher level does.
func TestNewcomersQueueBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, store := newQueue(t, Config{})
		slot := pool("pool", 1)
		res, _, err := store.Reserve(t.Context(), req(slot), nil) // held by another process
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 2 { // the first is refused by the store, the second queues behind it
			wg.Go(func() {
				if _, err := q.Acquire(t.Context(), Waiter{Request: req(slot), Priority: 1}); !errors.Is(err, ErrClosed) {
					t.Errorf("Normal Acquire = %v, want ErrClosed", err)
				}
			})
			synctest.Wait()
		}
		_ = store.Release(t.Context(), res.ID) // freed where the queue cannot see it
		wg.Go(func() {
			if _, err := q.Acquire(t.Context(), Waiter{Request: req(slot), Priority: 0}); !errors.Is(err, ErrClosed) {
				t.Errorf("newcomer Acquire = %v, want ErrClosed", err)
			}
		})
		synctest.Wait()
		if got := q.Stats().Queued; got != 3 {
			t.Errorf("Stats().Queued = %d, want 3 (the newcomer behind the two)", got)
		}
		g, err := q.Acquire(t.Context(), Waiter{Request: req(slot), Priority: 2})
		if err != nil || g.Waited != 0 {
			t.Errorf("High Acquire = %+v, %v; want admitted at once", g, err)
		}
		_ = q.Close()
		wg.Wait()
	})
}

// TestSettleRefundWakes: settling a rate reservation below its worst case refunds the
// difference, and the waiters on that key are admitted at once, not at the next refill.
func TestSettleRefundWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := newQueue(t, Config{})
		tpm := quota.Quota{Name: "tpm", Key: "tpm", Unit: quota.Tokens, Limit: 60, Window: quota.PerMinute()}
		tokens := func(n int64) *quota.Request {
			return &quota.Request{Quotas: []quota.Quota{tpm}, Amount: quota.Amount{OutputTokens: n}}
		}
		first := mustAcquire(t, q, Waiter{Request: tokens(60)})
		done := make(chan Grant)
		go func() {
			g, err := q.Acquire(t.Context(), Waiter{Request: tokens(30)})
			if err != nil {
				t.Errorf("Acquire = %v", err)
			}
			done <- g
		}()
		synctest.Wait()
		time.Sleep(time.Second) // fake time: the first call runs for a second
		if _, err := q.Settle(t.Context(), first.Reservation.ID, quota.Amount{OutputTokens: 10}, nil); err != nil {
			t.Fatal(err)
		}
		if g := <-done; g.Waited != time.Second {
			t.Errorf("waited %v, want 1s (admitted at the settle, not at the refill after 30s)", g.Waited)
		}
	})
}

// TestGrantCarriesStatuses: Acquire answers with the store's statuses, after waiting too,
// and alongside a permanent refusal; Settle answers with the state after settling.
func TestGrantCarriesStatuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := newQueue(t, Config{})
		usd := quota.Quota{Name: "usd", Key: "usd", Unit: quota.MicroUSD, Limit: 100, Window: quota.Forever()}
		slot := pool("pool", 1)
		spend := func(n int64) *quota.Request {
			return &quota.Request{Quotas: []quota.Quota{slot, usd}, Amount: quota.Amount{MicroUSD: n}}
		}
		first, err := q.Acquire(t.Context(), Waiter{Request: spend(60)})
		if err != nil {
			t.Fatal(err)
		}
		if got := first.Statuses; len(got) != 2 || got[0].Used != 1 || got[1].Used != 60 || got[1].Held != 60 {
			t.Errorf("first grant's statuses = %+v, want the slot taken and 60 held", got)
		}
		done := make(chan Grant)
		go func() {
			buf := make([]quota.Status, 0, 2)
			g, err := q.Acquire(t.Context(), Waiter{Request: spend(30), Statuses: buf})
			if err != nil {
				t.Errorf("second Acquire = %v", err)
			}
			done <- g
		}()
		synctest.Wait()
		sts, err := q.Settle(t.Context(), first.Reservation.ID, quota.Amount{MicroUSD: 50}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(sts) != 2 || sts[0].Used != 0 || sts[1].Used != 50 || sts[1].Held != 0 {
			t.Errorf("settle's statuses = %+v, want the slot back and 50 used", sts)
		}
		second := <-done
		if got := second.Statuses; len(got) != 2 || got[1].Used != 80 || got[1].Held != 30 {
			t.Errorf("second grant's statuses = %+v, want 80 used of which 30 held", got)
		}
		if _, err := q.Settle(t.Context(), second.Reservation.ID, quota.Amount{MicroUSD: 30}, nil); err != nil {
			t.Fatal(err)
		}
		g, err := q.Acquire(t.Context(), Waiter{Request: spend(30)})
		if !errors.Is(err, quota.ErrBudget) {
			t.Fatalf("third Acquire = %v, want ErrBudget", err)
		}
		if len(g.Statuses) != 2 || g.Statuses[1].Used != 80 || g.Statuses[1].Remaining != 20 {
			t.Errorf("refusal's statuses = %+v, want 80 used, 20 remaining", g.Statuses)
		}
	})
}
