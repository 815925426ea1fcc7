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
	// call 7 refused: budget exhausted: session-usd [tenant=acme,session=run-42] ($0.05 lifetime): limit $0.05, used $0.039, requested $0.0125; it does not reset
}

// Reserve and Settle answer with every quota's state, so that a caller plans and reports
// without asking the store again: here the budget left after a reservation, what refused
// the next one, and what the settle left for the response headers.
func ExampleMemoryStore_Reserve() {
	ctx := context.Background()
	store := quota.NewMemoryStore(quota.MemoryConfig{})
	quotas := []quota.Quota{
		{Name: "rpm", Key: "rpm|model=gpt-4o", Unit: quota.Requests, Limit: 500, Window: quota.PerMinute()},
		{Name: "session-usd", Key: "session-usd|session=run-7", Unit: quota.MicroUSD, Limit: 20_000, Window: quota.Forever()},
	}
	var sts []quota.Status
	r, sts, err := store.Reserve(ctx, &quota.Request{Quotas: quotas, Amount: quota.Amount{Requests: 1, MicroUSD: 12_500}}, sts[:0])
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after reserving:", sts[1].Quota.Name, "held", sts[1].Held, "left", sts[1].Remaining)

	_, sts, err = store.Reserve(ctx, &quota.Request{Quotas: quotas, Amount: quota.Amount{Requests: 1, MicroUSD: 12_500}}, sts[:0])
	fmt.Println("refused:", errors.Is(err, quota.ErrExceeded), "with", sts[1].Remaining, "left and", sts[1].Held, "held")

	sts, _ = store.Settle(ctx, r.ID, quota.Amount{Requests: 1, MicroUSD: 4_000}, sts[:0])
	fmt.Println("after settling:", sts[0].Quota.Name, "remaining", sts[0].Remaining, "|", sts[1].Quota.Name, "used", sts[1].Used, "left", sts[1].Remaining)
	// Output:
	// after reserving: session-usd held 12500 left 7500
	// refused: true with 7500 left and 12500 held
	// after settling: rpm remaining 499 | session-usd used 4000 left 16000
}
