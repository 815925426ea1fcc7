package learn

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports a Set's learned limits to Prometheus, read at each scrape from
// Set.Status:
//
//	tollgate_learned_limit{provider,account,model,unit,source}      gauge, per minute
//	tollgate_learned_limit_changes_total{provider,account,model,unit,direction}  "down", "up"
//	tollgate_learned_limit_refusals_total{provider,account,model,unit}
//
// The series are bounded by the upstreams, their models and four units. Register it with
// prometheus.Registry.MustRegister. It is safe for concurrent use.
type Collector struct {
	set                      *Set
	limit, changes, refusals *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector of s.
func NewCollector(s *Set) *Collector {
	labels := []string{"provider", "account", "model", "unit"}
	return &Collector{set: s,
		limit: prometheus.NewDesc("tollgate_learned_limit",
			"The limit per minute learned for an upstream account, model and unit, and where it comes from (headers, message, refusals).",
			append(labels, "source"), nil),
		changes: prometheus.NewDesc("tollgate_learned_limit_changes_total",
			"Moves of a learned limit: down on a refusal, up when it binds and nothing is refused.",
			append(labels, "direction"), nil),
		refusals: prometheus.NewDesc("tollgate_learned_limit_refusals_total",
			"Upstream rate-limit refusals (429) met by an upstream account, model and unit, as this replica saw them.",
			labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.limit
	ch <- c.changes
	ch <- c.refusals
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.set.Status() {
		l := []string{r.Upstream.Provider, r.Upstream.Account, r.Model, r.Dim.String()}
		if r.Limit > 0 {
			ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(r.Limit), append(l, r.Source.String())...)
		}
		ch <- prometheus.MustNewConstMetric(c.changes, prometheus.CounterValue, float64(r.Decreases), append(l, "down")...)
		ch <- prometheus.MustNewConstMetric(c.changes, prometheus.CounterValue, float64(r.Increases), append(l, "up")...)
		ch <- prometheus.MustNewConstMetric(c.refusals, prometheus.CounterValue, float64(r.Refusals), l...)
	}
}
