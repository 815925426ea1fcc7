package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/quota"
)

// minimal is the smallest valid configuration; test cases append to it.
const minimal = `upstreams:
  openai: {api_key_env: OPENAI_API_KEY}
keys:
  - {id: k1, tenant: t1, key_env: K1}
`

func parse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse("t.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func problemStrings(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func TestMinimalIsValid(t *testing.T) {
	t.Parallel()
	if ps := parse(t, minimal).Validate(); len(ps) > 0 {
		t.Fatalf("Validate(minimal) = %v, want no problems", problemStrings(ps))
	}
}

func TestValidateProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string // appended to minimal (lines 1-4)
		want []string
	}{
		{"unknown top-level field", "listne: 127.0.0.1:1\n",
			[]string{`t.yaml:5:1: listne: unknown field "listne" (did you mean "listen"?)`}},
		{"unknown nested field", "queue: {max_wiat: 1s}\n",
			[]string{`t.yaml:5:9: queue.max_wiat: unknown field "max_wiat" (did you mean "max_wait"?)`}},
		{"duration without unit", "shutdown_timeout: 30\n",
			[]string{`t.yaml:5:19: shutdown_timeout: invalid duration "30": want a number with a unit such as 30s, 5m or 1h`}},
		{"negative attempt timeout", "timeouts: {first_token: -1s}\n",
			[]string{`t.yaml:5:25: timeouts.first_token: must not be negative, got -1s`}},
		{"unknown attempt timeout", "timeouts: {first_byte: 1s}\n",
			[]string{`t.yaml:5:12: timeouts.first_byte: unknown field "first_byte"`}},
		{"wrong type", "default_max_tokens: lots\n",
			[]string{`t.yaml:5:21: default_max_tokens: want a whole number, got "lots"`}},
		{"list for a mapping", "routes: [a, b]\n",
			[]string{`t.yaml:5:9: routes: want a mapping of fields, got a list`}},
		{"bad listen", "listen: localhost\n",
			[]string{`t.yaml:5:9: listen: want host:port such as 127.0.0.1:8080, got "localhost"`}},
		{"bad timezone", "timezone: Mars/Olympus\n",
			[]string{`t.yaml:5:11: timezone: unknown time zone "Mars/Olympus": want an IANA name such as Europe/Paris or UTC`}},
		{"quota window", "quotas:\n  - {name: q, unit: requests, limit: 5, window: weekly}\n",
			[]string{`t.yaml:6:49: quotas[0].window: unknown window "weekly" (want minute, hour, a duration such as 10s, day, month, lifetime or lease)`}},
		{"quota missing window", "quotas:\n  - {name: q, unit: tokens, limit: 5}\n",
			[]string{`t.yaml:6:5: quotas[0].window: is required: a rate period (minute, hour, 10s), day, month, lifetime or lease`}},
		{"quota unit", "quotas:\n  - {name: q, unit: dollars, limit: 5, window: day}\n",
			[]string{`t.yaml:6:21: quotas[0].unit: unknown unit "dollars": want requests, input_tokens, output_tokens, tokens, usd or concurrent`}},
		{"usd precision", "quotas:\n  - {name: q, unit: usd, limit: 0.0000001, window: day}\n",
			[]string{`t.yaml:6:33: quotas[0].limit: "0.0000001" has more than 6 decimal places (finer than a micro-dollar)`}},
		{"fractional count", "quotas:\n  - {name: q, unit: requests, limit: 1.5, window: minute}\n",
			[]string{`t.yaml:6:38: quotas[0].limit: "1.5" is not a whole number`}},
		{"zero limit", "quotas:\n  - {name: q, unit: requests, limit: 0, window: minute}\n",
			[]string{`t.yaml:6:38: quotas[0].limit: must be positive`}},
		{"scope label", "quotas:\n  - {name: q, scope: {team: x}, unit: requests, limit: 1, window: minute}\n",
			[]string{`t.yaml:6:23: quotas[0].scope.team: unknown scope label "team": want provider, model, tenant, key, agent or session`}},
		{"models: unknown model", "models: [gpt-4o, gpt-9, gpt-4o]\n",
			[]string{`t.yaml:5:18: models[1]: model "gpt-9" has no price: add it under prices (an unpriced model cannot be budgeted)`,
				`t.yaml:5:25: models[2]: "gpt-4o" is already models[0]`}},
		{"scope unknown model", "quotas:\n  - {name: q, scope: {model: gpt-9}, unit: requests, limit: 1, window: minute}\n",
			[]string{`t.yaml:6:30: quotas[0].scope.model: model "gpt-9" has no price: add it under prices (an unpriced model cannot be budgeted)`}},
		{"scope unknown provider", "quotas:\n  - {name: q, scope: {provider: azure}, unit: requests, limit: 1, window: minute}\n",
			[]string{`t.yaml:6:33: quotas[0].scope.provider: no upstream named "azure" (the provider label is the upstream's name)`}},
		{"concurrent with a rate", "quotas:\n  - {name: q, unit: concurrent, limit: 1, window: minute}\n",
			[]string{`t.yaml:6:51: quotas[0].window: concurrent counts calls in flight: its window is lease, not "minute"`}},
		{"burst on a budget", "quotas:\n  - {name: q, unit: usd, limit: 5, window: day, burst: 1}\n",
			[]string{`t.yaml:6:56: quotas[0].burst: applies to rate windows only, not day`}},
		{"duplicate quota name", "quotas:\n  - {name: q, unit: requests, limit: 1, window: minute}\n  - {name: q, unit: tokens, limit: 1, window: minute}\n",
			[]string{`t.yaml:7:12: quotas[1].name: "q" is already the name of quotas[0]: quotas with one name would share their counters`}},
		{"thresholds", "quotas:\n  - {name: q, unit: usd, limit: 5, window: day, warn_at: 80, downgrade_at: -1}\n",
			[]string{
				`t.yaml:6:58: quotas[0].warn_at: want a fraction of the limit in (0, 1], or a negative value to disable, got 80`,
				`t.yaml:6:76: quotas[0].downgrade_at: want a fraction of the limit in [0, 1], got -1`,
			}},
		{"unpriced chain model", "routes:\n  r: {chain: gpt-4o -> gpt-9}\n",
			[]string{`t.yaml:6:14: routes.r.chain: model "gpt-9" has no price: add it under prices (an unpriced model cannot be budgeted)`}},
		{"chain without upstream", "routes:\n  r: {chain: claude-3-5-haiku}\n",
			[]string{`t.yaml:6:14: routes.r.chain: step "claude-3-5-haiku": no upstream named "anthropic", where anthropic models go; add one or write upstream/claude-3-5-haiku`}},
		{"chain order", "routes:\n  r: {chain: gpt-4o -> cached -> gpt-4o-mini}\n",
			[]string{`t.yaml:6:14: routes.r.chain: step 2 (gpt-4o-mini): a model step after cached or static is never reached`}},
		{"static without message", "routes:\n  r: {chain: gpt-4o -> static}\n",
			[]string{`t.yaml:6:3: routes.r.static_message: is required: the chain ends in static`}},
		{"cache off but used", "cache: {enabled: false}\nroutes:\n  r: {chain: gpt-4o -> cached}\n",
			[]string{`t.yaml:7:6: routes.r: uses the cache (cached step or cache_first) but cache.enabled is false`}},
		{"priced inline", "prices:\n  models:\n    my-model: {provider: openai, input: 1, output: 2, context_window: 1000, max_output: 100}\nroutes:\n  r: {chain: my-model}\n",
			nil},
		{"bad inline price", "prices:\n  models:\n    my-model: {provider: openai, input: 1, output: 2, context_window: 1000}\n",
			[]string{`t.yaml:7:15: prices.models.my-model: model "my-model": missing field max_output`}},
		{"key without secret", "keys:\n  - {id: k2, tenant: t2}\n",
			[]string{
				`t.yaml:5:1: keys: key "keys" is already defined at line 3`,
			}},
		{"upstream key pasted", "upstreams:\n  anthropic: {api_key_env: sk-ant-api03-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}\n",
			[]string{`t.yaml:5:1: upstreams: key "upstreams" is already defined at line 1`}},
		{"redis policy", "redis: {url: \"redis://127.0.0.1:6379\", failure_policy: open}\n",
			[]string{`t.yaml:5:56: redis.failure_policy: unknown policy "open": want fail_closed or fail_open_local`}},
		{"redis sentinel", "redis: {mode: sentinel, addrs: [\"a:1\"]}\n",
			[]string{`t.yaml:5:1: redis.master_name: is required in sentinel mode`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := problemStrings(parse(t, minimal+tt.text).Validate())
			if diff := cmp.Diff(tt.want, got, cmpEmpty); diff != "" {
				t.Errorf("Validate() problems (-want +got):\n%s", diff)
			}
		})
	}
}

var cmpEmpty = cmp.Transformer("empty", func(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
})

// TestValidateWhole checks problems in fields that replace minimal's own.
func TestValidateWhole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"empty file", "", []string{
			`t.yaml: keys: at least one virtual key is required: agents authenticate with one (or add an admin section, whose API creates keys at run time)`,
			`t.yaml: upstreams: at least one upstream is required`,
		}},
		{"key problems", `upstreams:
  openai: {api_key_env: OPENAI_API_KEY}
keys:
  - {id: a, tenant: t, key_sha256: abc}
  - {id: a, key_env: K, key_sha256: 4dd3ae052734540b45c9d6aad12885ba1faf518270ffa551e67e35c72568babf}
  - {id: b, tenant: t, key_env: 9LIVES, allowed_models: [gpt-4o, nope], max_priority: 7}
  - {id: c, tenant: t}
`, []string{
			`t.yaml:4:36: keys[0].key_sha256: want 64 hex digits (sha256sum of the secret); a secret itself belongs in key_env's variable`,
			`t.yaml:5:5: keys[1]: set one of key_sha256 and key_env, not both`,
			`t.yaml:5:5: keys[1].tenant: is required: who pays for the key's requests`,
			`t.yaml:5:10: keys[1].id: "a" is already the id of keys[0]`,
			`t.yaml:6:33: keys[2].key_env: "9LIVES" is not an environment variable name`,
			`t.yaml:6:66: keys[2].allowed_models[1]: model "nope" has no price: add it under prices (an unpriced model cannot be budgeted)`,
			`t.yaml:6:87: keys[2].max_priority: want -1 (low) to 3 (critical), got 7`,
			`t.yaml:7:5: keys[3]: the secret is missing: set key_sha256 (hex SHA-256 of the secret) or key_env (the variable holding it)`,
		}},
		{"upstream problems", `upstreams:
  openai: {api_key_env: OPENAI_API_KEY, base_url: "https://user:pw@api.example.com/v1"}
  anthropic: {provider: antropic, api_key_env: sk-ant-api03-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}
  local: {base_url: "ftp://x", headroom: 1.5}
keys:
  - {id: k1, tenant: t1, key_env: K1}
`, []string{
			`t.yaml:2:51: upstreams.openai.base_url: must not hold credentials: name the key's variable in api_key_env`,
			`t.yaml:3:25: upstreams.anthropic.provider: unknown provider "antropic": want openai or anthropic`,
			`t.yaml:3:48: upstreams.anthropic.api_key_env: "<redacted>" is not an environment variable name (it must name the variable, not hold the key)`,
			`t.yaml:4:3: upstreams.local.api_key_env: is required: the name of the environment variable that holds the API key`,
			`t.yaml:4:3: upstreams.local.provider: is required: openai or anthropic (it defaults to the upstream's name only when that is one of them)`,
			`t.yaml:4:21: upstreams.local.base_url: want an http(s) URL such as https://api.openai.com/v1`,
			`t.yaml:4:42: upstreams.local.headroom: want a fraction in (0, 1], got 1.5`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := problemStrings(parse(t, tt.text).Validate())
			if diff := cmp.Diff(tt.want, got, cmpEmpty); diff != "" {
				t.Errorf("Validate() problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSyntaxError(t *testing.T) {
	t.Parallel()
	_, err := Parse("t.yaml", []byte("upstreams:\n  openai: {api_key_env: X\nkeys: [\n"))
	ps, ok := err.(Problems)
	if !ok || len(ps) != 1 {
		t.Fatalf("Parse(bad YAML) error = %#v, want one Problem", err)
	}
	if ps[0].Line == 0 || !strings.HasPrefix(ps[0].Message, "invalid YAML: ") {
		t.Errorf("Parse(bad YAML) problem = %q, want a line and an invalid YAML message", ps[0].String())
	}
}

// TestRules checks the conversion of quotas into the library's rules: units, exact dollars,
// windows in the configured zone, scopes with canonical model names.
func TestRules(t *testing.T) {
	t.Parallel()
	c := parse(t, minimal+`timezone: Europe/Paris
quotas:
  - {name: rpm, scope: {provider: openai, model: gpt-4o-2024-08-06}, unit: requests, limit: 500, window: minute, burst: 50}
  - {name: tpm, scope: {model: gpt-4o}, unit: tokens, limit: 30_000, window: 1m}
  - {name: daily, scope: {tenant: "*"}, unit: usd, limit: 0.1, window: day, warn_at: 0.5, downgrade_at: 0.9}
  - {name: session, scope: {session: "*"}, unit: usd, limit: "$1", window: lifetime, warn_at: -1}
  - {name: pool, unit: concurrent, limit: 10}
  - {name: monthly, scope: {key: k1}, unit: output_tokens, limit: 2000000, window: month}
`)
	r := c.resolve()
	if len(r.problems) > 0 {
		t.Fatalf("problems: %v", problemStrings(r.problems))
	}
	paris := r.loc
	if paris.String() != "Europe/Paris" {
		t.Fatalf("loc = %v, want Europe/Paris", paris)
	}
	want := quota.Rules{
		{Name: "rpm", Scope: quota.Labels{Provider: "openai", Model: "gpt-4o"}, Unit: quota.Requests, Limit: 500,
			Window: quota.PerMinute(), Burst: 50},
		{Name: "tpm", Scope: quota.Labels{Model: "gpt-4o"}, Unit: quota.Tokens, Limit: 30_000, Window: quota.PerMinute()},
		{Name: "daily", Scope: quota.Labels{Tenant: "*"}, Unit: quota.MicroUSD, Limit: 100_000, Window: quota.Daily(paris),
			WarnAt: 0.5, DowngradeAt: 0.9},
		{Name: "session", Scope: quota.Labels{Session: "*"}, Unit: quota.MicroUSD, Limit: 1_000_000, Window: quota.Forever(), WarnAt: -1},
		{Name: "pool", Unit: quota.Concurrent, Limit: 10, Window: quota.Leased()},
		{Name: "monthly", Scope: quota.Labels{Key: "k1"}, Unit: quota.OutputTokens, Limit: 2_000_000, Window: quota.Monthly(paris)},
	}
	if diff := cmp.Diff(want, r.rules, cmp.Comparer(func(a, b *time.Location) bool { return a.String() == b.String() })); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

// TestValidateInCode checks that a Config built in code (no file) reports paths without
// positions.
func TestValidateInCode(t *testing.T) {
	t.Parallel()
	c := &Config{Upstreams: map[string]Upstream{"openai": {}}}
	got := problemStrings(c.Validate())
	want := []string{
		"keys: at least one virtual key is required: agents authenticate with one (or add an admin section, whose API creates keys at run time)",
		"upstreams.openai.api_key_env: is required: the name of the environment variable that holds the API key",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Validate() (-want +got):\n%s", diff)
	}
}

func TestSecondDocument(t *testing.T) {
	t.Parallel()
	got := problemStrings(parse(t, minimal+"---\nlisten: 127.0.0.1:1\n").Validate())
	want := []string{`t.yaml:5:1: a second YAML document: a configuration is one document (remove the "---")`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Validate() (-want +got):\n%s", diff)
	}
}
