package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
)

// Redis restarts without its data: the next reservation finds the state gone, and the
// budget comes back from the Source (in a gateway, the fleet's ledger) before anything is
// admitted, instead of starting again from zero.
func ExampleStore_Ensure() {
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
	session := quota.Quota{Name: "session-usd", Key: "session-usd|session=run-42",
		Scope: quota.Labels{Session: "run-42"}, Unit: quota.MicroUSD, Limit: 50_000, Window: quota.Forever()}
	// What the ledger says was spent.
	ledger := redisstore.SourceFunc(func(context.Context, time.Time, time.Time) (*redisstore.Baseline, error) {
		return &redisstore.Baseline{Budgets: []redisstore.BudgetUse{{Quota: session, Used: 40_000}}}, nil
	})
	store, _ := redisstore.New(client, redisstore.Config{Source: ledger, Logger: slog.New(slog.DiscardHandler)})
	defer store.Close()

	rb, _ := store.Ensure(ctx) // a first start: the state is initialised from the ledger
	fmt.Println("budgets restored at start:", len(rb.Budgets))

	_ = client.FlushAll(ctx).Err() // Redis loses everything
	req := &quota.Request{Quotas: []quota.Quota{session}, Amount: quota.Amount{MicroUSD: 30_000}}
	_, _, err = store.Reserve(ctx, req, nil)
	fmt.Println(errors.Is(err, quota.ErrBudget))
	fmt.Println("rebuilds:", store.Stats().Rebuilds, "data losses:", store.Stats().DataLosses)
	// Output:
	// budgets restored at start: 1
	// true
	// rebuilds: 2 data losses: 1
}
