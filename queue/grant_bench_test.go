package queue

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// lastGrant is a store that remembers the last reservation it granted: the one the queue
// handed to a waiter.
type lastGrant struct {
	*quota.MemoryStore
	last quota.ID
}

func (s *lastGrant) Reserve(ctx context.Context, r *quota.Request, dst []quota.Status) (quota.Reservation, []quota.Status, error) {
	res, dst, err := s.MemoryStore.Reserve(ctx, r, dst)
	if err == nil {
		s.last = res.ID
	}
	return res, dst, err
}

// BenchmarkGrant is the queue's own cost per grant with W waiters on one key, of four
// levels and eight tenants, aging on: each op frees the key's one slot, which the queue
// hands to the next waiter (a try that succeeds and one that finds the slot gone), and a
// new waiter arrives to keep W. Waiters are enqueued directly, without goroutines, so that
// the figure is the queue's work, not the scheduler's. The target: at most 2x from 1k to
// 100k.
func BenchmarkGrant(b *testing.B) {
	for _, w := range []int{1_000, 10_000, 100_000} {
		b.Run("waiters="+strconv.Itoa(w), func(b *testing.B) {
			store := &lastGrant{MemoryStore: quota.NewMemoryStore(quota.MemoryConfig{TTL: 24 * time.Hour})}
			q, err := New(store, Config{MaxWait: 24 * time.Hour, MaxQueued: 1 << 30, MaxQueuedAll: 1 << 30, Aging: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			slot := pool("pool", 1)
			r := req(slot)
			ctx := context.Background()
			g, err := q.Acquire(ctx, Waiter{Request: r})
			if err != nil {
				b.Fatal(err)
			}
			holder := g.Reservation.ID
			i := 0
			add := func() {
				i++
				now := time.Now()
				p := i%4 - 1
				wt := newWaiter(ctx, 24*time.Hour, Waiter{Request: r, Priority: p, Tenant: "t" + strconv.Itoa(i%8)}, LevelOf(p), now)
				q.mu.Lock()
				if err := q.enqueue(wt, "pool", 0, now); err != nil {
					b.Fatal(err)
				}
				q.mu.Unlock()
			}
			for range w {
				add()
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := q.Release(ctx, holder); err != nil {
					b.Fatal(err)
				}
				holder = store.last
				add()
			}
			if got := q.Stats().Queued; got != w {
				b.Fatalf("%d waiting after the run, want %d", got, w)
			}
		})
	}
}
