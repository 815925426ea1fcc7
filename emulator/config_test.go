package emulator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseConfig(t *testing.T) {
	yaml := `
seed: 9
keys: [sk-a, sk-b]
limits: {rpm: 500, tpm: 30000, hidden: true}
faults: {server_error: 0.01, overloaded: 0.02, hang_max: 30s}
latency: {first_token: 250ms, tokens_per_second: 80, jitter: 0.2}
output: {min_tokens: 5, max_tokens: 50}
models:
  my-model: {provider: openai, context_window: 8000, max_output: 1000, input_per_mtok: 1.5, limits: {rpm: 5}}
`
	want := Config{Seed: 9, Keys: []string{"sk-a", "sk-b"}, Limits: Limits{RPM: 500, TPM: 30000, Hidden: true},
		Faults:  Faults{ServerError: 0.01, Overloaded: 0.02, HangMax: 30 * time.Second},
		Latency: Latency{FirstToken: 250 * time.Millisecond, TokensPerSecond: 80, Jitter: 0.2},
		Output:  Output{MinTokens: 5, MaxTokens: 50},
		Models:  map[string]Model{"my-model": {Provider: "openai", ContextWindow: 8000, MaxOutput: 1000, InputPerMTok: 1.5, Limits: &Limits{RPM: 5}}}}
	got, err := ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Config{}, "Now", "Logger")); diff != "" {
		t.Errorf("ParseConfig mismatch (-want +got):\n%s", diff)
	}
	// JSON is YAML.
	gotJSON, err := ParseConfig([]byte(`{"seed": 9, "limits": {"rpm": 500}, "latency": {"first_token": "250ms"}}`))
	if err != nil || gotJSON.Seed != 9 || gotJSON.Limits.RPM != 500 || gotJSON.Latency.FirstToken != 250*time.Millisecond {
		t.Errorf("ParseConfig(JSON) = %+v, %v", gotJSON, err)
	}
	path := filepath.Join(t.TempDir(), "emu.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadConfig(path); err != nil || c.Seed != 9 {
		t.Errorf("LoadConfig = %+v, %v", c, err)
	}
	e := mustNew(t, got)
	if r := serve(e, oai(`{"model":"my-model","messages":[{"role":"user","content":"x"}]}`).withKey("sk-a")); r.status != 200 && r.status != 500 && r.status != 503 {
		t.Errorf("custom model: %d %s", r.status, r.body)
	}
}

func TestExampleConfigFile(t *testing.T) {
	c, err := LoadConfig(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(c); err != nil {
		t.Fatal(err)
	}
	if m := c.Models["gpt-4o-mini"]; m.Limits == nil || !m.Limits.Hidden || c.Limits.OTPM != 8000 || c.Models["Qwen/Qwen3-8B"].Dialect != "vllm" ||
		c.Faults.StallFor != 20*time.Second || c.PromptCache.OpenAITTL != 10*time.Minute || c.BillSize != 50000 {
		t.Errorf("LoadConfig(example.yaml) = %+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown field", "limit: {rpm: 5}", "field limit not found"},
		{"negative limit", "limits: {rpm: -1}", "Limits: negative limit"},
		{"rate above 1", "faults: {drop: 1.5}", "Faults.Drop 1.5"},
		{"rates sum above 1", "faults: {drop: 0.6, cut: 0.6}", "rates sum to 1.2"},
		{"jitter", "latency: {jitter: 2}", "Latency.Jitter 2"},
		{"output order", "output: {min_tokens: 50, max_tokens: 10}", "Output.MinTokens 50 exceeds Output.MaxTokens 10"},
		{"output too long", "output: {max_tokens: 100000}", "Output.MaxTokens 100000"},
		{"provider", "models: {m: {provider: google}}", `Models["m"].Provider "google"`},
		{"model faults", "models: {m: {faults: {hang: -1}}}", `Models["m"].Faults.Hang -1`},
		{"bad duration", "latency: {first_token: soon}", "parse config"},
		{"bill size", "bill_size: -2", "BillSize -2"},
		{"cache ttl", "prompt_cache: {openai_ttl: -1s}", "PromptCache"},
		{"stall", "faults: {stall_for: -1s}", "Faults.StallFor"},
		{"new fault rates", "faults: {silent: 0.6, stall: 0.6}", "rates sum to 1.2"},
		{"min cache", "models: {m: {min_cache_tokens: -1}}", `Models["m"].MinCacheTokens -1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseConfig(%q) error = %v, want one containing %q", tc.yaml, err, tc.want)
			}
		})
	}
}

func TestStats(t *testing.T) {
	e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{RPM: 2}, Output: Output{MinTokens: 10, MaxTokens: 10}})
	serve(e, oai(oaiBody))
	serve(e, oai(oaiBody))
	serve(e, oai(oaiBody)) // 429
	serve(e, ant(antBody))
	serve(e, oai(`{"model":"nope","messages":[{"role":"user","content":"x"}]}`))
	serve(e, oai(`{"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"x"}]}`)) // dated id: gpt-4o's limit
	st := e.Stats()
	want := Stats{
		Total: Counts{Requests: 6, Served: 3, Billed: 3, Refused: map[Reason]int64{RefusedRPM: 2, RefusedNotFound: 1}, RateLimited: 2,
			InputTokens: 24, OutputTokens: 30, CostMicroUSD: 2*120 + 174}, // gpt-4o: 8 in x $2.50 + 10 out x $10 per 1M,
		Models: map[string]Counts{
			"gpt-4o": {Requests: 4, Served: 2, Billed: 2, Refused: map[Reason]int64{RefusedRPM: 2}, RateLimited: 2,
				InputTokens: 16, OutputTokens: 20, CostMicroUSD: 2 * 120,
				Capacity: &Capacity{Requests: Use{Limit: 2, Offered: 2, Used: 2}}},
			"claude-sonnet-4-5": {Requests: 1, Served: 1, Billed: 1, Refused: map[Reason]int64{}, InputTokens: 8, OutputTokens: 10, CostMicroUSD: 174,
				Capacity: &Capacity{Requests: Use{Limit: 2, Offered: 2, Used: 1}}},
		},
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Stats mismatch (-want +got):\n%s", diff)
	}
}
