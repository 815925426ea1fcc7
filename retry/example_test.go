package retry_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/retry"
)

// The engine's loop between attempts: read the server's wait into the error, ask the
// Policy, then the fleet's Budget, all under one Attempts cap for the fallback chain.
func Example() {
	now := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	deadline := now.Add(30 * time.Second)

	// A provider adapter maps a 429 to an *llm.Error and fills RetryAfter.
	h := http.Header{}
	h.Set("X-Ratelimit-Remaining-Tokens", "0")
	h.Set("X-Ratelimit-Reset-Tokens", "1m30.5s")
	h.Set("X-Ratelimit-Remaining-Requests", "499")
	h.Set("X-Ratelimit-Reset-Requests", "120ms")
	wait, _ := retry.ServerDelay(429, h, now)
	err := &llm.Error{Kind: llm.KindRateLimited, Provider: "openai", Status: 429, RetryAfter: wait}

	p := retry.Policy{Rand: func() float64 { return 0.5 }} // defaults, with a fixed draw
	budget, _ := retry.NewBudget(retry.BudgetConfig{})
	chain := retry.Attempts{Max: 4}

	chain.Take()
	budget.Request(now)
	fmt.Println("server asks for", wait)
	fmt.Printf("%+v\n", p.Next(1, err, now, deadline)) // 90.5s > MaxServerWait: fall back

	chain.Take()
	overloaded := &llm.Error{Kind: llm.KindOverloaded, Provider: "anthropic", Status: 529}
	d := p.Next(1, overloaded, now, deadline)
	fmt.Printf("%+v\n", d)
	if d.Retry && budget.TryRetry(now) && chain.Take() {
		fmt.Println("retry after", d.Wait, "with", chain.Left(), "attempts left in the chain")
	}
	fmt.Printf("%+v\n", p.Next(1, &llm.Error{Kind: llm.KindAuth, Status: 401}, now, deadline))
	// Output:
	// server asks for 1m30.5s
	// {Retry:false Wait:0s Reason:server_long}
	// {Retry:true Wait:250ms Reason:backoff}
	// retry after 250ms with 1 attempts left in the chain
	// {Retry:false Wait:0s Reason:final}
}

func ExamplePolicy_Do() {
	p := retry.Policy{
		MaxAttempts: 3,
		Rand:        func() float64 { return 0 }, // no wait, so the example runs at once
	}
	calls := 0
	err := p.Do(context.Background(), nil, func(ctx context.Context) error {
		calls++
		if calls < 3 {
			return &llm.Error{Kind: llm.KindServer, Provider: "openai", Status: 502}
		}
		return nil
	})
	fmt.Println(calls, err)

	err = p.Do(context.Background(), nil, func(ctx context.Context) error {
		return &llm.Error{Kind: llm.KindOverloaded, Provider: "anthropic", Status: 529}
	})
	fmt.Println(err)
	// Output:
	// 3 <nil>
	// retry: gave up after 3 attempt(s) (attempts): anthropic: overloaded (529)
}

// On a 429 every rate-limit header counts. ExampleServerDelay_status shows the other
// statuses.
func ExampleServerDelay() {
	now := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	for _, kv := range [][2]string{
		{"Retry-After-Ms", "1500.5"},
		{"Retry-After", "3"},
		{"Retry-After", "Fri, 27 Nov 2026 14:01:00 GMT"},
		{"X-Ratelimit-Reset-Tokens", "6m0s"},
		{"Anthropic-Ratelimit-Requests-Reset", "2026-11-27T14:00:20Z"},
		{"Retry-After", "soon"},
	} {
		h := http.Header{}
		h.Set(kv[0], kv[1])
		d, ok := retry.ServerDelay(429, h, now)
		fmt.Println(kv[0], kv[1], "->", d, ok)
	}
	// Output:
	// Retry-After-Ms 1500.5 -> 1.5005s true
	// Retry-After 3 -> 3s true
	// Retry-After Fri, 27 Nov 2026 14:01:00 GMT -> 1m0s true
	// X-Ratelimit-Reset-Tokens 6m0s -> 6m0s true
	// Anthropic-Ratelimit-Requests-Reset 2026-11-27T14:00:20Z -> 20s true
	// Retry-After soon -> 0s false
}

// The reset headers describe the rate-limit window and come with every response: on a 500
// they ask for a wait only when a dimension is exhausted, while Retry-After counts on any
// status.
func ExampleServerDelay_status() {
	now := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("X-Ratelimit-Remaining-Tokens", "29975510")
	h.Set("X-Ratelimit-Reset-Tokens", "24.042s")
	fmt.Println(retry.ServerDelay(500, h, now))
	fmt.Println(retry.ServerDelay(429, h, now))
	h.Set("X-Ratelimit-Remaining-Tokens", "0")
	fmt.Println(retry.ServerDelay(500, h, now))
	h.Set("Retry-After", "2")
	fmt.Println(retry.ServerDelay(503, h, now))
	// Output:
	// 0s false
	// 24.042s true
	// 24.042s true
	// 2s true
}
