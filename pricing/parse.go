package pricing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxPrice bounds a price at $1,000,000 per 1M tokens: far above any real model, and it keeps
// every product in Cost exact (see Cost) and the YAML typo "2500000" for "2.50" rejected.
const maxPrice = 1_000_000 * perMillion

// The file format, for users who write an override file:
//
//	as_of: 2025-10-15            # optional in an override; the date the prices were read
//	models:
//	  my-model:
//	    provider: openai          # required: openai | anthropic
//	    input: 2.50               # required: USD per 1M input tokens
//	    kind: chat                # optional: chat (default) | embedding
//	    input: 2.50               # required: USD per 1M input tokens
//	    cached_input: 1.25        # optional, defaults to input; must not exceed input
//	    cache_write: 3.125        # optional: USD per 1M tokens written to the prompt cache
//	                              #   with the 5-minute TTL; defaults to input
//	    cache_write_1h: 5.00      # optional: the same with the 1-hour TTL; defaults to
//	                              #   cache_write
//	    output: 10.00             # required for chat, absent or 0 for embedding: USD per
//	                              #   1M output tokens
//	    context_window: 128000    # required, > 0
//	    max_output: 16384         # required for chat: > 0 and <= context_window;
//	                              #   absent or 0 for embedding
//	    hidden_reasoning: true    # optional, default false: the model reasons before it
//	                              #   answers, billed as output and never streamed (OpenAI's
//	                              #   o-series and gpt-5): a stream of it that ends early is
//	                              #   charged its whole output cap
//	    aliases: [my-model-v2]    # optional: other ids that resolve to this model
//
// Unknown fields are errors, so that a misspelt "cached_inptu" cannot silently price cached
// tokens at the full input rate. Cache writes default to the input price because that is
// what a provider without a write premium (OpenAI) bills; an Anthropic model needs both
// cache_write fields, or its writes are undercharged.
type fileYAML struct {
	AsOf   string    `yaml:"as_of"`
	Models yaml.Node `yaml:"models"`
}

type modelYAML struct {
	Provider      string   `yaml:"provider"`
	Kind          string   `yaml:"kind"`
	Input         usd      `yaml:"input"`
	CachedInput   usd      `yaml:"cached_input"`
	CacheWrite    usd      `yaml:"cache_write"`
	CacheWrite1h  usd      `yaml:"cache_write_1h"`
	Output        usd      `yaml:"output"`
	ContextWindow int      `yaml:"context_window"`
	MaxOutput     int      `yaml:"max_output"`
	Hidden        bool     `yaml:"hidden_reasoning"`
	Aliases       []string `yaml:"aliases"`
}

var modelFields = map[string]bool{
	"provider": true, "kind": true, "input": true, "cached_input": true, "cache_write": true,
	"cache_write_1h": true, "output": true, "context_window": true, "max_output": true,
	"hidden_reasoning": true, "aliases": true,
}

// Parse reads a price table in the YAML format above. Every error names the model and the
// field at fault. The returned table is immutable and safe for concurrent use.
func Parse(data []byte) (*Table, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f fileYAML
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) { // an empty file is an empty table
		return nil, fmt.Errorf("pricing: %w", err)
	}
	t := &Table{models: map[string]Model{}, aliases: map[string]string{}}
	if f.AsOf != "" {
		d, err := time.Parse(time.DateOnly, f.AsOf)
		if err != nil {
			return nil, fmt.Errorf("pricing: as_of %q: want a date like 2025-10-15", f.AsOf)
		}
		t.asOf = d
	}
	if f.Models.Kind == 0 {
		return t, nil
	}
	if f.Models.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("pricing: line %d: models: want a mapping of model name to prices", f.Models.Line)
	}
	aliasOf := map[string]string{}
	for i := 0; i+1 < len(f.Models.Content); i += 2 {
		key, val := f.Models.Content[i], f.Models.Content[i+1]
		m, aliases, err := parseModel(key, val)
		if err != nil {
			return nil, err
		}
		if _, dup := t.models[m.Name]; dup {
			return nil, fmt.Errorf("pricing: line %d: model %q: listed twice", key.Line, m.Name)
		}
		t.models[m.Name] = m
		for _, a := range aliases {
			if prev, dup := aliasOf[a]; dup {
				return nil, fmt.Errorf("pricing: model %q: alias %q is already an alias of %q", m.Name, a, prev)
			}
			aliasOf[a] = m.Name
		}
	}
	for a, name := range aliasOf {
		if _, clash := t.models[a]; clash {
			return nil, fmt.Errorf("pricing: model %q: alias %q is also the name of a model", name, a)
		}
		t.aliases[a] = name
	}
	return t, nil
}

func parseModel(key, val *yaml.Node) (Model, []string, error) {
	name := key.Value
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("pricing: line %d: model %q: %s", line, name, fmt.Sprintf(format, args...))
	}
	if key.Kind != yaml.ScalarNode || !validID(name) {
		return Model{}, nil, fmt.Errorf("pricing: line %d: model name %q: want a non-empty lower-case id without spaces", key.Line, name)
	}
	if val.Kind != yaml.MappingNode {
		return Model{}, nil, fail(val.Line, "want a mapping of fields")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(val.Content); i += 2 {
		k := val.Content[i]
		if !modelFields[k.Value] {
			return Model{}, nil, fail(k.Line, "unknown field %q", k.Value)
		}
		seen[k.Value] = true
	}
	var y modelYAML
	if err := val.Decode(&y); err != nil {
		return Model{}, nil, fail(val.Line, "%v", err)
	}
	kind := Kind(y.Kind)
	switch kind {
	case "":
		kind = KindChat
	case KindChat, KindEmbedding:
	default:
		return Model{}, nil, fail(val.Line, "kind %q: want %q or %q", y.Kind, KindChat, KindEmbedding)
	}
	required := []string{"provider", "input", "output", "context_window", "max_output"}
	if kind == KindEmbedding {
		required = []string{"provider", "input", "context_window"}
	}
	for _, req := range required {
		if !seen[req] {
			return Model{}, nil, fail(val.Line, "missing field %s", req)
		}
	}
	if !seen["cached_input"] {
		y.CachedInput = y.Input
	}
	if !seen["cache_write"] {
		y.CacheWrite = y.Input
	}
	if !seen["cache_write_1h"] {
		y.CacheWrite1h = y.CacheWrite
	}
	m := Model{
		Name: name, Provider: y.Provider, Kind: kind,
		Input: int64(y.Input), CachedInput: int64(y.CachedInput),
		CacheWrite: int64(y.CacheWrite), CacheWrite1h: int64(y.CacheWrite1h), Output: int64(y.Output),
		ContextWindow: y.ContextWindow, MaxOutput: y.MaxOutput, HiddenReasoning: y.Hidden,
	}
	switch {
	case m.Provider != ProviderOpenAI && m.Provider != ProviderAnthropic:
		return Model{}, nil, fail(val.Line, "provider %q: want %q or %q", m.Provider, ProviderOpenAI, ProviderAnthropic)
	case m.CachedInput > m.Input:
		return Model{}, nil, fail(val.Line, "cached_input exceeds input: a full-price reservation would not cover a cached call")
	case m.ContextWindow <= 0:
		return Model{}, nil, fail(val.Line, "context_window %d: want a positive token count", m.ContextWindow)
	case kind == KindChat && (m.MaxOutput <= 0 || m.MaxOutput > m.ContextWindow):
		return Model{}, nil, fail(val.Line, "max_output %d: want a positive token count no larger than context_window", m.MaxOutput)
	case kind == KindEmbedding && (m.MaxOutput != 0 || m.Output != 0):
		return Model{}, nil, fail(val.Line, "an embedding model generates no tokens: want no output and no max_output")
	}
	for _, a := range y.Aliases {
		if !validID(a) || a == name {
			return Model{}, nil, fail(val.Line, "alias %q: want a non-empty lower-case id other than the model's name", a)
		}
	}
	return m, y.Aliases, nil
}

// validID accepts what Lookup can find: Lookup lower-cases the id it is given.
func validID(s string) bool {
	return s != "" && !hasUpper(s) && !strings.ContainsAny(s, " \t\n")
}

// Load reads and parses a price table file.
func Load(path string) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// usd is a price in micro-USD per 1M tokens, written in YAML as USD per 1M tokens.
type usd int64

// UnmarshalYAML converts the decimal text of a YAML number exactly, without a float in
// between: 0.075 becomes 75_000, where float64 would give 0.07499999999999999.
func (p *usd) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return fmt.Errorf("price %q: want a number of USD per 1M tokens", n.Value)
	}
	v, err := parseMicros(n.Value)
	if err != nil {
		return fmt.Errorf("price %q: %w", n.Value, err)
	}
	*p = usd(v)
	return nil
}

var (
	errPriceSyntax    = errors.New("want a plain decimal such as 2.50")
	errPriceNegative  = errors.New("must not be negative")
	errPricePrecision = errors.New("more than 6 decimal places (finer than 1 micro-USD per 1M tokens)")
	errPriceTooLarge  = errors.New("above $1,000,000 per 1M tokens")
)

// parseMicros converts a decimal such as "2.50" to micro-units (2_500_000), exactly.
func parseMicros(s string) (int64, error) {
	s = strings.ReplaceAll(s, "_", "") // YAML 1.1 digit separators, as in 1_000
	if strings.HasPrefix(s, "-") {
		return 0, errPriceNegative
	}
	s = strings.TrimPrefix(s, "+")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, errPriceSyntax
	}
	var v int64
	for _, c := range []byte(whole) {
		if c < '0' || c > '9' {
			return 0, errPriceSyntax
		}
		v = v*10 + int64(c-'0')
		if v > maxPrice/perMillion {
			return 0, errPriceTooLarge
		}
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 6 {
		return 0, errPricePrecision
	}
	var f int64
	for i := range 6 {
		f *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, errPriceSyntax
			}
			f += int64(c - '0')
		}
	}
	v = v*perMillion + f
	if v > maxPrice {
		return 0, errPriceTooLarge
	}
	return v, nil
}
