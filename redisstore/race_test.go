package redisstore

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// TestConcurrentBudget races 64 goroutines, as two replicas (two Stores, two clients) on one
// Redis, to spend one budget: the settled total never exceeds it and at least 95% is used.
func TestConcurrentBudget(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const limit = 1_000_000
	var stores [2]*Store
	for i := range stores {
		stores[i], _, _ = newStore(t, srv, Config{SlotGroup: "race", Timeout: 10 * time.Second})
	}
	q := budget("race", limit)
	conc := leaseQ("race-conc", 48)
	var spent atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		s := stores[g%2]
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 9))
			for {
				worst := 500 + rnd.Int64N(4500)
				r, _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{conc, q}, Amount: quota.Amount{Requests: 1, MicroUSD: worst}}, nil)
				switch {
				case errors.Is(err, quota.ErrBudget):
					return
				case errors.Is(err, quota.ErrExceeded):
					runtime.Gosched()
					continue
				case err != nil:
					errs <- err
					return
				}
				actual := worst/2 + rnd.Int64N(worst/2+1)
				if _, err := s.Settle(ctx, r.ID, quota.Amount{Requests: 1, MicroUSD: actual}, nil); err != nil {
					errs <- err
					return
				}
				spent.Add(actual)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := status(t, stores[0], q)
	if st.Used != spent.Load() || st.Held != 0 {
		t.Errorf("Used, Held = %d, %d; sum of settles = %d, want equal and 0 held", st.Used, st.Held, spent.Load())
	}
	if st.Used > limit {
		t.Errorf("spent %d > budget %d", st.Used, limit)
	}
	if st.Used < limit*95/100 {
		t.Errorf("spent %d, want at least 95%% of %d", st.Used, limit)
	}
	if c := status(t, stores[1], conc); c.Used != 0 {
		t.Errorf("%d leases still held after every call settled", c.Used)
	}
	t.Logf("64 goroutines on 2 stores spent %d of %d (%.2f%%)", st.Used, limit, 100*float64(st.Used)/limit)
}
