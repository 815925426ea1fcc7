package fleettest

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
)

// TestKillNineRestoresTodaysSpend kills a gateway (memory store, a ledger file, a daily USD
// budget) with SIGKILL while 16 clients keep it busy, then starts it again with the same
// configuration and ledger. Today's spend comes back from the ledger: the budget left that
// the restarted gateway reports is exactly the budget minus what the ledger holds, and what
// the ledger lost to the kill (answers the upstream served that no committed record
// counts) stays within the ledger's documented bound.
func TestKillNineRestoresTodaysSpend(t *testing.T) {
	const (
		workers  = 16
		killAt   = 600 // upstream arrivals before the kill
		limit    = 100_000_000
		interval = 100 * time.Millisecond // ledger.commit_interval
		// The ledger's documented worst case for a kill -9 (ledger.Config): the queue plus a
		// batch, QueueSize + MaxBatch at their defaults; plus the requests in flight, which
		// had no record to append yet.
		lossBound = 16*512 + 512 + workers
	)
	up := startUpstream(t, emulator.Config{Seed: 5, Output: emulator.Output{MinTokens: 20, MaxTokens: 60}})
	dir := t.TempDir()
	cfg := fleetConfig{
		upstream: up.baseURL(),
		quotas: `
- name: fleet-daily-usd
  unit: usd
  limit: "100.00"
  window: day
`,
		ledgerPath:     filepath.Join(dir, "gateway.db"),
		commitInterval: interval.String(),
	}
	path := cfg.write(t, dir, "gateway")
	g := startGateway(t, "gateway", path)

	killed := make(chan time.Time, 1)
	var once sync.Once
	up.onArrival(func(n int) {
		if n >= killAt {
			once.Do(func() {
				_ = g.cmd.Process.Kill()
				killed <- time.Now()
			})
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newClient(t)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil && g.alive() {
				if r := chat(ctx, c, g.url(), "fleet", 64); r.err != nil {
					return // the gateway is gone
				}
			}
		})
	}
	var killTime time.Time
	select {
	case killTime = <-killed:
	case <-ctx.Done():
		t.Fatalf("the upstream saw fewer than %d requests before the deadline", killAt)
	}
	<-g.done
	wg.Wait()
	up.onArrival(nil)
	before := up.Stats().Total
	arrivals := up.arrivalTimes()
	recent := 0
	for _, at := range arrivals {
		if at.After(killTime.Add(-interval)) {
			recent++
		}
	}

	g2 := startGateway(t, "gateway-restarted", path)
	l, _ := g2.hasLog("tollgate: listening")
	if n, _ := l.fields["budgets_restored"].(float64); n != 1 {
		t.Errorf("the restarted gateway restored %v budgets, want 1: %s", l.fields["budgets_restored"], l.raw)
	}
	r := chat(ctx, c, g2.url(), "fleet", 64)
	if r.status != http.StatusOK {
		t.Fatalf("after the restart: %v, want 200", &r)
	}
	remaining, err := budgetRemaining(r.header)
	if err != nil {
		t.Fatal(err)
	}
	cost := up.Stats().Total.CostMicroUSD - before.CostMicroUSD
	restored := limit - remaining - cost
	stopAll(t, []*gateway{g2})
	sum := ledgerSum(t, cfg.ledgerPath)
	ledgerUSD, ledgerRecords := sum.MicroUSD-cost, sum.Requests-1

	lostRecords := before.Served - ledgerRecords
	lostUSD := before.CostMicroUSD - ledgerUSD
	t.Logf("killed after %d upstream answers ($%.6f); the ledger kept %d records ($%.6f): lost %d records (%.2f%%), %d µUSD; %d arrived in the last commit interval (%v) before the kill",
		before.Served, float64(before.CostMicroUSD)/1e6, ledgerRecords, float64(ledgerUSD)/1e6, lostRecords,
		100*float64(lostRecords)/float64(before.Served), lostUSD, recent, interval)
	if i := len(arrivals) - int(lostRecords); lostRecords > 0 && i >= 0 {
		// Records are appended in about the order requests arrive: the lost ones are about the
		// last lostRecords arrivals, which span this long before the kill.
		t.Logf("the lost records are about the requests that arrived in the last %v before the kill (commit_interval %v)",
			killTime.Sub(arrivals[i]).Round(time.Millisecond), interval)
	}
	t.Logf("the restarted gateway reports today's spend as %d µUSD (limit %d, remaining %d after a request of %d)",
		restored, limit, remaining, cost)

	if restored != ledgerUSD {
		t.Errorf("restored spend = %d µUSD, want %d (what the ledger holds)", restored, ledgerUSD)
	}
	if ledgerUSD <= 0 || ledgerUSD > before.CostMicroUSD {
		t.Errorf("ledger = %d µUSD before the restart, want in (0, %d] (what the upstream served)", ledgerUSD, before.CostMicroUSD)
	}
	if lostRecords < 0 || lostRecords > lossBound {
		t.Errorf("lost %d records to kill -9, want 0 to %d (queue + batch + requests in flight)", lostRecords, lossBound)
	}
}
