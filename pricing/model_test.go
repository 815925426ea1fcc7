package pricing

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tollgate/tollgate/llm"
)

var gpt4o = Model{Name: "gpt-4o", Provider: "openai", Input: 2_500_000, CachedInput: 1_250_000,
	CacheWrite: 2_500_000, CacheWrite1h: 2_500_000, Output: 10_000_000, ContextWindow: 128000, MaxOutput: 16384}

var sonnet37 = Model{Name: "claude-3-7-sonnet", Provider: "anthropic", Input: 3_000_000, CachedInput: 300_000,
	CacheWrite: 3_750_000, CacheWrite1h: 6_000_000, Output: 15_000_000, ContextWindow: 200000, MaxOutput: 64000}

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

		// Anthropic {input_tokens 3, cache_creation_input_tokens 12304, output_tokens 550}:
		// 3*$3 + 12304*$3.75 + 550*$15 per 1M = $0.054399.
		{"5m cache write", sonnet37, llm.Usage{InputTokens: 12307, CacheWriteTokens: 12304, OutputTokens: 550}, 54_399},
		{"1h cache write", sonnet37, llm.Usage{InputTokens: 12307, CacheWriteTokens: 12304, CacheWrite1hTokens: 12304, OutputTokens: 550}, 9 + 73_824 + 8_250},
		{"mixed TTLs and a read", sonnet37, llm.Usage{InputTokens: 10_000, CachedInputTokens: 6_000, CacheWriteTokens: 3_000,
			CacheWrite1hTokens: 1_000, OutputTokens: 100}, 3_000 + 1_800 + 7_500 + 6_000 + 1_500},
		{"writes clamped to the uncached rest", sonnet37, llm.Usage{InputTokens: 10, CachedInputTokens: 6, CacheWriteTokens: 9}, 17}, // 1.8+15
		{"1h writes clamped to writes", sonnet37, llm.Usage{InputTokens: 10, CacheWriteTokens: 4, CacheWrite1hTokens: 9}, 42},        // 18+24
		{"openai writes cost input", gpt4o, llm.Usage{InputTokens: 1000, CacheWriteTokens: 1000}, 2500},
		{"saturates with writes", sonnet37, llm.Usage{InputTokens: math.MaxInt64, CacheWriteTokens: math.MaxInt64,
			CacheWrite1hTokens: math.MaxInt64, OutputTokens: math.MaxInt64}, math.MaxInt64},
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

func TestWorstCost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		model         Model
		input, output int64
		ttl           time.Duration
		want          int64
	}{
		{"no cache: input price", sonnet37, 1000, 100, 0, 3000 + 1500},
		{"5m breakpoint: write price", sonnet37, 1000, 100, 5 * time.Minute, 3750 + 1500},
		{"1h breakpoint: 1h write price", sonnet37, 1000, 100, time.Hour, 6000 + 1500},
		{"openai: writes are input", gpt4o, 1000, 100, time.Hour, 2500 + 1000},
		{"rounds up once", sonnet37, 1, 1, 0, 18},
		{"negative counts", sonnet37, -1, -1, time.Hour, 0},
		{"saturates", sonnet37, math.MaxInt64, math.MaxInt64, time.Hour, math.MaxInt64},
		{"cached dearer than input (a hand-built model)", Model{Input: 1, CachedInput: 5_000_000}, 10, 0, 0, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.model.WorstCost(tt.input, tt.output, tt.ttl); got != tt.want {
				t.Errorf("WorstCost(%d, %d, %v) = %d, want %d", tt.input, tt.output, tt.ttl, got, tt.want)
			}
		})
	}
}

// TestWorstCostBounds checks the property a reservation relies on: no split of the prompt
// into uncached, cached and written tokens, at any TTL up to the request's, costs more
// than WorstCost, over random models (cache writes dearer or cheaper than input) and usages.
func TestWorstCostBounds(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	ttls := []time.Duration{0, 5 * time.Minute, time.Hour}
	for range 50000 {
		in := r.Int64N(maxPrice)
		m := Model{Input: in, CachedInput: r.Int64N(in + 1), CacheWrite: r.Int64N(maxPrice),
			CacheWrite1h: r.Int64N(maxPrice), Output: r.Int64N(maxPrice)}
		ttl := ttls[r.IntN(len(ttls))]
		u := llm.Usage{InputTokens: r.Int64N(1 << 40), OutputTokens: r.Int64N(1 << 40)}
		u.CachedInputTokens = r.Int64N(u.InputTokens + 1)
		if ttl > 0 {
			u.CacheWriteTokens = r.Int64N(u.InputTokens - u.CachedInputTokens + 1)
		}
		if ttl > 5*time.Minute {
			u.CacheWrite1hTokens = r.Int64N(u.CacheWriteTokens + 1)
		}
		if c, w := m.Cost(u), m.WorstCost(u.InputTokens, u.OutputTokens, ttl); c > w {
			t.Fatalf("%+v: Cost(%+v) = %d > WorstCost(%d, %d, %v) = %d", m, u, c, u.InputTokens, u.OutputTokens, ttl, w)
		}
	}
}

func TestMaxOutputForTTL(t *testing.T) {
	t.Parallel()
	// $0.01 for 1000 prompt tokens on claude-3-7-sonnet: 3000 µUSD of input leaves 7000 for
	// 466 output tokens; a 5-minute write leaves 6250 for 416; a 1-hour write 4000 for 266.
	for _, tt := range []struct {
		ttl  time.Duration
		want int64
	}{{0, 466}, {5 * time.Minute, 416}, {time.Hour, 266}} {
		if got := sonnet37.MaxOutputForTTL(10_000, 1000, tt.ttl); got != tt.want {
			t.Errorf("MaxOutputForTTL(10000, 1000, %v) = %d, want %d", tt.ttl, got, tt.want)
		}
		n := sonnet37.MaxOutputForTTL(10_000, 1000, tt.ttl)
		if sonnet37.WorstCost(1000, n, tt.ttl) > 10_000 || sonnet37.WorstCost(1000, n+1, tt.ttl) <= 10_000 {
			t.Errorf("MaxOutputForTTL(10000, 1000, %v) = %d is not WorstCost's boundary", tt.ttl, n)
		}
	}
	if got, want := sonnet37.MaxOutputFor(10_000, 1000), sonnet37.MaxOutputForTTL(10_000, 1000, 0); got != want {
		t.Errorf("MaxOutputFor = %d, MaxOutputForTTL(…, 0) = %d, want the same", got, want)
	}
	embed := Model{Kind: KindEmbedding, Input: 20_000, ContextWindow: 8192}
	if got := embed.MaxOutputFor(1_000_000, 100); got != 0 {
		t.Errorf("embedding model MaxOutputFor = %d, want 0", got)
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
