package emulator

import (
	"maps"
	"math"
	"strings"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
)

// DefaultModels returns the built-in model table: every model of pricing.Default, with its
// context window, output cap and list prices. It returns a fresh map that the caller may
// modify; Config.Models adds to or overrides it.
func DefaultModels() map[string]Model {
	out := map[string]Model{}
	for _, m := range pricing.Default().Models() {
		out[m.Name] = Model{Provider: m.Provider, ContextWindow: m.ContextWindow, MaxOutput: m.MaxOutput,
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
	limits  Limits
	faults  Faults
	latency Latency
	price   pricing.Model
	ctr     counters
}

func resolveModels(c *Config) map[string]*model {
	all := DefaultModels()
	maps.Copy(all, c.Models)
	out := make(map[string]*model, len(all))
	for id, m := range all {
		r := &model{id: id, Model: m, limits: c.Limits, faults: c.Faults, latency: c.Latency}
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
		if r.MaxOutput == 0 {
			r.MaxOutput = 16384
		}
		r.price = pricing.Model{Name: id, Provider: r.provider, ContextWindow: r.ContextWindow, MaxOutput: r.MaxOutput,
			Input: micros(m.InputPerMTok), CachedInput: micros(m.CachedInputPerMTok), Output: micros(m.OutputPerMTok)}
		if m.Limits != nil {
			r.limits = *m.Limits
		}
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

// cost returns the list price of a usage in micro-USD.
func (m *model) cost(in, cached, out int64) int64 {
	return m.price.Cost(llm.Usage{InputTokens: in, CachedInputTokens: cached, OutputTokens: out})
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
