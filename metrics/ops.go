package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/redisstore"
)

// This file holds the metrics an operator watches besides the traffic's: the parts'
// health (breakers, calls in flight, the response cache, the ledger's writer, Redis). The
// state of parts is read at scrape time from the parts themselves (Watch*), so that a
// metric never drifts from what the part says; what happens once is counted as it happens.

// Breakers are the deployments' circuit breakers; *fallback.Cooldowns and
// *redisstore.Cooldowns are ones.
type Breakers interface {
	Breakers(now time.Time) []fallback.Breaker
}

// LedgerStats reads the ledger writer's counters; *ledger.Ledger is one.
type LedgerStats interface {
	Stats() ledger.Stats
}

// RedisStats reads the Redis quota store's counters; *redisstore.Store is one.
type RedisStats interface {
	Stats() redisstore.Stats
}

// ops holds the operator's metrics of a Metrics.
type ops struct {
	inflight *prometheus.GaugeVec
	cache    *prometheus.CounterVec
	redisEvs *prometheus.CounterVec
	limit    *prometheus.GaugeVec

	// open are the requests holding a reservation, by request id, with the in-flight
	// gauge they raised: an engine run holds at most one at a time.
	mu   sync.Mutex
	open map[string]prometheus.Gauge
}

func newOps() *ops {
	return &ops{
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tollgate_inflight",
			Help: "Upstream calls admitted and not yet settled (streams until their end), by provider and model."},
			[]string{"provider", "model"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_cache_requests_total",
			Help: "Response-cache lookups, by what the cache had: hit (a fresh answer), stale (only a stale one, served where a route's cached step allows it) or miss."},
			[]string{"result"}),
		redisEvs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_redis_transitions_total",
			Help: "Transitions of the Redis quota store, by event: degraded, rejoined, data_lost, rebuilt, rebuild_failed, outbox_full."},
			[]string{"event"}),
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tollgate_budget_limit",
			Help: "The limit in force of a budget when a request last reported it (overrides included), in its unit (usd is micro-USD), by quota, scope and unit."},
			[]string{"quota", "scope", "unit"}),
		open: map[string]prometheus.Gauge{},
	}
}

func (o *ops) collectors() []prometheus.Collector {
	return []prometheus.Collector{o.inflight, o.cache, o.redisEvs, o.limit}
}

// observeInflight keeps tollgate_inflight: raised by Admitted, lowered by whatever ends
// that reservation (its Settled event, the attempt's UpstreamError, or a Skipped event
// when the breaker refused the call after the reservation). Each reservation is lowered
// once, under the labels it was raised with.
func (m *Metrics) observeInflight(ev *engine.Event) {
	o := m.ops
	switch ev.Kind {
	case engine.Admitted:
		g := o.inflight.WithLabelValues(ev.Provider, m.Model(ev.Model))
		o.mu.Lock()
		prev, had := o.open[ev.RequestID]
		o.open[ev.RequestID] = g
		o.mu.Unlock()
		if had {
			prev.Dec()
		}
		g.Inc()
	case engine.Settled, engine.UpstreamError, engine.Skipped, engine.Refused:
		o.mu.Lock()
		g, had := o.open[ev.RequestID]
		delete(o.open, ev.RequestID)
		o.mu.Unlock()
		if had {
			g.Dec()
		}
	}
}

// ObserveRedis counts a transition of the Redis quota store. Give it to
// redisstore.Config.OnEvent; it does not block.
func (m *Metrics) ObserveRedis(ev redisstore.Event) {
	m.ops.redisEvs.WithLabelValues(ev.Kind.String()).Inc()
}

// CountCache returns c counting its lookups in tollgate_cache_requests_total. Give the
// result to engine.Config.SharedCache (for the in-process cache, through MemoryCache).
func (m *Metrics) CountCache(c engine.ResponseCache) engine.ResponseCache {
	return countedCache{c: c, hit: m.ops.cache.WithLabelValues("hit"), stale: m.ops.cache.WithLabelValues("stale"),
		miss: m.ops.cache.WithLabelValues("miss")}
}

type countedCache struct {
	c                engine.ResponseCache
	hit, stale, miss prometheus.Counter
}

func (c countedCache) Get(ctx context.Context, k cache.Key, now time.Time) (cache.Entry, bool, bool) {
	e, fresh, ok := c.c.Get(ctx, k, now)
	switch {
	case !ok:
		c.miss.Inc()
	case fresh:
		c.hit.Inc()
	default:
		c.stale.Inc()
	}
	return e, fresh, ok
}

func (c countedCache) Put(ctx context.Context, k cache.Key, resp *llm.Response, now time.Time) error {
	return c.c.Put(ctx, k, resp, now)
}

// MemoryCache is the in-process response cache as an engine.ResponseCache, for
// CountCache: it never blocks and ignores its context.
func MemoryCache(c *cache.Cache) engine.ResponseCache { return memoryCache{c} }

type memoryCache struct{ c *cache.Cache }

func (m memoryCache) Get(_ context.Context, k cache.Key, now time.Time) (cache.Entry, bool, bool) {
	return m.c.Get(k, now)
}

func (m memoryCache) Put(_ context.Context, k cache.Key, resp *llm.Response, now time.Time) error {
	return m.c.Put(k, resp, now)
}

// WatchBreakers makes tollgate_breaker_state report b's breakers at scrape time: one
// series per deployment of deployments ("provider/model", those of the routes), 0 for
// those without state, and one for any other deployment with state whose model is a
// price-table name. It must be called before the first scrape and at most once.
func (m *Metrics) WatchBreakers(b Breakers, deployments []string) error {
	return m.reg.Register(&breakerCollector{m: m, b: b, deployments: deployments,
		desc: prometheus.NewDesc("tollgate_breaker_state",
			"The circuit breaker of a deployment (provider/model): 0 closed, 1 open, 2 half-open (a probe may pass).",
			[]string{"deployment"}, nil)})
}

type breakerCollector struct {
	m           *Metrics
	b           Breakers
	deployments []string
	desc        *prometheus.Desc
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	states := make(map[string]fallback.State, len(c.deployments))
	for _, d := range c.deployments {
		states[d] = fallback.Closed
	}
	for _, br := range c.b.Breakers(time.Now()) {
		if _, known := states[br.Deployment]; !known {
			// A model called by name rather than through a route: bounded by the price
			// table, whose names are the only ones kept.
			_, model, _ := strings.Cut(br.Deployment, "/")
			if p, err := c.m.prices.Lookup(model); err != nil || p.Name != model {
				continue
			}
		}
		states[br.Deployment] = br.State
	}
	for d, st := range states {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(st), d)
	}
}

// WatchLedger makes the ledger metrics report l's writer at scrape time:
//
//	tollgate_ledger_lag_seconds         how long records have waited for a commit that
//	                                    does not come: 0 while none wait or commits go on
//	tollgate_ledger_write_errors_total  failed commits (their records are kept and retried)
//	tollgate_ledger_pending             records appended and not yet committed
//	tollgate_ledger_records_total       records committed
//	tollgate_ledger_rejected_total      appends refused because the queue was full
//
// The lag is measured between scrapes: the time since a scrape last saw the writer commit
// (or first saw records waiting), so it is exact to one scrape interval, never more. It must be
// called before the first scrape and at most once.
func (m *Metrics) WatchLedger(l LedgerStats) error {
	return m.reg.Register(&ledgerCollector{l: l, now: time.Now,
		lag: prometheus.NewDesc("tollgate_ledger_lag_seconds",
			"Seconds since the ledger's writer last committed while records wait for it (0 when none wait), measured at scrape time.", nil, nil),
		errors: prometheus.NewDesc("tollgate_ledger_write_errors_total",
			"Failed ledger commits; their records are kept and retried.", nil, nil),
		pending: prometheus.NewDesc("tollgate_ledger_pending",
			"Usage records appended to the ledger and not yet committed.", nil, nil),
		records: prometheus.NewDesc("tollgate_ledger_records_total",
			"Usage records committed to the ledger.", nil, nil),
		rejected: prometheus.NewDesc("tollgate_ledger_rejected_total",
			"Ledger appends refused because its queue was full (backpressure).", nil, nil),
	})
}

type ledgerCollector struct {
	l                                       LedgerStats
	now                                     func() time.Time
	lag, errors, pending, records, rejected *prometheus.Desc

	mu        sync.Mutex
	committed int64     // Stats.Committed at the last scrape
	waiting   bool      // the last scrape saw records pending
	progress  time.Time // when a scrape last saw a commit, or records pending first
}

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.errors
	ch <- c.pending
	ch <- c.records
	ch <- c.rejected
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.l.Stats()
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, c.lagAt(st, c.now()).Seconds())
	ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(st.Failures))
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(c.records, prometheus.CounterValue, float64(st.Committed))
	ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(st.Rejected))
}

// lagAt is, at now, how long records have waited without a commit, as far as the scrapes
// saw: from the scrape that last saw a commit, or that first saw records waiting (they
// arrived after the one before). 0 while commits go on or nothing waits.
func (c *ledgerCollector) lagAt(st ledger.Stats, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	waiting := st.Pending > 0
	defer func() { c.committed, c.waiting = st.Committed, waiting }()
	if !waiting || !c.waiting || st.Committed != c.committed {
		c.progress = now
		return 0
	}
	return max(now.Sub(c.progress), 0)
}

// WatchRedis makes the Redis metrics report s at scrape time:
//
//	tollgate_redis_degraded              1 while this replica runs without Redis
//	tollgate_redis_outbox                settles and releases waiting for Redis
//	tollgate_redis_open_local            local reservations not yet settled or installed
//	tollgate_redis_rebuilds_total        rebuilds of the fleet's state by this replica
//	tollgate_redis_rebuild_failures_total
//	tollgate_redis_data_losses_total     times this replica found the state gone
//	tollgate_redis_outbox_dropped_total  settles and releases dropped, the outbox full
//	tollgate_redis_local_reserves_total  reservations granted locally (fail_open_local)
//
// Give ObserveRedis to redisstore.Config.OnEvent for the transitions. It must be called
// before the first scrape and at most once.
func (m *Metrics) WatchRedis(s RedisStats) error {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return m.reg.Register(&redisCollector{s: s,
		degraded:    d("tollgate_redis_degraded", "1 while this replica cannot reach Redis and applies its failure policy, else 0."),
		outbox:      d("tollgate_redis_outbox", "Settles, releases and local charges waiting for Redis to answer."),
		openLocal:   d("tollgate_redis_open_local", "Reservations granted locally (fail_open_local) not yet settled, released or installed in Redis."),
		rebuilds:    d("tollgate_redis_rebuilds_total", "Rebuilds of the fleet's quota state from the ledger made by this replica after Redis lost it."),
		rebuildErrs: d("tollgate_redis_rebuild_failures_total", "Rebuilds of the quota state by this replica that failed."),
		losses:      d("tollgate_redis_data_losses_total", "Times this replica found the fleet's quota state gone from Redis (a first start counts once)."),
		dropped:     d("tollgate_redis_outbox_dropped_total", "Settles and releases dropped because the outbox was full: charged at their worst case."),
		local:       d("tollgate_redis_local_reserves_total", "Reservations granted by the local fallback while Redis was unreachable (fail_open_local)."),
	})
}

type redisCollector struct {
	s                                                                          RedisStats
	degraded, outbox, openLocal, rebuilds, rebuildErrs, losses, dropped, local *prometheus.Desc
}

func (c *redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.degraded, c.outbox, c.openLocal, c.rebuilds, c.rebuildErrs, c.losses, c.dropped, c.local} {
		ch <- d
	}
}

func (c *redisCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	degraded := 0.0
	if st.Degraded {
		degraded = 1
	}
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	n := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	g(c.degraded, degraded)
	g(c.outbox, float64(st.Outbox))
	g(c.openLocal, float64(st.OpenLocal))
	n(c.rebuilds, st.Rebuilds)
	n(c.rebuildErrs, st.RebuildFailures)
	n(c.losses, st.DataLosses)
	n(c.dropped, st.Dropped)
	n(c.local, st.LocalReserves)
}
