// Package metrics is tollgate's Prometheus metrics. It observes what happens rather than
// standing in the way of it: the engine's events (give Observe to engine.Config.OnEvent)
// and the gateway's record of each request (Request). It never wraps the quota store, so
// that every optional interface of the store (the Redis store's lease Renew) stays visible
// to the engine.
//
// Every label is bounded by the configuration: routes, models and tenants take the values
// that Config names (and the price table's models), anything else is counted under the
// single value Other; quotas are the rules' names, outcomes and reasons fixed sets. A
// caller that sends 20,000 made-up model ids adds no series.
//
// Besides the traffic, Metrics reports the health of the parts an operator watches: calls
// in flight (from the engine's events), response-cache lookups (CountCache
// wraps the engine's cache), the deployments' breakers (WatchBreakers), the ledger's
// writer (WatchLedger) and the Redis quota store (WatchRedis, ObserveRedis), each read at
// scrape time from the part itself. deploy/prometheus holds alert rules over them, and the
// admin package serves them on its listener.
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// Other is the label value of a route, model or tenant that the configuration does not
// name.
const Other = "other"

// Config configures Metrics. Its zero value is usable: a new registry, and labels bounded
// to the default price table's models (every route and tenant then counts as Other).
type Config struct {
	// Registry receives the metrics; nil means a new registry that also holds the Go and
	// process collectors.
	Registry *prometheus.Registry
	// Routes are the route names the route label may take, besides the price table's
	// models (a model is a one-step route).
	Routes []string
	// Models are model ids the model label may take besides the price table's.
	Models []string
	// Tenants are the tenants the tenant label may take: those of the virtual keys.
	Tenants []string
	// KnownTenant, when set, reports whether a tenant outside Tenants may be a label
	// value too: the tenants of keys created at run time. It is called for every
	// recorded request and must be fast and safe for concurrent use; what it accepts must
	// stay bounded (the operator's keys, never a value a caller chooses).
	KnownTenant func(tenant string) bool
	// Prices gives the models the model and route labels may take, each under its table
	// name: a dated or aliased id ("gpt-4o-2024-08-06") is counted under its model
	// ("gpt-4o"). nil means pricing.Default().
	Prices *pricing.Table
}

// Metrics holds tollgate's metrics, all named tollgate_*. All methods are safe for
// concurrent use and do not block.
type Metrics struct {
	reg    *prometheus.Registry
	prices *pricing.Table
	routes map[string]bool
	models map[string]bool
	tenant map[string]bool
	known  func(string) bool

	requests        *prometheus.CounterVec
	byTenant        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	upstreamErrors  *prometheus.CounterVec
	upstream429     *prometheus.CounterVec
	retries         *prometheus.CounterVec
	fallbacks       *prometheus.CounterVec
	skipped         *prometheus.CounterVec
	spend           *prometheus.CounterVec
	tokens          *prometheus.CounterVec
	budgetRemaining *prometheus.GaugeVec
	budgetWarnings  *prometheus.CounterVec
	clamped         prometheus.Counter
	queueWait       *prometheus.HistogramVec
	queueDepth      *prometheus.Desc

	queue atomic.Pointer[queue.Queue]
	ops   *ops

	// gauges holds each bounded budget's two gauges: looking up a vector's child by its
	// labels hashes them, and the scope's label renders to a new string, twice per budget
	// per request. At most maxGauges.
	gaugesMu sync.RWMutex
	gauges   map[gaugeKey]*budgetGauges
}

// gaugeKey names a budget's series: its rule, scope and unit.
type gaugeKey struct {
	name  string
	scope quota.Labels
	unit  quota.Unit
}

// budgetGauges are one budget's series of tollgate_budget_remaining and
// tollgate_budget_limit.
type budgetGauges struct{ remaining, limit prometheus.Gauge }

// maxGauges bounds the budgets' gauges kept at hand; past it, a budget's are looked up
// by their labels each time (as correct, slower).
const maxGauges = 4096

// New registers tollgate's metrics on cfg.Registry (a new registry when nil). It fails if
// the registry already holds them.
func New(cfg Config) (*Metrics, error) {
	reg := cfg.Registry
	own := reg == nil
	if own {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{reg: reg, prices: cfg.Prices, routes: set(cfg.Routes), models: set(cfg.Models), tenant: set(cfg.Tenants),
		known: cfg.KnownTenant, ops: newOps(), gauges: make(map[gaugeKey]*budgetGauges)}
	if m.prices == nil {
		m.prices = pricing.Default()
	}
	seconds := []float64{.0001, .0005, .001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_requests_total",
		Help: "Requests answered by the gateway, by wire format, route, serving model and outcome."},
		[]string{"format", "route", "model", "outcome"})
	m.byTenant = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_tenant_requests_total",
		Help: "Requests answered by the gateway, by tenant, outcome and, for errors, who refused (tollgate or upstream)."},
		[]string{"tenant", "outcome", "source"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tollgate_request_duration_seconds",
		Help: "Time from a request's arrival to its last byte (streams: to their end), by format and outcome.", Buckets: seconds},
		[]string{"format", "outcome"})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_upstream_errors_total",
		Help: "Failed upstream attempts, by provider, model and kind."}, []string{"provider", "model", "kind"})
	m.upstream429 = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_upstream_429_total",
		Help: "Upstream attempts refused with HTTP 429, by provider and model."}, []string{"provider", "model"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_retries_total",
		Help: "Retries of an upstream attempt at the same model, by provider and model."}, []string{"provider", "model"})
	m.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_fallbacks_total",
		Help: "Requests served by a step other than their route's first, by route and why the first did not serve."},
		[]string{"route", "reason"})
	m.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_chain_steps_skipped_total",
		Help: "Chain steps skipped without calling the upstream, by reason."}, []string{"reason"})
	m.spend = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_spend_micro_usd_total",
		Help: "Settled spend in micro-USD, by tenant."}, []string{"tenant"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_tokens_total",
		Help: "Settled tokens, by tenant, model and direction (input, output)."}, []string{"tenant", "model", "direction"})
	m.budgetRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tollgate_budget_remaining",
		Help: "What a budget had left when a request last reported it, in its unit (usd is micro-USD), by quota, scope and unit."},
		[]string{"quota", "scope", "unit"})
	m.budgetWarnings = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_budget_warnings_total",
		Help: "Budgets crossing their warn threshold, by quota."}, []string{"quota"})
	m.clamped = prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_clamped_total",
		Help: "Requests whose max_tokens was lowered to fit a budget."})
	m.queueWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tollgate_queue_wait_seconds",
		Help: "Time from arrival in the admission queue to a reservation, store round trips included, by priority level.", Buckets: seconds},
		[]string{"level"})
	m.queueDepth = prometheus.NewDesc("tollgate_queue_depth", "Requests waiting in the admission queue, by priority level.",
		[]string{"level"}, nil)
	cs := []prometheus.Collector{m.requests, m.byTenant, m.duration, m.upstreamErrors, m.upstream429, m.retries,
		m.fallbacks, m.skipped, m.spend, m.tokens, m.budgetRemaining, m.budgetWarnings, m.clamped, m.queueWait,
		queueCollector{m}}
	cs = append(cs, m.ops.collectors()...)
	if own {
		cs = append(cs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Registry returns the registry the metrics are on, for more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus' text format (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// WatchQueue makes tollgate_queue_depth report q's waiters at scrape time.
func (m *Metrics) WatchQueue(q *queue.Queue) { m.queue.Store(q) }

// Model returns the model label of id: its price table name, a configured model, or Other.
// "" stays "" (no model served).
func (m *Metrics) Model(id string) string {
	if id == "" || m.models[id] {
		return id
	}
	if p, err := m.prices.Lookup(id); err == nil {
		return p.Name
	}
	return Other
}

// Route returns the route label of name: a configured route, else as Model.
func (m *Metrics) Route(name string) string {
	if m.routes[name] {
		return name
	}
	return m.Model(name)
}

// Tenant returns the tenant label of t: a configured tenant or Other; "" stays "".
func (m *Metrics) Tenant(t string) string {
	if t == "" || m.tenant[t] || (m.known != nil && m.known(t)) {
		return t
	}
	return Other
}

// Observe records one engine event. Give it to engine.Config.OnEvent.
func (m *Metrics) Observe(ev engine.Event) {
	m.observeInflight(&ev)
	switch ev.Kind {
	case engine.Admitted:
		m.queueWait.WithLabelValues(ev.Level.String()).Observe(ev.Waited.Seconds())
	case engine.UpstreamError:
		model := m.Model(ev.Model)
		m.upstreamErrors.WithLabelValues(ev.Provider, model, ev.ErrKind.String()).Inc()
		if ev.Status == http.StatusTooManyRequests {
			m.upstream429.WithLabelValues(ev.Provider, model).Inc()
		}
	case engine.Retried:
		m.retries.WithLabelValues(ev.Provider, m.Model(ev.Model)).Inc()
	case engine.Skipped:
		m.skipped.WithLabelValues(ev.Why.String()).Inc()
	case engine.Clamped:
		m.clamped.Inc()
	case engine.BudgetWarning:
		// The rule's name is the bounded part; the scope (a tenant, a session) is not.
		m.budgetWarnings.WithLabelValues(ev.Budget.Name).Inc()
	case engine.Settled:
		tenant := m.Tenant(ev.Identity.Tenant)
		model := m.Model(ev.Model)
		m.spend.WithLabelValues(tenant).Add(float64(ev.MicroUSD))
		m.tokens.WithLabelValues(tenant, model, "input").Add(float64(ev.Usage.InputTokens))
		m.tokens.WithLabelValues(tenant, model, "output").Add(float64(ev.Usage.OutputTokens))
	}
}

// Request is the gateway's record of one answered request.
type Request struct {
	// Format is the caller's wire format: "openai", "anthropic", "responses" or
	// "embeddings" (count_tokens is counted as "anthropic").
	Format string
	// Route is the request's model field; "" when the request was refused before it was
	// read.
	Route string
	// Model is the model that served (its id as the route names it); "" when none did.
	Model string
	// Tenant is the key's tenant; "" when the key was not recognised.
	Tenant string
	// Outcome is the gateway's outcome label ("ok", "fallback", "budget_exceeded", ...),
	// from a fixed set.
	Outcome string
	// Source says who refused a failed request: "tollgate" or "upstream"; "" for an answer.
	Source string
	// Duration is from arrival to the last byte.
	Duration time.Duration
	// FellBack says a step other than the route's first served; FallbackWhy is why the
	// first did not.
	FellBack    bool
	FallbackWhy fallback.Why
	// Statuses are the quota statuses the answer reported.
	Statuses []quota.Status
}

// Request counts one request of the gateway.
func (m *Metrics) Request(r *Request) {
	route := m.Route(r.Route)
	m.requests.WithLabelValues(r.Format, route, m.Model(r.Model), r.Outcome).Inc()
	m.byTenant.WithLabelValues(m.Tenant(r.Tenant), r.Outcome, r.Source).Inc()
	m.duration.WithLabelValues(r.Format, r.Outcome).Observe(r.Duration.Seconds())
	if r.FellBack {
		m.fallbacks.WithLabelValues(route, r.FallbackWhy.String()).Inc()
	}
	m.budgets(r.Statuses)
}

// budgets records the remaining of the budgets in sts whose scope is bounded: not per
// session or agent, which would make one series per run.
func (m *Metrics) budgets(sts []quota.Status) {
	for i := range sts {
		s := &sts[i]
		q := s.Quota
		if !q.Window.Kind.IsBudget() || q.Scope.Session != "" || q.Scope.Agent != "" {
			continue
		}
		if q.Scope.Tenant != "" && m.Tenant(q.Scope.Tenant) == Other {
			continue
		}
		g := m.budgetGauges(q)
		g.remaining.Set(float64(s.Remaining))
		g.limit.Set(float64(q.Limit))
	}
}

// budgetGauges returns the gauges of budget q.
func (m *Metrics) budgetGauges(q *quota.Quota) *budgetGauges {
	k := gaugeKey{q.Name, q.Scope, q.Unit}
	m.gaugesMu.RLock()
	g, ok := m.gauges[k]
	m.gaugesMu.RUnlock()
	if ok {
		return g
	}
	scope, unit := q.Scope.String(), q.Unit.String()
	g = &budgetGauges{remaining: m.budgetRemaining.WithLabelValues(q.Name, scope, unit),
		limit: m.ops.limit.WithLabelValues(q.Name, scope, unit)}
	m.gaugesMu.Lock()
	if len(m.gauges) < maxGauges {
		m.gauges[k] = g
	}
	m.gaugesMu.Unlock()
	return g
}

// queueCollector reads the queue's depth at scrape time.
type queueCollector struct{ m *Metrics }

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.queueDepth }

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	q := c.m.queue.Load()
	if q == nil {
		return
	}
	st := q.Stats()
	for l := queue.Low; l <= queue.Critical; l++ {
		ch <- prometheus.MustNewConstMetric(c.m.queueDepth, prometheus.GaugeValue, float64(st.Waiting[l]), l.String())
	}
}
