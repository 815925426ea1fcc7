package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// seriesCount returns the number of tollgate_* series the gateway's registry holds.
func seriesCount(t *testing.T, e *env) int {
	t.Helper()
	mfs, err := e.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "tollgate_") {
			n += len(mf.GetMetric())
		}
	}
	return n
}

// TestBoundedMetricsAndRefusalLogs sends 20,000 requests with made-up model ids, half
// dated ids of a known model (which the price table resolves, and a budget then refuses)
// and half names of no model at all (404): the metrics gain a handful of series, not one
// per id, and the log a line per tenant and outcome, not one per refusal.
func TestBoundedMetricsAndRefusalLogs(t *testing.T) {
	oa := &stub{name: "openai", format: llm.OpenAI}
	rules := quota.Rules{{Name: "tenant-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD,
		Limit: 1, Window: quota.Daily(nil)}}
	e := newEnv(t, envConfig{providers: map[string]llm.Provider{"openai": oa}, rules: rules,
		gateway: func(c *Config) { c.RefusalLogInterval, c.ServeMetrics = time.Hour, true }})
	send := func(model string) int {
		body := `{"model":"` + model + `","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+secretAlice)
		w := httptest.NewRecorder()
		e.gw.ServeHTTP(w, r)
		return w.Code
	}
	// One of each kind first, so that every series these requests can make exists.
	if code := send("gpt-4o-mini-2100-01-01"); code != http.StatusTooManyRequests {
		t.Fatalf("a dated id under a spent budget = %d, want 429", code)
	}
	if code := send("made-up-model"); code != http.StatusNotFound {
		t.Fatalf("an unknown model = %d, want 404", code)
	}
	before := seriesCount(t, e)
	const n = 20_000
	for i := range n / 2 {
		dated := fmt.Sprintf("gpt-4o-mini-%04d-%02d-%02d", 2101+i/372, 1+i/31%12, 1+i%31)
		if code := send(dated); code != http.StatusTooManyRequests {
			t.Fatalf("%s = %d, want 429", dated, code)
		}
		if code := send(fmt.Sprintf("agent-%d-model", i)); code != http.StatusNotFound {
			t.Fatalf("an unknown model = %d, want 404", code)
		}
	}
	if after := seriesCount(t, e); after != before {
		t.Errorf("%d requests with made-up model ids took the metrics from %d to %d series, want no new series", n, before, after)
	}
	var lines int
	for line := range strings.Lines(e.logs.String()) {
		if strings.Contains(line, "msg=request") {
			lines++
		}
	}
	// One line per (tenant, outcome) in the hour: budget_exceeded and not_found.
	if lines != 2 {
		t.Errorf("%d refusals wrote %d access log lines, want 2:\n%s", n+2, lines, e.logs.String())
	}
	text := new(bytes.Buffer)
	resp, body := e.do(t, http.MethodGet, "/metrics", "")
	text.Write(body)
	if resp.StatusCode != 200 || !strings.Contains(text.String(), `route="gpt-4o-mini"`) ||
		!strings.Contains(text.String(), `tollgate_tenant_requests_total{outcome="budget_exceeded",source="tollgate",tenant="acme"} 10001`) {
		t.Errorf("/metrics does not count the dated ids under their model and the refusals under their tenant:\n%s", text)
	}
}

// TestRefusalLimiter steps the limiter over a fixed clock: one line per key per interval,
// and the next line counts those suppressed.
func TestRefusalLimiter(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	l := newRefusalLimiter(10*time.Second, func() time.Time { return now })
	type step struct {
		at             time.Duration
		tenant, reason string
		ok             bool
		suppressed     int64
	}
	steps := []step{
		{0, "acme", "budget_exceeded", true, 0},
		{time.Second, "acme", "budget_exceeded", false, 0},
		{2 * time.Second, "acme", "budget_exceeded", false, 0},
		{2 * time.Second, "beta", "budget_exceeded", true, 0},
		{3 * time.Second, "acme", "rate_limited", true, 0},
		{10 * time.Second, "acme", "budget_exceeded", true, 2},
		{11 * time.Second, "acme", "budget_exceeded", false, 0},
		{25 * time.Second, "acme", "budget_exceeded", true, 1},
	}
	start := now
	for _, s := range steps {
		now = start.Add(s.at)
		ok, n := l.allow(s.tenant, s.reason)
		if ok != s.ok || n != s.suppressed {
			t.Errorf("at %v allow(%s, %s) = %v, %d; want %v, %d", s.at, s.tenant, s.reason, ok, n, s.ok, s.suppressed)
		}
	}
}
