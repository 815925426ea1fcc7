// Package quotatest is the conformance suite every quota.Store must pass: the memory store
// and the Redis store run the same cases. The cases use windows long enough that the
// store's own clock (the Redis server's TIME) cannot change their outcome.
package quotatest

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// NewStore returns a fresh, empty store for one test case; prefix makes its keys unique.
type NewStore func(t *testing.T) quota.Store

// Run runs the suite against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	t.Run("AllOrNothing", func(t *testing.T) { allOrNothing(t, newStore(t)) })
	t.Run("SettleRefundsAndCharges", func(t *testing.T) { settle(t, newStore(t)) })
	t.Run("SettleExactlyOnce", func(t *testing.T) { exactlyOnce(t, newStore(t)) })
	t.Run("ReleaseReturnsEverything", func(t *testing.T) { release(t, newStore(t)) })
	t.Run("Lease", func(t *testing.T) { lease(t, newStore(t)) })
	t.Run("TooLarge", func(t *testing.T) { tooLarge(t, newStore(t)) })
	t.Run("RefusalNamesQuota", func(t *testing.T) { refusalNamesQuota(t, newStore(t)) })
	t.Run("ConcurrentBudget", func(t *testing.T) { concurrentBudget(t, newStore(t), 1000) })
}

var ctx = context.Background()

func budget(key string, limit int64) quota.Quota {
	return quota.Quota{Name: key, Key: key, Unit: quota.MicroUSD, Limit: limit, Window: quota.Forever()}
}

func used(t *testing.T, s quota.Store, q quota.Quota) int64 {
	t.Helper()
	st, err := s.Status(ctx, []quota.Quota{q}, nil)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return st[0].Used
}

func allOrNothing(t *testing.T, s quota.Store) {
	a, b := budget("a", 100), budget("b", 50)
	rpm := quota.Quota{Name: "rpm", Key: "rpm", Unit: quota.Requests, Limit: 10, Window: quota.Rolling(time.Hour)}
	if _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{a, rpm, b}, Amount: quota.Amount{Requests: 1, MicroUSD: 60}}); !errors.Is(err, quota.ErrTooLarge) {
		t.Fatalf("Reserve(60 against b=50) = %v, want ErrTooLarge", err)
	}
	if got := used(t, s, a); got != 0 {
		t.Errorf("after refusal, a.Used = %d, want 0 (nothing reserved)", got)
	}
	st, _ := s.Status(ctx, []quota.Quota{rpm}, nil)
	if st[0].Used != 0 {
		t.Errorf("after refusal, rpm.Used = %d, want 0", st[0].Used)
	}
	if _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{a, rpm, b}, Amount: quota.Amount{Requests: 1, MicroUSD: 40}}); err != nil {
		t.Fatalf("Reserve(40) = %v", err)
	}
	if got := used(t, s, a); got != 40 {
		t.Errorf("a.Used = %d, want 40", got)
	}
}

func settle(t *testing.T, s quota.Store) {
	q := budget("s", 1000)
	r, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 500}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, r.ID, quota.Amount{MicroUSD: 120}); err != nil {
		t.Fatal(err)
	}
	if got := used(t, s, q); got != 120 {
		t.Errorf("after settling 120 of 500, Used = %d, want 120", got)
	}
	r, err = s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, r.ID, quota.Amount{MicroUSD: 30}); err != nil {
		t.Fatal(err)
	}
	if got := used(t, s, q); got != 150 {
		t.Errorf("after settling 30 of 10, Used = %d, want 150", got)
	}
}

func exactlyOnce(t *testing.T, s quota.Store) {
	q := budget("once", 1000)
	r, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, r.ID, quota.Amount{MicroUSD: 100}); err != nil {
		t.Fatal(err)
	}
	for _, op := range []func() error{
		func() error { return s.Settle(ctx, r.ID, quota.Amount{MicroUSD: 100}) },
		func() error { return s.Release(ctx, r.ID) },
	} {
		if err := op(); !errors.Is(err, quota.ErrUnknownReservation) {
			t.Errorf("second settle/release = %v, want ErrUnknownReservation", err)
		}
	}
	if got := used(t, s, q); got != 100 {
		t.Errorf("Used = %d, want 100 (charged once)", got)
	}
}

func release(t *testing.T, s quota.Store) {
	q := budget("rel", 100)
	rpm := quota.Quota{Name: "rpm", Key: "rel-rpm", Unit: quota.Requests, Limit: 1, Window: quota.Rolling(time.Hour)}
	r, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q, rpm}, Amount: quota.Amount{Requests: 1, MicroUSD: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{rpm}, Amount: quota.Amount{Requests: 1}}); !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("second request in an hour = %v, want ErrExceeded", err)
	}
	if err := s.Release(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if got := used(t, s, q); got != 0 {
		t.Errorf("after release, Used = %d, want 0", got)
	}
	if _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q, rpm}, Amount: quota.Amount{Requests: 1, MicroUSD: 100}}); err != nil {
		t.Errorf("after release, Reserve = %v, want room", err)
	}
}

func lease(t *testing.T, s quota.Store) {
	q := quota.Quota{Name: "conc", Key: "conc", Unit: quota.Concurrent, Limit: 2, Window: quota.Leased()}
	req := &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{Requests: 1}}
	r1, err1 := s.Reserve(ctx, req)
	_, err2 := s.Reserve(ctx, req)
	if err1 != nil || err2 != nil {
		t.Fatalf("two leases of 2: %v, %v", err1, err2)
	}
	if _, err := s.Reserve(ctx, req); !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("third lease = %v, want ErrExceeded", err)
	}
	if err := s.Settle(ctx, r1.ID, quota.Amount{Requests: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, req); err != nil {
		t.Fatalf("lease after settle = %v, want granted", err)
	}
}

func tooLarge(t *testing.T, s quota.Store) {
	tpm := quota.Quota{Name: "tpm", Key: "big-tpm", Unit: quota.Tokens, Limit: 1000, Window: quota.PerMinute()}
	_, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{tpm}, Amount: quota.Amount{InputTokens: 900, OutputTokens: 200}})
	var e *quota.ExceededError
	if !errors.As(err, &e) || !errors.Is(err, quota.ErrTooLarge) || !e.Permanent() {
		t.Fatalf("Reserve(1100 tokens against 1000 TPM) = %v, want permanent ErrTooLarge", err)
	}
	if e.Requested != 1100 {
		t.Errorf("Requested = %d, want 1100", e.Requested)
	}
}

func refusalNamesQuota(t *testing.T, s quota.Store) {
	q := quota.Quota{Name: "session-usd", Key: "session-usd|session=s1", Scope: quota.Labels{Session: "s1"},
		Unit: quota.MicroUSD, Limit: 1_000_000, Window: quota.Forever()}
	r, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 900_000}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, r.ID, quota.Amount{MicroUSD: 950_000}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 60_000}})
	var e *quota.ExceededError
	if !errors.As(err, &e) || !errors.Is(err, quota.ErrBudget) {
		t.Fatalf("Reserve over budget = %v, want ErrBudget", err)
	}
	if e.Quota.Name != "session-usd" || e.Used != 950_000 || e.Quota.Limit != 1_000_000 || e.Requested != 60_000 {
		t.Errorf("refusal = %+v, want quota session-usd, used 950000 of 1000000, requested 60000", e)
	}
	want := "budget exhausted: session-usd [session=s1] ($1.00 lifetime): limit $1.00, used $0.95, requested $0.06; it does not reset"
	if got := e.Error(); got != want {
		t.Errorf("message:\n got %s\nwant %s", got, want)
	}
}

// concurrentBudget races n goroutines to spend one budget: the settled total never exceeds
// it, and at least 95% of it is used.
func concurrentBudget(t *testing.T, s quota.Store, n int) {
	const limit = 2_000_000
	q := budget("race", limit)
	rpm := quota.Quota{Name: "rpm", Key: "race-rpm", Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()}
	var spent atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := range n {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 7))
			for {
				worst := 500 + rnd.Int64N(4500)
				r, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{rpm, q}, Amount: quota.Amount{Requests: 1, MicroUSD: worst}})
				switch {
				case errors.Is(err, quota.ErrBudget):
					return
				case errors.Is(err, quota.ErrExceeded):
					runtime.Gosched() // others' holds will settle
					continue
				case err != nil:
					errs <- err
					return
				}
				actual := worst/2 + rnd.Int64N(worst/2+1)
				if err := s.Settle(ctx, r.ID, quota.Amount{Requests: 1, MicroUSD: actual}); err != nil {
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
	got := used(t, s, q)
	if got != spent.Load() {
		t.Errorf("store Used = %d, sum of settles = %d", got, spent.Load())
	}
	if got > limit {
		t.Errorf("spent %d > budget %d", got, limit)
	}
	if got < limit*95/100 {
		t.Errorf("spent %d, want at least 95%% of %d", got, limit)
	}
	t.Logf("%d goroutines spent %d of %d (%.2f%%)", n, got, limit, 100*float64(got)/limit)
}
