package admin

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// MetricNames are the Prometheus metrics the summary reads, by name and label: the one
// place to change when the metrics are renamed. Every field of the zero value is its
// DefaultMetricNames value.
type MetricNames struct {
	// Requests counts the requests answered, with the answer in label Outcome.
	Requests, Outcome string
	// Refused429 are the Outcome values of tollgate's own 429 answers (rate limited,
	// queue full or timed out, budget exhausted).
	Refused429 []string
	// Upstream429 counts upstream attempts refused with 429.
	Upstream429 string
	// Retries counts retries of an upstream attempt.
	Retries string
	// Fallbacks counts requests served by a step other than their route's first.
	Fallbacks string
	// CacheRequests counts response-cache lookups by label CacheResult ("hit", "miss",
	// "stale").
	CacheRequests, CacheResult string
	// QueueWait is the histogram of time waited in the admission queue, by label Level.
	QueueWait, Level string
	// LearnedLimit is the gauge of learned limits per minute, by labels Deployment and
	// Unit, and ConfiguredLimit the configured ones, by the same labels. A series without
	// the Deployment label names its deployment with labels Provider and Model
	// ("provider/model"), as package learn's collector does.
	LearnedLimit, ConfiguredLimit, Deployment, Unit string
	Provider, Model                                 string
}

// DefaultMetricNames are the names of tollgate's metrics (gateway and metrics packages).
var DefaultMetricNames = MetricNames{
	Requests:        "tollgate_requests_total",
	Outcome:         "outcome",
	Refused429:      []string{"rate_limited", "queue_full", "queue_timeout", "budget_exceeded"},
	Upstream429:     "tollgate_upstream_429_total",
	Retries:         "tollgate_retries_total",
	Fallbacks:       "tollgate_fallbacks_total",
	CacheRequests:   "tollgate_cache_requests_total",
	CacheResult:     "result",
	QueueWait:       "tollgate_queue_wait_seconds",
	Level:           "level",
	LearnedLimit:    "tollgate_learned_limit",
	ConfiguredLimit: "tollgate_configured_limit",
	Deployment:      "deployment",
	Unit:            "unit",
	Provider:        "provider",
	Model:           "model",
}

func (n MetricNames) withDefaults() MetricNames {
	d := DefaultMetricNames
	n.Requests, n.Outcome = cmp.Or(n.Requests, d.Requests), cmp.Or(n.Outcome, d.Outcome)
	if n.Refused429 == nil {
		n.Refused429 = d.Refused429
	}
	n.Upstream429 = cmp.Or(n.Upstream429, d.Upstream429)
	n.Retries = cmp.Or(n.Retries, d.Retries)
	n.Fallbacks = cmp.Or(n.Fallbacks, d.Fallbacks)
	n.CacheRequests, n.CacheResult = cmp.Or(n.CacheRequests, d.CacheRequests), cmp.Or(n.CacheResult, d.CacheResult)
	n.QueueWait, n.Level = cmp.Or(n.QueueWait, d.QueueWait), cmp.Or(n.Level, d.Level)
	n.LearnedLimit, n.ConfiguredLimit = cmp.Or(n.LearnedLimit, d.LearnedLimit), cmp.Or(n.ConfiguredLimit, d.ConfiguredLimit)
	n.Deployment, n.Unit = cmp.Or(n.Deployment, d.Deployment), cmp.Or(n.Unit, d.Unit)
	n.Provider, n.Model = cmp.Or(n.Provider, d.Provider), cmp.Or(n.Model, d.Model)
	return n
}

func (n MetricNames) validate() error {
	for _, v := range []string{n.Requests, n.Upstream429, n.Retries, n.Fallbacks, n.CacheRequests, n.QueueWait, n.LearnedLimit, n.ConfiguredLimit} {
		if !validName(v) {
			return fmt.Errorf("admin: Config.Metrics: %q is not a metric name", v)
		}
	}
	return nil
}

func validName(s string) bool {
	for i, c := range s {
		if !(c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// Summary is the figures of the dashboard, read from the metrics: counters since the
// process started (a reader computes rates from two summaries).
type Summary struct {
	// Requests is every request answered.
	Requests float64 `json:"requests"`
	// RateLimited counts 429 answers by source: "tollgate" (tollgate's own refusals,
	// which reach the caller) and "upstream" (upstream attempts refused, which tollgate
	// retried or fell back from, or passed on).
	RateLimited map[string]float64 `json:"rate_limited"`
	// Refusals breaks tollgate's 429s down by outcome.
	Refusals map[string]float64 `json:"refusals"`
	Retries  float64            `json:"retries"`
	// Fallbacks counts requests served by a later step of their route, and FallbackShare
	// is Fallbacks / Requests (0 without requests).
	Fallbacks     float64 `json:"fallbacks"`
	FallbackShare float64 `json:"fallback_share"`
	// Cache counts response-cache lookups by result.
	Cache map[string]float64 `json:"cache"`
	// QueueWait is the queue's wait histogram by level: count and sum of seconds.
	QueueWait map[string]WaitFigures `json:"queue_wait"`
}

// WaitFigures are the count and sum of a wait histogram, and its mean.
type WaitFigures struct {
	Count       float64 `json:"count"`
	SumSeconds  float64 `json:"sum_seconds"`
	MeanSeconds float64 `json:"mean_seconds"`
}

// families gathers g into a map by name. Gathering may return families and an error
// (a collector failed); what was gathered is used.
func families(g prometheus.Gatherer) (map[string]*dto.MetricFamily, error) {
	mfs, err := g.Gather()
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	if err != nil && len(mfs) == 0 {
		return nil, fmt.Errorf("admin: gather metrics: %w", err)
	}
	return out, nil
}

// label returns the value of m's label name, "" when absent.
func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// value is a counter's or gauge's (or untyped) value.
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// sum adds the values of family name, grouped by label by ("" for one total).
func sum(fams map[string]*dto.MetricFamily, name, by string) map[string]float64 {
	out := map[string]float64{}
	mf := fams[name]
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		k := ""
		if by != "" {
			k = label(m, by)
		}
		out[k] += value(m)
	}
	return out
}

// summarize reads the summary out of fams.
func summarize(fams map[string]*dto.MetricFamily, n MetricNames) Summary {
	s := Summary{RateLimited: map[string]float64{}, Refusals: map[string]float64{}, QueueWait: map[string]WaitFigures{}}
	byOutcome := sum(fams, n.Requests, n.Outcome)
	for _, v := range byOutcome {
		s.Requests += v
	}
	for _, o := range n.Refused429 {
		s.Refusals[o] = byOutcome[o]
		s.RateLimited["tollgate"] += byOutcome[o]
	}
	s.RateLimited["upstream"] = sum(fams, n.Upstream429, "")[""]
	s.Retries = sum(fams, n.Retries, "")[""]
	s.Fallbacks = sum(fams, n.Fallbacks, "")[""]
	if s.Requests > 0 {
		s.FallbackShare = s.Fallbacks / s.Requests
	}
	s.Cache = sum(fams, n.CacheRequests, n.CacheResult)
	if mf := fams[n.QueueWait]; mf != nil {
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			lv := label(m, n.Level)
			w := s.QueueWait[lv]
			w.Count += float64(h.GetSampleCount())
			w.SumSeconds += h.GetSampleSum()
			if w.Count > 0 {
				w.MeanSeconds = w.SumSeconds / w.Count
			}
			s.QueueWait[lv] = w
		}
	}
	return s
}

// MetricsLearned reads learned limits from the gauges Names.LearnedLimit and
// Names.ConfiguredLimit of Gatherer, for a process whose controller only exports them.
type MetricsLearned struct {
	Gatherer prometheus.Gatherer
	Names    MetricNames
}

// LearnedLimits returns one limit per deployment and unit of the learned gauge, by
// deployment then unit; none when the gauge is absent or cannot be gathered.
func (m MetricsLearned) LearnedLimits() []LearnedLimit {
	n := m.Names.withDefaults()
	fams, err := families(m.Gatherer)
	if err != nil {
		return nil
	}
	type key struct{ dep, unit string }
	deployment := func(mt *dto.Metric) string {
		if d := label(mt, n.Deployment); d != "" {
			return d
		}
		return label(mt, n.Provider) + "/" + label(mt, n.Model)
	}
	configured := map[key]float64{}
	if mf := fams[n.ConfiguredLimit]; mf != nil {
		for _, mt := range mf.GetMetric() {
			configured[key{deployment(mt), label(mt, n.Unit)}] = value(mt)
		}
	}
	var out []LearnedLimit
	if mf := fams[n.LearnedLimit]; mf != nil {
		for _, mt := range mf.GetMetric() {
			k := key{deployment(mt), label(mt, n.Unit)}
			v := value(mt)
			if math.IsNaN(v) {
				continue
			}
			out = append(out, LearnedLimit{Deployment: k.dep, Unit: k.unit, PerMinute: v, Configured: configured[k],
				Source: label(mt, "source")})
		}
	}
	slices.SortFunc(out, func(a, b LearnedLimit) int {
		return cmp.Or(cmp.Compare(a.Deployment, b.Deployment), cmp.Compare(a.Unit, b.Unit))
	})
	return out
}

var errNoGatherer = errors.New("no metrics registry configured")
