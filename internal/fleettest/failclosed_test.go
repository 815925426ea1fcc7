package fleettest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// TestRedisOutageFailClosed stops Redis under a running gateway whose policy is
// fail_closed: every request gets a clear 503 that names Redis and the policy, at once and
// without a hang; the process stays up and does not panic; once Redis is back (empty), the
// gateway rejoins and its budget counter moves in Redis again.
func TestRedisOutageFailClosed(t *testing.T) {
	srv := redistest.StartLocal(t)
	up := startUpstream(t, emulator.Config{Seed: 3, Output: emulator.Output{MinTokens: 5, MaxTokens: 20}})
	dir := t.TempDir()
	cfg := fleetConfig{
		upstream: up.baseURL(),
		quotas: `
- name: fleet-usd
  unit: usd
  limit: "10.00"
  window: lifetime
`,
		redis: "url: redis://" + srv.Addr() + "\ntimeout: 1s\nfailure_policy: fail_closed\n",
	}
	g := startFleet(t, dir, 1, cfg, false)[0]
	q := globalQuota(t, quota.Rule{Name: "fleet-usd", Unit: quota.MicroUSD, Limit: 10_000_000, Window: quota.Forever()})
	c := newClient(t)

	for range 3 {
		mustServe(t, c, g)
	}
	if st := newRedisView(t, srv).status(t, q); st.Used <= 0 {
		t.Fatalf("Redis used = %d before the outage, want > 0", st.Used)
	}

	srv.Stop()
	var slowest time.Duration
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), outageBound)
		r := chat(ctx, c, g.url(), "gpt-4o-mini", 16)
		cancel()
		slowest = max(slowest, r.elapsed)
		if r.err != nil {
			t.Fatalf("request %d with Redis down: %v (after %v), want a 503 within %v", i, r.err, r.elapsed, outageBound)
		}
		msg := strings.ToLower(r.apiError().Error.Message)
		if r.status != http.StatusServiceUnavailable || !strings.Contains(msg, "redis") ||
			!strings.Contains(msg, "unavailable") || !strings.Contains(msg, "fail_closed") {
			t.Errorf("request %d with Redis down: %v, want 503 with a message naming Redis as unavailable and the policy fail_closed", i, &r)
		}
	}
	t.Logf("with Redis down, the slowest of 5 requests was refused in %v", slowest.Round(time.Microsecond))
	if !g.alive() {
		t.Fatalf("the gateway exited with Redis down: %v", g.err)
	}
	if l, ok := g.hasLog("redis quota store degraded"); !ok || l.fields["policy"] != "fail_closed" {
		t.Errorf("log line %q with policy=fail_closed: got %q", "redis quota store degraded", l.raw)
	}
	ready := get(context.Background(), c, g, "/readyz")
	if ready.status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with Redis down: %v, want 503", &ready)
	}

	srv.Restart(t)
	recovered := recover1(t, c, []*gateway{g})
	if st := newRedisView(t, srv).status(t, q); st.Used <= 0 || recovered == 0 {
		t.Errorf("after Redis came back: Redis used = %d over %d requests served, want > 0", st.Used, recovered)
	} else {
		t.Logf("after Redis came back: %d requests served, Redis used %d µUSD", recovered, st.Used)
	}
}
