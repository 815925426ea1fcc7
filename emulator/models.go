package emulator

import (
	"maps"
	"math"
	"math/bits"
	"strings"
	"sync/atomic"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
)

// DefaultModels returns the built-in model table: every model of pricing.Default, with its
// context window, output cap and list prices. It returns a fresh map that the caller may
// modify; Config.Models adds to or overrides it.
func DefaultModels() map[string]Model {
	out := map[string]Model{}
	for _, m := range pricing.Default().Models() {
		out[m.Name] = Model{Provider: m.Provider, Kind: string(m.Kind), ContextWindow: m.ContextWindow, MaxOutput: m.MaxOutput,
			InputPerMTok: float64(m.Input) / 1e6, CachedInputPerMTok: float64(m.CachedInput) / 1e6,
			OutputPerMTok: float64(m.Output) / 1e6}
	}
	return out
}

// model is a resolved Model: defaults filled, overrides applied.
type model struct {
	id       string
	provider string
	Model
	// limits are read by every request and replaced by SetLimits.
	limits    atomic.Pointer[Limits]
	faults    Faults
	latency   Latency
	dialect   dialect
	embedding bool // an embedding model: /v1/embeddings only
	dims      int  // its vectors' length
	reasoning bool
	minCache  int
	// prices in micro-USD per million tokens
	in, cached, write5m, write1h, out int64
	ctr                               counters
}

func resolveModels(c *Config) map[string]*model {
	all := DefaultModels()
	maps.Copy(all, c.Models)
	out := make(map[string]*model, len(all))
	for id, m := range all {
		r := &model{id: id, Model: m, faults: c.Faults, latency: c.Latency}
		lim := c.Limits
		r.provider = m.Provider
		if r.provider == "" {
			r.provider = "openai"
			if strings.HasPrefix(id, "claude") {
				r.provider = "anthropic"
			}
		}
		if r.ContextWindow == 0 {
			r.ContextWindow = 128000
		}
		r.embedding = m.Kind == "embedding"
		if r.embedding {
			r.dims = m.Dimensions
			if r.dims == 0 {
				r.dims = defaultDimensions(id)
			}
			if m.ContextWindow == 0 {
				r.ContextWindow = 8192
			}
		}
		if r.MaxOutput == 0 && !r.embedding {
			r.MaxOutput = 16384
		}
		r.dialect = dialectNames[m.Dialect]
		r.reasoning = r.provider == "openai" && isReasoningID(id)
		if m.Reasoning != nil {
			r.reasoning = *m.Reasoning
		}
		r.minCache = m.MinCacheTokens
		if r.minCache == 0 {
			r.minCache = defaultMinCache(r.provider, id)
		}
		r.in, r.out = micros(m.InputPerMTok), micros(m.OutputPerMTok)
		r.cached = micros(m.CachedInputPerMTok)
		if m.CachedInputPerMTok == 0 {
			r.cached = r.in
		}
		r.write5m, r.write1h = micros(m.CacheWritePerMTok), micros(m.CacheWrite1hPerMTok)
		if m.CacheWritePerMTok == 0 {
			r.write5m = micros(m.InputPerMTok * 1.25)
		}
		if m.CacheWrite1hPerMTok == 0 {
			r.write1h = micros(m.InputPerMTok * 2)
		}
		if m.Limits != nil {
			lim = *m.Limits
		}
		r.limits.Store(&lim)
		if m.Faults != nil {
			r.faults = *m.Faults
		}
		if m.Latency != nil {
			r.latency = *m.Latency
		}
		out[id] = r
	}
	return out
}

// isReasoningID reports whether an OpenAI model id is a reasoning model: the o-series and
// the gpt-5 family, whose chat variant does not reason
// (https://platform.openai.com/docs/guides/reasoning).
func isReasoningID(id string) bool {
	for _, p := range [...]string{"o1", "o3", "o4"} {
		if id == p || strings.HasPrefix(id, p+"-") {
			return true
		}
	}
	return strings.HasPrefix(id, "gpt-5") && !strings.Contains(id, "chat")
}

// defaultDimensions is the length of an embedding model's vectors: 3072 for
// text-embedding-3-large, 1536 for text-embedding-3-small and text-embedding-ada-002
// (https://platform.openai.com/docs/guides/embeddings#embedding-models).
func defaultDimensions(id string) int {
	if strings.Contains(id, "large") {
		return 3072
	}
	return 1536
}

// defaultMinCache is the documented shortest cacheable prefix: OpenAI's 1024 tokens
// (https://platform.openai.com/docs/guides/prompt-caching), Anthropic's per model
// (https://docs.claude.com/en/docs/build-with-claude/prompt-caching#cache-limitations).
func defaultMinCache(provider, id string) int {
	if provider != "anthropic" {
		return 1024
	}
	switch {
	case strings.Contains(id, "haiku-4-5"), strings.Contains(id, "opus-4-5"), strings.Contains(id, "opus-4-6"):
		return 4096
	case strings.Contains(id, "3-5-haiku"), strings.Contains(id, "3-haiku"), strings.Contains(id, "sonnet-4-6"):
		return 2048
	}
	return 1024
}

// toolPromptTokens is the system prompt Anthropic adds when a request has tools, by model
// and tool choice ("Tool use system prompt token count",
// https://docs.claude.com/en/docs/agents-and-tools/tool-use/overview#pricing): auto and
// none, then any and tool.
func toolPromptTokens(id string, forced bool) int {
	pick := func(auto, any int) int {
		if forced {
			return any
		}
		return auto
	}
	switch {
	case strings.Contains(id, "3-5-haiku"), strings.Contains(id, "3-haiku"):
		return pick(264, 340)
	case strings.Contains(id, "3-opus"):
		return pick(530, 281)
	case strings.Contains(id, "3-sonnet"):
		return pick(159, 235)
	}
	return pick(346, 313)
}

// cost returns the list price of a usage in micro-USD, rounded up once over the sum: the
// uncached input at the input price, cache reads at the cached price, cache writes at the
// write price of their TTL, and output (reasoning included) at the output price. Without
// cache writes it is pricing.Model.Cost.
func (m *model) cost(u *llm.Usage) int64 {
	w1h := max(u.CacheWrite1hTokens, 0)
	w5 := max(u.CacheWriteTokens-w1h, 0)
	uncached := max(u.InputTokens-u.CachedInputTokens-w5-w1h, 0)
	var hi, lo uint64
	add := func(n, price int64) {
		h, l := bits.Mul64(uint64(max(n, 0)), uint64(max(price, 0)))
		var c uint64
		lo, c = bits.Add64(lo, l, 0)
		hi += h + c
	}
	add(uncached, m.in)
	add(u.CachedInputTokens, m.cached)
	add(w5, m.write5m)
	add(w1h, m.write1h)
	add(u.OutputTokens, m.out)
	if hi >= 1e6 {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, 1e6)
	if r != 0 {
		q++
	}
	return int64(min(q, math.MaxInt64))
}

func micros(usd float64) int64 { return int64(math.Round(usd * 1e6)) }

// lookup finds the model an id names: exactly, else by the pricing table's family rules
// (a dated snapshot such as gpt-4o-2024-08-06 is served as gpt-4o).
func (e *Emulator) lookup(id string) *model {
	if m := e.models[id]; m != nil {
		return m
	}
	if pm, err := pricing.Default().Lookup(id); err == nil {
		return e.models[pm.Name]
	}
	return nil
}
