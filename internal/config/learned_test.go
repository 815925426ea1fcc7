package config

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/emulator"
)

// TestLearnedLimitsShown builds a gateway against an emulator that states its limits in
// its headers, sends one request, and reads what was learned where an operator reads it:
// GET /metrics (package learn's collector on the gateway's registry), the admin API's
// table with the source and the configured rate beside it, and the rate-limit quota in
// the answer's statuses. learned_limits.mode off learns nothing.
func TestLearnedLimitsShown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, section string
		learned       bool
	}{
		{name: "default observe", learned: true},
		{name: "enforce", section: "learned_limits: {mode: enforce}\n", learned: true},
		{name: "off", section: "learned_limits: {mode: off}\n"},
		{name: "off for the upstream", section: "", learned: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := emulator.Start(t.Context(), emulator.Config{Seed: 1, Limits: emulator.Limits{RPM: 500, TPM: 200000}}, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			text := adminConfig(srv.URL(), t.TempDir(), "1h", "") + tt.section
			if tt.name == "off for the upstream" {
				text = strings.Replace(text, "openai: {api_key_env: OPENAI_API_KEY,", "openai: {learn_limits: false, api_key_env: OPENAI_API_KEY,", 1)
			}
			c := parse(t, text)
			c.LookupEnv = func(n string) (string, bool) { v, ok := adminEnv[n]; return v, ok }
			s := buildServed(t, c)
			chat := `{"model": "gpt-4o", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}`
			if code, body := call(t, http.MethodPost, s.gw.URL+"/v1/chat/completions", testEnv["TOLLGATE_KEY"], chat); code != 200 {
				t.Fatalf("chat = %d %s", code, body)
			}
			_, metrics := call(t, http.MethodGet, s.admin.URL+"/metrics", adminToken, "")
			want := `tollgate_learned_limit{account="` // the account is the hash of the emulator's key
			if got := strings.Contains(metrics, want) && strings.Contains(metrics, `model="gpt-4o",provider="openai",source="headers",unit="requests"} 500`); got != tt.learned {
				t.Errorf("GET /metrics shows the learned requests limit: %v, want %v", got, tt.learned)
			}
			code, body := call(t, http.MethodGet, s.admin.URL+"/admin/v1/learned", adminToken, "")
			var learned struct {
				Limits []struct {
					Deployment string  `json:"deployment"`
					Unit       string  `json:"unit"`
					PerMinute  float64 `json:"per_minute"`
					Configured float64 `json:"configured_per_minute"`
					Source     string  `json:"source"`
				} `json:"limits"`
			}
			if err := json.Unmarshal([]byte(body), &learned); code != 200 || err != nil {
				t.Fatalf("GET /admin/v1/learned = %d %s", code, body)
			}
			type row struct {
				unit              string
				limit, configured float64
				source            string
			}
			var got []row
			for _, l := range learned.Limits {
				if l.Deployment == "openai/gpt-4o" {
					got = append(got, row{l.Unit, l.PerMinute, l.Configured, l.Source})
				}
			}
			var want2 []row
			if tt.learned {
				// The configuration's rpm rule puts 500 a minute on gpt-4o.
				want2 = []row{{"requests", 500, 500, "headers"}, {"tokens", 200000, 0, "headers"}}
			}
			if len(got) != len(want2) || (len(got) > 0 && (got[0] != want2[0] || got[1] != want2[1])) {
				t.Errorf("learned limits of openai/gpt-4o = %+v, want %+v", got, want2)
			}
		})
	}
}
