package fleettest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// TestGatewaysOnRedisCluster runs two gateways in redis mode "cluster" against a one-node
// Redis Cluster, which applies Cluster's rules (slot routing, cross-slot refusals) to every
// script. Requests with a rate and a budget are served through both, and the budget counter
// that a ClusterClient reads matches the upstream's bill.
func TestGatewaysOnRedisCluster(t *testing.T) {
	const requests = 20
	srv := redistest.StartCluster(t)
	up := startUpstream(t, emulator.Config{Seed: 6, Output: emulator.Output{MinTokens: 5, MaxTokens: 20}})
	dir := t.TempDir()
	cfg := fleetConfig{
		upstream: up.baseURL(),
		quotas: `
- name: fleet-rpm
  unit: requests
  limit: 1000
  window: minute
- name: fleet-usd
  unit: usd
  limit: "10.00"
  window: lifetime
`,
		redis: "mode: cluster\naddrs: [\"" + srv.Addr() + "\"]\ntimeout: 2s\n",
	}
	gws := startFleet(t, dir, 2, cfg, false)
	c := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range requests {
		g := gws[i%len(gws)]
		if r := chat(ctx, c, g.url(), "gpt-4o-mini", 16); r.status != http.StatusOK {
			t.Fatalf("request %d via %s: %v, want 200", i, g.name, &r)
		}
	}

	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr()}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = cc.Close() })
	view := newRedisViewClient(t, cc)
	st := view.status(t, globalQuota(t, quota.Rule{Name: "fleet-usd", Unit: quota.MicroUSD, Limit: 10_000_000, Window: quota.Forever()}))
	bill := up.Stats().Total
	if st.Used != bill.CostMicroUSD || st.Held != 0 || bill.Served != requests {
		t.Errorf("Redis Cluster: used %d µUSD, held %d; upstream: %d served, %d µUSD; want used = bill, held 0, %d served",
			st.Used, st.Held, bill.Served, bill.CostMicroUSD, requests)
	}
}
