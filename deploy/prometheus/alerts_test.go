package prometheus_test

import (
	"os"
	"os/exec"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promtool returns the path of Prometheus's promtool, failing t without it: Debian's
// prometheus package ships it, and .ci/run installs that.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus): %v", err)
	}
	return p
}

func run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
}

// TestRulesValid: the rules parse and their expressions are valid PromQL.
func TestRulesValid(t *testing.T) {
	run(t, "check", "rules", "alerts.yml")
}

// TestRulesUnit: promtool's unit tests of the rules pass.
func TestRulesUnit(t *testing.T) {
	run(t, "test", "rules", "alerts_test.yml")
}

// TestEveryAlertTested: the unit tests hold, for every alert of alerts.yml, a case where
// it fires and a case where it does not, so that a new alert cannot ship untested.
func TestEveryAlertTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	for file, v := range map[string]any{"alerts.yml": &rules, "alerts_test.yml": &tests} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	var names []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			names = append(names, r.Alert)
			if !fires[r.Alert] {
				t.Errorf("alert %s: no test where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s: no test where it does not fire", r.Alert)
			}
		}
	}
	for name := range fires {
		if !slices.Contains(names, name) {
			t.Errorf("alerts_test.yml tests %s, which alerts.yml does not define", name)
		}
	}
	if len(names) < 7 {
		t.Errorf("alerts.yml defines %d alerts, want the 7 documented", len(names))
	}
}
