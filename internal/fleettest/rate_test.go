package fleettest

import (
	"context"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/internal/redistest"
)

// TestSharedRateHoldsAcrossReplicas hammers one rolling rate (600 requests per 10s, burst
// 20) through 4 gateway processes on one Redis, with more demand than the rate allows. The
// upstream counts what arrived: over the window from the first arrival to the last, the
// count is within 5% of what the rate allows in that window (the burst plus limit × elapsed
// / period). Four replicas each counting alone would have let 4× through; the queue
// waiting for capacity freed on other replicas would fall short of it.
func TestSharedRateHoldsAcrossReplicas(t *testing.T) {
	const (
		gateways = 4
		workers  = 8 // per gateway, each one request at a time
		limit    = 600
		period   = 10 * time.Second
		burst    = 20
		load     = 6 * time.Second // how long the fleet is hammered
	)
	srv := redistest.Start(t)
	up := startUpstream(t, emulator.Config{Seed: 2, Output: emulator.Output{MinTokens: 5, MaxTokens: 20}})
	dir := t.TempDir()
	cfg := fleetConfig{
		upstream: up.baseURL(),
		quotas: `
- name: fleet-rate
  unit: requests
  limit: 600
  window: 10s
  burst: 20
`,
		redis: "url: redis://" + srv.Addr() + "\ntimeout: 2s\nreplicas: 4\n",
	}
	gws := startFleet(t, dir, gateways, cfg, false)

	ctx, cancel := context.WithTimeout(context.Background(), load)
	defer cancel()
	c := newClient(t)
	var ok, other atomic.Int64
	var firstOther sync.Once
	var wg sync.WaitGroup
	for _, g := range gws {
		for range workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					r := chat(ctx, c, g.url(), "gpt-4o-mini", 16)
					switch {
					case r.status == http.StatusOK:
						ok.Add(1)
					case ctx.Err() != nil:
						// The load ended while this request waited: not a refusal.
					default:
						other.Add(1)
						firstOther.Do(func() { t.Errorf("via %s: %v, want 200 (a rate refusal waits in the queue)", g.name, &r) })
					}
				}
			})
		}
	}
	wg.Wait()

	at := up.arrivalTimes()
	if len(at) < burst+2 {
		t.Fatalf("the upstream saw %d requests, want more than the burst of %d", len(at), burst)
	}
	window := at[len(at)-1].Sub(at[0])
	allowed := burst + float64(limit)*window.Seconds()/period.Seconds()
	dev := (float64(len(at)) - allowed) / allowed
	t.Logf("upstream saw %d requests in %v (%d answered 200, %d other): the rate allows %.1f (burst %d + %d/%v × %v): deviation %+.2f%%",
		len(at), window.Round(time.Millisecond), ok.Load(), other.Load(), allowed, burst, limit, period, window.Round(time.Millisecond), 100*dev)
	if math.Abs(dev) > 0.05 {
		t.Errorf("upstream saw %d requests, want within 5%% of %.1f (deviation %+.2f%%)", len(at), allowed, 100*dev)
	}
}
