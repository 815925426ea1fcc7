package metrics_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/metrics"
)

// BenchmarkObserveCall is what the metrics cost one upstream call on the engine's path:
// its Admitted and Settled events (queue wait, calls in flight, spend, tokens), from
// parallel callers with distinct request ids.
func BenchmarkObserveCall(b *testing.B) {
	m, err := metrics.New(metrics.Config{Registry: prometheus.NewRegistry(), Tenants: []string{"acme"}})
	if err != nil {
		b.Fatal(err)
	}
	var ids atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		id := "req-" + strconv.FormatInt(ids.Add(1), 10)
		admitted := engine.Event{Kind: engine.Admitted, RequestID: id, Provider: "openai", Model: "gpt-4o-mini"}
		settled := engine.Event{Kind: engine.Settled, RequestID: id, Provider: "openai", Model: "gpt-4o-mini",
			Identity: llm.Identity{Tenant: "acme"}, Usage: llm.Usage{InputTokens: 100, OutputTokens: 20}, MicroUSD: 27}
		for pb.Next() {
			m.Observe(admitted)
			m.Observe(settled)
		}
	})
}
