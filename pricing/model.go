// Package pricing holds tollgate's model price table and computes what a usage costs.
//
// Money is an integer count of micro-USD (1 USD = 1,000,000). Prices are micro-USD per 1M
// tokens, so $2.50 per 1M tokens is 2_500_000 and the cost of n tokens is n*price/1e6,
// rounded up once per call. The default table is shipped inside the binary (prices.yaml,
// list prices with the date they were read and their sources); a user's file, parsed with
// the same strict rules, overrides or extends it with Table.With.
//
// Model.Cost prices a usage exactly: uncached input, prompt-cache reads, prompt-cache
// writes at their TTL's price (Anthropic's 5-minute and 1-hour writes cost 1.25x and 2x
// input) and output. Because a cache write can cost more than plain input, a reservation
// made before the call uses Model.WorstCost, which prices every prompt token at the most
// expensive input price the request can incur, and Model.MaxOutputForTTL is its inverse.
package pricing

import (
	"math"
	"math/bits"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// Providers named in a price table.
const (
	ProviderOpenAI    = "openai"
	ProviderAnthropic = "anthropic"
)

// Kind says what a model is called for.
type Kind string

// The kinds of model in a price table.
const (
	// KindChat is a model that generates text (chat completions, messages): it has an
	// output price and an output limit. It is what a model without a kind is.
	KindChat Kind = "chat"
	// KindEmbedding is an embedding model: it is priced by input tokens alone and
	// generates no tokens, so its Output and MaxOutput are 0.
	KindEmbedding Kind = "embedding"
)

// Model is the price and the limits of one model. Prices are micro-USD per 1M tokens.
// A Model is a plain value: copy it freely. Models from Parse always have
// 0 <= CachedInput <= Input and non-negative cache-write prices.
type Model struct {
	Name     string
	Provider string // ProviderOpenAI or ProviderAnthropic
	Kind     Kind   // KindChat or KindEmbedding; Parse never leaves it empty

	Input       int64 // micro-USD per 1M uncached input tokens
	CachedInput int64 // micro-USD per 1M input tokens served from the prompt cache
	// CacheWrite is the price of 1M input tokens written to the prompt cache with the
	// 5-minute TTL (Anthropic: 1.25x Input), CacheWrite1h with the 1-hour TTL (Anthropic:
	// 2x Input). A provider without a write premium (OpenAI) prices writes at Input.
	CacheWrite   int64
	CacheWrite1h int64
	Output       int64 // micro-USD per 1M output tokens

	ContextWindow int // tokens of input plus output the model accepts
	MaxOutput     int // the largest max_tokens the model accepts; 0 for an embedding model

	// HiddenReasoning says the model reasons before it answers and bills that reasoning as
	// output without ever streaming it (OpenAI's o-series and gpt-5 in Chat Completions:
	// completion_tokens_details.reasoning_tokens). The generated text a stream relays then
	// says nothing of what was billed, so tollgate charges such a stream that ends before
	// its usage arrives its whole output cap (see package engine).
	HiddenReasoning bool
}

const perMillion = 1_000_000

// Cost returns the exact price of u in micro-USD, rounded up: the sum
//
//	uncached*Input + CachedInputTokens*CachedInput + writes5m*CacheWrite +
//	CacheWrite1hTokens*CacheWrite1h + OutputTokens*Output
//
// divided by 1e6 with one ceiling division, where uncached = InputTokens -
// CachedInputTokens - CacheWriteTokens and writes5m = CacheWriteTokens -
// CacheWrite1hTokens.
//
// Negative token counts count as zero and each part is clamped to what is left of the one
// containing it (cached to input, writes to the uncached rest, 1-hour writes to the
// writes), so no count is ever negative. The arithmetic is exact in 128 bits: the input
// parts partition InputTokens, so no sum can overflow for any int64 inputs; a cost above
// math.MaxInt64 micro-USD (about $9.2 trillion) saturates at math.MaxInt64 instead of
// wrapping. Cost is monotone in the token counts, but a split can cost more than plain
// input when cache writes are dearer than input: reserve with WorstCost, not Cost.
func (m Model) Cost(u llm.Usage) int64 {
	in := nonNeg(u.InputTokens)
	cached := min(nonNeg(u.CachedInputTokens), in)
	writes := min(nonNeg(u.CacheWriteTokens), in-cached)
	writes1h := min(nonNeg(u.CacheWrite1hTokens), writes)
	var acc u128
	acc.addMul(uint64(in-cached-writes), uint64(nonNeg(m.Input)))
	acc.addMul(uint64(cached), uint64(nonNeg(m.CachedInput)))
	acc.addMul(uint64(writes-writes1h), uint64(nonNeg(m.CacheWrite)))
	acc.addMul(uint64(writes1h), uint64(nonNeg(m.CacheWrite1h)))
	acc.addMul(uint64(nonNeg(u.OutputTokens)), uint64(nonNeg(m.Output)))
	return acc.ceilDivMillion()
}

// InputCeiling returns the most expensive price per 1M input tokens that a request whose
// longest prompt-cache TTL is cacheTTL can be billed: the largest of Input and CachedInput,
// and of CacheWrite when cacheTTL > 0 (a cache breakpoint: Anthropic's ephemeral,
// 5 minutes), and of CacheWrite1h when cacheTTL exceeds 5 minutes ("ttl": "1h"). A
// request with a 1-hour breakpoint may also write with the 5-minute TTL, so both count.
func (m Model) InputCeiling(cacheTTL time.Duration) int64 {
	p := max(nonNeg(m.Input), nonNeg(m.CachedInput))
	if cacheTTL > 0 {
		p = max(p, nonNeg(m.CacheWrite))
	}
	if cacheTTL > 5*time.Minute {
		p = max(p, nonNeg(m.CacheWrite1h))
	}
	return p
}

// WorstCost returns the most that a call with input prompt tokens and output generated
// tokens (over all choices: a caller asking for n choices passes n x the cap) can cost, in
// micro-USD rounded up: every input token at InputCeiling(cacheTTL), every output token at
// Output. For any usage with at most input prompt tokens and output output tokens, of
// which any part is cached or written with a TTL no longer than cacheTTL,
// Cost(usage) <= WorstCost(input, output, cacheTTL): reserving it is an upper bound.
// Negative counts count as zero; the result saturates as Cost's does.
func (m Model) WorstCost(input, output int64, cacheTTL time.Duration) int64 {
	var acc u128
	acc.addMul(uint64(nonNeg(input)), uint64(m.InputCeiling(cacheTTL)))
	acc.addMul(uint64(nonNeg(output)), uint64(nonNeg(m.Output)))
	return acc.ceilDivMillion()
}

// MaxOutputFor returns MaxOutputForTTL(budget, inputTokens, 0): the output cap of a
// request without a prompt-cache breakpoint, whose input is priced at most at Input.
func (m Model) MaxOutputFor(budget int64, inputTokens int64) int64 {
	return m.MaxOutputForTTL(budget, inputTokens, 0)
}

// MaxOutputForTTL returns the largest output token count n, at most MaxOutput, such that
// WorstCost(inputTokens, n, cacheTTL) <= budget < WorstCost(inputTokens, n+1, cacheTTL)
// unless capped at MaxOutput. It returns 0 when even the input alone does not fit, or
// budget is negative. Callers clamp a request's max_tokens to it (divided by the number of
// choices when there are several) so that a smaller answer is allowed instead of a
// refusal.
func (m Model) MaxOutputForTTL(budget int64, inputTokens int64, cacheTTL time.Duration) int64 {
	capOut := int64(max(m.MaxOutput, 0))
	if budget < 0 {
		return 0
	}
	// ceil(x/1e6) <= budget  <=>  x <= budget*1e6 for integer x, so the bound is exact.
	var limit u128
	limit.addMul(uint64(budget), perMillion)
	var spent u128
	spent.addMul(uint64(nonNeg(inputTokens)), uint64(m.InputCeiling(cacheTTL)))
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

// u128 is an unsigned 128-bit accumulator. Cost, WorstCost and MaxOutputForTTL add the
// products of token counts that sum to at most two values below 2^63 (the input, whose
// parts partition it, and the output) by prices below 2^63: less than 2^127, so addMul
// never overflows in the ways they use it.
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
