package tokens

import (
	"fmt"

	"github.com/tidwall/gjson"
)

// OpenAIChat estimates the input tokens of an OpenAI chat completions request body: every
// message (string content or an array of parts, names, tool calls and tool results), the
// tools or functions definitions and a structured-output schema counted as their JSON text,
// and images at ImageOpenAI (ImageOpenAILow for detail "low"). Content parts of types it does
// not know, such as audio and files, are counted as their JSON text, which is generous.
// Unknown fields are ignored. A body that is not a JSON object, or whose messages, content or
// parts have the wrong shape, yields an error wrapping ErrInvalidBody. Safe for concurrent
// use; body is only read.
func OpenAIChat(body []byte) (int, error) {
	const format = "openai chat"
	root, err := parseObject(body, format)
	if err != nil {
		return 0, err
	}
	c := NewOpenAICounter()
	root.ForEach(func(key, v gjson.Result) bool {
		c.member(key.Str, v)
		return c.err == nil
	})
	return c.Total()
}

// OpenAICounter is OpenAIChat for a caller that has already checked the body and split
// its top level into members (a request parser): it counts each member as the parser
// meets it, so that the body is not validated or walked from the top again. Feed it every
// top-level member in body order, duplicates included; the total is OpenAIChat's.
type OpenAICounter struct {
	n   int
	err error
}

// NewOpenAICounter returns a counter at the request's fixed overhead.
func NewOpenAICounter() *OpenAICounter { return &OpenAICounter{n: PerRequest} }

// Member counts one top-level member: key and its raw JSON value, which must be valid
// JSON. Members that do not count (model, max_tokens, ...) cost nothing.
func (c *OpenAICounter) Member(key string, raw []byte) {
	switch key {
	case "messages", "tools", "functions", "response_format":
		c.member(key, parseRaw(raw))
	}
}

// Total returns the estimate, or the first error wrapping ErrInvalidBody.
func (c *OpenAICounter) Total() (int, error) {
	if c.err != nil {
		return 0, fmt.Errorf("%w: openai chat: %w", ErrInvalidBody, c.err)
	}
	return c.n, nil
}

func (c *OpenAICounter) member(key string, v gjson.Result) {
	if c.err != nil {
		return
	}
	switch key {
	case "messages":
		if absent(v) {
			return
		}
		if !v.IsArray() {
			c.err = fmt.Errorf("messages: want an array, got %.20s", v.Raw)
			return
		}
		i := 0
		v.ForEach(func(_, m gjson.Result) bool {
			k, err := oaMessage(m)
			if err != nil {
				c.err = fmt.Errorf("messages[%d]: %w", i, err)
				return false
			}
			c.n += k
			i++
			return true
		})
	case "tools", "functions":
		// OpenAI renders tool definitions in a terser form than JSON, so their JSON text
		// is an upper bound rather than an estimate of the rendering.
		c.n += raw(v)
	case "response_format":
		c.n += raw(v.Get("json_schema"))
	}
}

func oaMessage(m gjson.Result) (int, error) {
	if !m.IsObject() {
		return 0, fmt.Errorf("want an object, got %.20s", m.Raw)
	}
	n := PerMessage
	var err error
	m.ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "name":
			if v.Type == gjson.String {
				n += PerName + Text(v.Str)
			}
		case "refusal":
			n += str(v)
		case "tool_call_id":
			n += PerToolCall
		case "function_call":
			n += PerToolCall + str(v.Get("name")) + str(v.Get("arguments"))
		case "tool_calls":
			v.ForEach(func(_, tc gjson.Result) bool {
				n += PerToolCall + str(tc.Get("function.name")) + str(tc.Get("function.arguments")) +
					str(tc.Get("custom.name")) + str(tc.Get("custom.input"))
				return true
			})
		case "content":
			err = oaContent(v, &n)
		}
		return err == nil
	})
	return n, err
}

func oaContent(v gjson.Result, n *int) error {
	switch {
	case absent(v): // an assistant turn with only tool calls
	case v.Type == gjson.String:
		*n += Text(v.Str)
	case v.IsArray():
		var err error
		i := 0
		v.ForEach(func(_, p gjson.Result) bool {
			if !p.IsObject() {
				err = fmt.Errorf("content[%d]: want an object, got %.20s", i, p.Raw)
				return false
			}
			switch p.Get("type").Str {
			case "text":
				*n += str(p.Get("text"))
			case "refusal":
				*n += str(p.Get("refusal"))
			case "image_url":
				if p.Get("image_url.detail").Str == "low" {
					*n += ImageOpenAILow
				} else {
					*n += ImageOpenAI
				}
			default:
				*n += Text(p.Raw)
			}
			i++
			return true
		})
		return err
	default:
		return fmt.Errorf("content: want a string, an array of parts or null, got %.20s", v.Raw)
	}
	return nil
}
