package fleettest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// TestRedisRestartedEmptyUnderAFleet restarts Redis empty (no persistence) while 3 gateway
// processes spend one shared USD budget under load, with the fleet's ledger on a real
// PostgreSQL. The first script to run after the restart finds the marker gone; one replica
// rebuilds the budget from the ledger while the others fail closed; then the fleet goes on
// from what the ledger says was spent, instead of from zero (issue 13 measured 1.98x the
// budget). What the upstream billed stays within the budget, `tollgate usage` over the
// PostgreSQL ledger equals it and what the replicas say they committed, and Redis never
// counts less than was spent.
func TestRedisRestartedEmptyUnderAFleet(t *testing.T) {
	const (
		gateways  = 3
		workers   = 6 // per gateway
		maxTokens = 100
		limit     = 400_000 // micro-USD: about 380 calls of gpt-4o at 100 tokens out
		restartAt = 120     // upstream arrivals before the restart
	)
	srv := redistest.StartLocal(t)
	up := startUpstream(t, emulator.Config{Seed: 13, Output: emulator.Output{MinTokens: 50, MaxTokens: 150}})
	dir := t.TempDir()
	cfg := fleetConfig{
		upstream: up.baseURL(),
		postgres: pgtest.Database(t),
		quotas: `
- name: fleet-usd
  unit: usd
  limit: "0.40"
  window: lifetime
`,
		redis: "url: redis://" + srv.Addr() + "\ntimeout: 1s\nreplicas: 3\n",
	}
	gws := startFleet(t, dir, gateways, cfg, false)
	q := globalQuota(t, quota.Rule{Name: "fleet-usd", Unit: quota.MicroUSD, Limit: limit, Window: quota.Forever()})

	reached := make(chan struct{})
	var once sync.Once
	up.onArrival(func(n int) {
		if n >= restartAt {
			once.Do(func() { close(reached) })
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := newClient(t)
	var counts tally
	driven := make(chan struct{})
	go func() {
		defer close(driven)
		// Until the budget refuses each worker three times in a row: the budget is spent.
		drive(ctx, c, gws, workers, maxTokens, &counts, func(inARow int) bool { return inARow >= 3 })
	}()
	var billAtRestart int64
	var restartTime time.Time
	select {
	case <-reached:
		billAtRestart = up.Stats().Total.CostMicroUSD
		srv.Restart(t)
		restartTime = time.Now()
	case <-driven:
		t.Fatalf("the fleet spent its budget before %d upstream arrivals: %v", restartAt, &counts)
	}
	<-driven
	up.onArrival(nil)
	if n := counts.other.Load(); n > 0 {
		t.Errorf("%d answers were neither 200, a budget refusal nor a 503: %v", n, &counts)
	}

	bill := up.Stats().Total
	inRedis := newRedisView(t, srv).status(t, q)
	stopAll(t, gws)
	var committed int64
	lost, rebuilt := 0, 0
	for _, g := range gws {
		for _, l := range g.logsOf("tollgate: stopped") {
			committed += num(l, "ledger_records")
		}
		lost += len(g.logsPrefixed("redis lost the quota state"))
		for _, l := range g.logsOf("redis quota state rebuilt from the ledger") {
			if logTime(t, l).After(restartTime) {
				rebuilt++
				t.Logf("%s rebuilt the budget after the restart: %s", g.name, l.raw)
			}
		}
	}
	usage := usageTotal(t, filepath.Join(dir, "gateway-1.yaml"))

	t.Logf("%v; upstream billed %d µUSD over %d calls (%.2f%% of the budget), %d µUSD of it before the restart; Redis counts %d µUSD (held %d)",
		&counts, bill.CostMicroUSD, bill.Served, 100*float64(bill.CostMicroUSD)/limit, billAtRestart, inRedis.Used, inRedis.Held)
	t.Logf("tollgate usage over the PostgreSQL ledger: %d records, %d µUSD; the replicas committed %d records", usage.Requests,
		usage.MicroUSD, committed)
	if bill.CostMicroUSD > limit {
		t.Errorf("the upstream billed %d µUSD, over the budget of %d (%.2fx): the restart let the fleet spend again",
			bill.CostMicroUSD, limit, float64(bill.CostMicroUSD)/limit)
	}
	if billAtRestart <= 0 || billAtRestart >= limit {
		t.Errorf("%d µUSD spent before the restart, want some of the budget and not all", billAtRestart)
	}
	if usage.MicroUSD != bill.CostMicroUSD || usage.Requests != bill.Served || committed != bill.Served {
		t.Errorf("tollgate usage: %d µUSD over %d records; replicas committed %d; upstream %d µUSD over %d calls: want all equal",
			usage.MicroUSD, usage.Requests, committed, bill.CostMicroUSD, bill.Served)
	}
	if inRedis.Used < bill.CostMicroUSD {
		t.Errorf("Redis counts %d µUSD, less than the %d µUSD billed", inRedis.Used, bill.CostMicroUSD)
	}
	if rebuilt != 1 {
		t.Errorf("%d rebuilds after the restart, want exactly 1 for the fleet", rebuilt)
	}
	if lost == 0 {
		t.Errorf("no gateway logged that Redis lost the quota state")
	}
}
