package config

import (
	"errors"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReload reloads a running Build, step by step: a valid file swaps the virtual keys
// (keys made at run time stay), the gateway's settings and the admin token, and names
// what waits for a restart; a broken file, or one whose secret is missing, changes
// nothing and says why, with every problem's position.
func TestReload(t *testing.T) {
	t.Parallel()
	url, dir := startEmulator(t), t.TempDir()
	base := adminConfig(url, dir, "5s", "")
	env := map[string]string{"TG_NEW_KEY": "tg-new-key"}
	for k, v := range adminEnv {
		env[k] = v
	}
	c := parse(t, base)
	c.LookupEnv = func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	s := buildServed(t, c)
	runtime := createKey(t, s, "made-at-run-time")

	const newAdmin = "tg-admin-token-after-reload"
	changed := strings.NewReplacer(
		"keys:\n  - {id: k1, tenant: t1, key_env: TOLLGATE_KEY}\n",
		"keys:\n  - {id: k2, tenant: t1, key_env: TG_NEW_KEY}\nbudget_status: 402\naccess_log: {sample: 0.5}\n",
		"limit: 500, window: minute", "limit: 600, window: minute",
		"listen: 127.0.0.1:0", "listen: 127.0.0.1:9999",
		sha(adminToken), sha(newAdmin),
	).Replace(base)
	steps := []struct {
		name    string
		text    string
		env     map[string]string // changes to the environment
		wantErr string            // in Reload's error; "" for none
		want    Reloaded
		// after the step: the gateway's answer to each virtual key, and the admin
		// listener's to each token
		keys   map[string]int
		tokens map[string]int
	}{
		{name: "unchanged", text: base,
			want: Reloaded{Applied: []string{"keys", "access_log", "budget_status", "admin tokens"}},
			keys: map[string]int{"tg-secret": 200, "tg-new-key": 401, runtime: 200}, tokens: map[string]int{adminToken: 200, newAdmin: 401}},
		{name: "changed", text: changed, env: map[string]string{"OPENAI_API_KEY": "another-key"},
			want: Reloaded{Applied: []string{"keys", "access_log", "budget_status", "admin tokens"},
				Restart: []string{"quotas", "admin.listen", "upstreams.openai.api_key_env (its value)"}},
			keys: map[string]int{"tg-secret": 401, "tg-new-key": 200, runtime: 200}, tokens: map[string]int{adminToken: 401, newAdmin: 200}},
		{name: "broken", text: strings.Replace(changed, "budget_status: 402", "budget_status: 403\nbudget_statuss: 402", 1),
			wantErr: "t.yaml:15:16: budget_status: want 429 (the default) or 402, got 403\n" +
				"t.yaml:16:1: budget_statuss: unknown field \"budget_statuss\" (did you mean \"budget_status\"?)",
			keys: map[string]int{"tg-secret": 401, "tg-new-key": 200}, tokens: map[string]int{newAdmin: 200}},
		{name: "missing secret", text: base, env: map[string]string{"TOLLGATE_KEY": ""},
			wantErr: "missing secret: environment variable TOLLGATE_KEY (keys[0].key_env) not set",
			keys:    map[string]int{"tg-secret": 401, "tg-new-key": 200}, tokens: map[string]int{newAdmin: 200}},
	}
	for _, st := range steps {
		// The running configuration keeps the environment it read at start; the new
		// file is read with the environment of the reload.
		nextEnv := maps.Clone(env)
		maps.Copy(nextEnv, st.env)
		next := parse(t, st.text)
		next.LookupEnv = func(n string) (string, bool) { v, ok := nextEnv[n]; return v, ok }
		got, err := s.Reload(next)
		switch {
		case st.wantErr == "" && err != nil:
			t.Fatalf("%s: Reload = %v", st.name, err)
		case st.wantErr != "" && (err == nil || !containsAll(err.Error(), strings.Split(st.wantErr, "\n"))):
			t.Errorf("%s: Reload error = %v, want %q", st.name, err, st.wantErr)
		case st.wantErr == "":
			if diff := cmp.Diff(st.want, got, cmpEmpty); diff != "" {
				t.Errorf("%s: Reload() (-want +got):\n%s", st.name, diff)
			}
		}
		var ps Problems
		if st.name == "broken" && (!errors.As(err, &ps) || len(ps) != 2) {
			t.Errorf("%s: Reload error = %#v, want the file's two Problems", st.name, err)
		}
		for secret, want := range st.keys {
			if got := s.models(t, secret); got != want {
				t.Errorf("%s: gateway with key %q = %d, want %d", st.name, secret[:6], got, want)
			}
		}
		for token, want := range st.tokens {
			if code, _ := call(t, http.MethodGet, s.admin.URL+"/admin/v1/keys", token, ""); code != want {
				t.Errorf("%s: admin API with token %q = %d, want %d", st.name, token[:12], code, want)
			}
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
