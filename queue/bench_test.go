package queue

import (
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// BenchmarkStoreReserveSettle is the baseline: the bare memory store, statuses into a
// reused buffer.
func BenchmarkStoreReserveSettle(b *testing.B) {
	store := quota.NewMemoryStore(quota.MemoryConfig{})
	r := req(pool("pool", 10), quota.Quota{Name: "rpm", Key: "rpm", Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()})
	ctx := b.Context()
	var buf []quota.Status
	b.ReportAllocs()
	for b.Loop() {
		res, sts, err := store.Reserve(ctx, r, buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		buf, _ = store.Settle(ctx, res.ID, r.Amount, sts[:0])
	}
}

// BenchmarkAcquireSettle is the same through an idle queue: its overhead over the store.
func BenchmarkAcquireSettle(b *testing.B) {
	q, _ := newQueue(b, Config{})
	r := req(pool("pool", 10), quota.Quota{Name: "rpm", Key: "rpm", Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()})
	ctx := b.Context()
	var buf []quota.Status
	b.ReportAllocs()
	for b.Loop() {
		g, err := q.Acquire(ctx, Waiter{Request: r, Statuses: buf[:0]})
		if err != nil {
			b.Fatal(err)
		}
		buf, _ = q.Settle(ctx, g.Reservation.ID, r.Amount, g.Statuses[:0])
	}
}

// BenchmarkContended1000 admits 1,000 goroutines through a pool of 10 slots per iteration:
// most of them wait, and each settle hands its slot to the best waiter.
func BenchmarkContended1000(b *testing.B) {
	const waiters = 1000
	q, _ := newQueue(b, Config{MaxWait: time.Hour})
	slots := pool("pool", 10)
	ctx := b.Context()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range waiters {
			wg.Go(func() {
				g, err := q.Acquire(ctx, Waiter{Request: req(slots), Priority: i%4 - 1, Tenant: string(rune('a' + i%3))})
				if err != nil {
					b.Error(err)
					return
				}
				_ = q.Release(ctx, g.Reservation.ID)
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N*waiters)/time.Since(start).Seconds(), "grants/s")
}
