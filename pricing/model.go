// Package pricing holds tollgate's model price table and computes what a usage costs.
//
// Money is an integer count of micro-USD (1 USD = 1,000,000). Prices are micro-USD per 1M
// tokens, so $2.50 per 1M tokens is 2_500_000 and the cost of n tokens is n*price/1e6,
// rounded up once per call. The default table is shipped inside the binary (prices.yaml);
// a user's file, parsed with the same strict rules, overrides or extends it with Table.With.
package pricing

import (
	"math"
	"math/bits"

	"github.com/tollgate/tollgate/llm"
)

// Providers named in a price table.
const (
	ProviderOpenAI    = "openai"
	ProviderAnthropic = "anthropic"
)

// Model is the price and the limits of one model. Prices are micro-USD per 1M tokens.
// A Model is a plain value: copy it freely. Models from Parse always have
// 0 <= CachedInput <= Input, which is what makes an all-uncached reservation a worst case.
type Model struct {
	Name     string
	Provider string // ProviderOpenAI or ProviderAnthropic

	Input       int64 // micro-USD per 1M uncached input tokens
	CachedInput int64 // micro-USD per 1M input tokens served from the prompt cache
	Output      int64 // micro-USD per 1M output tokens

	ContextWindow int // tokens of input plus output the model accepts
	MaxOutput     int // the largest max_tokens the model accepts
}

const perMillion = 1_000_000

// Cost returns the price of u in micro-USD, rounded up: the sum
// (InputTokens-CachedInputTokens)*Input + CachedInputTokens*CachedInput + OutputTokens*Output
// divided by 1e6 with one ceiling division.
//
// Negative token counts count as zero, and CachedInputTokens is clamped to InputTokens, so
// the uncached count is never negative. The arithmetic is exact in 128 bits: no product or
// sum can overflow for any int64 inputs; a cost above math.MaxInt64 micro-USD (about $9.2
// trillion) saturates at math.MaxInt64 instead of wrapping. Cost is therefore monotone: adding
// input or output tokens never lowers it, and for a table whose CachedInput <= Input, the
// all-uncached usage of the same size costs at least as much as any cached split.
func (m Model) Cost(u llm.Usage) int64 {
	in := nonNeg(u.InputTokens)
	cached := min(nonNeg(u.CachedInputTokens), in)
	var acc u128
	acc.addMul(uint64(in-cached), uint64(nonNeg(m.Input)))
	acc.addMul(uint64(cached), uint64(nonNeg(m.CachedInput)))
	acc.addMul(uint64(nonNeg(u.OutputTokens)), uint64(nonNeg(m.Output)))
	return acc.ceilDivMillion()
}

// MaxOutputFor returns the largest output token count n, at most MaxOutput, such that the
// worst case of a call with inputTokens input tokens (all uncached) and n output tokens costs
// at most budget micro-USD: Cost(n) <= budget < Cost(n+1) unless capped at MaxOutput.
// It returns 0 when even the input alone does not fit, or budget is negative. Callers clamp
// a request's max_tokens to it so that a smaller answer is allowed instead of a refusal.
func (m Model) MaxOutputFor(budget int64, inputTokens int64) int64 {
	capOut := int64(max(m.MaxOutput, 0))
	if budget < 0 {
		return 0
	}
	// ceil(x/1e6) <= budget  <=>  x <= budget*1e6 for integer x, so the bound is exact.
	var limit u128
	limit.addMul(uint64(budget), perMillion)
	var spent u128
	spent.addMul(uint64(nonNeg(inputTokens)), uint64(nonNeg(m.Input)))
	if limit.less(spent) {
		return 0
	}
	left := limit.sub(spent)
	out := uint64(nonNeg(m.Output))
	if out == 0 {
		return capOut
	}
	if left.hi >= out { // the quotient exceeds 64 bits: far beyond any cap
		return capOut
	}
	n, _ := bits.Div64(left.hi, left.lo, out)
	if n > uint64(capOut) {
		return capOut
	}
	return int64(n)
}

func nonNeg(v int64) int64 { return max(v, 0) }

// u128 is an unsigned 128-bit accumulator. Three products of two values below 2^63 sum to
// less than 2^128, so addMul never overflows in the ways Cost and MaxOutputFor use it.
type u128 struct{ hi, lo uint64 }

func (a *u128) addMul(x, y uint64) {
	hi, lo := bits.Mul64(x, y)
	var carry uint64
	a.lo, carry = bits.Add64(a.lo, lo, 0)
	a.hi, _ = bits.Add64(a.hi, hi, carry)
}

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) sub(b u128) u128 {
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	hi, _ := bits.Sub64(a.hi, b.hi, borrow)
	return u128{hi, lo}
}

// ceilDivMillion returns ceil(a/1e6), saturated at math.MaxInt64.
func (a u128) ceilDivMillion() int64 {
	lo, carry := bits.Add64(a.lo, perMillion-1, 0)
	hi, _ := bits.Add64(a.hi, 0, carry)
	if hi >= perMillion { // quotient needs more than 64 bits
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, perMillion)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}
