package config

import (
	"net/http"
	"strings"
	"testing"
)

// TestBudgetChangesEnforced changes budgets through the admin API of a Build and sends
// requests through its gateway: the engine enforces the limits the admin API sets, from
// the next request on. A tenant's daily budget too small for a request refuses it; raised,
// the same request is served; lowered under what the next one may cost, that one is
// refused with the new limit in its message. A runtime key's own budget works alike.
func TestBudgetChangesEnforced(t *testing.T) {
	t.Parallel()
	text := strings.Replace(adminConfig(startEmulator(t), t.TempDir(), "1h", ""), "quotas:\n",
		"quotas:\n  - {name: tiny, scope: {tenant: \"*\"}, unit: usd, limit: 0.0001, window: day}\n", 1)
	c := parse(t, text)
	c.LookupEnv = func(n string) (string, bool) { v, ok := adminEnv[n]; return v, ok }
	s := buildServed(t, c)
	runtime := createKey(t, s, "ci") // tenant t1, like the configuration's key

	const chat = `{"model": "gpt-4o", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}`
	steps := []struct {
		name string
		// admin is a change made through the admin API before the request: method, path
		// and body.
		admin  [3]string
		secret string
		code   int
		want   string // in the answer's body
	}{
		{name: "the rule's limit refuses", secret: testEnv["TOLLGATE_KEY"], code: 429, want: "tiny [tenant=t1] ($0.0001 per day"},
		{name: "raised, the same request is served",
			admin:  [3]string{"PUT", "/admin/v1/budgets", `{"rule": "tiny", "scope": {"tenant": "t1"}, "limit": 1000000}`},
			secret: testEnv["TOLLGATE_KEY"], code: 200},
		{name: "lowered, refused with the new limit",
			admin:  [3]string{"PUT", "/admin/v1/budgets", `{"rule": "tiny", "scope": {"tenant": "t1"}, "limit": 250}`},
			secret: testEnv["TOLLGATE_KEY"], code: 429, want: "tiny [tenant=t1] ($0.00025 per day"},
		{name: "override deleted, the rule's limit again",
			admin:  [3]string{"DELETE", "/admin/v1/budgets?quota_key=tiny%7Ctenant=t1", ""},
			secret: runtime, code: 429, want: "($0.0001 per day"},
		{name: "raised again for the runtime key",
			admin:  [3]string{"PUT", "/admin/v1/budgets", `{"rule": "tiny", "scope": {"tenant": "t1"}, "limit": 10000000}`},
			secret: runtime, code: 200},
		{name: "the key's own budget set below a request",
			admin:  [3]string{"PUT", "/admin/v1/keys/ci/budget", `{"limit_micro_usd": 100, "window": "day"}`},
			secret: runtime, code: 429, want: "key_budget [key=ci] ($0.0001 per day"},
		{name: "the key's own budget raised",
			admin:  [3]string{"PUT", "/admin/v1/keys/ci/budget", `{"limit_micro_usd": 5000000, "window": "day"}`},
			secret: runtime, code: 200},
		{name: "another key of the tenant is not bound by it", secret: testEnv["TOLLGATE_KEY"], code: 200},
	}
	for _, st := range steps {
		if st.admin[0] != "" {
			if code, body := call(t, st.admin[0], s.admin.URL+st.admin[1], adminToken, st.admin[2]); code != http.StatusOK {
				t.Fatalf("%s: %s %s = %d %s", st.name, st.admin[0], st.admin[1], code, body)
			}
		}
		code, body := call(t, http.MethodPost, s.gw.URL+"/v1/chat/completions", st.secret, chat)
		if code != st.code || !strings.Contains(body, st.want) {
			t.Errorf("%s: chat = %d %s; want %d with %q", st.name, code, body, st.code, st.want)
		}
	}
}
