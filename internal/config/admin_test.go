package config

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/keys"
)

// The admin tokens of the tests: the first by its hash in the file, the second from an
// environment variable.
const (
	adminToken   = "tg-admin-token-for-tests"
	metricsToken = "tg-metrics-token-for-tests"
)

func sha(s string) string {
	h := keys.HashSecret(s)
	return fmt.Sprintf("%x", h[:])
}

func TestValidateAdmin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string // appended to minimal
		want []string
	}{
		{"none", "", nil},
		{"hash", "admin: {key_sha256: " + sha("a") + "}\n", nil},
		{"env and metrics hash", "admin: {listen: 0.0.0.0:9191, key_env: ADMIN, metrics_key_sha256: " + sha("m") + ", keys_refresh: 1s}\n", nil},
		{"no token", "admin: {listen: 127.0.0.1:9091}\n", []string{
			"t.yaml:5:8: admin: the admin token is missing: set key_sha256 (hex SHA-256 of the token) or key_env (the variable holding it); " +
				"an admin listener without a token would be open to anyone who reaches it"}},
		{"both forms", "admin: {key_sha256: " + sha("a") + ", key_env: ADMIN}\n", []string{
			"t.yaml:5:8: admin: set one of key_sha256 and key_env, not both"}},
		{"bad hash and env", "admin: {key_sha256: abc, metrics_key_env: 1X}\n", []string{
			"t.yaml:5:21: admin.key_sha256: want 64 hex digits (printf %s TOKEN | sha256sum); a token itself belongs in key_env's variable",
			`t.yaml:5:43: admin.metrics_key_env: "1X" is not an environment variable name`}},
		{"metrics token is the admin token", "admin: {key_sha256: " + sha("a") + ", metrics_key_sha256: " + sha("a") + "}\n", []string{
			"t.yaml:5:107: admin.metrics_key_sha256: is the admin token's: give Prometheus a token of its own"}},
		{"same variable", "admin: {key_env: A, metrics_key_env: A}\n", []string{
			"t.yaml:5:1: admin.metrics_key_sha256: is the admin token's: give Prometheus a token of its own"}},
		{"bad listen", "admin: {listen: nowhere, key_env: A}\n", []string{
			`t.yaml:5:17: admin.listen: want host:port such as 127.0.0.1:9091, got "nowhere"`}},
		{"gateway's address", "listen: 127.0.0.1:9000\nadmin: {listen: 127.0.0.1:9000, key_env: A}\n", []string{
			"t.yaml:6:17: admin.listen: is the gateway's address (listen): the admin listener needs one of its own"}},
		{"refresh", "admin: {key_env: A, keys_refresh: 1ms}\n", []string{
			"t.yaml:5:35: admin.keys_refresh: want at least 10ms (each refresh reads the ledger), got 1ms"}},
		{"negative refresh", "admin: {key_env: A, keys_refresh: -1s}\n", []string{
			"t.yaml:5:35: admin.keys_refresh: must not be negative, got -1s"}},
		{"metrics on the gateway", "metrics: {listener: gateway}\n", nil},
		{"metrics on the admin listener without one", "metrics: {listener: both}\n", []string{
			"t.yaml:5:21: metrics.listener: both needs the admin listener: add an admin section with its key"}},
		{"unknown listener", "admin: {key_env: A}\nmetrics: {listener: api}\n", []string{
			`t.yaml:6:21: metrics.listener: unknown listener "api": want admin (the default), gateway or both`}},
		{"unknown field", "admin: {key_env: A, token: x}\n", []string{
			`t.yaml:5:21: admin.token: unknown field "token"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := problemStrings(parse(t, minimal+tt.text).Validate())
			if diff := cmp.Diff(tt.want, got, cmpEmpty); diff != "" {
				t.Errorf("Validate() (-want +got):\n%s", diff)
			}
		})
	}
	// Keys may all come from the admin API.
	noKeys := "upstreams:\n  openai: {api_key_env: OPENAI_API_KEY}\nadmin: {key_env: A}\n"
	if ps := parse(t, noKeys).Validate(); len(ps) > 0 {
		t.Errorf("Validate(no keys, an admin section) = %v, want none", problemStrings(ps))
	}
}

// adminEnv is the environment of the admin tests: testEnv and the metrics token.
var adminEnv = func() map[string]string {
	m := map[string]string{"TG_METRICS_TOKEN": metricsToken}
	for k, v := range testEnv {
		m[k] = v
	}
	return m
}()

// adminConfig is emulatorConfig with an admin section, keys reread every refresh, and the
// metrics section given.
func adminConfig(url, dir, refresh, metrics string) string {
	return emulatorConfig(url, dir) + fmt.Sprintf("admin:\n  listen: 127.0.0.1:0\n  key_sha256: %s\n  metrics_key_env: TG_METRICS_TOKEN\n  keys_refresh: %s\n%s",
		sha(adminToken), refresh, metrics)
}

// built is a Build served over loopback: the gateway and the admin handler.
type built struct {
	*Built
	gw, admin *httptest.Server
}

func buildServed(t *testing.T, c *Config) *built {
	t.Helper()
	b, err := c.Build(t.Context(), quietLogger())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	s := &built{Built: b, gw: httptest.NewServer(b.Server)}
	t.Cleanup(s.gw.Close)
	if b.Admin != nil {
		s.admin = httptest.NewServer(b.Admin)
		t.Cleanup(s.admin.Close)
	}
	return s
}

// call sends a request with a bearer token and returns the status and body.
func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// models asks the gateway for the models a key may use: 200 for a valid key, 401 for
// one revoked or unknown. It costs no upstream call.
func (s *built) models(t *testing.T, secret string) int {
	t.Helper()
	code, _ := call(t, http.MethodGet, s.gw.URL+"/v1/models", secret, "")
	return code
}

// TestMetricsListener serves GET /metrics where metrics.listener says, and the admin
// endpoints behind their tokens.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	url := startEmulator(t)
	tests := []struct {
		listener             string
		onGateway, onAdmin   int
		withMetricsTokenOnly int // GET /admin/v1/overview with the metrics token
	}{
		{"", 404, 200, 401},
		{"metrics: {listener: admin}\n", 404, 200, 401},
		{"metrics: {listener: gateway}\n", 200, 404, 401},
		{"metrics: {listener: both}\n", 200, 200, 401},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.listener), func(t *testing.T) {
			t.Parallel()
			c := parse(t, adminConfig(url, t.TempDir(), "5s", tt.listener))
			c.LookupEnv = func(n string) (string, bool) { v, ok := adminEnv[n]; return v, ok }
			s := buildServed(t, c)
			if code, body := call(t, http.MethodGet, s.gw.URL+"/metrics", "", ""); code != tt.onGateway ||
				(code == 200) != strings.Contains(body, "tollgate_ledger_records_total") {
				t.Errorf("gateway GET /metrics = %d, want %d", code, tt.onGateway)
			}
			code, body := call(t, http.MethodGet, s.admin.URL+"/metrics", metricsToken, "")
			if code != tt.onAdmin {
				t.Errorf("admin GET /metrics with the metrics token = %d, want %d", code, tt.onAdmin)
			}
			if code == 200 {
				for _, want := range []string{"tollgate_ledger_lag_seconds 0", "tollgate_ledger_write_errors_total 0",
					`tollgate_breaker_state{deployment="openai/gpt-4o"} 0`, `tollgate_breaker_state{deployment="anthropic/claude-3-5-haiku"} 0`} {
					if !strings.Contains(body, want) {
						t.Errorf("admin GET /metrics lacks %s", want)
					}
				}
			}
			if code, _ := call(t, http.MethodGet, s.admin.URL+"/metrics", "", ""); code != 401 && code != tt.onAdmin {
				t.Errorf("admin GET /metrics without a token = %d, want 401 (or %d: not served there)", code, tt.onAdmin)
			}
			if code, _ := call(t, http.MethodGet, s.admin.URL+"/admin/v1/overview", metricsToken, ""); code != tt.withMetricsTokenOnly {
				t.Errorf("overview with the metrics token = %d, want %d", code, tt.withMetricsTokenOnly)
			}
			// The dashboard's figures, wherever /metrics is served.
			if code, body := call(t, http.MethodGet, s.admin.URL+"/admin/v1/overview", adminToken, ""); code != 200 ||
				strings.Contains(body, `"metrics": null`) {
				t.Errorf("overview with the admin token = %d %s, want 200 with the metrics summary", code, body)
			}
		})
	}
}

// TestAdminOverRealParts drives the admin API of a Build: a request through the gateway
// shows in the tenant's spend and the ledger, the deployments' breakers are listed, and a
// key created through the API serves requests through the gateway with its own tenant,
// which the metrics then count under its name.
func TestAdminOverRealParts(t *testing.T) {
	t.Parallel()
	url := startEmulator(t)
	c := parse(t, adminConfig(url, t.TempDir(), "5s", ""))
	c.LookupEnv = func(n string) (string, bool) { v, ok := adminEnv[n]; return v, ok }
	s := buildServed(t, c)

	code, body := call(t, http.MethodPost, s.admin.URL+"/admin/v1/keys", adminToken,
		`{"id": "ci", "tenant": "t2", "allowed_models": ["smart"], "require_session": true}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /admin/v1/keys = %d %s", code, body)
	}
	var created struct{ Secret string }
	if err := json.Unmarshal([]byte(body), &created); err != nil || created.Secret == "" {
		t.Fatalf("created key %s: %v", body, err)
	}
	chat := `{"model": "smart", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}`
	req, _ := http.NewRequest(http.MethodPost, s.gw.URL+"/v1/chat/completions", strings.NewReader(chat))
	req.Header.Set("Authorization", "Bearer "+created.Secret)
	req.Header.Set("X-Session-Id", "run-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("chat with the runtime key = %d %s", resp.StatusCode, data)
	}
	if code, body := call(t, http.MethodPost, s.gw.URL+"/v1/chat/completions", created.Secret, chat); code != 400 ||
		!strings.Contains(body, "requires a session id") {
		t.Errorf("chat without a session = %d %s, want 400: the runtime key requires one", code, body)
	}
	if err := s.Ledger.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	code, body = call(t, http.MethodGet, s.admin.URL+"/admin/v1/tenants/t2", adminToken, "")
	var tenant struct {
		Today struct {
			Requests int64 `json:"requests"`
			MicroUSD int64 `json:"micro_usd"`
		} `json:"today"`
		Keys []string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &tenant); code != 200 || err != nil {
		t.Fatalf("GET tenant t2 = %d %s (%v)", code, body, err)
	}
	if tenant.Today.Requests != 1 || tenant.Today.MicroUSD <= 0 || !slicesContain(tenant.Keys, "ci") {
		t.Errorf("tenant t2 = %+v, want one paid request today by key ci", tenant)
	}
	code, body = call(t, http.MethodGet, s.admin.URL+"/metrics", adminToken, "")
	for _, want := range []string{`tollgate_tenant_requests_total{outcome="ok",source="",tenant="t2"} 1`,
		`tollgate_inflight{model="gpt-4o",provider="openai"} 0`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET /metrics = %d, lacks %s", code, want)
		}
	}
	// The engine's breakers are wired (without them: 501 no_breakers); none has state.
	if code, body := call(t, http.MethodGet, s.admin.URL+"/admin/v1/breakers", adminToken, ""); code != 200 {
		t.Errorf("GET /admin/v1/breakers = %d %s, want 200", code, body)
	}
	if code, body := call(t, http.MethodPost, s.admin.URL+"/admin/v1/breakers/reset", adminToken, `{"deployment": "openai/gpt-4o"}`); code != 200 ||
		!strings.Contains(body, `"reset": false`) {
		t.Errorf("reset of a breaker without state = %d %s, want 200 reset false", code, body)
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestRevokeAcrossReplicas runs two Builds on one PostgreSQL ledger, as two replicas of a
// fleet: a key created through replica A's admin API is accepted by A at once and by B
// after B's refresh, and once revoked through A, it is refused by A at once and by B
// within keys_refresh.
func TestRevokeAcrossReplicas(t *testing.T) {
	t.Parallel()
	url, dir := startEmulator(t), t.TempDir()
	text := strings.Replace(adminConfig(url, dir, "50ms", ""), "ledger:\n  path: "+filepath.Join(dir, "ledger.db")+"\n",
		"ledger: {backend: postgres, url_env: LEDGER_URL}\n", 1)
	env := map[string]string{"LEDGER_URL": pgtest.Database(t)}
	for k, v := range adminEnv {
		env[k] = v
	}
	c := parse(t, text)
	c.LookupEnv = func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	a, b := buildServed(t, c), buildServed(t, c)

	secret := createKey(t, a, "fleet-key")
	if got := a.models(t, secret); got != 200 {
		t.Errorf("replica A with the key it created = %d, want 200 at once", got)
	}
	t.Logf("replica B accepted the new key after %v", waitStatus(t, b, secret, 200))
	revokeKey(t, a, "fleet-key")
	if got := a.models(t, secret); got != 401 {
		t.Errorf("replica A after revoking the key = %d, want 401 at once", got)
	}
	t.Logf("replica B refused the revoked key after %v (keys_refresh 50ms)", waitStatus(t, b, secret, 401))
	if got := b.models(t, testEnv["TOLLGATE_KEY"]); got != 200 {
		t.Errorf("replica B with the configuration's key = %d, want 200", got)
	}
}

// TestRuntimeKeysSurviveRestart: a SQLite ledger belongs to one process (a second one is
// refused the file), so there the runtime keys' other guarantee is tested: created and
// revoked keys are kept across a restart.
func TestRuntimeKeysSurviveRestart(t *testing.T) {
	t.Parallel()
	c := parse(t, adminConfig(startEmulator(t), t.TempDir(), "50ms", ""))
	c.LookupEnv = func(n string) (string, bool) { v, ok := adminEnv[n]; return v, ok }
	first := buildServed(t, c)
	kept, revoked := createKey(t, first, "kept"), createKey(t, first, "revoked")
	revokeKey(t, first, "revoked")
	if got := first.models(t, revoked); got != 401 {
		t.Errorf("revoked key = %d, want 401 at once", got)
	}
	if err := first.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	second := buildServed(t, c)
	for _, k := range []struct {
		name, secret string
		want         int
	}{{"kept", kept, 200}, {"revoked", revoked, 401}, {"config", testEnv["TOLLGATE_KEY"], 200}} {
		if got := second.models(t, k.secret); got != k.want {
			t.Errorf("after a restart, key %s = %d, want %d", k.name, got, k.want)
		}
	}
}

// createKey creates key id of tenant t1 through s's admin API and returns its secret.
func createKey(t *testing.T, s *built, id string) string {
	t.Helper()
	code, body := call(t, http.MethodPost, s.admin.URL+"/admin/v1/keys", adminToken, `{"id": "`+id+`", "tenant": "t1"}`)
	var created struct{ Secret string }
	if err := json.Unmarshal([]byte(body), &created); code != http.StatusCreated || err != nil || created.Secret == "" {
		t.Fatalf("POST /admin/v1/keys = %d %s", code, body)
	}
	return created.Secret
}

func revokeKey(t *testing.T, s *built, id string) {
	t.Helper()
	if code, body := call(t, http.MethodDelete, s.admin.URL+"/admin/v1/keys/"+id, adminToken, ""); code != 200 {
		t.Fatalf("DELETE /admin/v1/keys/%s = %d %s", id, code, body)
	}
}

// waitStatus asks replica s with secret until it answers want, and returns how long that
// took. Each try is a request to the replica; the test fails after 30s, far beyond
// keys_refresh, which only a replica that never rereads the ledger would reach.
func waitStatus(t *testing.T, s *built, secret string, want int) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for s.models(t, secret) != want {
		if ctx.Err() != nil {
			t.Fatalf("replica did not answer %d within 30s", want)
		}
	}
	return time.Since(start)
}
