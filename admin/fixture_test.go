package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// The tokens of the fixtures' admin and metrics keys.
const (
	adminToken   = "admin-token-for-tests"
	metricsToken = "metrics-token-for-tests"
)

// fixtureRules are the quotas of the fixtures: a daily budget per tenant, a lifetime
// budget per session, a rate on one deployment, a token rate per OpenAI model, a
// concurrency cap on tenant gamma (so that its requests queue), and a monthly budget for
// the whole fleet.
func fixtureRules() quota.Rules {
	return quota.Rules{
		{Name: "tenant-daily", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 50_000_000, Window: quota.Daily(time.UTC)},
		{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 5_000_000, Window: quota.Forever()},
		{Name: "gpt-4o-rpm", Scope: quota.Labels{Provider: "openai", Model: "gpt-4o"}, Unit: quota.Requests, Limit: 500, Window: quota.PerMinute()},
		{Name: "openai-tpm", Scope: quota.Labels{Provider: "openai", Model: quota.Each}, Unit: quota.Tokens, Limit: 30_000, Window: quota.PerMinute()},
		{Name: "gamma-concurrent", Scope: quota.Labels{Tenant: "gamma"}, Unit: quota.Concurrent, Limit: 1, Window: quota.Leased()},
		{Name: "fleet-monthly", Unit: quota.MicroUSD, Limit: 1_000_000_000, Window: quota.Monthly(time.UTC)},
	}
}

// fixture is the admin handler over real parts: a SQLite ledger, a key registry on it, a
// memory quota store behind a real queue, real circuit breakers, and a Prometheus registry
// holding metrics under DefaultMetricNames.
type fixture struct {
	h     *Handler
	led   *ledger.Ledger
	reg   *keys.Registry
	store *quota.MemoryStore
	q     *queue.Queue
	cd    *fallback.Cooldowns
	rules quota.Rules

	prom      *prometheus.Registry
	requests  *prometheus.CounterVec
	upstream  *prometheus.CounterVec
	retries   *prometheus.CounterVec
	fallbacks *prometheus.CounterVec
	cache     *prometheus.CounterVec
	wait      *prometheus.HistogramVec
	learned   *prometheus.GaugeVec

	// secrets of the keys created at run time, by id.
	secrets map[string]string

	mu       sync.Mutex
	requestN int
	cancel   context.CancelFunc // of the queued waiters
	waiters  sync.WaitGroup
}

// newFixture builds a fixture with tenants alpha (a config key "ops" and a runtime key
// "alpha-ci" with a $5 daily budget), beta and gamma, and no traffic yet.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{rules: fixtureRules(), secrets: map[string]string{}}
	var err error
	f.led, err = ledger.Open(ctx, ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db"), CommitInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.led.Close(context.Background()); err != nil && !errors.Is(err, ledger.ErrClosed) {
			t.Error(err)
		}
	})
	f.reg, err = keys.Open(ctx, keys.Config{Store: f.led, Refresh: -1, Logger: slog.New(slog.DiscardHandler),
		Static: []keys.Key{{ID: "ops", Tenant: "alpha", Hash: keys.HashSecret("ops-secret"), MaxPriority: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.reg.Close() })
	for _, s := range []keys.Spec{
		{ID: "alpha-ci", Tenant: "alpha", AllowedModels: []string{"gpt-4o"}, Budget: keys.Budget{MicroUSD: 5_000_000, Window: quota.Day}},
		{ID: "beta-batch", Tenant: "beta", MaxPriority: -1},
		{ID: "gamma-1", Tenant: "gamma", RequireSession: true},
	} {
		_, secret, err := f.reg.Create(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		f.secrets[s.ID] = secret
	}
	f.store = quota.NewMemoryStore(quota.MemoryConfig{})
	if f.q, err = queue.New(f.store, queue.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.stopWaiters()
		f.q.Close()
	})
	f.cd = fallback.NewCooldowns(fallback.CooldownConfig{})

	n := DefaultMetricNames
	f.prom = prometheus.NewRegistry()
	f.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: n.Requests, Help: "requests"}, []string{n.Outcome})
	f.upstream = prometheus.NewCounterVec(prometheus.CounterOpts{Name: n.Upstream429, Help: "upstream 429s"}, []string{"provider", "model"})
	f.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: n.Retries, Help: "retries"}, []string{"provider", "model"})
	f.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: n.Fallbacks, Help: "fallbacks"}, []string{"route", "reason"})
	f.cache = prometheus.NewCounterVec(prometheus.CounterOpts{Name: n.CacheRequests, Help: "cache"}, []string{n.CacheResult})
	f.wait = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: n.QueueWait, Help: "wait"}, []string{n.Level})
	f.learned = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n.LearnedLimit, Help: "learned"}, []string{n.Deployment, n.Unit, "source"})
	configured := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n.ConfiguredLimit, Help: "configured"}, []string{n.Deployment, n.Unit})
	f.prom.MustRegister(f.requests, f.upstream, f.retries, f.fallbacks, f.cache, f.wait, f.learned, configured)
	configured.WithLabelValues("openai/gpt-4o", "requests").Set(500)

	f.h, err = New(Config{
		KeyHash:        keys.HashSecret(adminToken),
		MetricsKeyHash: keys.HashSecret(metricsToken),
		Keys:           f.reg,
		Rules:          func() quota.Rules { return f.rules },
		Deployments:    func() []string { return []string{"openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku"} },
		Quotas:         f.store,
		Queue:          f.q,
		Breakers:       f.cd,
		Spend:          f.led,
		Gatherer:       f.prom,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// labels are the labels of a request of key id in session, to model.
func (f *fixture) labels(t testing.TB, id, session, model string) quota.Labels {
	t.Helper()
	k, ok := f.reg.Get(id)
	if !ok {
		t.Fatalf("no key %s", id)
	}
	return quota.Labels{Provider: "openai", Model: model, Tenant: k.Tenant, Key: id, Session: session}
}

// acquire admits one request of key id through the queue, reserving its worst case (twice
// usd, 1000 input and 500 output tokens).
func (f *fixture) acquire(t testing.TB, ctx context.Context, id, session, model string, usd int64, prio int) (quota.ID, error) {
	t.Helper()
	l := f.labels(t, id, session, model)
	req := &quota.Request{Quotas: f.reg.For(nil, f.rules, l), Amount: quota.Amount{Requests: 1, InputTokens: 1000, OutputTokens: 500, MicroUSD: 2 * usd}}
	g, err := f.q.Acquire(ctx, queue.Waiter{Request: req, Priority: prio, Tenant: l.Tenant})
	if err != nil {
		return quota.ID{}, err
	}
	f.wait.WithLabelValues(g.Level.String()).Observe(g.Waited.Seconds())
	return g.Reservation.ID, nil
}

// spend runs one whole request of key id: admitted, settled at usd micro-USD (800 input and
// 300 output tokens), written to the ledger (committed when spend returns) and counted as
// served.
func (f *fixture) spend(t testing.TB, id, session, model string, usd int64) {
	t.Helper()
	ctx := context.Background()
	res, err := f.acquire(t, ctx, id, session, model, usd, 0)
	if err != nil {
		t.Fatalf("acquire(%s, %s): %v", id, session, err)
	}
	if _, err := f.q.Settle(ctx, res, quota.Amount{Requests: 1, InputTokens: 800, OutputTokens: 300, MicroUSD: usd}, nil); err != nil {
		t.Fatal(err)
	}
	l := f.labels(t, id, session, model)
	f.mu.Lock()
	f.requestN++
	rid := fmt.Sprintf("req-%d", f.requestN)
	f.mu.Unlock()
	if err := f.led.Append(ledger.Record{Time: time.Now(), RequestID: rid, Tenant: l.Tenant, Key: id, Session: session,
		Route: model, Provider: "openai", Model: model, InputTokens: 800, OutputTokens: 300, MicroUSD: usd,
		Outcome: ledger.OutcomeOK, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if err := f.led.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	f.requests.WithLabelValues("ok").Inc()
}

// hold admits a request of key id and leaves it open: its worst case is held.
func (f *fixture) hold(t testing.TB, id, session, model string, usd int64) {
	t.Helper()
	if _, err := f.acquire(t, context.Background(), id, session, model, usd, 0); err != nil {
		t.Fatalf("acquire(%s): %v", id, err)
	}
}

// queueWaiters makes gamma's concurrency quota full and queues one request of gamma at
// each priority (critical, high, normal, low), waiting until all four are queued.
func (f *fixture) queueWaiters(t testing.TB) {
	t.Helper()
	f.hold(t, "gamma-1", "g-run", "gpt-4o-mini", 1_000)
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	for _, prio := range []int{3, 2, 0, -1} {
		f.waiters.Go(func() {
			// Cancelled at the end of the test; the error is the point.
			_, _ = f.acquire(t, ctx, "gamma-1", "g-run", "gpt-4o-mini", 1_000, prio)
		})
	}
	deadline, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	for f.q.Stats().Queued < 4 {
		if deadline.Err() != nil {
			t.Fatalf("waiters queued: %d of 4", f.q.Stats().Queued)
		}
		runtime.Gosched()
	}
}

func (f *fixture) stopWaiters() {
	if f.cancel != nil {
		f.cancel()
	}
	f.waiters.Wait()
}

// traffic is the fixture's standard load: alpha spends through both its keys in three
// sessions and holds one call open; beta spends once; gamma queues four; upstreams
// refuse, retry, fall back and hit the cache; gpt-4o's breaker opens on a 429 and
// claude's counts one failure.
func (f *fixture) traffic(t testing.TB) {
	t.Helper()
	f.spend(t, "alpha-ci", "run-1", "gpt-4o", 1_200_000)
	f.spend(t, "alpha-ci", "run-1", "gpt-4o", 300_000)
	f.spend(t, "ops", "run-2", "gpt-4o-mini", 700_000)
	f.spend(t, "ops", "run-3", "gpt-4o-mini", 50_000)
	f.spend(t, "beta-batch", "b-1", "gpt-4o-mini", 90_000)
	f.hold(t, "alpha-ci", "run-4", "gpt-4o", 250_000)
	f.queueWaiters(t)

	f.requests.WithLabelValues("rate_limited").Add(2)
	f.requests.WithLabelValues("queue_full").Add(1)
	f.requests.WithLabelValues("budget_exceeded").Add(1)
	f.requests.WithLabelValues("fallback").Add(3)
	f.upstream.WithLabelValues("openai", "gpt-4o").Add(4)
	f.retries.WithLabelValues("openai", "gpt-4o").Add(5)
	f.fallbacks.WithLabelValues("smart", "rate_limited").Add(3)
	f.cache.WithLabelValues("hit").Add(2)
	f.cache.WithLabelValues("miss").Add(6)
	f.learned.WithLabelValues("openai/gpt-4o", "requests", "headers").Set(480)

	now := time.Now()
	done, _, _ := f.cd.Allow("openai/gpt-4o", now)
	done(&llm.Error{Kind: llm.KindRateLimited, RetryAfter: time.Minute}, now)
	done, _, _ = f.cd.Allow("anthropic/claude-3-5-haiku", now)
	done(&llm.Error{Kind: llm.KindServer}, now)
}
