package metrics_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/metrics"
	"github.com/tollgate/tollgate/quota"
)

func TestLabels(t *testing.T) {
	m, err := metrics.New(metrics.Config{Routes: []string{"smart"}, Models: []string{"my-finetune"}, Tenants: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    func(string) string
		in   string
		want string
	}{
		{"route", m.Route, "smart", "smart"},
		{"model as route", m.Route, "gpt-4o-2024-08-06", "gpt-4o"},
		{"unknown route", m.Route, "agent-42-route", metrics.Other},
		{"no route", m.Route, "", ""},
		{"priced model", m.Model, "gpt-4o-mini", "gpt-4o-mini"},
		{"dated model", m.Model, "claude-sonnet-4-20250514", "claude-sonnet-4"},
		{"configured model", m.Model, "my-finetune", "my-finetune"},
		{"unknown model", m.Model, "made-up-1", metrics.Other},
		{"tenant", m.Tenant, "acme", "acme"},
		{"unknown tenant", m.Tenant, "mallory", metrics.Other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f(tt.in); got != tt.want {
				t.Errorf("label(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestObserveBounded feeds events and records whose values the configuration does not
// name: they all land on the Other series.
func TestObserveBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Config{Registry: reg, Tenants: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		id := fmt.Sprintf("made-up-%d", i)
		m.Observe(engine.Event{Kind: engine.Settled, Model: id, Identity: llm.Identity{Tenant: id}, MicroUSD: 1,
			Usage: llm.Usage{InputTokens: 1, OutputTokens: 1}})
		m.Observe(engine.Event{Kind: engine.UpstreamError, Provider: "openai", Model: id, Status: 429, ErrKind: llm.KindRateLimited})
		m.Request(&metrics.Request{Format: "openai", Route: id, Model: id, Tenant: id, Outcome: "fallback",
			FellBack: true, FallbackWhy: fallback.WhyCooldown, Duration: time.Millisecond,
			Statuses: []quota.Status{{Quota: &quota.Quota{Name: "t", Scope: quota.Labels{Tenant: id}, Unit: quota.MicroUSD,
				Limit: 10, Window: quota.Daily(nil)}, Remaining: 5}}})
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		series += len(mf.GetMetric())
	}
	// clamped 1 (unlabelled), spend 1, tokens 2, upstream errors 1, 429s 1, requests 1, by
	// tenant 1, duration 1, fallbacks 1: no budget gauge for an unknown tenant.
	if series != 10 {
		t.Errorf("1000 distinct ids made %d series, want 10", series)
	}
}

// Example wires Metrics to an engine and serves them: the engine's events and the
// gateway's records are counted under the configured labels only.
func Example() {
	m, err := metrics.New(metrics.Config{Routes: []string{"smart"}, Tenants: []string{"acme"}})
	if err != nil {
		panic(err)
	}
	// engine.New(engine.Config{..., OnEvent: m.Observe}) feeds it the engine's events;
	// here, one settled call.
	m.Observe(engine.Event{Kind: engine.Settled, Model: "gpt-4o-mini", Identity: llm.Identity{Tenant: "acme"},
		Usage: llm.Usage{InputTokens: 12, OutputTokens: 30}, MicroUSD: 20})
	m.Request(&metrics.Request{Format: "openai", Route: "smart", Model: "gpt-4o-mini", Tenant: "acme", Outcome: "ok"})
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(w.Body.String()) {
		if strings.HasPrefix(line, "tollgate_requests_total") || strings.HasPrefix(line, "tollgate_spend") {
			fmt.Print(line)
		}
	}
	// Output:
	// tollgate_requests_total{format="openai",model="gpt-4o-mini",outcome="ok",route="smart"} 1
	// tollgate_spend_micro_usd_total{tenant="acme"} 20
}
