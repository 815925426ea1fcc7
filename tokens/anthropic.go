package tokens

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
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
// as their JSON text. Unknown fields are ignored. A body that is not JSON, or whose known
// fields have the wrong types, yields an error wrapping ErrInvalidBody. Safe for concurrent
// use.
func AnthropicMessages(body []byte) (int, error) {
	var req anRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, fmt.Errorf("%w: anthropic messages: %w", ErrInvalidBody, err)
	}
	var c anCounter
	c.text += PerRequest
	if firstByte(req.System) != 0 && firstByte(req.System) != 'n' {
		c.text += PerMessage
		if err := c.content(req.System); err != nil {
			return 0, fmt.Errorf("%w: anthropic messages: system: %w", ErrInvalidBody, err)
		}
	}
	for i := range req.Messages {
		c.text += PerMessage
		if err := c.content(req.Messages[i].Content); err != nil {
			return 0, fmt.Errorf("%w: anthropic messages: messages[%d]: %w", ErrInvalidBody, i, err)
		}
	}
	if b := firstByte(req.Tools); b != 0 && b != 'n' {
		c.text += rawText(req.Tools)
		c.fixed += AnthropicTools
	}
	return (c.text*AnthropicMargin+3)/4 + c.fixed, nil
}

type anRequest struct {
	System   json.RawMessage `json:"system"`
	Messages []struct {
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools json.RawMessage `json:"tools"`
}

type anBlock struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Thinking string          `json:"thinking"`
	Data     string          `json:"data"` // redacted_thinking
	Name     string          `json:"name"`
	Input    json.RawMessage `json:"input"`
	Content  json.RawMessage `json:"content"` // tool_result: a string or blocks
	Title    string          `json:"title"`
	Context  string          `json:"context"`
	Source   *struct {
		Type      string          `json:"type"` // base64, text, url, file, content
		MediaType string          `json:"media_type"`
		Data      string          `json:"data"`
		Content   json.RawMessage `json:"content"`
	} `json:"source"`
}

// anCounter keeps tokens estimated from text apart from fixed allowances, because only the
// former take AnthropicMargin.
type anCounter struct {
	text, fixed int
	depth       int
}

// content counts a string or an array of blocks.
func (c *anCounter) content(raw json.RawMessage) error {
	switch firstByte(raw) {
	case 0, 'n':
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		c.text += Text(s)
		return nil
	case '[':
		var blocks []json.RawMessage
		if err := json.Unmarshal(raw, &blocks); err != nil {
			return err
		}
		for i, b := range blocks {
			if err := c.block(b); err != nil {
				return fmt.Errorf("content[%d]: %w", i, err)
			}
		}
		return nil
	default:
		return fmt.Errorf("want a string or an array of blocks, got %.20s", raw)
	}
}

// maxDepth bounds the nesting of tool results and document contents that content follows,
// so that a hostile body cannot recurse without limit; deeper blocks count as JSON text.
const maxDepth = 8

func (c *anCounter) block(raw json.RawMessage) error {
	var b anBlock
	if err := json.Unmarshal(raw, &b); err != nil {
		return err
	}
	switch b.Type {
	case "text":
		c.text += Text(b.Text)
	case "thinking":
		c.text += Text(b.Thinking)
	case "redacted_thinking":
		c.text += Text(b.Data)
	case "image":
		c.fixed += ImageAnthropic
	case "tool_use", "server_tool_use":
		c.text += PerToolCall + Text(b.Name) + rawText(b.Input)
	case "tool_result":
		c.text += PerToolCall
		return c.nested(b.Content, raw)
	case "document":
		c.text += Text(b.Title) + Text(b.Context)
		switch {
		case b.Source == nil:
			c.text += rawText(raw)
		case b.Source.Type == "text":
			c.text += Text(b.Source.Data)
		case b.Source.Type == "content":
			return c.nested(b.Source.Content, raw)
		case b.Source.Type == "base64":
			c.fixed += PDFPage * pdfPages(b.Source.Data)
		default: // url or file: the size is not in the body
			c.fixed += PDFPage * PDFUnknownPages
		}
	default:
		c.text += rawText(raw)
	}
	return nil
}

func (c *anCounter) nested(content, whole json.RawMessage) error {
	if c.depth >= maxDepth {
		c.text += rawText(whole)
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
