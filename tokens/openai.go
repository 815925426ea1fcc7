package tokens

import (
	"encoding/json"
	"fmt"
	"unsafe"
)

// OpenAIChat estimates the input tokens of an OpenAI chat completions request body: every
// message (string content or an array of parts, names, tool calls and tool results), the
// tools or functions definitions and a structured-output schema counted as their JSON text,
// and images at ImageOpenAI (ImageOpenAILow for detail "low"). Content parts of types it does
// not know, such as audio and files, are counted as their JSON text, which is generous.
// Unknown fields are ignored. A body that is not JSON, or whose known fields have the wrong
// types, yields an error wrapping ErrInvalidBody. Safe for concurrent use.
func OpenAIChat(body []byte) (int, error) {
	var req oaRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, fmt.Errorf("%w: openai chat: %w", ErrInvalidBody, err)
	}
	n := PerRequest
	for i := range req.Messages {
		m := &req.Messages[i]
		k, err := m.tokens()
		if err != nil {
			return 0, fmt.Errorf("%w: openai chat: messages[%d]: %w", ErrInvalidBody, i, err)
		}
		n += k
	}
	// OpenAI renders tool definitions in a terser form than JSON, so their JSON text is an
	// upper bound rather than an estimate of the rendering.
	n += rawText(req.Tools) + rawText(req.Functions)
	if req.ResponseFormat != nil {
		n += rawText(req.ResponseFormat.JSONSchema)
	}
	return n, nil
}

type oaRequest struct {
	Messages       []oaMessage     `json:"messages"`
	Tools          json.RawMessage `json:"tools"`
	Functions      json.RawMessage `json:"functions"`
	ResponseFormat *struct {
		JSONSchema json.RawMessage `json:"json_schema"`
	} `json:"response_format"`
}

type oaMessage struct {
	Role         string          `json:"role"`
	Name         string          `json:"name"`
	Content      json.RawMessage `json:"content"`
	ToolCalls    []oaToolCall    `json:"tool_calls"`
	FunctionCall *oaFunction     `json:"function_call"`
	ToolCallID   string          `json:"tool_call_id"`
	Refusal      string          `json:"refusal"`
}

type oaToolCall struct {
	Function oaFunction `json:"function"`
	Custom   *struct {
		Name  string `json:"name"`
		Input string `json:"input"`
	} `json:"custom"`
}

type oaFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type oaPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL *struct {
		Detail string `json:"detail"`
	} `json:"image_url"`
}

func (m *oaMessage) tokens() (int, error) {
	n := PerMessage + Text(m.Refusal)
	if m.Name != "" {
		n += PerName + Text(m.Name)
	}
	if m.ToolCallID != "" {
		n += PerToolCall
	}
	for _, tc := range m.ToolCalls {
		n += PerToolCall + Text(tc.Function.Name) + Text(tc.Function.Arguments)
		if tc.Custom != nil {
			n += Text(tc.Custom.Name) + Text(tc.Custom.Input)
		}
	}
	if fc := m.FunctionCall; fc != nil {
		n += PerToolCall + Text(fc.Name) + Text(fc.Arguments)
	}
	switch firstByte(m.Content) {
	case 0, 'n': // absent or null: an assistant turn with only tool calls
	case '"':
		var s string
		if err := json.Unmarshal(m.Content, &s); err != nil {
			return 0, fmt.Errorf("content: %w", err)
		}
		n += Text(s)
	case '[':
		var parts []json.RawMessage
		if err := json.Unmarshal(m.Content, &parts); err != nil {
			return 0, fmt.Errorf("content: %w", err)
		}
		for j, raw := range parts {
			var p oaPart
			if err := json.Unmarshal(raw, &p); err != nil {
				return 0, fmt.Errorf("content[%d]: %w", j, err)
			}
			switch p.Type {
			case "text":
				n += Text(p.Text)
			case "refusal":
				n += Text(p.Refusal)
			case "image_url":
				if p.ImageURL != nil && p.ImageURL.Detail == "low" {
					n += ImageOpenAILow
				} else {
					n += ImageOpenAI
				}
			default:
				n += rawText(raw)
			}
		}
	default:
		return 0, fmt.Errorf("content: want a string, an array of parts or null, got %.20s", m.Content)
	}
	return n, nil
}

// rawText counts a JSON value by its text; absent and null count nothing.
func rawText(raw json.RawMessage) int {
	if b := firstByte(raw); b == 0 || b == 'n' {
		return 0
	}
	return textBytes(raw)
}

// textBytes is Text over bytes without copying them: Text only reads its argument during
// the call, so the zero-copy view cannot be observed after a later change to b.
func textBytes(b []byte) int {
	return Text(unsafe.String(unsafe.SliceData(b), len(b)))
}

// firstByte returns the first byte of a JSON value after white space, or 0 when empty.
func firstByte(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}
