package fleettest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// TestRedisBlipReturnsLeases pauses Redis while 3 gateways have 8 calls each in flight
// under a fleet-wide concurrency limit of 24. The calls end during the pause: their settles
// (which return the leases) cannot reach Redis and wait in each gateway's outbox. When
// Redis answers again, every gateway replays them within a second (timestamps from the
// gateways' own logs), the concurrency quota in Redis is back to zero, and 24 new calls run
// at once. Issue 13 measured the upstream serving nothing for 52s: the leases stayed held
// until their TTL.
func TestRedisBlipReturnsLeases(t *testing.T) {
	const (
		gateways = 3
		perGW    = 8
		calls    = gateways * perGW
		// The bound; the slack is ProbeInterval (200ms) and the replay of 8 settles
		// (a few ms): see BENCHMARKS.md for the measured figures.
		rejoinBound = time.Second
	)
	srv := redistest.StartLocal(t)
	up := startUpstream(t, emulator.Config{Seed: 6, Output: emulator.Output{MinTokens: 5, MaxTokens: 20}})
	dir := t.TempDir()
	cfg := fleetConfig{
		upstream: up.baseURL(),
		quotas: `
- name: fleet-calls
  unit: concurrent
  limit: 24
`,
		redis: "url: redis://" + srv.Addr() + "\ntimeout: 1s\nreplicas: 3\n",
	}
	gws := startFleet(t, dir, gateways, cfg, false)
	conc := globalQuota(t, quota.Rule{Name: "fleet-calls", Unit: quota.Concurrent, Limit: calls, Window: quota.Leased()})
	view := newRedisView(t, srv)
	c := newClient(t)

	// runAll sends 8 calls through each gateway, holds them at the upstream until all 24
	// have arrived (so that all 24 leases are held at once), then runs then while during
	// does what it does, and returns their answers.
	runAll := func(during func()) []result {
		t.Helper()
		arrived := make(chan struct{})
		var once sync.Once
		up.onArrival(func(n int) {
			if n%calls == 0 {
				once.Do(func() { close(arrived) })
			}
		})
		release := up.hold()
		t.Cleanup(release)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		results := make([]result, calls)
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() { results[i] = chat(ctx, c, gws[i%gateways].url(), "gpt-4o-mini", 16) })
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			t.Fatalf("fewer than %d calls reached the upstream at once: the concurrency leases were not all free", calls)
		}
		up.onArrival(nil)
		during()
		release()
		wg.Wait()
		return results
	}

	before := runAll(func() {
		if st := view.status(t, conc); st.Used != calls {
			t.Errorf("leases held with %d calls in flight: %d, want %d", calls, st.Used, calls)
		}
	})
	for i, r := range before {
		if r.status != http.StatusOK {
			t.Fatalf("call %d before the blip: %v", i, &r)
		}
	}

	// The blip: the calls end while Redis hangs.
	var resume func() time.Time
	during := runAll(func() { resume = pauseRedis(t, srv) })
	for i, r := range during {
		if r.status != http.StatusOK {
			t.Errorf("call %d ending during the blip: %v, want 200 (its settle is kept, not failed)", i, &r)
		}
	}
	resumed := resume()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, g := range gws {
		l, err := g.waitLog(ctx, "redis quota store rejoined")
		if err != nil {
			t.Fatalf("%s never rejoined Redis: %v", g.name, err)
		}
		took := logTime(t, l).Sub(resumed)
		t.Logf("%s rejoined %v after Redis resumed, replaying %d settles in %v", g.name, took.Round(time.Millisecond),
			num(l, "replayed"), time.Duration(num(l, "took")).Round(time.Microsecond))
		if took > rejoinBound || num(l, "replayed") != perGW {
			t.Errorf("%s rejoined %v after Redis resumed replaying %d settles, want within %v and %d", g.name, took, num(l, "replayed"),
				rejoinBound, perGW)
		}
	}
	if st := view.status(t, conc); st.Used != 0 {
		t.Errorf("leases held after every gateway rejoined: %d, want 0", st.Used)
	}
	after := runAll(func() {})
	for i, r := range after {
		if r.status != http.StatusOK {
			t.Errorf("call %d after the blip: %v", i, &r)
		}
	}
}
