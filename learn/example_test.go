package learn_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// A learner's quotas join every reservation of a call to its upstream and model; every
// answer teaches it. Here an answer's headers say that 2 of 500 requests remain: the
// store grants 2 more, then makes the third wait.
func Example() {
	set, err := learn.New(learn.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	up := learn.Upstream{Provider: "openai", Account: learn.AccountID(os.Getenv("OPENAI_API_KEY")), Format: llm.OpenAI}
	l := set.Learner(up, "gpt-4o-mini")
	quotas := l.Quotas(nil) // beside the configured quotas of this upstream and model

	now := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	worst := quota.Amount{Requests: 1, InputTokens: 1200, OutputTokens: 800}
	resp := &llm.Response{Header: http.Header{
		"X-Ratelimit-Limit-Requests":     {"500"},
		"X-Ratelimit-Remaining-Requests": {"2"},
		"X-Ratelimit-Limit-Tokens":       {"200000"},
		"X-Ratelimit-Remaining-Tokens":   {"180000"},
	}}
	l.Observe(now, learn.OutcomeOf(now.Add(-2*time.Second), worst, resp, nil))

	store := quota.NewMemoryStore(quota.MemoryConfig{})
	for i := 1; i <= 3; i++ {
		_, _, err := store.ReserveAt(now, &quota.Request{Quotas: quotas, Amount: worst}, nil)
		var e *quota.ExceededError
		if errors.As(err, &e) {
			fmt.Printf("call %d waits %v: %s of %d\n", i, e.RetryAfter, e.Quota.Unit, e.Quota.Limit)
			continue
		}
		fmt.Printf("call %d granted\n", i)
	}
	for _, row := range set.Status() {
		fmt.Println(row.Dim, row.Limit, row.Source)
	}
	// Output:
	// call 1 granted
	// call 2 granted
	// call 3 waits 120ms: requests of 500
	// requests 500 headers
	// tokens 200000 headers
}
