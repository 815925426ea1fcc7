package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/quota"
)

func TestMetricsEndpoint(t *testing.T) {
	rules := quota.Rules{{Name: "tenant-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD,
		Limit: 1_000_000, Window: quota.Daily(nil)}}
	e := newEnv(t, envConfig{rules: rules, gateway: func(c *Config) { c.ServeMetrics = true }})
	for range 2 {
		resp, body := e.do(t, http.MethodPost, "/v1/chat/completions", okChat, "Authorization", "Bearer "+secretAlice)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		// A few dozen micro-dollars of $1 are spent: the remaining keeps six decimals.
		if got := resp.Header.Get(HeaderBudgetRemaining); !strings.HasPrefix(got, "0.99") || !strings.Contains(got, `usd; quota="tenant-usd"; limit=1.00; reset=`) {
			t.Errorf("%s = %q", HeaderBudgetRemaining, got)
		}
	}
	e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"nope","messages":[]}`, "Authorization", "Bearer "+secretAlice)
	resp, body := e.do(t, http.MethodGet, "/metrics", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`tollgate_requests_total{format="openai",model="gpt-4o-mini",outcome="ok",route="gpt-4o-mini"} 2`,
		`tollgate_requests_total{format="openai",model="",outcome="bad_request",route=""} 1`,
		`tollgate_spend_micro_usd_total{tenant="acme"}`,
		`tollgate_tokens_total{direction="output",model="gpt-4o-mini",tenant="acme"}`,
		`tollgate_budget_remaining{quota="tenant-usd",scope="tenant=acme",unit="usd"}`,
		`tollgate_queue_depth{level="normal"} 0`,
		`tollgate_queue_wait_seconds_count{level="normal"} 2`,
		`tollgate_tenant_requests_total{outcome="ok",source="",tenant="acme"} 2`,
		`tollgate_tenant_requests_total{outcome="bad_request",source="tollgate",tenant="acme"} 1`,
		`tollgate_request_duration_seconds_count{format="openai",outcome="ok"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	noLeak(t, "/metrics", text)
}

// TestNoMetricsByDefault: the metrics name tenants and their spend; without ServeMetrics
// the gateway's listener, which agents reach, does not serve them.
func TestNoMetricsByDefault(t *testing.T) {
	e, _, _ := stubEnv(t, nil)
	if resp, body := e.do(t, http.MethodPost, "/v1/chat/completions", okChat, "Authorization", "Bearer "+secretAlice); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	resp, body := e.do(t, http.MethodGet, "/metrics", "")
	if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "tollgate_") {
		t.Errorf("GET /metrics = %d %s, want 404 without metrics", resp.StatusCode, body)
	}
}

func TestReadyz(t *testing.T) {
	down := errors.New("redis: connection refused")
	e, _, _ := stubEnv(t, func(c *Config) {
		c.Ready = map[string]func(context.Context) error{"redis": func(context.Context) error { return down }}
	})
	resp, body := e.do(t, http.MethodGet, "/readyz", "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "connection refused") {
		t.Errorf("readyz = %d %s, want 503 naming the failed check", resp.StatusCode, body)
	}
	resp, _ = e.do(t, http.MethodGet, "/healthz", "")
	if resp.StatusCode != 200 {
		t.Errorf("healthz = %d, want 200", resp.StatusCode)
	}
}
