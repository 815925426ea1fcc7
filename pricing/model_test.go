package pricing

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tollgate/tollgate/llm"
)

var gpt4o = Model{Name: "gpt-4o", Provider: "openai", Input: 2_500_000, CachedInput: 1_250_000,
	Output: 10_000_000, ContextWindow: 128000, MaxOutput: 16384}

func TestCost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		model Model
		usage llm.Usage
		want  int64
	}{
		{"zero usage", gpt4o, llm.Usage{}, 0},
		{"one input token rounds up", gpt4o, llm.Usage{InputTokens: 1}, 3},                  // 2.5 -> 3
		{"exact micro-USD", gpt4o, llm.Usage{InputTokens: 2}, 5},                            // 5.0
		{"one output token", gpt4o, llm.Usage{OutputTokens: 1}, 10},                         // 10.0
		{"one ceiling over the sum", gpt4o, llm.Usage{InputTokens: 1, OutputTokens: 1}, 13}, // 12.5 -> 13, not 3+10
		{"1M input", gpt4o, llm.Usage{InputTokens: 1_000_000}, 2_500_000},
		{"cached input at cached price", gpt4o, llm.Usage{InputTokens: 1_000_000, CachedInputTokens: 1_000_000}, 1_250_000},
		{"half cached", gpt4o, llm.Usage{InputTokens: 1000, CachedInputTokens: 500, OutputTokens: 100}, 1250 + 625 + 1000},
		{"cached above input is clamped", gpt4o, llm.Usage{InputTokens: 10, CachedInputTokens: 20}, 13}, // 12.5
		{"negative counts are zero", gpt4o, llm.Usage{InputTokens: -5, CachedInputTokens: -5, OutputTokens: -1}, 0},
		{"typical call", gpt4o, llm.Usage{InputTokens: 1234, CachedInputTokens: 1024, OutputTokens: 567}, 7475}, // 525+1280+5670
		{"free model", Model{}, llm.Usage{InputTokens: 1 << 40, OutputTokens: 1 << 40}, 0},
		{"saturates instead of wrapping", gpt4o, llm.Usage{InputTokens: math.MaxInt64, OutputTokens: math.MaxInt64}, math.MaxInt64},
		{"largest price times huge count", Model{Input: maxPrice}, llm.Usage{InputTokens: 9_000_000_000_000}, 9_000_000_000_000 * 1_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.model.Cost(tt.usage); got != tt.want {
				t.Errorf("Cost(%+v) = %d, want %d", tt.usage, got, tt.want)
			}
		})
	}
}

func TestMaxOutputFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		model  Model
		budget int64
		input  int64
		want   int64
	}{
		{"input alone does not fit", gpt4o, 2, 1, 0},      // input costs 3
		{"input fits exactly, no output", gpt4o, 3, 1, 0}, // 2.5 + 10n <= 3 -> n=0
		{"boundary", gpt4o, 13, 1, 1},                     // 12.5 -> 13 fits one
		{"one below boundary", gpt4o, 12, 1, 0},
		{"capped at MaxOutput", gpt4o, 1_000_000_000, 1000, 16384},
		{"negative budget", gpt4o, -1, 0, 0},
		{"zero budget zero input", gpt4o, 0, 0, 0},
		{"free output", Model{Input: 1, MaxOutput: 7}, 10, 5, 7},
		{"huge budget", gpt4o, math.MaxInt64, math.MaxInt64 / 4_000_000, 16384},
		{"$1 on claude-opus-4", Model{Input: 15_000_000, Output: 75_000_000, MaxOutput: 32000}, 1_000_000, 10_000, 11333},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.model.MaxOutputFor(tt.budget, tt.input); got != tt.want {
				t.Errorf("MaxOutputFor(%d, %d) = %d, want %d", tt.budget, tt.input, got, tt.want)
			}
		})
	}
}

// TestMaxOutputForBoundary checks the defining property over random models and budgets:
// Cost(n) <= budget < Cost(n+1), unless n is the cap or the input alone does not fit.
func TestMaxOutputForBoundary(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		m := Model{Input: r.Int64N(20_000_000), Output: 1 + r.Int64N(100_000_000), MaxOutput: 1 + r.IntN(200_000)}
		budget := r.Int64N(5_000_000)
		input := r.Int64N(300_000)
		n := m.MaxOutputFor(budget, input)
		costAt := func(out int64) int64 { return m.Cost(llm.Usage{InputTokens: input, OutputTokens: out}) }
		if n < 0 || n > int64(m.MaxOutput) {
			t.Fatalf("%+v.MaxOutputFor(%d, %d) = %d, outside [0, MaxOutput]", m, budget, input, n)
		}
		if costAt(0) > budget {
			if n != 0 {
				t.Fatalf("%+v.MaxOutputFor(%d, %d) = %d, want 0 when the input alone costs %d", m, budget, input, n, costAt(0))
			}
			continue
		}
		if c := costAt(n); c > budget {
			t.Fatalf("%+v.MaxOutputFor(%d, %d) = %d costing %d, over budget", m, budget, input, n, c)
		}
		if n < int64(m.MaxOutput) {
			if c := costAt(n + 1); c <= budget {
				t.Fatalf("%+v.MaxOutputFor(%d, %d) = %d, but %d output tokens cost %d and fit", m, budget, input, n, n+1, c)
			}
		}
	}
}

// TestCostMonotone is the property that makes a worst-case reservation safe: adding tokens
// never lowers the cost, and the all-uncached usage costs at least any cached split.
func TestCostMonotone(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	count := func() int64 {
		switch r.IntN(4) {
		case 0:
			return r.Int64N(10)
		case 1:
			return r.Int64N(1 << 20)
		case 2:
			return r.Int64N(1 << 40)
		default:
			return r.Int64N(math.MaxInt64)
		}
	}
	for range 50000 {
		in := r.Int64N(maxPrice)
		m := Model{Input: in, CachedInput: r.Int64N(in + 1), Output: r.Int64N(maxPrice)}
		u := llm.Usage{InputTokens: count(), OutputTokens: count()}
		u.CachedInputTokens = r.Int64N(u.InputTokens + 1)
		dIn, dOut := r.Int64N(1<<30), r.Int64N(1<<30)
		v := llm.Usage{
			InputTokens:       satAdd(u.InputTokens, dIn),
			CachedInputTokens: u.CachedInputTokens + r.Int64N(dIn+1),
			OutputTokens:      satAdd(u.OutputTokens, dOut),
		}
		v.CachedInputTokens = min(v.CachedInputTokens, v.InputTokens)
		if cu, cv := m.Cost(u), m.Cost(v); cv < cu {
			t.Fatalf("%+v: Cost(%+v) = %d < Cost(%+v) = %d", m, v, cv, u, cu)
		}
		worst := llm.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens}
		if cw, cu := m.Cost(worst), m.Cost(u); cw < cu {
			t.Fatalf("%+v: all-uncached Cost(%+v) = %d < Cost(%+v) = %d", m, worst, cw, u, cu)
		}
	}
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func BenchmarkCost(b *testing.B) {
	b.ReportAllocs()
	u := llm.Usage{InputTokens: 1234, CachedInputTokens: 1024, OutputTokens: 567}
	var sink int64
	for b.Loop() {
		sink += gpt4o.Cost(u)
	}
	_ = sink
}
