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
	t.Run("SettleRefundsAndCharges", func(t *testing.T) { settleRefunds(t, newStore(t)) })
	t.Run("SettleExactlyOnce", func(t *testing.T) { exactlyOnce(t, newStore(t)) })
	t.Run("ReleaseReturnsEverything", func(t *testing.T) { release(t, newStore(t)) })
	t.Run("Lease", func(t *testing.T) { lease(t, newStore(t)) })
	t.Run("TooLarge", func(t *testing.T) { tooLarge(t, newStore(t)) })
	t.Run("RefusalNamesQuota", func(t *testing.T) { refusalNamesQuota(t, newStore(t)) })
	t.Run("ConcurrentBudget", func(t *testing.T) { concurrentBudget(t, newStore(t), 1000) })
	t.Run("ReserveAnswersWithStatuses", func(t *testing.T) { reserveStatuses(t, newStore(t)) })
	t.Run("RefusalAnswersWithStatuses", func(t *testing.T) { refusalStatuses(t, newStore(t)) })
	t.Run("SettleAnswersWithStatuses", func(t *testing.T) { settleStatuses(t, newStore(t)) })
	t.Run("WarnThreshold", func(t *testing.T) { warnThreshold(t, newStore(t)) })
	t.Run("DuplicateKeyRefused", func(t *testing.T) { duplicateKey(t, newStore(t)) })
}

// reserve and settle are the Store's methods for cases that do not look at statuses.
func reserve(s quota.Store, req *quota.Request) (quota.Reservation, error) {
	r, _, err := s.Reserve(ctx, req, nil)
	return r, err
}

func settle(s quota.Store, id quota.ID, actual quota.Amount) error {
	_, err := s.Settle(ctx, id, actual, nil)
	return err
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
	if _, err := reserve(s, &quota.Request{Quotas: []quota.Quota{a, rpm, b}, Amount: quota.Amount{Requests: 1, MicroUSD: 60}}); !errors.Is(err, quota.ErrTooLarge) {
		t.Fatalf("Reserve(60 against b=50) = %v, want ErrTooLarge", err)
	}
	if got := used(t, s, a); got != 0 {
		t.Errorf("after refusal, a.Used = %d, want 0 (nothing reserved)", got)
	}
	st, _ := s.Status(ctx, []quota.Quota{rpm}, nil)
	if st[0].Used != 0 {
		t.Errorf("after refusal, rpm.Used = %d, want 0", st[0].Used)
	}
	if _, err := reserve(s, &quota.Request{Quotas: []quota.Quota{a, rpm, b}, Amount: quota.Amount{Requests: 1, MicroUSD: 40}}); err != nil {
		t.Fatalf("Reserve(40) = %v", err)
	}
	if got := used(t, s, a); got != 40 {
		t.Errorf("a.Used = %d, want 40", got)
	}
}

func settleRefunds(t *testing.T, s quota.Store) {
	q := budget("s", 1000)
	r, err := reserve(s, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 500}})
	if err != nil {
		t.Fatal(err)
	}
	if err := settle(s, r.ID, quota.Amount{MicroUSD: 120}); err != nil {
		t.Fatal(err)
	}
	if got := used(t, s, q); got != 120 {
		t.Errorf("after settling 120 of 500, Used = %d, want 120", got)
	}
	r, err = reserve(s, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if err := settle(s, r.ID, quota.Amount{MicroUSD: 30}); err != nil {
		t.Fatal(err)
	}
	if got := used(t, s, q); got != 150 {
		t.Errorf("after settling 30 of 10, Used = %d, want 150", got)
	}
}

func exactlyOnce(t *testing.T, s quota.Store) {
	q := budget("once", 1000)
	r, err := reserve(s, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if err := settle(s, r.ID, quota.Amount{MicroUSD: 100}); err != nil {
		t.Fatal(err)
	}
	for _, op := range []func() error{
		func() error { return settle(s, r.ID, quota.Amount{MicroUSD: 100}) },
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
	r, err := reserve(s, &quota.Request{Quotas: []quota.Quota{q, rpm}, Amount: quota.Amount{Requests: 1, MicroUSD: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reserve(s, &quota.Request{Quotas: []quota.Quota{rpm}, Amount: quota.Amount{Requests: 1}}); !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("second request in an hour = %v, want ErrExceeded", err)
	}
	if err := s.Release(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if got := used(t, s, q); got != 0 {
		t.Errorf("after release, Used = %d, want 0", got)
	}
	if _, err := reserve(s, &quota.Request{Quotas: []quota.Quota{q, rpm}, Amount: quota.Amount{Requests: 1, MicroUSD: 100}}); err != nil {
		t.Errorf("after release, Reserve = %v, want room", err)
	}
}

func lease(t *testing.T, s quota.Store) {
	q := quota.Quota{Name: "conc", Key: "conc", Unit: quota.Concurrent, Limit: 2, Window: quota.Leased()}
	req := &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{Requests: 1}}
	r1, err1 := reserve(s, req)
	_, err2 := reserve(s, req)
	if err1 != nil || err2 != nil {
		t.Fatalf("two leases of 2: %v, %v", err1, err2)
	}
	if _, err := reserve(s, req); !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("third lease = %v, want ErrExceeded", err)
	}
	if err := settle(s, r1.ID, quota.Amount{Requests: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := reserve(s, req); err != nil {
		t.Fatalf("lease after settle = %v, want granted", err)
	}
}

func tooLarge(t *testing.T, s quota.Store) {
	tpm := quota.Quota{Name: "tpm", Key: "big-tpm", Unit: quota.Tokens, Limit: 1000, Window: quota.PerMinute()}
	_, err := reserve(s, &quota.Request{Quotas: []quota.Quota{tpm}, Amount: quota.Amount{InputTokens: 900, OutputTokens: 200}})
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
	r, err := reserve(s, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 900_000}})
	if err != nil {
		t.Fatal(err)
	}
	if err := settle(s, r.ID, quota.Amount{MicroUSD: 950_000}); err != nil {
		t.Fatal(err)
	}
	_, err = reserve(s, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 60_000}})
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
				r, err := reserve(s, &quota.Request{Quotas: []quota.Quota{rpm, q}, Amount: quota.Amount{Requests: 1, MicroUSD: worst}})
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
				if err := settle(s, r.ID, quota.Amount{Requests: 1, MicroUSD: actual}); err != nil {
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

// mix is one quota of each kind, none shared with another case.
func mix(prefix string) []quota.Quota {
	return []quota.Quota{
		{Name: "rpm", Key: prefix + "-rpm", Unit: quota.Requests, Limit: 60, Window: quota.PerMinute()},
		{Name: "tpm", Key: prefix + "-tpm", Unit: quota.Tokens, Limit: 6000, Burst: 3000, Window: quota.PerMinute()},
		{Name: "conc", Key: prefix + "-conc", Unit: quota.Concurrent, Limit: 4, Window: quota.Leased()},
		{Name: "session", Key: prefix + "-session", Scope: quota.Labels{Session: "s1"}, Unit: quota.MicroUSD, Limit: 10_000, Window: quota.Forever()},
		{Name: "day", Key: prefix + "-day", Unit: quota.MicroUSD, Limit: 50_000, Window: quota.Daily(nil)},
	}
}

// want is the part of a Status a case checks; a day's reset is checked separately.
type want struct {
	key                   string
	used, held, remaining int64
}

func checkStatuses(t *testing.T, what string, got []quota.Status, qs []quota.Quota, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("%s: %d statuses, want %d", what, len(got), len(wants))
	}
	for i, w := range wants {
		st := got[i]
		if st.Quota.Key != w.key || st.Used != w.used || st.Held != w.held || st.Remaining != w.remaining {
			t.Errorf("%s: status %d = %s used %d held %d remaining %d; want %s used %d held %d remaining %d",
				what, i, st.Quota.Key, st.Used, st.Held, st.Remaining, w.key, w.used, w.held, w.remaining)
		}
		if st.Quota.Name != qs[i].Name || st.Quota.Limit != qs[i].Limit || st.Quota.Window.Kind != qs[i].Window.Kind {
			t.Errorf("%s: status %d is for quota %+v, want %+v", what, i, st.Quota, qs[i])
		}
		if qs[i].Window.Kind == quota.Day {
			// The store's clock is its own (Redis: the server's TIME): the reset is the
			// next midnight UTC by it, within a day from now.
			if d := time.Until(st.ResetAt); d <= 0 || d > 24*time.Hour || !st.ResetAt.Equal(st.ResetAt.Truncate(24*time.Hour)) {
				t.Errorf("%s: day status resets at %v, want the next midnight UTC", what, st.ResetAt)
			}
		}
	}
}

var worstCase = quota.Amount{Requests: 1, InputTokens: 500, OutputTokens: 1000, MicroUSD: 4000}

// reserveStatuses: a granted reserve appends every quota's state after it, in order, after
// what dst already held.
func reserveStatuses(t *testing.T, s quota.Store) {
	qs := mix("rs")
	prefix := []quota.Status{{Quota: &quota.Quota{Name: "kept"}}}
	_, sts, err := s.Reserve(ctx, &quota.Request{Quotas: qs, Amount: worstCase}, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) == 0 || sts[0].Quota.Name != "kept" {
		t.Fatalf("Reserve dropped what dst held: %v", sts)
	}
	checkStatuses(t, "after reserve", sts[1:], qs, []want{
		{"rs-rpm", 1, 0, 59},
		{"rs-tpm", 1500, 0, 1500},
		{"rs-conc", 1, 1, 3},
		{"rs-session", 4000, 4000, 6000},
		{"rs-day", 4000, 4000, 46000},
	})
	rate := sts[2]
	if d := time.Until(rate.ResetAt); d <= 0 || d > 15*time.Second {
		t.Errorf("tpm resets in %v, want within 15s (1500 of 6000 a minute)", d)
	}
}

// refusalStatuses: a refused reserve appends the state that refused it, unchanged.
func refusalStatuses(t *testing.T, s quota.Store) {
	qs := mix("rf")
	r, err := reserve(s, &quota.Request{Quotas: qs, Amount: worstCase})
	if err != nil {
		t.Fatal(err)
	}
	if err := settle(s, r.ID, quota.Amount{Requests: 1, InputTokens: 500, OutputTokens: 100, MicroUSD: 9000}); err != nil {
		t.Fatal(err)
	}
	_, sts, err := s.Reserve(ctx, &quota.Request{Quotas: qs, Amount: worstCase}, nil)
	var e *quota.ExceededError
	if !errors.As(err, &e) || !errors.Is(err, quota.ErrBudget) || e.Quota.Key != "rf-session" {
		t.Fatalf("Reserve over the session budget = %v, want ErrBudget on rf-session", err)
	}
	checkStatuses(t, "refused", sts, qs, []want{
		{"rf-rpm", 1, 0, 59},
		{"rf-tpm", 600, 0, 2400},
		{"rf-conc", 0, 0, 4},
		{"rf-session", 9000, 0, 1000},
		{"rf-day", 9000, 0, 41000},
	})
	if _, sts, err := s.Reserve(ctx, &quota.Request{Quotas: qs, Amount: worstCase}, sts[:0]); err == nil || len(sts) != len(qs) {
		t.Errorf("second refusal appended %d statuses (err %v), want %d", len(sts), err, len(qs))
	}
}

// settleStatuses: a settle appends every quota's state after it; an unknown reservation
// leaves dst as given.
func settleStatuses(t *testing.T, s quota.Store) {
	qs := mix("ss")
	r, err := reserve(s, &quota.Request{Quotas: qs, Amount: worstCase})
	if err != nil {
		t.Fatal(err)
	}
	sts, err := s.Settle(ctx, r.ID, quota.Amount{Requests: 1, InputTokens: 480, OutputTokens: 120, MicroUSD: 2500}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkStatuses(t, "after settle", sts, qs, []want{
		{"ss-rpm", 1, 0, 59},
		{"ss-tpm", 600, 0, 2400},
		{"ss-conc", 0, 0, 4},
		{"ss-session", 2500, 0, 7500},
		{"ss-day", 2500, 0, 47500},
	})
	again, err := s.Settle(ctx, r.ID, quota.Amount{}, sts[:1])
	if !errors.Is(err, quota.ErrUnknownReservation) || len(again) != 1 {
		t.Errorf("second settle = %d statuses, %v; want dst as given and ErrUnknownReservation", len(again), err)
	}
}

// warnThreshold: a reservation that takes a budget across its WarnAt sets its bit.
func warnThreshold(t *testing.T, s quota.Store) {
	rpm := quota.Quota{Name: "rpm", Key: "warn-rpm", Unit: quota.Requests, Limit: 1000, Window: quota.PerMinute()}
	usd := budget("warn-usd", 1000)
	usd.WarnAt = 0.5
	req := func(n int64) *quota.Request {
		return &quota.Request{Quotas: []quota.Quota{rpm, usd}, Amount: quota.Amount{Requests: 1, MicroUSD: n}}
	}
	for i, tc := range []struct {
		n    int64
		want uint64
	}{{400, 0}, {99, 0}, {1, 0b10}, {400, 0}} {
		r, err := reserve(s, req(tc.n))
		if err != nil {
			t.Fatal(err)
		}
		if r.Warned != tc.want {
			t.Errorf("reserve %d (%d): Warned = %b, want %b", i, tc.n, r.Warned, tc.want)
		}
	}
}

func duplicateKey(t *testing.T, s quota.Store) {
	q := quota.Quota{Name: "a", Key: "dup", Unit: quota.Requests, Limit: 10, Window: quota.PerMinute()}
	if _, err := reserve(s, &quota.Request{Quotas: []quota.Quota{q, budget("other", 5), q}, Amount: quota.Amount{Requests: 1}}); err == nil {
		t.Fatal("Reserve with a duplicate key succeeded")
	}
	if st, _ := s.Status(ctx, []quota.Quota{q}, nil); st[0].Used != 0 {
		t.Errorf("after the refusal, Used = %d, want 0", st[0].Used)
	}
}
