package tokens

import "github.com/tollgate/tollgate/llm"

// The chat formats wrap every message in a few special tokens. OpenAI documents its own:
// three per message (start, role separator, end) plus the role, one more when a message
// has a name, and three per request that prime the reply. Anthropic does not document its
// framing; the same numbers are used, and AnthropicMessages adds its margin on top.
const (
	PerMessage  = 4 // framing and role of one message
	PerName     = 1 // a message's "name" field, on top of the name's own tokens
	PerRequest  = 3 // the priming of the assistant's reply
	PerToolCall = 4 // framing of one tool call or tool result beyond its name and arguments
)

// The fixed allowances for parts whose size the request body does not show.
const (
	// ImageOpenAI is charged per image at "high" or "auto" detail. gpt-4o-class models
	// charge 85 + 170 per 512-px tile of the image scaled into 768x2048, at most 1,445; the
	// gpt-4.1-mini/nano and o4-mini patch scheme caps at 1,536 patches. gpt-4o-mini bills
	// images at an inflated token count (up to tens of thousands) to keep its price per image
	// equal to gpt-4o's: budget it with care.
	ImageOpenAI = 1600
	// ImageOpenAILow is OpenAI's documented cost of a "low" detail image.
	ImageOpenAILow = 85
	// ImageAnthropic is charged per image: Anthropic counts width*height/750 and scales
	// images down to about 1.15 megapixels, so about 1,600 tokens at most.
	ImageAnthropic = 1600
	// PDFPage is charged per page of a PDF document: Anthropic bills each page as text plus
	// a page image, typically 1,500 to 3,000 tokens.
	PDFPage = 3000
	// PDFUnknownPages is the page count assumed for a PDF given by URL or file id, whose size
	// the body does not show.
	PDFUnknownPages = 10
	// AnthropicTools is Anthropic's documented tool-use system prompt, added once when a
	// request defines tools (346 tokens for auto or none tool choice, 313 for any or tool).
	AnthropicTools = 346
)

// Messages estimates the input tokens of a neutral request: the system prompt, when not
// empty, and every message, each with the chat format's framing, plus the reply priming.
// A message marked Opaque had parts with no neutral form (images, tool calls); each is
// charged ImageOpenAI, since the parts themselves are not at hand. Messages is safe for
// concurrent use and does not allocate.
func Messages(system string, msgs []llm.Message) int {
	n := PerRequest
	if system != "" {
		n += PerMessage + Text(system)
	}
	for _, m := range msgs {
		n += PerMessage + Text(m.Content)
		if m.Opaque {
			n += ImageOpenAI
		}
	}
	return n
}
