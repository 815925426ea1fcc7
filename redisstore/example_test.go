package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
)

// Two gateway replicas share one session budget through Redis: the second replica sees what
// the first spent.
func Example() {
	// A throwaway redis-server for the example; in production, your Redis.
	dir, _ := os.MkdirTemp("", "redisstore-example")
	defer os.RemoveAll(dir)
	srv, err := redistest.StartProcess(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()

	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	replicaA, _ := redisstore.New(client, redisstore.Config{})
	replicaB, _ := redisstore.New(client, redisstore.Config{})

	session := quota.Quota{Name: "session-usd", Key: "session-usd|session=run-42",
		Scope: quota.Labels{Session: "run-42"}, Unit: quota.MicroUSD, Limit: 50_000, Window: quota.Forever()}
	req := &quota.Request{Quotas: []quota.Quota{session}, Amount: quota.Amount{MicroUSD: 30_000}}

	r, _, err := replicaA.Reserve(ctx, req, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = replicaA.Settle(ctx, r.ID, quota.Amount{MicroUSD: 25_000}, nil)

	_, _, err = replicaB.Reserve(ctx, req, nil)
	fmt.Println(errors.Is(err, quota.ErrBudget))
	fmt.Println(err)
	// Output:
	// true
	// budget exhausted: session-usd [session=run-42] ($0.05 lifetime): limit $0.05, used $0.025, requested $0.03; it does not reset
}
