package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// Ten agents may call the model at once. Admission waits for a free slot, highest priority
// first; every grant is settled through the queue, which hands the slot to the next waiter.
func Example() {
	ctx := context.Background()
	store := quota.NewMemoryStore(quota.MemoryConfig{})
	q, err := queue.New(store, queue.Config{MaxWait: 10 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()

	slots := quota.Quota{Name: "agents", Key: "agents", Unit: quota.Concurrent, Limit: 10, Window: quota.Leased()}
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			req := &quota.Request{Quotas: []quota.Quota{slots}, Amount: quota.Amount{Requests: 1}}
			g, err := q.Acquire(ctx, queue.Waiter{Request: req, Priority: i % 4, Tenant: "acme"})
			var full *queue.ShedError
			switch {
			case errors.As(err, &full):
				fmt.Println("shed; retry after", full.RetryAfter)
				return
			case err != nil:
				fmt.Println(err)
				return
			}
			// ... call the model ...
			_, _ = q.Settle(ctx, g.Reservation.ID, quota.Amount{Requests: 1}, nil)
		})
	}
	wg.Wait()
	s := q.Stats()
	fmt.Println("granted:", s.Granted, "waiting:", s.Queued, "open reservations:", store.Open())
	// Output:
	// granted: 30 waiting: 0 open reservations: 0
}
