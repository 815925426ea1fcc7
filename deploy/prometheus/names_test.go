package prometheus_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/admin"
	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/metrics"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
)

// exported returns the label names of every metric tollgate exports, by metric name: the
// metrics package with each of its parts watched and one of every kind of record, and the
// learned limits' collector.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Config{Registry: reg, Tenants: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{Path: filepath.Join(t.TempDir(), "l.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	cd := fallback.NewCooldowns(fallback.CooldownConfig{})
	if err := m.WatchLedger(l); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchBreakers(cd, []string{"openai/gpt-4o"}); err != nil {
		t.Fatal(err)
	}
	// A Redis store reports its counters without a round trip: no server is needed.
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { rc.Close() })
	st, err := redisstore.New(rc, redisstore.Config{OnEvent: m.ObserveRedis, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := m.WatchRedis(st); err != nil {
		t.Fatal(err)
	}
	for _, k := range []engine.EventKind{engine.Admitted, engine.UpstreamError, engine.Retried, engine.Skipped, engine.Clamped,
		engine.BudgetWarning, engine.Settled} {
		m.Observe(engine.Event{Kind: k, RequestID: "r", Provider: "openai", Model: "gpt-4o", Status: 429, Quota: "q [tenant=acme]",
			Identity: llm.Identity{Tenant: "acme"}})
	}
	m.Request(&metrics.Request{Format: "openai", Route: "gpt-4o", Model: "gpt-4o", Tenant: "acme", Outcome: "fallback", FellBack: true,
		Statuses: []quota.Status{{Quota: &quota.Quota{Name: "tenant-daily", Scope: quota.Labels{Tenant: "acme"}, Unit: quota.MicroUSD,
			Limit: 10, Window: quota.Daily(time.UTC)}, Remaining: 1}}})
	k, _ := cache.NewKey("gpt-4o", &llm.Request{Model: "gpt-4o"})
	m.CountCache(metrics.MemoryCache(cache.New(cache.Config{}))).Get(ctx, k, time.Now())

	set, err := learn.New(learn.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	set.Learner(learn.Upstream{Provider: "openai", Format: llm.OpenAI}, "gpt-4o").Observe(now, learn.OutcomeOf(now,
		quota.Amount{Requests: 1}, &llm.Response{Header: http.Header{"X-Ratelimit-Limit-Requests": {"500"},
			"X-Ratelimit-Remaining-Requests": {"499"}}}, nil))
	reg.MustRegister(learn.NewCollector(set))

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		var labels []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		out[mf.GetName()] = labels
	}
	return out
}

var (
	reName   = regexp.MustCompile(`\btollgate_[a-z0-9_]+`)
	reSeries = regexp.MustCompile(`(tollgate_[a-z0-9_]+)\{([^}]*)\}`)
	reLabel  = regexp.MustCompile(`([a-z_]+)="(?:[^"\\]|\\.)*"`)
)

// TestNamesAgree holds the alert rules, their unit tests and the admin summary to the
// metrics tollgate exports: every metric they read exists (a histogram by its _count and
// _sum), and every label the tests' series carry is one of the metric's (or a label the
// Prometheus server adds to every target's series: instance, job).
func TestNamesAgree(t *testing.T) {
	have := exported(t)
	exists := func(name string) bool {
		for _, suffix := range []string{"", "_count", "_sum", "_bucket"} {
			if _, ok := have[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) {
				return true
			}
		}
		return false
	}
	for _, file := range []string{"alerts.yml", "alerts_test.yml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range reName.FindAllString(string(data), -1) {
			if !exists(name) {
				t.Errorf("%s reads %s, which tollgate does not export", file, name)
			}
		}
		for _, m := range reSeries.FindAllStringSubmatch(string(data), -1) {
			for _, l := range reLabel.FindAllStringSubmatch(m[2], -1) {
				if l[1] != "instance" && l[1] != "job" && !slices.Contains(have[m[1]], l[1]) {
					t.Errorf("%s: series of %s with label %q; the metric's labels are %q", file, m[1], l[1], have[m[1]])
				}
			}
		}
	}
	n := admin.DefaultMetricNames
	for _, name := range []string{n.Requests, n.Upstream429, n.Retries, n.Fallbacks, n.CacheRequests, n.QueueWait, n.LearnedLimit} {
		if !exists(name) {
			t.Errorf("admin.DefaultMetricNames names %s, which tollgate does not export", name)
		}
	}
	for metric, labels := range map[string][]string{n.Requests: {n.Outcome}, n.CacheRequests: {n.CacheResult},
		n.QueueWait: {n.Level}, n.LearnedLimit: {n.Provider, n.Model, n.Unit}} {
		for _, l := range labels {
			if !slices.Contains(have[metric], l) {
				t.Errorf("admin.DefaultMetricNames reads label %q of %s; its labels are %q", l, metric, have[metric])
			}
		}
	}
}
