package tokens

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"github.com/tidwall/gjson"
)

// AnthropicMargin scales the text estimate of AnthropicMessages, in quarters: 5/4. Anthropic's
// tokenizer is not public; the same heuristic as Text is used, and Claude models are widely
// measured to produce more tokens than o200k_base for the same text, so a margin of 25% is
// added to everything counted from text (fixed allowances for images and documents are not
// scaled). Anthropic's count_tokens endpoint gives exact figures when a round trip is
// affordable.
const AnthropicMargin = 5 // quarters

// AnthropicMessages estimates the input tokens of an Anthropic messages request body: the
// system prompt (a string or an array of text blocks), every message (string content or an
// array of blocks: text, image, document, tool_use, tool_result, thinking), the tools
// definitions counted as their JSON text plus AnthropicTools, with AnthropicMargin applied.
// Images count ImageAnthropic; PDF documents count PDFPage per page, the pages counted in
// the decoded file (or guessed from its size). Blocks of types it does not know are counted
// as their JSON text. Unknown fields are ignored. A body that is not a JSON object, or whose
// messages, content or blocks have the wrong shape, yields an error wrapping ErrInvalidBody.
// Safe for concurrent use; body is only read.
func AnthropicMessages(body []byte) (int, error) {
	const format = "anthropic messages"
	root, err := parseObject(body, format)
	if err != nil {
		return 0, err
	}
	c := NewAnthropicCounter()
	root.ForEach(func(key, v gjson.Result) bool {
		c.member(key.Str, v)
		return c.err == nil
	})
	return c.Total()
}

// AnthropicCounter is AnthropicMessages for a caller that has already checked the body
// and split its top level into members (a request parser); see OpenAICounter. Feed it
// every top-level member in body order; the total is AnthropicMessages'.
type AnthropicCounter struct {
	c   anCounter
	err error
}

// NewAnthropicCounter returns a counter at the request's fixed overhead.
func NewAnthropicCounter() *AnthropicCounter {
	return &AnthropicCounter{c: anCounter{text: PerRequest}}
}

// Member counts one top-level member: key and its raw JSON value, which must be valid
// JSON.
func (a *AnthropicCounter) Member(key string, raw []byte) {
	switch key {
	case "system", "messages", "tools":
		a.member(key, parseRaw(raw))
	}
}

// Total returns the estimate, or the first error wrapping ErrInvalidBody.
func (a *AnthropicCounter) Total() (int, error) {
	if a.err != nil {
		return 0, fmt.Errorf("%w: anthropic messages: %w", ErrInvalidBody, a.err)
	}
	return (a.c.text*AnthropicMargin+3)/4 + a.c.fixed, nil
}

func (a *AnthropicCounter) member(key string, v gjson.Result) {
	if a.err != nil {
		return
	}
	c := &a.c
	switch key {
	case "system":
		if !absent(v) {
			c.text += PerMessage
			if err := c.content(v); err != nil {
				a.err = fmt.Errorf("system: %w", err)
			}
		}
	case "messages":
		if absent(v) {
			return
		}
		if !v.IsArray() {
			a.err = fmt.Errorf("messages: want an array, got %.20s", v.Raw)
			return
		}
		i := 0
		v.ForEach(func(_, m gjson.Result) bool {
			if !m.IsObject() {
				a.err = fmt.Errorf("messages[%d]: want an object, got %.20s", i, m.Raw)
				return false
			}
			c.text += PerMessage
			if err := c.content(m.Get("content")); err != nil {
				a.err = fmt.Errorf("messages[%d]: %w", i, err)
				return false
			}
			i++
			return true
		})
	case "tools":
		if !absent(v) {
			c.text += raw(v)
			c.fixed += AnthropicTools
		}
	}
}

// anCounter keeps tokens estimated from text apart from fixed allowances, because only the
// former take AnthropicMargin.
type anCounter struct {
	text, fixed int
	depth       int
}

// maxDepth bounds the nesting of tool results and document contents that content follows,
// so that a hostile body cannot recurse without limit; deeper blocks count as JSON text.
const maxDepth = 8

// content counts a string or an array of blocks.
func (c *anCounter) content(v gjson.Result) error {
	switch {
	case absent(v):
		return nil
	case v.Type == gjson.String:
		c.text += Text(v.Str)
		return nil
	case v.IsArray():
		var err error
		i := 0
		v.ForEach(func(_, b gjson.Result) bool {
			if err = c.block(b); err != nil {
				err = fmt.Errorf("content[%d]: %w", i, err)
				return false
			}
			i++
			return true
		})
		return err
	default:
		return fmt.Errorf("content: want a string or an array of blocks, got %.20s", v.Raw)
	}
}

func (c *anCounter) block(b gjson.Result) error {
	if !b.IsObject() {
		return fmt.Errorf("want an object, got %.20s", b.Raw)
	}
	switch b.Get("type").Str {
	case "text":
		c.text += str(b.Get("text"))
	case "thinking":
		c.text += str(b.Get("thinking"))
	case "redacted_thinking":
		c.text += str(b.Get("data"))
	case "image":
		c.fixed += ImageAnthropic
	case "tool_use", "server_tool_use":
		c.text += PerToolCall + str(b.Get("name")) + raw(b.Get("input"))
	case "tool_result":
		c.text += PerToolCall
		return c.nested(b.Get("content"), b)
	case "document":
		c.text += str(b.Get("title")) + str(b.Get("context"))
		src := b.Get("source")
		switch src.Get("type").Str {
		case "text":
			c.text += str(src.Get("data"))
		case "content":
			return c.nested(src.Get("content"), b)
		case "base64":
			c.fixed += PDFPage * pdfPages(src.Get("data").Str)
		case "url", "file":
			c.fixed += PDFPage * PDFUnknownPages
		default:
			c.text += Text(b.Raw)
		}
	default:
		c.text += Text(b.Raw)
	}
	return nil
}

func (c *anCounter) nested(content, whole gjson.Result) error {
	if c.depth >= maxDepth {
		c.text += Text(whole.Raw)
		return nil
	}
	c.depth++
	defer func() { c.depth-- }()
	return c.content(content)
}

// pdfBytesPerPage guesses a page count from the size of a PDF whose page objects are not
// visible (compressed object streams): scanned pages weigh more, text pages less.
const pdfBytesPerPage = 50_000

// pdfPages counts the pages of a base64 PDF by its "/Type /Page" objects, or guesses from
// its size when none is visible; at least 1.
func pdfPages(b64 string) int {
	pdf, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return 1 + len(b64)*3/4/pdfBytesPerPage
	}
	pages := 0
	for _, marker := range [][]byte{[]byte("/Type/Page"), []byte("/Type /Page")} {
		for rest := pdf; ; {
			i := bytes.Index(rest, marker)
			if i < 0 {
				break
			}
			rest = rest[i+len(marker):]
			if len(rest) == 0 || rest[0] != 's' { // not /Type /Pages, the page tree
				pages++
			}
		}
	}
	if pages == 0 {
		pages = 1 + len(pdf)/pdfBytesPerPage
	}
	return pages
}
