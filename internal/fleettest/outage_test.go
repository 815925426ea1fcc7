package fleettest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// outageBound is how long any request may take while Redis is down: far above the Redis
// timeout of the outage tests (1s, not the default 50ms, so that a machine loaded by other
// builds does not start the outage before the test does), far below a hang. It bounds the
// test, it does not time the product.
const outageBound = 10 * time.Second

// TestRedisPauseFailOpenLocal pauses Redis (SIGSTOP: nothing answers) for 6 seconds under
// 3 gateway processes whose policy is fail_open_local, sharing a USD budget, under load.
// Before the pause, one replica spoke to Redis last, so the others' view of what remains is
// stale. During the pause each replica spends at most its share of what remained at its
// last contact (logged with the remainder it started from); when Redis answers, each
// replays its local spend into it. The fleet's spend then stays within the budget plus the
// documented bound, sum_i floor(R_i / N) - R0 (docs/config.md), and Redis's settled total
// equals the upstream's bill exactly: every local spend reached Redis, once. Issue 13
// measured 1.47x the budget from one such pause.
func TestRedisPauseFailOpenLocal(t *testing.T) {
	const (
		gateways  = 3
		workers   = 4 // per gateway
		maxTokens = 100
		limit     = 300_000 // micro-USD: about 280 calls of gpt-4o at 100 tokens out
		pauseFor  = 6 * time.Second
	)
	srv := redistest.StartLocal(t)
	up := startUpstream(t, emulator.Config{Seed: 4, Output: emulator.Output{MinTokens: 50, MaxTokens: 150}})
	dir := t.TempDir()
	cfg := fleetConfig{
		upstream: up.baseURL(),
		postgres: pgtest.Database(t),
		quotas: `
- name: fleet-usd
  unit: usd
  limit: "0.30"
  window: lifetime
`,
		redis: "url: redis://" + srv.Addr() + "\ntimeout: 1s\nfailure_policy: fail_open_local\nreplicas: 3\n",
	}
	gws := startFleet(t, dir, gateways, cfg, false)
	q := globalQuota(t, quota.Rule{Name: "fleet-usd", Unit: quota.MicroUSD, Limit: limit, Window: quota.Forever()})
	c := newClient(t)

	// About a fifth of the budget, round robin; then more through gateway-1 alone, so
	// that gateway-2 and gateway-3 last heard a larger remainder than there is.
	serve := func(g *gateway) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), outageBound)
		defer cancel()
		if r := chat(ctx, c, g.url(), "fleet", maxTokens); r.status != http.StatusOK {
			t.Fatalf("%s before the pause: %v, want 200", g.name, &r)
		}
	}
	for i := range 45 {
		serve(gws[i%gateways])
	}
	for range 15 {
		serve(gws[0])
	}
	view := newRedisView(t, srv)
	before := view.status(t, q)
	r0 := limit - before.Used
	billBefore := up.Stats().Total.CostMicroUSD
	if before.Held != 0 || before.Used != billBefore {
		t.Fatalf("before the pause: Redis used %d (held %d), upstream billed %d; want equal, none held", before.Used, before.Held, billBefore)
	}

	resume := pauseRedis(t, srv)
	paused := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var during tally
	drive(ctx, c, gws, workers, maxTokens, &during, func(int) bool { return time.Since(paused) >= pauseFor })
	billDuring := up.Stats().Total.CostMicroUSD - billBefore
	resumed := resume()

	var after tally
	drive(ctx, c, gws, workers, maxTokens, &after, func(inARow int) bool { return inARow >= 3 })
	bill := up.Stats().Total
	inRedis := view.status(t, q)
	stopAll(t, gws)

	// The bound, from what each replica says it started from.
	var shares int64
	for _, g := range gws {
		ls := g.logsOf("redis quota store: local share of a budget while Redis is down")
		if len(ls) != 1 {
			t.Fatalf("%s logged %d local shares, want 1 (one budget, one outage)", g.name, len(ls))
		}
		ri, share := num(ls[0], "remaining_at_last_contact"), num(ls[0], "share")
		if share != ri/gateways || ri < r0 {
			t.Errorf("%s: share %d of a remainder of %d, want floor(remainder / %d) of a remainder at least R0 = %d",
				g.name, share, ri, gateways, r0)
		}
		t.Logf("%s started the outage from a remainder of %d µUSD (%d stale): share %d", g.name, ri, ri-r0, share)
		shares += share
		if l, ok := g.hasLog("redis quota store rejoined"); !ok {
			t.Errorf("%s never logged that it rejoined Redis", g.name)
		} else {
			t.Logf("%s rejoined %v after Redis resumed, replaying %d operations and installing %d open reservations",
				g.name, logTime(t, l).Sub(resumed).Round(time.Millisecond), num(l, "replayed"), num(l, "installed"))
		}
	}
	bound := max(shares-r0, 0)
	over := bill.CostMicroUSD - limit
	t.Logf("before the pause %d µUSD spent, R0 = %d; during the %v pause: %v, %d µUSD billed; after: %v",
		billBefore, r0, pauseFor, &during, billDuring, &after)
	t.Logf("upstream billed %d µUSD (%.2f%% of the budget): overspend %d µUSD, documented bound sum floor(Ri/N) - R0 = %d µUSD",
		bill.CostMicroUSD, 100*float64(bill.CostMicroUSD)/limit, max(over, 0), bound)
	if n := during.other.Load() + after.other.Load(); n > 0 {
		t.Errorf("%d answers were neither 200, a budget refusal nor a 503: during %v; after %v", n, &during, &after)
	}
	if during.ok.Load() == 0 {
		t.Errorf("nothing served during the pause: fail_open_local did not serve locally")
	}
	if during.unavailable.Load() != 0 {
		t.Errorf("%d requests got 503 during the pause, want none: fail_open_local serves locally", during.unavailable.Load())
	}
	if bill.CostMicroUSD > limit+bound {
		t.Errorf("the upstream billed %d µUSD, over the budget %d plus the bound %d", bill.CostMicroUSD, limit, bound)
	}
	if settled := inRedis.Used - inRedis.Held; settled != bill.CostMicroUSD {
		t.Errorf("Redis's settled total is %d µUSD (used %d, held %d), the upstream billed %d: want equal (each local spend replayed once)",
			settled, inRedis.Used, inRedis.Held, bill.CostMicroUSD)
	}
}

// mustServe sends one request through g and fails the test unless it is answered.
func mustServe(t testing.TB, c *http.Client, g *gateway) http.Header {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), outageBound)
	defer cancel()
	r := chat(ctx, c, g.url(), "gpt-4o-mini", 16)
	if r.status != http.StatusOK {
		t.Fatalf("%s: %v, want 200", g.name, &r)
	}
	return r.header
}

// recover1 keeps a light load on each gateway (one request per 100ms: a gateway only
// probes Redis when a request needs it, at most once a second) until each has logged that
// it rejoined Redis, then sends one more request through each. It returns how many
// requests were answered 200 in all, and fails the test if a gateway has not rejoined within
// 20s.
func recover1(t testing.TB, c *http.Client, gws []*gateway) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	ok := 0
	var wg sync.WaitGroup
	for _, g := range gws {
		wg.Go(func() {
			lctx, stop := context.WithCancel(ctx)
			defer stop()
			rejoined := make(chan error, 1)
			go func() {
				_, err := g.waitLog(lctx, "redis quota store rejoined")
				rejoined <- err
			}()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				r := chat(lctx, c, g.url(), "gpt-4o-mini", 16)
				if r.status == http.StatusOK {
					mu.Lock()
					ok++
					mu.Unlock()
				}
				select {
				case err := <-rejoined:
					if err != nil {
						t.Errorf("%s did not log that it rejoined Redis: %v", g.name, err)
						return
					}
					stop()
					r := chat(ctx, c, g.url(), "gpt-4o-mini", 16)
					if r.status != http.StatusOK {
						t.Errorf("%s after it rejoined Redis: %v, want 200", g.name, &r)
						return
					}
					mu.Lock()
					ok++
					mu.Unlock()
					return
				case <-tick.C:
				}
			}
		})
	}
	wg.Wait()
	return ok
}
