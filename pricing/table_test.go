package pricing

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultTable(t *testing.T) {
	t.Parallel()
	tab := Default()
	if tab.AsOf().IsZero() {
		t.Errorf("Default().AsOf() is zero, want the date of the prices")
	}
	required := []string{"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3",
		"o4-mini", "gpt-3.5-turbo", "claude-opus-4", "claude-sonnet-4", "claude-3-7-sonnet",
		"claude-3-5-sonnet", "claude-3-5-haiku", "claude-3-haiku", "gpt-5", "gpt-5-mini",
		"gpt-5-nano", "claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5",
		"claude-opus-4-6", "claude-sonnet-4-6", "o3-mini", "o1", "claude-3-opus"}
	for _, name := range required {
		m, err := tab.Lookup(name)
		if err != nil {
			t.Errorf("Default().Lookup(%q) error: %v", name, err)
			continue
		}
		if m.Name != name || m.Kind != KindChat || m.Input <= 0 || m.Output <= 0 || m.CachedInput > m.Input {
			t.Errorf("Default().Lookup(%q) = %+v, want a priced model of that name", name, m)
		}
		wantProvider := ProviderOpenAI
		if strings.HasPrefix(name, "claude") {
			wantProvider = ProviderAnthropic
		}
		if m.Provider != wantProvider {
			t.Errorf("Default().Lookup(%q).Provider = %q, want %q", name, m.Provider, wantProvider)
		}
	}
	for _, m := range tab.Models() {
		switch {
		case m.Provider == ProviderAnthropic && (m.CacheWrite <= m.Input || m.CacheWrite1h <= m.CacheWrite):
			t.Errorf("Anthropic model %s: cache writes %d (5m) and %d (1h), want above input %d and rising with the TTL",
				m.Name, m.CacheWrite, m.CacheWrite1h, m.Input)
		case m.Provider == ProviderOpenAI && (m.CacheWrite != m.Input || m.CacheWrite1h != m.Input):
			t.Errorf("OpenAI model %s: cache writes %d, %d; want the input price %d (no write premium)",
				m.Name, m.CacheWrite, m.CacheWrite1h, m.Input)
		}
	}
	for _, name := range []string{"text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"} {
		m, err := tab.Lookup(name)
		if err != nil || m.Kind != KindEmbedding || m.Input <= 0 || m.Output != 0 || m.MaxOutput != 0 {
			t.Errorf("Default().Lookup(%q) = %+v, %v; want an embedding model priced by input alone", name, m, err)
		}
	}
	if Default() != tab {
		t.Errorf("Default() returned a different table on a second call, want it parsed once")
	}
}

// TestDefaultPrices pins a few list prices so that an edit of prices.yaml is deliberate.
func TestDefaultPrices(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want Model
	}{
		{"gpt-4o", Model{Name: "gpt-4o", Provider: "openai", Kind: KindChat, Input: 2_500_000, CachedInput: 1_250_000,
			CacheWrite: 2_500_000, CacheWrite1h: 2_500_000, Output: 10_000_000, ContextWindow: 128000, MaxOutput: 16384}},
		{"gpt-4o-mini", Model{Name: "gpt-4o-mini", Provider: "openai", Kind: KindChat, Input: 150_000, CachedInput: 75_000,
			CacheWrite: 150_000, CacheWrite1h: 150_000, Output: 600_000, ContextWindow: 128000, MaxOutput: 16384}},
		{"gpt-3.5-turbo", Model{Name: "gpt-3.5-turbo", Provider: "openai", Kind: KindChat, Input: 500_000, CachedInput: 500_000,
			CacheWrite: 500_000, CacheWrite1h: 500_000, Output: 1_500_000, ContextWindow: 16385, MaxOutput: 4096}},
		{"claude-sonnet-4", Model{Name: "claude-sonnet-4", Provider: "anthropic", Kind: KindChat, Input: 3_000_000, CachedInput: 300_000,
			CacheWrite: 3_750_000, CacheWrite1h: 6_000_000, Output: 15_000_000, ContextWindow: 200000, MaxOutput: 64000}},
		{"claude-opus-4-5", Model{Name: "claude-opus-4-5", Provider: "anthropic", Kind: KindChat, Input: 5_000_000, CachedInput: 500_000,
			CacheWrite: 6_250_000, CacheWrite1h: 10_000_000, Output: 25_000_000, ContextWindow: 200000, MaxOutput: 64000}},
		{"claude-3-haiku", Model{Name: "claude-3-haiku", Provider: "anthropic", Kind: KindChat, Input: 250_000, CachedInput: 30_000,
			CacheWrite: 300_000, CacheWrite1h: 500_000, Output: 1_250_000, ContextWindow: 200000, MaxOutput: 4096}},
		{"text-embedding-3-large", Model{Name: "text-embedding-3-large", Provider: "openai", Kind: KindEmbedding, Input: 130_000,
			CachedInput: 130_000, CacheWrite: 130_000, CacheWrite1h: 130_000, ContextWindow: 8192}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Default().Lookup(tt.name)
			if err != nil {
				t.Fatalf("Lookup(%q) error: %v", tt.name, err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Lookup(%q) mismatch (-got +want):\n%s", tt.name, diff)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want string // "" for unknown
	}{
		{"gpt-4o", "gpt-4o"},
		{"gpt-4o-2024-08-06", "gpt-4o"},
		{"gpt-4o-2024-05-13", "gpt-4o-2024-05-13"}, // exact name wins over the family
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"gpt-4.1-2025-04-14", "gpt-4.1"},
		{"gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"},
		{"o3-2025-04-16", "o3"},
		{"o4-mini-2025-04-16", "o4-mini"},
		{"gpt-5-2025-08-07", "gpt-5"},
		{"gpt-3.5-turbo-0125", "gpt-3.5-turbo"}, // alias
		{"GPT-4o", "gpt-4o"},
		{"claude-3-5-sonnet-20241022", "claude-3-5-sonnet"},
		{"claude-3-5-sonnet-20240620", "claude-3-5-sonnet"},
		{"claude-3-5-sonnet-latest", "claude-3-5-sonnet"},
		{"claude-sonnet-4-20250514", "claude-sonnet-4"},
		{"claude-sonnet-4-0", "claude-sonnet-4"}, // alias
		{"claude-opus-4-1-20250805", "claude-opus-4-1"},
		{"claude-opus-4-20250514", "claude-opus-4"},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"claude-haiku-4-5-20251001", "claude-haiku-4-5"},
		{"claude-3-7-sonnet-20250219", "claude-3-7-sonnet"},
		{"claude-3-7-sonnet-latest", "claude-3-7-sonnet"},
		{"claude-3-haiku-20240307", "claude-3-haiku"},

		{"gpt-4o-minimal", ""},
		{"gpt-4", ""},
		{"gpt-4-turbo", ""},
		{"gpt-4o-2024", ""},
		{"gpt-4o-2024-08", ""},
		{"gpt-4o-20240806x", ""},
		{"gpt-4o-mini-latest-latest", ""}, // one suffix only
		{"gpt-4o-2024-08-06-latest", ""},
		{"gpt-4o-12345678", ""}, // not a plausible date
		{"claude-sonnet", ""},
		{"claude-3-5", ""},
		{"-latest", ""},
		{"latest", ""},
		{"", ""},
		{"o3-mini", "o3-mini"}, // a model of its own now, not o3
		{"o3-micro", ""},
		{" gpt-4o", ""},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			got, err := Default().Lookup(tt.id)
			if tt.want == "" {
				var unknown *UnknownModelError
				if !errors.As(err, &unknown) || unknown.Model != tt.id || !errors.Is(err, ErrUnknownModel) {
					t.Fatalf("Lookup(%q) = %+v, %v; want *UnknownModelError{%q} unwrapping to ErrUnknownModel", tt.id, got, err, tt.id)
				}
				return
			}
			if err != nil || got.Name != tt.want {
				t.Errorf("Lookup(%q) = %q, %v; want %q", tt.id, got.Name, err, tt.want)
			}
		})
	}
}

func TestZeroTable(t *testing.T) {
	t.Parallel()
	var tab Table
	if _, err := tab.Lookup("gpt-4o"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("zero Table Lookup error = %v, want ErrUnknownModel", err)
	}
	if got := tab.Models(); len(got) != 0 {
		t.Errorf("zero Table Models() = %v, want none", got)
	}
	w := tab.With(&Table{models: map[string]Model{"x": {Name: "x"}}})
	if _, err := w.Lookup("x"); err != nil {
		t.Errorf("zero Table With(x).Lookup(x) error: %v", err)
	}
}

func TestModelsSorted(t *testing.T) {
	t.Parallel()
	ms := Default().Models()
	if len(ms) < 20 {
		t.Fatalf("Default().Models() has %d models, want at least 20", len(ms))
	}
	for i := 1; i < len(ms); i++ {
		if ms[i-1].Name >= ms[i].Name {
			t.Errorf("Models()[%d].Name = %q not before [%d].Name = %q", i-1, ms[i-1].Name, i, ms[i].Name)
		}
	}
}

func TestWith(t *testing.T) {
	t.Parallel()
	over, err := Parse([]byte(`
as_of: 2099-01-02
models:
  gpt-4o:                 # replaces the default
    provider: openai
    input: 2
    output: 8
    context_window: 128000
    max_output: 16384
  my-finetune:            # added, with an alias that shadows the default family
    provider: openai
    input: 3.75
    cached_input: 1.875
    output: 15
    context_window: 128000
    max_output: 16384
    aliases: [ft:gpt-4o-mini:acme, claude-sonnet-4-0]
`))
	if err != nil {
		t.Fatalf("Parse error: %v", err)
	}
	before := len(Default().Models())
	tab := Default().With(over)

	if got, want := tab.AsOf(), time.Date(2099, 1, 2, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("AsOf() = %v, want %v", got, want)
	}
	got, _ := tab.Lookup("gpt-4o-2024-08-06")
	if got.Input != 2_000_000 || got.CachedInput != 2_000_000 || got.Output != 8_000_000 {
		t.Errorf("overridden gpt-4o = %+v, want input 2_000_000, cached 2_000_000, output 8_000_000", got)
	}
	for _, id := range []string{"my-finetune", "ft:gpt-4o-mini:acme", "claude-sonnet-4-0"} {
		if got, err := tab.Lookup(id); err != nil || got.Name != "my-finetune" {
			t.Errorf("Lookup(%q) = %q, %v; want my-finetune", id, got.Name, err)
		}
	}
	if got, _ := tab.Lookup("claude-sonnet-4"); got.Name != "claude-sonnet-4" {
		t.Errorf("Lookup(claude-sonnet-4) = %q, want the default kept", got.Name)
	}
	if got, want := len(tab.Models()), before+1; got != want {
		t.Errorf("len(Models()) = %d, want %d", got, want)
	}
	// The default table is untouched.
	if _, err := Default().Lookup("my-finetune"); err == nil {
		t.Errorf("Default().Lookup(my-finetune) succeeded after With, want Default unchanged")
	}
	if got, _ := Default().Lookup("gpt-4o"); got.Input != 2_500_000 {
		t.Errorf("Default() gpt-4o input = %d after With, want 2_500_000", got.Input)
	}
	if got := Default().With(nil); len(got.Models()) != before {
		t.Errorf("With(nil) has %d models, want %d", len(got.Models()), before)
	}
}

func TestWithModelShadowsAlias(t *testing.T) {
	t.Parallel()
	over, err := Parse([]byte("models:\n  claude-sonnet-4-0:\n    provider: anthropic\n    input: 1\n    output: 1\n    context_window: 10\n    max_output: 10\n"))
	if err != nil {
		t.Fatalf("Parse error: %v", err)
	}
	tab := Default().With(over)
	if got, _ := tab.Lookup("claude-sonnet-4-0"); got.Name != "claude-sonnet-4-0" || got.Input != 1_000_000 {
		t.Errorf("Lookup(claude-sonnet-4-0) = %+v, want the overriding model", got)
	}
	if !tab.AsOf().Equal(Default().AsOf()) {
		t.Errorf("AsOf() = %v, want the default's %v when the override has none", tab.AsOf(), Default().AsOf())
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "prices.yaml")
	if err := os.WriteFile(path, []byte("models:\n  m:\n    provider: openai\n    input: 0.075\n    output: 0.3\n    context_window: 8\n    max_output: 8\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tab, err := Load(path)
	if err != nil {
		t.Fatalf("Load error: %v", err)
	}
	if got, _ := tab.Lookup("m"); got.Input != 75_000 || got.Output != 300_000 {
		t.Errorf("Load(%s) m = %+v, want input 75_000 output 300_000", path, got)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want os.ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("models:\n  m:\n    provider: openai\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load(bad) error = %v, want one naming the file", err)
	}
}

func BenchmarkLookup(b *testing.B) {
	tab := Default()
	for _, id := range []string{"gpt-4o", "claude-sonnet-4-20250514"} {
		b.Run(id, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tab.Lookup(id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
