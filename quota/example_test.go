package quota_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// A session may spend $0.05 in all and a tenant 600 requests a minute. Every attempt reserves
// its worst case on both at once, then settles what it really used.
func Example() {
	ctx := context.Background()
	rules := quota.Rules{
		{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD,
			Limit: 50_000, Window: quota.Forever()},
		{Name: "tenant-rpm", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.Requests,
			Limit: 600, Window: quota.PerMinute()},
	}
	store := quota.NewMemoryStore(quota.MemoryConfig{})
	quotas := rules.For(nil, quota.Labels{Tenant: "acme", Session: "run-42"})

	for i := 1; ; i++ {
		worst := quota.Amount{Requests: 1, InputTokens: 1000, OutputTokens: 1000, MicroUSD: 12_500}
		r, _, err := store.Reserve(ctx, &quota.Request{Quotas: quotas, Amount: worst}, nil)
		if errors.Is(err, quota.ErrBudget) {
			fmt.Println("call", i, "refused:", err)
			return
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		// ... call the model; it answers with fewer tokens than the worst case ...
		_, _ = store.Settle(ctx, r.ID, quota.Amount{Requests: 1, InputTokens: 1000, OutputTokens: 400, MicroUSD: 6_500}, nil)
		_ = time.Second
	}
	// Output:
	// call 7 refused: budget exhausted: session-usd [session=run-42] ($0.05 lifetime): limit $0.05, used $0.039, requested $0.0125; it does not reset
}
