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

// outageBound is how long any request may take while Redis is down: far above the Redis
// timeout of the outage tests (1s, not the default 50ms, so that a machine loaded by other
// builds does not start the outage before the test does), far below a hang. It bounds the
// test, it does not time the product.
const outageBound = 10 * time.Second

// TestRedisOutageFailOpenLocal stops Redis under 4 gateways whose policy is
// fail_open_local with replicas: 4. Each keeps serving from memory against a quarter of
// the budget (so the fleet stays within the limit while each counts alone), and logs that it
// is degraded. When Redis is back (empty), each rejoins, and the requests it serves are
// counted in Redis again.
func TestRedisOutageFailOpenLocal(t *testing.T) {
	const (
		gateways = 4
		limit    = 40 // requests a day; 10 per replica while Redis is down
		share    = limit / gateways
	)
	srv := redistest.StartLocal(t)
	up := startUpstream(t, emulator.Config{Seed: 4, Output: emulator.Output{MinTokens: 5, MaxTokens: 20}})
	dir := t.TempDir()
	cfg := fleetConfig{
		upstream: up.baseURL(),
		quotas: `
- name: fleet-requests
  unit: requests
  limit: 40
  window: day
`,
		redis: "url: redis://" + srv.Addr() + "\ntimeout: 1s\nfailure_policy: fail_open_local\nreplicas: 4\n",
	}
	gws := startFleet(t, dir, gateways, cfg, false)
	q := globalQuota(t, quota.Rule{Name: "fleet-requests", Unit: quota.Requests, Limit: limit, Window: quota.Daily(time.UTC)})
	c := newClient(t)

	for _, g := range gws {
		mustServe(t, c, g)
	}
	if st := newRedisView(t, srv).status(t, q); st.Used != gateways {
		t.Fatalf("Redis used = %d before the outage, want %d", st.Used, gateways)
	}

	srv.Stop()
	before := up.Stats().Total.Served
	for _, g := range gws {
		served, refused := 0, 0
		for i := range share + 4 {
			ctx, cancel := context.WithTimeout(context.Background(), outageBound)
			r := chat(ctx, c, g.url(), "gpt-4o-mini", 16)
			cancel()
			switch {
			case r.status == http.StatusOK:
				served++
			case r.isBudgetRefusal():
				refused++
			default:
				t.Errorf("%s, request %d with Redis down: %v, want 200 or a budget refusal", g.name, i, &r)
			}
		}
		if served != share || refused != 4 {
			t.Errorf("%s with Redis down: %d served, %d refused; want %d served (limit %d / replicas %d) and 4 refused",
				g.name, served, refused, share, limit, gateways)
		}
		if !g.alive() {
			t.Fatalf("%s exited with Redis down: %v", g.name, g.err)
		}
		if l, ok := g.hasLog("redis quota store degraded"); !ok || l.fields["policy"] != "fail_open_local" {
			t.Errorf("%s: log line %q with policy=fail_open_local: got %q", g.name, "redis quota store degraded", l.raw)
		}
	}
	if got := up.Stats().Total.Served - before; got != limit {
		t.Errorf("the upstream served %d requests during the outage, want %d (each replica's share)", got, limit)
	}
	// Readiness says whether Redis answers; with fail_open_local the gateway still serves.
	ready := get(context.Background(), c, gws[0], "/readyz")
	t.Logf("GET /readyz during the outage (fail_open_local): %v", &ready)

	srv.Restart(t)
	before = up.Stats().Total.Served
	recovered := recover1(t, c, gws)
	got := newRedisView(t, srv).status(t, q)
	served := up.Stats().Total.Served - before
	if got.Used < gateways || got.Used != int64(recovered) || served != int64(recovered) {
		t.Errorf("after Redis came back: Redis used %d, clients got %d answers, upstream served %d; want all equal and at least %d (one per replica)",
			got.Used, recovered, served, gateways)
	} else {
		t.Logf("after Redis came back: %d requests served, all counted in Redis", recovered)
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
