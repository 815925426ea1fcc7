package engine_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// TestBudgetRefusalWithAHoldOpen: a budget's held amount (open reservations) is room that
// may come back, its settled use is not. A request whose worst case does not fit what the
// settled use leaves is refused at once as final, whatever is held, clamped or not; one
// that the settled use alone would let through waits in the queue for the holds. (A hold
// that nobody settles, as a reserve that timed out in Redis left, turns the first into
// the second: TestRedisPauseFailOpenLocal's last requests waited out the queue.)
func TestBudgetRefusalWithAHoldOpen(t *testing.T) {
	t.Parallel()
	const limit = 100_000
	// gpt-4o, 1000 tokens in and a cap of 100 out: $2.50 and $10 per 1M, a worst case of
	// 3500 micro-USD.
	cases := []struct {
		name          string
		settled, held int64
		clamp         bool
		wantErr       error
	}{
		{"settled use leaves less than the worst case: final", limit - 1000, 500, false, quota.ErrBudget},
		{"settled use leaves less than the worst case: final, clamped too", limit - 1000, 500, true, quota.ErrBudget},
		{"settled use leaves room, a hold is in the way: waits", limit - 10_000, 8000, false, queue.ErrTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rule := quota.Rule{Name: "fleet-usd", Unit: quota.MicroUSD, Limit: limit, Window: quota.Forever()}
				r := chain(t, "fleet", "gpt-4o")
				r.ClampMaxTokens = tc.clamp
				up := newScripted("openai")
				e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": up},
					Rules: quota.Rules{rule}, Routes: routes(t, r)})
				q, _ := rule.For(quota.Labels{})
				take := func(n int64) quota.ID {
					res, _, err := e.Store().Reserve(context.Background(),
						&quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: n}}, nil)
					if err != nil {
						t.Fatal(err)
					}
					return res.ID
				}
				if _, err := e.Store().Settle(context.Background(), take(tc.settled), quota.Amount{MicroUSD: tc.settled}, nil); err != nil {
					t.Fatal(err)
				}
				take(tc.held) // open for the whole test

				start := time.Now()
				res, err := e.Do(context.Background(), request("fleet", 100))
				waited := time.Since(start)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Do with %d settled and %d held of %d = %v, want %v", tc.settled, tc.held, limit, err, tc.wantErr)
				}
				if calls := up.calls(); len(calls) != 0 {
					t.Errorf("upstream calls %v, want none", calls)
				}
				if tc.wantErr == quota.ErrBudget && (waited != 0 || res.Waited != 0) {
					t.Errorf("refused after %v (queue %v), want at once: waiting cannot help", waited, res.Waited)
				}
				if tc.wantErr == queue.ErrTimeout && waited == 0 {
					t.Errorf("timed out at once, want a wait for the hold")
				}
			})
		})
	}
}
