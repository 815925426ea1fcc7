package metrics_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/metrics"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
)

func newMetrics(t *testing.T, cfg metrics.Config) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registry = reg
	m, err := metrics.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// series gathers reg and returns the counters' and gauges' values of the metrics named,
// by "name{label=value,...}" (labels in Prometheus' order: by name).
func series(t *testing.T, reg prometheus.Gatherer, names ...string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, n := range names {
			if mf.GetName() != n {
				continue
			}
			for _, m := range mf.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				out[n+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// TestInflight plays the event sequences the engine emits for one request's
// reservations: each reservation raises tollgate_inflight once and is lowered once by
// whatever ends it, under the labels it was raised with.
func TestInflight(t *testing.T) {
	ev := func(k engine.EventKind, id, provider, model string) engine.Event {
		return engine.Event{Kind: k, RequestID: id, Provider: provider, Model: model}
	}
	tests := []struct {
		name   string
		events []engine.Event
		want   map[string]float64
	}{
		{"answered", []engine.Event{ev(engine.Admitted, "r1", "openai", "gpt-4o"), ev(engine.Settled, "r1", "openai", "gpt-4o"),
			ev(engine.Served, "r1", "openai", "gpt-4o")},
			map[string]float64{"tollgate_inflight{model=gpt-4o,provider=openai}": 0}},
		{"stream in flight", []engine.Event{ev(engine.Admitted, "r1", "openai", "gpt-4o"), ev(engine.Served, "r1", "openai", "gpt-4o")},
			map[string]float64{"tollgate_inflight{model=gpt-4o,provider=openai}": 1}},
		{"retried then fell back", []engine.Event{
			ev(engine.Admitted, "r1", "openai", "gpt-4o"), ev(engine.UpstreamError, "r1", "openai", "gpt-4o"),
			ev(engine.Retried, "r1", "openai", "gpt-4o"),
			ev(engine.Admitted, "r1", "openai", "gpt-4o"), ev(engine.UpstreamError, "r1", "openai", "gpt-4o"),
			ev(engine.Admitted, "r1", "anthropic", "claude-3-5-haiku")},
			map[string]float64{"tollgate_inflight{model=gpt-4o,provider=openai}": 0,
				"tollgate_inflight{model=claude-3-5-haiku,provider=anthropic}": 1}},
		{"breaker refused after the reservation", []engine.Event{ev(engine.Admitted, "r1", "openai", "gpt-4o"),
			ev(engine.Skipped, "r1", "openai", "gpt-4o")},
			map[string]float64{"tollgate_inflight{model=gpt-4o,provider=openai}": 0}},
		{"skipped before any reservation", []engine.Event{ev(engine.Admitted, "r1", "openai", "gpt-4o"),
			ev(engine.Skipped, "r2", "openai", "gpt-4o"), ev(engine.Refused, "r2", "", "")},
			map[string]float64{"tollgate_inflight{model=gpt-4o,provider=openai}": 1}},
		{"dated model id", []engine.Event{ev(engine.Admitted, "r1", "openai", "gpt-4o-2024-08-06"),
			ev(engine.Admitted, "r2", "openai", "gpt-4o"), ev(engine.Settled, "r1", "openai", "gpt-4o-2024-08-06")},
			map[string]float64{"tollgate_inflight{model=gpt-4o,provider=openai}": 1}},
		{"concurrent requests", []engine.Event{ev(engine.Admitted, "r1", "openai", "gpt-4o"), ev(engine.Admitted, "r2", "openai", "gpt-4o"),
			ev(engine.Admitted, "r3", "openai", "gpt-4o"), ev(engine.Settled, "r2", "openai", "gpt-4o")},
			map[string]float64{"tollgate_inflight{model=gpt-4o,provider=openai}": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newMetrics(t, metrics.Config{})
			for _, e := range tt.events {
				m.Observe(e)
			}
			if diff := cmp.Diff(tt.want, series(t, reg, "tollgate_inflight")); diff != "" {
				t.Errorf("tollgate_inflight (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCountCache counts the lookups of a real in-process cache by what it had.
func TestCountCache(t *testing.T) {
	m, reg := newMetrics(t, metrics.Config{})
	now := time.Now()
	mem := cache.New(cache.Config{TTL: time.Minute, StaleFor: time.Hour})
	c := m.CountCache(metrics.MemoryCache(mem))
	ctx := context.Background()
	req := &llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: "user", Content: "hi"}}}
	k, err := cache.NewKey("gpt-4o", req)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := c.Get(ctx, k, now); ok {
		t.Fatal("a hit in an empty cache")
	}
	if err := c.Put(ctx, k, &llm.Response{Model: "gpt-4o", Text: "hello", StopReason: "stop"}, now); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{now, now.Add(time.Second), now.Add(2 * time.Minute)} {
		if _, _, ok := c.Get(ctx, k, at); !ok {
			t.Fatalf("Get at %v missed", at.Sub(now))
		}
	}
	want := map[string]float64{"tollgate_cache_requests_total{result=hit}": 2, "tollgate_cache_requests_total{result=stale}": 1,
		"tollgate_cache_requests_total{result=miss}": 1}
	if diff := cmp.Diff(want, series(t, reg, "tollgate_cache_requests_total")); diff != "" {
		t.Errorf("cache lookups (-want +got):\n%s", diff)
	}
}

// TestBreakerState reads real breakers at scrape time: every configured deployment has a
// series, and an unconfigured one only when its model is a price-table name.
func TestBreakerState(t *testing.T) {
	m, reg := newMetrics(t, metrics.Config{})
	cd := fallback.NewCooldowns(fallback.CooldownConfig{Cooldown: time.Minute, FailureThreshold: 1})
	if err := m.WatchBreakers(cd, []string{"openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fail := func(deployment string, err error) {
		done, _, ok := cd.Allow(deployment, now)
		if !ok {
			t.Fatalf("Allow(%s) refused", deployment)
		}
		done(err, now)
	}
	fail("openai/gpt-4o", &llm.Error{Kind: llm.KindRateLimited, RetryAfter: time.Minute})
	fail("anthropic/claude-3-5-haiku", &llm.Error{Kind: llm.KindServer})
	fail("openai/gpt-4.1", &llm.Error{Kind: llm.KindServer})         // priced, called by name
	fail("openai/made-up-model-7", &llm.Error{Kind: llm.KindServer}) // unbounded: left out
	want := map[string]float64{
		"tollgate_breaker_state{deployment=openai/gpt-4o}":              float64(fallback.Open),
		"tollgate_breaker_state{deployment=openai/gpt-4o-mini}":         float64(fallback.Closed),
		"tollgate_breaker_state{deployment=anthropic/claude-3-5-haiku}": float64(fallback.Open),
		"tollgate_breaker_state{deployment=openai/gpt-4.1}":             float64(fallback.Open),
	}
	if diff := cmp.Diff(want, series(t, reg, "tollgate_breaker_state")); diff != "" {
		t.Errorf("tollgate_breaker_state (-want +got):\n%s", diff)
	}
	cd.Reset("openai/gpt-4o")
	if got := series(t, reg, "tollgate_breaker_state")["tollgate_breaker_state{deployment=openai/gpt-4o}"]; got != 0 {
		t.Errorf("state after Reset = %v, want 0 (closed)", got)
	}
}

// TestLedgerMetrics reads a real ledger's writer: records committed, none pending, no
// lag and no errors.
func TestLedgerMetrics(t *testing.T) {
	m, reg := newMetrics(t, metrics.Config{})
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{Path: filepath.Join(t.TempDir(), "l.db"), CommitInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	if err := m.WatchLedger(l); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Append(ledger.Record{Time: time.Now(), RequestID: "r" + string(rune('0'+i)), Tenant: "t", Key: "k",
			Provider: "openai", Model: "gpt-4o", MicroUSD: 10, Outcome: ledger.OutcomeOK, Attempt: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"tollgate_ledger_lag_seconds{}": 0, "tollgate_ledger_write_errors_total{}": 0,
		"tollgate_ledger_pending{}": 0, "tollgate_ledger_records_total{}": 3, "tollgate_ledger_rejected_total{}": 0}
	if diff := cmp.Diff(want, series(t, reg, "tollgate_ledger_lag_seconds", "tollgate_ledger_write_errors_total",
		"tollgate_ledger_pending", "tollgate_ledger_records_total", "tollgate_ledger_rejected_total")); diff != "" {
		t.Errorf("ledger metrics (-want +got):\n%s", diff)
	}
}

// TestRedisMetrics runs a Redis store against an address where nothing answers: its first
// reservation finds Redis down, which the degraded gauge and the transition counter say.
func TestRedisMetrics(t *testing.T) {
	m, reg := newMetrics(t, metrics.Config{})
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer client.Close()
	st, err := redisstore.New(client, redisstore.Config{Timeout: 200 * time.Millisecond, OnEvent: m.ObserveRedis,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := m.WatchRedis(st); err != nil {
		t.Fatal(err)
	}
	names := []string{"tollgate_redis_degraded", "tollgate_redis_transitions_total"}
	if got := series(t, reg, names...); got["tollgate_redis_degraded{}"] != 0 || len(got) != 1 {
		t.Errorf("before any operation: %v, want degraded 0 and no transition", got)
	}
	req := &quota.Request{Quotas: []quota.Quota{{Name: "rpm", Key: "rpm", Unit: quota.Requests, Limit: 10, Window: quota.PerMinute()}},
		Amount: quota.Amount{Requests: 1}}
	if _, _, err := st.Reserve(context.Background(), req, nil); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("Reserve with Redis down = %v, want ErrUnavailable", err)
	}
	want := map[string]float64{"tollgate_redis_degraded{}": 1, "tollgate_redis_transitions_total{event=degraded}": 1}
	if diff := cmp.Diff(want, series(t, reg, names...)); diff != "" {
		t.Errorf("after Redis went down (-want +got):\n%s", diff)
	}
}

// TestBudgetLimit: a request's budget statuses give both the remaining and the limit in
// force, for the alert on a budget past 90% of its limit.
func TestBudgetLimit(t *testing.T) {
	m, reg := newMetrics(t, metrics.Config{Tenants: []string{"acme"}, KnownTenant: func(t string) bool { return t == "runtime" }})
	day := quota.Daily(time.UTC)
	st := func(tenant string, limit, remaining int64) quota.Status {
		return quota.Status{Quota: &quota.Quota{Name: "tenant-usd", Scope: quota.Labels{Tenant: tenant}, Unit: quota.MicroUSD,
			Limit: limit, Window: day}, Remaining: remaining}
	}
	m.Request(&metrics.Request{Format: "openai", Outcome: "ok", Statuses: []quota.Status{
		st("acme", 50_000_000, 4_000_000), st("runtime", 80_000_000, 1), st("caller-chosen", 1, 1)}})
	want := map[string]float64{
		"tollgate_budget_limit{quota=tenant-usd,scope=tenant=acme,unit=usd}":        50_000_000,
		"tollgate_budget_remaining{quota=tenant-usd,scope=tenant=acme,unit=usd}":    4_000_000,
		"tollgate_budget_limit{quota=tenant-usd,scope=tenant=runtime,unit=usd}":     80_000_000,
		"tollgate_budget_remaining{quota=tenant-usd,scope=tenant=runtime,unit=usd}": 1,
	}
	if diff := cmp.Diff(want, series(t, reg, "tollgate_budget_limit", "tollgate_budget_remaining")); diff != "" {
		t.Errorf("budget gauges (-want +got):\n%s", diff)
	}
}
