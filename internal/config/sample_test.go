package config

import (
	"bytes"
	"strings"
	"testing"
)

// TestSampleConfig checks that the tollgate.yaml at the repository root is valid, as
// documented, and describes what the README promises: two tenants' keys, the smart route,
// per-model rates, a concurrency lease and session and daily budgets.
func TestSampleConfig(t *testing.T) {
	t.Parallel()
	c, err := Load("../../tollgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := c.resolve()
	if len(r.problems) > 0 {
		t.Fatalf("tollgate.yaml has problems:\n%s", Problems(r.problems).Error())
	}
	if _, ok := c.Routes["smart"]; !ok {
		t.Error(`tollgate.yaml has no route "smart"`)
	}
	tenants := map[string]bool{}
	for _, k := range c.Keys {
		tenants[k.Tenant] = true
	}
	if len(tenants) < 2 {
		t.Errorf("tollgate.yaml keys serve %d tenants, want 2", len(tenants))
	}
	var lease, session, daily bool
	for _, q := range c.Quotas {
		lease = lease || q.Unit == "concurrent" && len(q.Scope) == 0
		session = session || q.Unit == "usd" && q.Scope["session"] == "*"
		daily = daily || q.Unit == "usd" && q.Window == "day"
	}
	if !lease || !session || !daily {
		t.Errorf("tollgate.yaml: global lease %v, session budget %v, daily budget %v; want all", lease, session, daily)
	}
	for name, u := range c.Upstreams {
		if !strings.HasPrefix(u.BaseURL, "http://127.0.0.1:9090") {
			t.Errorf("upstreams.%s.base_url = %q, want the emulator at 127.0.0.1:9090", name, u.BaseURL)
		}
	}
	var out bytes.Buffer
	if n, err := Check(&out, "../../tollgate.yaml", func(string) (string, bool) { return "", false }); n != 0 || err != nil {
		t.Errorf("Check(tollgate.yaml) = %d, %v:\n%s", n, err, out.String())
	}
}
