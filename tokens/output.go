package tokens

// Counter counts generated text that arrives in pieces, as a stream's deltas do: what a
// stream relayed before it ended early, when the upstream never said how much it had
// generated. Each piece is counted as Text counts it, and the sum is rounded once, so a
// text cut into pieces at token boundaries (as providers cut their deltas) counts what the
// whole would, and a text cut inside words a little more, never less.
//
// The zero Counter counts as OpenAI's o200k_base (Text: at or above it, within the
// measured error in the package documentation). A Counter from ForProvider("anthropic")
// adds AnthropicMargin, as AnthropicMessages does for prompts, since Claude's tokenizer
// counts more tokens than o200k_base for the same text and is not public.
//
// A Counter is a plain value, not safe for concurrent use; Add does not allocate.
type Counter struct {
	units     int64 // sixteenths of a token, before the safety margin
	anthropic bool
}

// ForProvider returns a zero Counter for the tokenizer of provider, a price table's
// provider name: "anthropic" counts with AnthropicMargin, anything else as OpenAI.
func ForProvider(provider string) Counter {
	return Counter{anthropic: provider == "anthropic"}
}

// Add counts s, one piece of generated text.
func (c *Counter) Add(s string) {
	if s != "" {
		c.units += int64(textUnits(s))
	}
}

// Tokens returns the tokens counted so far.
func (c *Counter) Tokens() int64 {
	scale, div := int64(safety), int64(unit*unit)
	if c.anthropic {
		scale, div = scale*AnthropicMargin, div*4
	}
	return (c.units*scale + div - 1) / div
}
