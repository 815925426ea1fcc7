package gateway

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// Metrics are the gateway's and the engine's Prometheus metrics, all named tollgate_*.
//
// The gateway counts its requests itself; everything inside the engine arrives as events
// through Observe, which the command wires into engine.Config.OnEvent, and reserve latency
// through a store wrapped with Store. Labels are bounded by configuration: routes and
// models are those the gateway accepts, tenants those of its keys, quotas its rules, and
// fallback reasons a fixed set. Budgets scoped by session or agent (one series per run)
// are not exported as gauges.
//
// All methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
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
	reserve         *prometheus.HistogramVec
	queueDepth      *prometheus.Desc

	queue atomic.Pointer[queue.Queue]
}

// NewMetrics registers tollgate's metrics, and the Go and process collectors, on reg; nil
// means a new registry. It panics if reg already holds tollgate's metrics, as
// prometheus.MustRegister does: registering twice is a programming error.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	seconds := []float64{.0001, .0005, .001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_requests_total",
			Help: "Requests answered by the gateway, by wire format, route, serving model and outcome."},
			[]string{"format", "route", "model", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tollgate_request_duration_seconds",
			Help: "Time from a request's arrival to its last byte (streams: to their end), by format and outcome.", Buckets: seconds},
			[]string{"format", "outcome"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_upstream_errors_total",
			Help: "Failed upstream attempts, by provider, model and kind."}, []string{"provider", "model", "kind"}),
		upstream429: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_upstream_429_total",
			Help: "Upstream attempts refused with HTTP 429, by provider and model."}, []string{"provider", "model"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_retries_total",
			Help: "Retries of an upstream attempt at the same model, by provider and model."}, []string{"provider", "model"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_fallbacks_total",
			Help: "Requests served by a step other than their route's first, by route and why the first did not serve."},
			[]string{"route", "reason"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_chain_steps_skipped_total",
			Help: "Chain steps skipped without calling the upstream, by reason."}, []string{"reason"}),
		spend: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_spend_micro_usd_total",
			Help: "Settled spend in micro-USD, by tenant."}, []string{"tenant"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_tokens_total",
			Help: "Settled tokens, by tenant, model and direction (input, output)."}, []string{"tenant", "model", "direction"}),
		budgetRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tollgate_budget_remaining",
			Help: "What a budget had left when a request last reported it, in its unit (usd is micro-USD), by quota, scope and unit."},
			[]string{"quota", "scope", "unit"}),
		budgetWarnings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_budget_warnings_total",
			Help: "Budgets crossing their warn threshold, by quota."}, []string{"quota"}),
		clamped: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_clamped_total",
			Help: "Requests whose max_tokens was lowered to fit a budget."}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tollgate_queue_wait_seconds",
			Help: "Time from arrival in the admission queue to a reservation, by priority level.", Buckets: seconds},
			[]string{"level"}),
		reserve: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tollgate_reserve_seconds",
			Help:    "Latency of one quota store Reserve call, by result (ok, refused, error).",
			Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1}}, []string{"result"}),
		queueDepth: prometheus.NewDesc("tollgate_queue_depth", "Requests waiting in the admission queue, by priority level.",
			[]string{"level"}, nil),
	}
	reg.MustRegister(m.requests, m.duration, m.upstreamErrors, m.upstream429, m.retries, m.fallbacks, m.skipped,
		m.spend, m.tokens, m.budgetRemaining, m.budgetWarnings, m.clamped, m.queueWait, m.reserve,
		queueCollector{m}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry the metrics are on, for GET /metrics and for more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Observe records one engine event. Give it to engine.Config.OnEvent; it does not block.
func (m *Metrics) Observe(ev engine.Event) {
	switch ev.Kind {
	case engine.Admitted:
		m.queueWait.WithLabelValues(ev.Level.String()).Observe(ev.Waited.Seconds())
	case engine.UpstreamError:
		m.upstreamErrors.WithLabelValues(ev.Provider, ev.Model, ev.ErrKind.String()).Inc()
		if ev.Status == 429 {
			m.upstream429.WithLabelValues(ev.Provider, ev.Model).Inc()
		}
	case engine.Retried:
		m.retries.WithLabelValues(ev.Provider, ev.Model).Inc()
	case engine.Skipped:
		m.skipped.WithLabelValues(ev.Why.String()).Inc()
	case engine.Clamped:
		m.clamped.Inc()
	case engine.BudgetWarning:
		name, _, _ := strings.Cut(ev.Quota, " [")
		m.budgetWarnings.WithLabelValues(name).Inc()
	case engine.Settled:
		tenant := ev.Identity.Tenant
		m.spend.WithLabelValues(tenant).Add(float64(ev.MicroUSD))
		m.tokens.WithLabelValues(tenant, ev.Model, "input").Add(float64(ev.Usage.InputTokens))
		m.tokens.WithLabelValues(tenant, ev.Model, "output").Add(float64(ev.Usage.OutputTokens))
	}
}

func (m *Metrics) request(format, route, model, outcome string, d time.Duration) {
	m.requests.WithLabelValues(format, route, model, outcome).Inc()
	m.duration.WithLabelValues(format, outcome).Observe(d.Seconds())
}

// fallback counts a request that a later step served, by why its first step did not.
func (m *Metrics) fallback(route string, out *fallback.Outcome) {
	reason := "other"
	if len(out.Attempts) > 0 {
		a := out.Attempts[0]
		switch a.Result {
		case fallback.Skipped:
			reason = a.Why.String()
		case fallback.Failed:
			reason = llm.KindOf(a.Err).String()
		}
	}
	m.fallbacks.WithLabelValues(route, reason).Inc()
}

// budgets records the remaining of the budgets in sts whose scope is bounded (not per
// session or agent).
func (m *Metrics) budgets(sts []quota.Status) {
	for i := range sts {
		s := &sts[i]
		q := &s.Quota
		if !q.Window.Kind.IsBudget() || q.Scope.Session != "" || q.Scope.Agent != "" {
			continue
		}
		m.budgetRemaining.WithLabelValues(q.Name, q.Scope.String(), q.Unit.String()).Set(float64(s.Remaining))
	}
}

// watch makes tollgate_queue_depth report q.
func (m *Metrics) watch(q *queue.Queue) { m.queue.Store(q) }

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

// Store wraps s so that every Reserve is timed into tollgate_reserve_seconds. Give the
// result to engine.Config.Store; keep s itself for closing it.
func (m *Metrics) Store(s quota.Store) quota.Store { return &timedStore{Store: s, h: m.reserve} }

type timedStore struct {
	quota.Store
	h *prometheus.HistogramVec
}

func (t *timedStore) Reserve(ctx context.Context, req *quota.Request, dst []quota.Status) (quota.Reservation, []quota.Status, error) {
	start := time.Now()
	res, dst, err := t.Store.Reserve(ctx, req, dst)
	result := "ok"
	var qe *quota.ExceededError
	switch {
	case errors.As(err, &qe):
		result = "refused"
	case err != nil:
		result = "error"
	}
	t.h.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return res, dst, err
}
