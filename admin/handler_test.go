package admin

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// TestAuth: every endpoint but the dashboard's files and the description needs the admin
// token, compared whole; the metrics token opens /metrics and nothing else.
func TestAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tt := range []struct {
		name, method, path, header string
		want                       int
	}{
		{"no header", "GET", "/admin/v1/keys", "", 401},
		{"admin token", "GET", "/admin/v1/keys", "Bearer " + adminToken, 200},
		{"lower-case scheme", "GET", "/admin/v1/keys", "bearer " + adminToken, 200},
		{"wrong token", "GET", "/admin/v1/keys", "Bearer nope", 401},
		{"token prefix", "GET", "/admin/v1/keys", "Bearer " + adminToken[:len(adminToken)-1], 401},
		{"token with more", "GET", "/admin/v1/keys", "Bearer " + adminToken + "x", 401},
		{"basic scheme", "GET", "/admin/v1/keys", "Basic " + adminToken, 401},
		{"metrics token on the API", "GET", "/admin/v1/overview", "Bearer " + metricsToken, 401},
		{"metrics token on a change", "POST", "/admin/v1/keys", "Bearer " + metricsToken, 401},
		{"metrics token on /metrics", "GET", "/metrics", "Bearer " + metricsToken, 200},
		{"admin token on /metrics", "GET", "/metrics", "Bearer " + adminToken, 200},
		{"nothing on /metrics", "GET", "/metrics", "", 401},
		{"dashboard", "GET", "/admin/", "", 200},
		{"dashboard script", "GET", "/admin/ui/app.js", "", 200},
		{"description", "GET", "/admin/openapi.json", "", 200},
		{"unknown path", "GET", "/admin/v2/keys", "Bearer " + adminToken, 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.path, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("%s %s with %q = %d, want %d: %s", tt.method, tt.path, tt.header, rec.Code, tt.want, rec.Body)
			}
			if tt.want == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}
}

// TestKeysAPI creates, reads, re-budgets and revokes a key through the API, and checks
// that the gateway's lookup (the registry) follows each step.
func TestKeysAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var created CreateKeyResponse
	req := CreateKeyRequest{ID: "delta-ops", Tenant: "delta", AllowedModels: []string{"gpt-4o-mini"}, MaxPriority: 2,
		RequireSession: true, Budget: &BudgetJSON{LimitMicroUSD: 3_000_000, Window: "month"}, Note: "ops runbooks"}
	if code := call(t, f.h, "POST", "/admin/v1/keys", adminToken, req, &created); code != 201 {
		t.Fatalf("POST /admin/v1/keys = %d", code)
	}
	if !regexp.MustCompile(`^tg-[A-Z2-7]{52}$`).MatchString(created.Secret) {
		t.Errorf("secret %q", created.Secret)
	}
	want := KeyJSON{ID: "delta-ops", Tenant: "delta", Hint: created.Secret[:9], AllowedModels: []string{"gpt-4o-mini"},
		MaxPriority: 2, RequireSession: true, Budget: &BudgetJSON{LimitMicroUSD: 3_000_000, Window: "month"},
		Note: "ops runbooks", Source: "api", Active: true}
	ignoreTimes := cmpopts.IgnoreFields(KeyJSON{}, "CreatedAt", "RevokedAt")
	if diff := cmp.Diff(want, created.Key, ignoreTimes); diff != "" {
		t.Errorf("created key (-want +got):\n%s", diff)
	}
	if k, ok := f.reg.Find(created.Secret); !ok || k.ID != "delta-ops" || !k.RequireSession {
		t.Fatalf("the registry does not find the created key: %+v, %v", k, ok)
	}

	var list struct{ Keys []KeyJSON }
	call(t, f.h, "GET", "/admin/v1/keys", adminToken, nil, &list)
	var ids []string
	for _, k := range list.Keys {
		ids = append(ids, k.ID+"/"+k.Source)
	}
	if diff := cmp.Diff([]string{"ops/config", "alpha-ci/api", "beta-batch/api", "gamma-1/api", "delta-ops/api"}, ids); diff != "" {
		t.Errorf("GET /admin/v1/keys (-want +got):\n%s", diff)
	}

	var k KeyJSON
	if code := call(t, f.h, "PUT", "/admin/v1/keys/delta-ops/budget", adminToken, BudgetJSON{LimitMicroUSD: 9_000_000, Window: "day"}, &k); code != 200 {
		t.Fatalf("PUT budget = %d", code)
	}
	if got, _ := f.reg.Get("delta-ops"); got.Budget != (keys.Budget{MicroUSD: 9_000_000, Window: quota.Day}) {
		t.Errorf("the registry's budget after PUT = %+v", got.Budget)
	}
	call(t, f.h, "DELETE", "/admin/v1/keys/delta-ops/budget", adminToken, nil, &k)
	if k.Budget != nil {
		t.Errorf("budget after DELETE = %+v, want null", k.Budget)
	}
	if code := call(t, f.h, "DELETE", "/admin/v1/keys/delta-ops", adminToken, nil, &k); code != 200 || k.Active || k.RevokedAt == nil {
		t.Errorf("DELETE key = %d, %+v; want revoked", code, k)
	}
	if _, ok := f.reg.Find(created.Secret); ok {
		t.Error("the registry still finds the revoked key")
	}

	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"revoke a config key", "DELETE", "/admin/v1/keys/ops", nil, 409, "read_only"},
		{"budget of a config key", "PUT", "/admin/v1/keys/ops/budget", BudgetJSON{LimitMicroUSD: 1, Window: "day"}, 409, "read_only"},
		{"revoke an unknown key", "DELETE", "/admin/v1/keys/nobody", nil, 404, "not_found"},
		{"read an unknown key", "GET", "/admin/v1/keys/nobody", nil, 404, "not_found"},
		{"id taken by a revoked key", "POST", "/admin/v1/keys", CreateKeyRequest{ID: "delta-ops", Tenant: "delta"}, 409, "exists"},
		{"id of a config key", "POST", "/admin/v1/keys", CreateKeyRequest{ID: "ops", Tenant: "alpha"}, 409, "exists"},
		{"no tenant", "POST", "/admin/v1/keys", CreateKeyRequest{ID: "x"}, 400, "invalid"},
		{"priority 7", "POST", "/admin/v1/keys", CreateKeyRequest{Tenant: "t", MaxPriority: 7}, 400, "invalid"},
		{"weekly window", "POST", "/admin/v1/keys", CreateKeyRequest{Tenant: "t", Budget: &BudgetJSON{LimitMicroUSD: 5, Window: "week"}}, 400, "invalid"},
		{"zero budget", "PUT", "/admin/v1/keys/alpha-ci/budget", BudgetJSON{Window: "day"}, 400, "invalid"},
		{"unknown field", "POST", "/admin/v1/keys", `{"tenant": "t", "secret": "mine"}`, 400, "bad_json"},
		{"two values", "POST", "/admin/v1/keys", `{"tenant": "t"} {"tenant": "u"}`, 400, "bad_json"},
		{"not JSON", "POST", "/admin/v1/keys", `tenant=t`, 400, "bad_json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var e errorBody
			if got := call(t, f.h, tt.method, tt.path, adminToken, tt.body, &e); got != tt.status || e.Error.Code != tt.code {
				t.Errorf("%s %s = %d %q, want %d %q (%s)", tt.method, tt.path, got, e.Error.Code, tt.status, tt.code, e.Error.Message)
			}
		})
	}
}

// TestBudgetOverridesAPI raises a tenant's daily budget through the API and reads it back
// through the state endpoints and the registry.
func TestBudgetOverridesAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var o OverrideJSON
	body := SetOverrideRequest{Rule: "tenant-daily", Scope: map[string]string{"tenant": "alpha"}, Limit: 80_000_000, Note: "launch day"}
	if code := call(t, f.h, "PUT", "/admin/v1/budgets", adminToken, body, &o); code != 200 {
		t.Fatalf("PUT /admin/v1/budgets = %d", code)
	}
	if o.QuotaKey != "tenant-daily|tenant=alpha" || o.Limit != 80_000_000 {
		t.Errorf("override = %+v", o)
	}
	var ts TenantState
	call(t, f.h, "GET", "/admin/v1/tenants/alpha", adminToken, nil, &ts)
	daily := find(ts.Quotas, "tenant-daily")
	if daily == nil || daily.Limit != 80_000_000 || !daily.Overridden {
		t.Errorf("alpha's daily quota = %+v, want limit 80000000 overridden", daily)
	}
	call(t, f.h, "GET", "/admin/v1/tenants/beta", adminToken, nil, &ts)
	if daily := find(ts.Quotas, "tenant-daily"); daily == nil || daily.Limit != 50_000_000 || daily.Overridden {
		t.Errorf("beta's daily quota = %+v, want the rule's 50000000", daily)
	}
	var list struct{ Overrides []OverrideJSON }
	call(t, f.h, "GET", "/admin/v1/budgets", adminToken, nil, &list)
	if len(list.Overrides) != 1 || list.Overrides[0].Note != "launch day" {
		t.Errorf("GET /admin/v1/budgets = %+v", list.Overrides)
	}
	var rules struct{ Rules []RuleJSON }
	call(t, f.h, "GET", "/admin/v1/rules", adminToken, nil, &rules)
	if len(rules.Rules) != len(f.rules) || rules.Rules[0].Name != "tenant-daily" || !rules.Rules[0].Budget || rules.Rules[2].Budget {
		t.Errorf("GET /admin/v1/rules = %+v", rules.Rules)
	}

	for _, tt := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"unknown rule", SetOverrideRequest{Rule: "nope", Scope: map[string]string{"tenant": "alpha"}, Limit: 5}, 404, "unknown_rule"},
		{"a rate", SetOverrideRequest{Rule: "gpt-4o-rpm", Scope: map[string]string{"provider": "openai", "model": "gpt-4o"}, Limit: 900}, 400, "invalid"},
		{"every tenant", SetOverrideRequest{Rule: "tenant-daily", Scope: map[string]string{"tenant": "*"}, Limit: 5}, 400, "invalid"},
		{"wrong label", SetOverrideRequest{Rule: "tenant-daily", Scope: map[string]string{"team": "alpha"}, Limit: 5}, 400, "invalid"},
		{"missing label", SetOverrideRequest{Rule: "tenant-daily", Scope: map[string]string{}, Limit: 5}, 400, "invalid"},
		{"zero limit", SetOverrideRequest{Rule: "tenant-daily", Scope: map[string]string{"tenant": "alpha"}}, 400, "invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var e errorBody
			if got := call(t, f.h, "PUT", "/admin/v1/budgets", adminToken, tt.body, &e); got != tt.status || e.Error.Code != tt.code {
				t.Errorf("PUT = %d %q, want %d %q (%s)", got, e.Error.Code, tt.status, tt.code, e.Error.Message)
			}
		})
	}

	if code := call(t, f.h, "DELETE", "/admin/v1/budgets?quota_key=tenant-daily%7Ctenant%3Dalpha", adminToken, nil, nil); code != 200 {
		t.Errorf("DELETE override = %d", code)
	}
	if code := call(t, f.h, "DELETE", "/admin/v1/budgets?quota_key=tenant-daily%7Ctenant%3Dalpha", adminToken, nil, nil); code != 404 {
		t.Errorf("DELETE override again = %d, want 404", code)
	}
	if code := call(t, f.h, "DELETE", "/admin/v1/budgets", adminToken, nil, nil); code != 400 {
		t.Errorf("DELETE override without quota_key = %d, want 400", code)
	}
	if q := f.reg.For(nil, f.rules, quota.Labels{Tenant: "alpha"}); q[0].Limit != 50_000_000 {
		t.Errorf("alpha's daily limit after the delete = %d, want the rule's", q[0].Limit)
	}
}

func find(qs []QuotaState, rule string) *QuotaState {
	for i := range qs {
		if qs[i].Rule == rule {
			return &qs[i]
		}
	}
	return nil
}

// nextMidnight is when today's daily budgets reset.
func nextMidnight() time.Time {
	y, m, d := time.Now().UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// TestState: what the API says a tenant, key and session spent and hold is what the quota
// store and the ledger hold.
func TestState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.traffic(t)

	// alpha: 1.2 + 0.3 (alpha-ci) + 0.7 + 0.05 (ops) settled; 0.5 held (twice the 0.25 of
	// the open call).
	var ts TenantState
	call(t, f.h, "GET", "/admin/v1/tenants/alpha", adminToken, nil, &ts)
	daily := find(ts.Quotas, "tenant-daily")
	reset := nextMidnight()
	wantDaily := &QuotaState{Rule: "tenant-daily", QuotaKey: "tenant-daily|tenant=alpha", Scope: map[string]string{"tenant": "alpha"},
		Unit: "usd", Window: "day", Limit: 50_000_000, Used: 2_750_000, Spent: 2_250_000, Held: 500_000,
		Remaining: 47_250_000, Fraction: 0.055, ResetsAt: &reset}
	if diff := cmp.Diff(wantDaily, daily, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("alpha's daily budget (-want +got):\n%s", diff)
	}
	if ts.Today.MicroUSD != 2_250_000 || ts.Today.Requests != 4 {
		t.Errorf("alpha's spend today from the ledger = %+v, want 4 requests, 2250000", ts.Today)
	}
	if diff := cmp.Diff([]string{"ops", "alpha-ci"}, ts.Keys); diff != "" {
		t.Errorf("alpha's keys (-want +got):\n%s", diff)
	}
	// The same figures straight from the store.
	sts, err := f.store.Status(context.Background(), f.rules.For(nil, quota.Labels{Tenant: "alpha"})[:1], nil)
	if err != nil {
		t.Fatal(err)
	}
	if sts[0].Used != daily.Used || sts[0].Held != daily.Held {
		t.Errorf("the store says used %d held %d; the API %d %d", sts[0].Used, sts[0].Held, daily.Used, daily.Held)
	}

	// alpha-ci: its own budget and its tenant's.
	var ks KeyState
	call(t, f.h, "GET", "/admin/v1/keys/alpha-ci", adminToken, nil, &ks)
	own := find(ks.Quotas, keys.BudgetRule)
	if own == nil || own.Limit != 5_000_000 || own.Spent != 1_500_000 || own.Held != 500_000 {
		t.Errorf("alpha-ci's own budget = %+v, want 1500000 spent and 500000 held of 5000000", own)
	}
	if find(ks.Quotas, "tenant-daily") == nil {
		t.Error("alpha-ci's quotas lack its tenant's budget")
	}
	if ks.Today.MicroUSD != 1_500_000 {
		t.Errorf("alpha-ci's spend today = %d, want 1500000", ks.Today.MicroUSD)
	}

	// A session: lifetime budget, spend today and in all.
	var ss SessionState
	call(t, f.h, "GET", "/admin/v1/sessions/run-1?key=alpha-ci", adminToken, nil, &ss)
	sess := find(ss.Quotas, "session-usd")
	if sess == nil || sess.Spent != 1_500_000 || sess.Limit != 5_000_000 || sess.ResetsAt != nil || sess.Window != "lifetime" {
		t.Errorf("run-1's budget = %+v, want 1500000 of 5000000, never resetting", sess)
	}
	if find(ss.Quotas, "tenant-daily") == nil || find(ss.Quotas, keys.BudgetRule) == nil {
		t.Errorf("run-1 with key alpha-ci lacks its tenant's or key's budget: %+v", ss.Quotas)
	}
	if ss.Today.MicroUSD != 1_500_000 || ss.Total.MicroUSD != 1_500_000 || ss.Total.Since != nil {
		t.Errorf("run-1's spend = today %+v, total %+v", ss.Today, ss.Total)
	}

	// Top sessions, most spent first; requests without a session are not a session.
	var top struct {
		Sessions []SessionSpend
	}
	call(t, f.h, "GET", "/admin/v1/sessions?limit=3", adminToken, nil, &top)
	var got []string
	for _, s := range top.Sessions {
		got = append(got, s.Session)
	}
	if diff := cmp.Diff([]string{"run-1", "run-2", "b-1"}, got); diff != "" {
		t.Errorf("top sessions (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"limit=0", "limit=5000", "limit=x", "since=yesterday"} {
		if code := call(t, f.h, "GET", "/admin/v1/sessions?"+bad, adminToken, nil, nil); code != 400 {
			t.Errorf("GET /admin/v1/sessions?%s = %d, want 400", bad, code)
		}
	}
}

// TestLive: breakers (and their reset), queue depth by priority, the metrics summary and
// the learned limits.
func TestLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.traffic(t)

	var br struct{ Breakers []BreakerJSON }
	call(t, f.h, "GET", "/admin/v1/breakers", adminToken, nil, &br)
	if len(br.Breakers) != 2 || br.Breakers[1].Deployment != "openai/gpt-4o" || br.Breakers[1].State != "open" ||
		br.Breakers[1].OpenUntil == nil || br.Breakers[0].State != "closed" || br.Breakers[0].Failures != 1 {
		t.Errorf("breakers = %+v, want claude closed with one failure and gpt-4o open", br.Breakers)
	}
	var reset struct {
		Deployment string
		Reset      bool
	}
	call(t, f.h, "POST", "/admin/v1/breakers/reset", adminToken, ResetBreakerRequest{Deployment: "openai/gpt-4o"}, &reset)
	if !reset.Reset {
		t.Error("reset of an open breaker = false")
	}
	if _, _, ok := f.cd.Allow("openai/gpt-4o", time.Now()); !ok {
		t.Error("the breaker still refuses after its reset")
	}
	if code := call(t, f.h, "POST", "/admin/v1/breakers/reset", adminToken, ResetBreakerRequest{}, nil); code != 400 {
		t.Errorf("reset without a deployment = %d, want 400", code)
	}

	var q QueueJSON
	call(t, f.h, "GET", "/admin/v1/queue", adminToken, nil, &q)
	waiting := map[string]int{}
	for _, l := range q.Levels {
		waiting[l.Level] = l.Waiting
	}
	if diff := cmp.Diff(map[string]int{"critical": 1, "high": 1, "normal": 1, "low": 1}, waiting); diff != "" {
		t.Errorf("waiting by level (-want +got):\n%s", diff)
	}
	if q.Queued != 4 || q.Tenants["gamma"] != 4 {
		t.Errorf("queue = %+v, want 4 of gamma", q)
	}
	if normal := q.Levels[2]; normal.Level != "normal" || normal.Wait.Count != 7 {
		t.Errorf("normal level = %+v, want the 7 admissions at normal priority", normal)
	}

	var sum Summary
	call(t, f.h, "GET", "/admin/v1/metrics", adminToken, nil, &sum)
	want := Summary{Requests: 12, RateLimited: map[string]float64{"tollgate": 4, "upstream": 4},
		Refusals: map[string]float64{"rate_limited": 2, "queue_full": 1, "queue_timeout": 0, "budget_exceeded": 1},
		Retries:  5, Fallbacks: 3, FallbackShare: 0.25, Cache: map[string]float64{"hit": 2, "miss": 6}}
	if diff := cmp.Diff(want, sum, cmpopts.IgnoreFields(Summary{}, "QueueWait")); diff != "" {
		t.Errorf("metrics summary (-want +got):\n%s", diff)
	}

	var learned struct{ Limits []LearnedJSON }
	call(t, f.h, "GET", "/admin/v1/learned", adminToken, nil, &learned)
	if diff := cmp.Diff([]LearnedJSON{{Deployment: "openai/gpt-4o", Unit: "requests", PerMinute: 480, Configured: 500, Source: "headers"}}, learned.Limits); diff != "" {
		t.Errorf("learned limits (-want +got):\n%s", diff)
	}
	var rev struct{ Revision int64 }
	if code := call(t, f.h, "POST", "/admin/v1/refresh", adminToken, nil, &rev); code != 200 || rev.Revision != 3 {
		t.Errorf("POST refresh = %d, revision %d; want the 3 keys' revision", code, rev.Revision)
	}
}

// TestOverview: the dashboard's one read holds the tenants, the sessions, every quota
// that can be named without a request, and the live figures.
func TestOverview(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.traffic(t)
	var ov Overview
	if code := call(t, f.h, "GET", "/admin/v1/overview", adminToken, nil, &ov); code != 200 {
		t.Fatalf("GET overview = %d", code)
	}
	var tenants []string
	for _, ts := range ov.Tenants {
		tenants = append(tenants, ts.Tenant)
	}
	if diff := cmp.Diff([]string{"alpha", "beta", "gamma"}, tenants); diff != "" {
		t.Errorf("tenants (-want +got):\n%s", diff)
	}
	if d := find(ov.Tenants[0].Quotas, "tenant-daily"); d == nil || d.Spent != 2_250_000 {
		t.Errorf("alpha's daily budget in the overview = %+v", d)
	}
	var quotas []string
	for _, q := range ov.Quotas {
		quotas = append(quotas, q.QuotaKey)
	}
	// Sessions' budgets exist only in requests; openai-tpm is one per OpenAI deployment.
	want := []string{
		"fleet-monthly",
		"gamma-concurrent|tenant=gamma",
		"gpt-4o-rpm|provider=openai|model=gpt-4o",
		"key_budget|key=alpha-ci",
		"openai-tpm|provider=openai|model=gpt-4o",
		"openai-tpm|provider=openai|model=gpt-4o-mini",
		"tenant-daily|tenant=alpha",
		"tenant-daily|tenant=beta",
		"tenant-daily|tenant=gamma",
	}
	if diff := cmp.Diff(want, quotas); diff != "" {
		t.Errorf("overview quotas (-want +got):\n%s", diff)
	}
	if c := find(ov.Quotas, "gamma-concurrent"); c == nil || c.Used != 1 || c.Window != "lease" {
		t.Errorf("gamma's concurrency = %+v, want 1 in use", c)
	}
	if rpm := find(ov.Quotas, "gpt-4o-rpm"); rpm == nil || rpm.Used != 3 || rpm.PeriodSeconds != 60 || rpm.ResetsAt == nil {
		t.Errorf("gpt-4o's rpm = %+v, want 3 used of its burst, refilling", rpm)
	}
	if len(ov.TopSessions) != 4 || ov.TopSessions[0].Session != "run-1" {
		t.Errorf("top sessions = %+v", ov.TopSessions)
	}
	if ov.Queue.Queued != 4 || ov.Metrics == nil || ov.Metrics.FallbackShare != 0.25 || len(ov.Breakers) != 2 || len(ov.Learned) != 1 {
		t.Errorf("overview live parts: queue %+v metrics %+v breakers %+v learned %+v", ov.Queue, ov.Metrics, ov.Breakers, ov.Learned)
	}
	if ov.Keys != (KeysInfo{Total: 4, Active: 4, Revision: 3}) {
		t.Errorf("keys = %+v", ov.Keys)
	}
}

// TestWithoutParts: a handler with only keys answers every read, with empty state, and
// the actions on missing parts say what is missing.
func TestWithoutParts(t *testing.T) {
	t.Parallel()
	reg, err := keys.Open(context.Background(), keys.Config{Static: []keys.Key{{ID: "k", Tenant: "t", Hash: keys.HashSecret("s")}}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{KeyHash: keys.HashSecret(adminToken), Keys: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/admin/v1/overview", "/admin/v1/keys", "/admin/v1/keys/k", "/admin/v1/tenants", "/admin/v1/tenants/t",
		"/admin/v1/sessions", "/admin/v1/sessions/s", "/admin/v1/breakers", "/admin/v1/queue", "/admin/v1/learned", "/admin/v1/rules",
		"/admin/v1/budgets"} {
		if code := call(t, h, "GET", p, adminToken, nil, nil); code != 200 {
			t.Errorf("GET %s = %d, want 200", p, code)
		}
	}
	for _, tt := range []struct {
		method, path string
		body         any
		code         string
	}{
		{"GET", "/admin/v1/metrics", nil, "no_metrics"},
		{"GET", "/metrics", nil, "no_metrics"},
		{"POST", "/admin/v1/breakers/reset", ResetBreakerRequest{Deployment: "a/b"}, "no_breakers"},
		{"POST", "/admin/v1/keys", CreateKeyRequest{Tenant: "t"}, "no_store"},
	} {
		var e errorBody
		if code := call(t, h, tt.method, tt.path, adminToken, tt.body, &e); code != 501 || e.Error.Code != tt.code {
			t.Errorf("%s %s = %d %q, want 501 %q", tt.method, tt.path, code, e.Error.Code, tt.code)
		}
	}
}

// TestConfigValidate: what New refuses.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	reg, err := keys.Open(context.Background(), keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"no admin key", Config{Keys: reg}},
		{"no keys", Config{KeyHash: keys.HashSecret("a")}},
		{"metrics key is the admin key", Config{KeyHash: keys.HashSecret("a"), MetricsKeyHash: keys.HashSecret("a"), Keys: reg}},
		{"negative top sessions", Config{KeyHash: keys.HashSecret("a"), Keys: reg, TopSessions: -1}},
		{"bad metric name", Config{KeyHash: keys.HashSecret("a"), Keys: reg, Metrics: MetricNames{Retries: "retries total"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Error("New() = nil error")
			}
		})
	}
	if _, err := New(Config{KeyHash: keys.HashSecret("a"), Keys: reg}); err != nil {
		t.Errorf("New(minimal) = %v", err)
	}
}

// TestLearnedFromCollector reads the learned limits as package learn exports them
// (provider and model labels, no deployment label): the API names each by its deployment.
func TestLearnedFromCollector(t *testing.T) {
	set, err := learn.New(learn.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	l := set.Learner(learn.Upstream{Provider: "openai", Account: learn.AccountID("sk-test"), Format: llm.OpenAI}, "gpt-4o-mini")
	l.Observe(now, learn.OutcomeOf(now.Add(-time.Second), quota.Amount{Requests: 1, InputTokens: 100, OutputTokens: 100},
		&llm.Response{Header: http.Header{"X-Ratelimit-Limit-Requests": {"500"}, "X-Ratelimit-Remaining-Requests": {"499"}}}, nil))
	reg := prometheus.NewRegistry()
	reg.MustRegister(learn.NewCollector(set))
	got := MetricsLearned{Gatherer: reg}.LearnedLimits()
	want := []LearnedLimit{{Deployment: "openai/gpt-4o-mini", Unit: "requests", PerMinute: 500, Source: "headers"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LearnedLimits() (-want +got):\n%s", diff)
	}
}
