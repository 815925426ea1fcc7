package pricing_test

import (
	"fmt"
	"time"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
)

func Example() {
	m, err := pricing.Default().Lookup("gpt-4o-2024-08-06")
	if err != nil {
		panic(err)
	}
	cost := m.Cost(llm.Usage{InputTokens: 12_000, CachedInputTokens: 8_000, OutputTokens: 900})
	fmt.Printf("%s: %d micro-USD\n", m.Name, cost)

	// With 5 cents left and a 12k-token prompt, how long may the answer be?
	fmt.Println("max_tokens:", m.MaxOutputFor(50_000, 12_000))

	_, err = pricing.Default().Lookup("gpt-4o-minimal")
	fmt.Println(err)
	// Output:
	// gpt-4o: 29000 micro-USD
	// max_tokens: 2000
	// pricing: unknown model "gpt-4o-minimal": add it to a price file
}

// A prompt-cache write costs more than plain input on Anthropic, so a reservation prices
// the prompt at the dearest rate the request's cache_control allows; the usage then settles
// at the exact figure.
func ExampleModel_WorstCost() {
	m, _ := pricing.Default().Lookup("claude-3-7-sonnet-20250219")
	// The request marks a breakpoint with the default (5-minute) TTL.
	fmt.Println("reserve:", m.WorstCost(12_307, 1_024, 5*time.Minute))
	// Anthropic reported input_tokens 3, cache_creation_input_tokens 12304, output_tokens 550.
	fmt.Println("settle:", m.Cost(llm.Usage{InputTokens: 12_307, CacheWriteTokens: 12_304, OutputTokens: 550}))
	// Output:
	// reserve: 61512
	// settle: 54399
}

func ExampleTable_With() {
	mine, err := pricing.Parse([]byte(`
models:
  acme-llm:
    provider: openai
    input: 0.075
    output: 0.30
    context_window: 32768
    max_output: 4096
    aliases: [acme-llm-v2]
`))
	if err != nil {
		panic(err)
	}
	m, _ := pricing.Default().With(mine).Lookup("acme-llm-v2")
	fmt.Println(m.Name, m.Input, m.Output)
	// Output:
	// acme-llm 75000 300000
}
