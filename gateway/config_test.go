package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
)

func TestConfigValidate(t *testing.T) {
	eng, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": &stub{name: "openai", format: llm.OpenAI}}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	reg := testRegistry(t, nil)
	tests := []struct {
		name string
		cfg  Config
		want string // in the error; "" for valid
	}{
		{"valid", Config{Engine: eng, Keys: reg}, ""},
		{"no engine", Config{Keys: reg}, "Config.Engine"},
		{"no keys", Config{Engine: eng}, "Config.Keys"},
		{"bad model name", Config{Engine: eng, Keys: reg, Models: []string{"not a model"}}, "Models[0]"},
		{"negative body limit", Config{Engine: eng, Keys: reg, MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"negative timeout", Config{Engine: eng, Keys: reg, RequestTimeout: -1}, "RequestTimeout"},
		{"budget status", Config{Engine: eng, Keys: reg, BudgetStatus: 403}, "BudgetStatus"},
		{"sample above 1", Config{Engine: eng, Keys: reg, AccessLogSample: 2}, "AccessLogSample"},
		{"nil ready check", Config{Engine: eng, Keys: reg, Ready: map[string]func(context.Context) error{"redis": nil}}, `Ready["redis"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// TestRuntimeKeys authenticates through a key registry on a real ledger: a key created at
// run time is accepted at once with its tenant, its allowed models and its session
// requirement, and refused once revoked; the configuration's keys keep working.
func TestRuntimeKeys(t *testing.T) {
	ctx := context.Background()
	led, err := ledger.Open(ctx, ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db"), CommitInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close(context.Background()) })
	reg := testRegistry(t, led)
	e, oa, _ := stubEnv(t, func(c *Config) { c.Keys = reg })
	_, secret, err := reg.Create(ctx, keys.Spec{ID: "ci", Tenant: "gamma", AllowedModels: []string{"gpt-4o-mini"},
		RequireSession: true})
	if err != nil {
		t.Fatal(err)
	}
	bearer := "Bearer " + secret
	const chat, messages = "/v1/chat/completions", "/v1/messages"
	steps := []struct {
		name   string
		before func()
		path   string
		body   string
		hdr    []string
		status int
		want   string // in the body
	}{
		{"runtime key with a session", nil, chat, okChat, []string{"Authorization", bearer, HeaderSessionID, "run-1"}, 200, "chat.completion"},
		{"runtime key without a session", nil, chat, okChat, []string{"Authorization", bearer}, 400, `virtual key \"ci\" requires a session id`},
		{"model not allowed", nil, chat, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			[]string{"Authorization", bearer, HeaderSessionID, "run-1"}, 403, "may not use"},
		{"anthropic header", nil, messages, `{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			[]string{"X-Api-Key", secret, "Anthropic-Version", "2023-06-01", HeaderSessionID, "run-1"}, 200, `"type":"message"`},
		{"revoked", func() {
			if _, err := reg.Revoke(ctx, "ci"); err != nil {
				t.Fatal(err)
			}
		}, chat, okChat, []string{"Authorization", bearer, HeaderSessionID, "run-1"}, 401, "invalid_api_key"},
		{"config key after the revocation", nil, chat, okChat, []string{"Authorization", "Bearer " + secretAlice}, 200, "chat.completion"},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		resp, body := e.do(t, http.MethodPost, st.path, st.body, st.hdr...)
		if resp.StatusCode != st.status || !strings.Contains(string(body), st.want) {
			t.Errorf("%s: %d %s, want %d with %s", st.name, resp.StatusCode, body, st.status, st.want)
		}
	}
	oa.mu.Lock()
	defer oa.mu.Unlock()
	var tenants []string
	for _, c := range oa.calls {
		tenants = append(tenants, c.Request.Identity.Tenant+"/"+c.Request.Identity.Key)
	}
	if want := []string{"gamma/ci", "gamma/ci", "acme/alice"}; !slices.Equal(tenants, want) {
		t.Errorf("upstream calls by tenant/key = %q, want %q (the accepted requests only)", tenants, want)
	}
}

// TestUpdate changes the settings of a serving gateway: the status of budget refusals and
// the access log's sampling apply from the next request; an invalid update changes nothing.
func TestUpdate(t *testing.T) {
	logs := &syncBuffer{}
	budget := newEnv(t, envConfig{rules: spentBudget, gateway: func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}})
	free, _, _ := stubEnv(t, func(c *Config) { c.Logger = budget.gw.log })
	alice := []string{"Authorization", "Bearer " + secretAlice}
	lines := func() int { return strings.Count(logs.String(), `"outcome":"ok"`) }
	steps := []struct {
		name      string
		update    Settings
		updateErr bool
		status    int // of a budget refusal
		logged    int // answered requests logged in all, after one more
	}{
		{"defaults", Settings{}, false, 429, 1},
		{"402, no answers logged", Settings{BudgetStatus: 402, AccessLogSample: -1}, false, 402, 1},
		{"invalid status", Settings{BudgetStatus: 403}, true, 402, 1},
		{"invalid sample", Settings{AccessLogSample: 1.5}, true, 402, 1},
		{"back to 429, every answer", Settings{BudgetStatus: 429, AccessLogSample: 1}, false, 429, 2},
	}
	for _, st := range steps {
		if err := budget.gw.Update(st.update); (err != nil) != st.updateErr {
			t.Fatalf("%s: Update(%+v) = %v, want error %v", st.name, st.update, err, st.updateErr)
		}
		free.gw.Update(budget.gw.live.Load().settings)
		if resp, body := budget.do(t, http.MethodPost, "/v1/chat/completions", okChat, alice...); resp.StatusCode != st.status {
			t.Errorf("%s: budget refusal = %d %s, want %d", st.name, resp.StatusCode, body, st.status)
		}
		if resp, body := free.do(t, http.MethodPost, "/v1/chat/completions", okChat, alice...); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", st.name, resp.StatusCode, body)
		}
		if got := lines(); got != st.logged {
			t.Errorf("%s: answered requests logged = %d, want %d", st.name, got, st.logged)
		}
	}
}
