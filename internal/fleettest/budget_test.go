package fleettest

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// TestSharedBudgetIsNeverOverspent sends 2,000 concurrent requests through 4 gateway
// processes that share one USD budget in one Redis. The budget pays for about 1,100 of them.
// What was spent, counted three independent ways (Redis's counter, the upstream's own bill,
// and the four ledgers after a clean shutdown), never exceeds the budget, and at least 95%
// of it is used.
func TestSharedBudgetIsNeverOverspent(t *testing.T) {
	const (
		gateways  = 4
		requests  = 2000
		maxTokens = 100
		limitUSD  = "1.00"
		limit     = 1_000_000 // micro-USD
	)
	srv := redistest.Start(t)
	// Answers of 50 to 150 tokens, cut at max_tokens 100: about half use their whole worst
	// case and half refund part of it, so settle's refunds race with other replicas'
	// reserves.
	up := startUpstream(t, emulator.Config{Seed: 1, Output: emulator.Output{MinTokens: 50, MaxTokens: 150}})
	dir := t.TempDir()
	cfg := fleetConfig{
		upstream: up.baseURL(),
		quotas: `
- name: fleet-usd
  unit: usd
  limit: "` + limitUSD + `"
  window: lifetime
`,
		// A generous timeout: this test is about the budget, not about Redis answering
		// slowly. 2,000 requests on 4 race-enabled gateways with 20 pooled connections each,
		// on a 2-core machine shared with other builds, have been seen to wait over 2s for a
		// connection; the store then fails closed and the test measures an outage instead
		// (TestRedisOutage* cover that).
		redis: "url: redis://" + srv.Addr() + "\ntimeout: 10s\nreplicas: 4\n",
	}
	gws := startFleet(t, dir, gateways, cfg, true)
	rule := quota.Rule{Name: "fleet-usd", Unit: quota.MicroUSD, Limit: limit, Window: quota.Forever()}
	q := globalQuota(t, rule)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := newClient(t)
	results := make([]result, requests)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range requests {
		wg.Go(func() {
			<-start
			results[i] = chat(ctx, c, gws[i%gateways].url(), "fleet", maxTokens)
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(began)

	var served, refused, other int
	for i := range results {
		r := &results[i]
		switch {
		case r.status == http.StatusOK:
			served++
		case r.isBudgetRefusal():
			refused++
		default:
			if other++; other <= 5 {
				t.Errorf("request %d via gateway-%d: %v, want 200 or a budget refusal", i, i%gateways+1, r)
			}
		}
	}
	if other > 5 {
		t.Errorf("... and %d more requests got neither 200 nor a budget refusal", other-5)
	}

	st := up.Stats()
	inRedis := newRedisView(t, srv).status(t, q)
	stopAll(t, gws)
	var ledgerUSD, ledgerRecords int64
	for i := range gws {
		s := ledgerSum(t, filepath.Join(dir, gws[i].name+".db"))
		ledgerUSD += s.MicroUSD
		ledgerRecords += s.Requests
	}

	t.Logf("%d requests in %v: %d served, %d refused for the budget; budget $%s", requests, elapsed.Round(time.Millisecond),
		served, refused, limitUSD)
	t.Logf("spent: Redis used %d µUSD (held %d), upstream bill %d µUSD over %d served, ledgers %d µUSD over %d records: %.2f%% of the budget",
		inRedis.Used, inRedis.Held, st.Total.CostMicroUSD, st.Total.Served, ledgerUSD, ledgerRecords,
		100*float64(st.Total.CostMicroUSD)/limit)

	for _, c := range []struct {
		what string
		got  int64
	}{
		{"Redis used", inRedis.Used},
		{"upstream bill", st.Total.CostMicroUSD},
		{"sum of the ledgers", ledgerUSD},
	} {
		if c.got > limit {
			t.Errorf("%s = %d µUSD, over the budget of %d µUSD (%.2f%%)", c.what, c.got, limit, 100*float64(c.got)/limit)
		}
		if c.got < limit*95/100 {
			t.Errorf("%s = %d µUSD, under 95%% of the budget of %d µUSD (%.2f%%)", c.what, c.got, limit, 100*float64(c.got)/limit)
		}
	}
	if inRedis.Held != 0 {
		t.Errorf("Redis held = %d µUSD after every request ended, want 0 (a reservation was never settled)", inRedis.Held)
	}
	// The three views count the same requests at the same prices: they must agree exactly.
	if inRedis.Used != st.Total.CostMicroUSD || ledgerUSD != st.Total.CostMicroUSD {
		t.Errorf("Redis used %d, ledgers %d, upstream bill %d µUSD: want all equal", inRedis.Used, ledgerUSD, st.Total.CostMicroUSD)
	}
	if int64(served) != st.Total.Served || ledgerRecords != st.Total.Served {
		t.Errorf("served %d (clients), %d (upstream), %d (ledger records): want all equal", served, st.Total.Served, ledgerRecords)
	}
}
