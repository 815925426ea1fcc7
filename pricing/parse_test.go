package pricing

import (
	"errors"
	"github.com/google/go-cmp/cmp"
	"strings"
	"testing"
)

func TestParseMicros(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr error
	}{
		{"2.50", 2_500_000, nil},
		{"2.5", 2_500_000, nil},
		{"0.075", 75_000, nil}, // float64 would give 0.07499999999999999
		{"0.275", 275_000, nil},
		{"0.1", 100_000, nil},
		{"0.000001", 1, nil},
		{"0.0000010", 1, nil}, // trailing zeros beyond 6 places are exact
		{"15", 15_000_000, nil},
		{"0", 0, nil},
		{"0.0", 0, nil},
		{".5", 500_000, nil},
		{"3.", 3_000_000, nil},
		{"+1.25", 1_250_000, nil},
		{"1_000", 1_000_000_000, nil},
		{"1000000", maxPrice, nil},
		{"1000000.000001", 0, errPriceTooLarge},
		{"99999999999999999999999", 0, errPriceTooLarge},
		{"0.0000001", 0, errPricePrecision},
		{"-1", 0, errPriceNegative},
		{"-0.5", 0, errPriceNegative},
		{"1e3", 0, errPriceSyntax},
		{".inf", 0, errPriceSyntax},
		{".nan", 0, errPriceSyntax},
		{"0x10", 0, errPriceSyntax},
		{".", 0, errPriceSyntax},
		{"", 0, errPriceSyntax},
		{"1.2.3", 0, errPriceSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseMicros(tt.in)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("parseMicros(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

const validModel = `
    provider: openai
    input: 2.50
    cached_input: 1.25
    output: 10
    context_window: 128000
    max_output: 16384`

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"unknown model field", "models:\n  m:" + validModel + "\n    cached_inptu: 1", []string{`model "m"`, `unknown field "cached_inptu"`}},
		{"unknown top-level field", "as_of: 2025-01-01\nmodel:\n  m: {}", []string{"field model not found"}},
		{"negative price", "models:\n  m:" + strings.Replace(validModel, "output: 10", "output: -1", 1), []string{`model "m"`, `price "-1"`, "negative"}},
		{"missing context window", "models:\n  m:" + strings.Replace(validModel, "context_window: 128000", "", 1), []string{`model "m"`, "missing field context_window"}},
		{"missing provider", "models:\n  m:" + strings.Replace(validModel, "provider: openai", "", 1), []string{`model "m"`, "missing field provider"}},
		{"missing input", "models:\n  gpt-x:" + strings.Replace(validModel, "input: 2.50", "", 1), []string{`model "gpt-x"`, "missing field input"}},
		{"bad provider", "models:\n  m:" + strings.Replace(validModel, "openai", "azure", 1), []string{`model "m"`, `provider "azure"`}},
		{"price as string", "models:\n  m:" + strings.Replace(validModel, "2.50", `"2.50"`, 1), []string{`model "m"`, "want a number"}},
		{"too precise", "models:\n  m:" + strings.Replace(validModel, "2.50", "2.5000001", 1), []string{`model "m"`, "6 decimal places"}},
		{"cached above input", "models:\n  m:" + strings.Replace(validModel, "cached_input: 1.25", "cached_input: 3", 1), []string{`model "m"`, "cached_input exceeds input"}},
		{"zero context window", "models:\n  m:" + strings.Replace(validModel, "context_window: 128000", "context_window: 0", 1), []string{`model "m"`, "context_window 0"}},
		{"max output above window", "models:\n  m:" + strings.Replace(validModel, "max_output: 16384", "max_output: 200000", 1), []string{`model "m"`, "max_output 200000"}},
		{"context window not a number", "models:\n  m:" + strings.Replace(validModel, "128000", "lots", 1), []string{`model "m"`, "lots"}},
		{"model not a mapping", "models:\n  m: 3", []string{`model "m"`, "want a mapping"}},
		{"models not a mapping", "models: [a, b]", []string{"models: want a mapping"}},
		{"upper-case name", "models:\n  GPT-X:" + validModel, []string{`"GPT-X"`, "lower-case"}},
		{"duplicate model", "models:\n  m:" + validModel + "\n  m:" + validModel, []string{`"m"`}},
		{"alias twice", "models:\n  a:" + validModel + "\n    aliases: [x]\n  b:" + validModel + "\n    aliases: [x]", []string{`alias "x"`, "already an alias"}},
		{"alias is a model", "models:\n  a:" + validModel + "\n    aliases: [b]\n  b:" + validModel, []string{`alias "b"`, "name of a model"}},
		{"alias of itself", "models:\n  a:" + validModel + "\n    aliases: [a]", []string{`model "a"`, `alias "a"`}},
		{"bad as_of", "as_of: yesterday\nmodels: {}", []string{`as_of "yesterday"`}},
		{"bad kind", "models:\n  m:" + validModel + "\n    kind: image", []string{`model "m"`, `kind "image"`}},
		{"negative cache write", "models:\n  m:" + validModel + "\n    cache_write: -1", []string{`model "m"`, `price "-1"`, "negative"}},
		{"cache write as string", "models:\n  m:" + validModel + "\n    cache_write_1h: \"6\"", []string{`model "m"`, "want a number"}},
		{"misspelt cache write", "models:\n  m:" + validModel + "\n    cache_writes: 3", []string{`model "m"`, `unknown field "cache_writes"`}},
		{"embedding with output", "models:\n  e: {provider: openai, kind: embedding, input: 0.02, output: 1, context_window: 8192}",
			[]string{`model "e"`, "no output"}},
		{"embedding with max_output", "models:\n  e: {provider: openai, kind: embedding, input: 0.02, context_window: 8192, max_output: 10}",
			[]string{`model "e"`, "no max_output"}},
		{"chat without output", "models:\n  c: {provider: openai, input: 0.02, context_window: 8192, max_output: 10}",
			[]string{`model "c"`, "missing field output"}},
		{"not yaml", "models: [", []string{"pricing:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tab, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse(%q) = %v, nil; want an error containing %q", tt.yaml, tab.Models(), tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestParseCacheWrites checks the defaults that keep a price file without cache-write
// prices billing writes as input (OpenAI's rule) and the fields that a user's Anthropic
// model sets, which were refused as unknown before.
func TestParseCacheWrites(t *testing.T) {
	t.Parallel()
	tab, err := Parse([]byte(`
models:
  plain:
    provider: openai
    input: 2.50
    output: 10
    context_window: 128000
    max_output: 16384
  claude-mine:
    provider: anthropic
    input: 3
    cached_input: 0.30
    cache_write: 3.75
    cache_write_1h: 6
    output: 15
    context_window: 200000
    max_output: 64000
  five-minutes-only:
    provider: anthropic
    input: 1
    cache_write: 1.25
    output: 5
    context_window: 200000
    max_output: 64000
  embed:
    provider: openai
    kind: embedding
    input: 0.02
    context_window: 8192
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Model{
		"plain": {Name: "plain", Provider: "openai", Kind: KindChat, Input: 2_500_000, CachedInput: 2_500_000,
			CacheWrite: 2_500_000, CacheWrite1h: 2_500_000, Output: 10_000_000, ContextWindow: 128000, MaxOutput: 16384},
		"claude-mine": {Name: "claude-mine", Provider: "anthropic", Kind: KindChat, Input: 3_000_000, CachedInput: 300_000,
			CacheWrite: 3_750_000, CacheWrite1h: 6_000_000, Output: 15_000_000, ContextWindow: 200000, MaxOutput: 64000},
		"five-minutes-only": {Name: "five-minutes-only", Provider: "anthropic", Kind: KindChat, Input: 1_000_000, CachedInput: 1_000_000,
			CacheWrite: 1_250_000, CacheWrite1h: 1_250_000, Output: 5_000_000, ContextWindow: 200000, MaxOutput: 64000},
		"embed": {Name: "embed", Provider: "openai", Kind: KindEmbedding, Input: 20_000, CachedInput: 20_000,
			CacheWrite: 20_000, CacheWrite1h: 20_000, ContextWindow: 8192},
	}
	for name, w := range want {
		got, err := tab.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, w); diff != "" {
			t.Errorf("Lookup(%q) mismatch (-got +want):\n%s", name, diff)
		}
	}
}

func TestParseMinimal(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "models: {}", "as_of: 2025-01-01"} {
		tab, err := Parse([]byte(in))
		if err != nil {
			t.Errorf("Parse(%q) error: %v", in, err)
			continue
		}
		if got := tab.Models(); len(got) != 0 {
			t.Errorf("Parse(%q).Models() = %v, want none", in, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(defaultYAML)
	f.Add([]byte("models:\n  m:" + validModel + "\n    aliases: [x, y]"))
	f.Add([]byte("as_of: 2025-01-01\nmodels:\n  m: {provider: anthropic, input: .5, output: 1_0, context_window: 1, max_output: 1}"))
	f.Add([]byte("models: [1]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := Parse(data)
		if err != nil {
			return
		}
		for _, m := range tab.Models() {
			chatOK := m.Kind == KindChat && m.MaxOutput > 0 && m.MaxOutput <= m.ContextWindow
			embeddingOK := m.Kind == KindEmbedding && m.MaxOutput == 0 && m.Output == 0
			if m.Input < 0 || m.CachedInput < 0 || m.CachedInput > m.Input || m.Output < 0 ||
				m.CacheWrite < 0 || m.CacheWrite1h < 0 || m.CacheWrite > maxPrice || m.CacheWrite1h > maxPrice ||
				m.Input > maxPrice || m.Output > maxPrice || m.ContextWindow <= 0 || !(chatOK || embeddingOK) {
				t.Fatalf("Parse accepted an invalid model %+v", m)
			}
			if got, err := tab.Lookup(m.Name); err != nil || got != m {
				t.Fatalf("Lookup(%q) = %+v, %v; want %+v", m.Name, got, err, m)
			}
		}
	})
}

// TestHiddenReasoning: the models whose reasoning is billed and never streamed say so, in
// the embedded table and in a user's file; every other model does not.
func TestHiddenReasoning(t *testing.T) {
	t.Parallel()
	hidden := map[string]bool{"gpt-5": true, "gpt-5-mini": true, "gpt-5-nano": true, "o3": true,
		"o4-mini": true, "o3-mini": true, "o1": true}
	for _, m := range Default().Models() {
		if m.HiddenReasoning != hidden[m.Name] {
			t.Errorf("%s: HiddenReasoning = %v, want %v", m.Name, m.HiddenReasoning, hidden[m.Name])
		}
	}
	tab, err := Parse([]byte(`models:
  my-reasoner:
    provider: openai
    input: 1
    output: 4
    context_window: 200000
    max_output: 100000
    hidden_reasoning: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := tab.Lookup("my-reasoner"); err != nil || !m.HiddenReasoning {
		t.Errorf("Lookup(my-reasoner) = %+v, %v; want HiddenReasoning", m, err)
	}
}
