package emulator

import (
	"maps"
	"strings"
)

// DefaultModels returns the built-in model table: context windows, output caps and list
// prices (USD per million tokens) of current OpenAI and Anthropic models as published by
// the providers. It returns a fresh map that the caller may modify.
//
// The emulator keeps its own table rather than importing the pricing package so that a
// benchmark upstream never changes behaviour when prices are updated; Config.Models
// overrides any entry.
func DefaultModels() map[string]Model {
	oai := func(ctx, out int, in, cached, o float64) Model {
		return Model{Provider: "openai", ContextWindow: ctx, MaxOutput: out, InputPerMTok: in, CachedInputPerMTok: cached, OutputPerMTok: o}
	}
	ant := func(out int, in, o float64) Model {
		return Model{Provider: "anthropic", ContextWindow: 200000, MaxOutput: out, InputPerMTok: in, CachedInputPerMTok: in / 10, OutputPerMTok: o}
	}
	return map[string]Model{
		"gpt-4o":       oai(128000, 16384, 2.50, 1.25, 10),
		"gpt-4o-mini":  oai(128000, 16384, 0.15, 0.075, 0.60),
		"gpt-4.1":      oai(1047576, 32768, 2.00, 0.50, 8),
		"gpt-4.1-mini": oai(1047576, 32768, 0.40, 0.10, 1.60),
		"gpt-4.1-nano": oai(1047576, 32768, 0.10, 0.025, 0.40),
		"gpt-5":        oai(400000, 128000, 1.25, 0.125, 10),
		"gpt-5-mini":   oai(400000, 128000, 0.25, 0.025, 2),
		"gpt-5-nano":   oai(400000, 128000, 0.05, 0.005, 0.40),
		"o4-mini":      oai(200000, 100000, 1.10, 0.275, 4.40),

		"claude-opus-4-5":            ant(64000, 5, 25),
		"claude-opus-4-1":            ant(32000, 15, 75),
		"claude-sonnet-4-5":          ant(64000, 3, 15),
		"claude-sonnet-4-5-20250929": ant(64000, 3, 15),
		"claude-sonnet-4-0":          ant(64000, 3, 15),
		"claude-haiku-4-5":           ant(64000, 1, 5),
		"claude-haiku-4-5-20251001":  ant(64000, 1, 5),
		"claude-3-5-haiku-latest":    ant(8192, 0.80, 4),
	}
}

// model is a resolved Model: defaults filled, overrides applied.
type model struct {
	id       string
	provider string
	Model
	limits  Limits
	faults  Faults
	latency Latency
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

// cost returns the list price of a usage in micro-USD. A price in USD per million tokens
// is exactly micro-USD per token.
func (m *model) cost(in, cached, out int64) int64 {
	c := float64(in-cached)*m.InputPerMTok + float64(cached)*m.CachedInputPerMTok + float64(out)*m.OutputPerMTok
	return int64(c + 0.5)
}
