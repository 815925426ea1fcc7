package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrBadRequest is the sentinel that every request parsing error unwraps to; both adapters
// export it as their own ErrBadRequest.
var ErrBadRequest = errors.New("invalid request")

// RequestError says which field of a caller's request is wrong and how. Field is a JSON
// path such as "messages[2].content", empty for the body as a whole.
type RequestError struct {
	Field string
	Msg   string
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Unwrap returns ErrBadRequest.
func (e *RequestError) Unwrap() error { return ErrBadRequest }

// BadField returns a *RequestError for field.
func BadField(field, format string, args ...any) *RequestError {
	return &RequestError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ValidJSON checks the whole body once, so that later member-by-member decoding can only
// fail on types, and reports where a malformed body breaks.
func ValidJSON(body []byte) error {
	if json.Valid(body) {
		return nil
	}
	if len(body) == 0 {
		return &RequestError{Msg: "empty request body: expected a JSON object"}
	}
	var v any
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// SyntaxError.Offset counts the bytes read, the bad one included; callers index
		// from 0.
		return &RequestError{Msg: fmt.Sprintf("malformed JSON at offset %d: %v", max(se.Offset-1, 0), se)}
	}
	return &RequestError{Msg: fmt.Sprintf("malformed JSON: %v", err)}
}

// DecodeField decodes raw into dst, or says that field must be want.
func DecodeField(raw []byte, dst any, field, want string) error {
	if err := json.Unmarshal(raw, dst); err != nil {
		return BadField(field, "must be %s, got %s", want, JSONKind(raw))
	}
	return nil
}

// DecodeTokens decodes a token count: a positive integer (written as a JSON number, so
// 100.0 is accepted), or null.
func DecodeTokens(raw []byte, dst **int64, field string) error {
	var n *float64
	if err := json.Unmarshal(raw, &n); err != nil {
		return BadField(field, "must be a positive integer, got %s", JSONKind(raw))
	}
	if n == nil {
		*dst = nil
		return nil
	}
	if *n != float64(int64(*n)) || *n < 1 || *n > 1<<31 {
		return BadField(field, "must be a positive integer, got %s", raw)
	}
	v := int64(*n)
	*dst = &v
	return nil
}

// JSONKind names the JSON type of a raw value for error messages.
func JSONKind(raw []byte) string {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 {
		return "nothing"
	}
	switch s[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// Path names a field of a request lazily: it is only formatted when an error needs it, so
// that a valid request costs no formatting.
type Path struct {
	Msg  int // index in messages; < 0 for a top-level field
	Name string
}

func (p Path) String() string {
	if p.Msg < 0 {
		return p.Name
	}
	return fmt.Sprintf("messages[%d]%s", p.Msg, p.Name)
}

// Content describes a format's message content for ParseContent.
type Content struct {
	Noun    string // what the array holds: "part" (OpenAI) or "block" (Anthropic)
	NullsOK bool   // null or absent content means no text (OpenAI assistant turns)
}

type contentItem struct {
	Type string  `json:"type"`
	Text *string `json:"text"`
}

// ParseContent returns the text of a message's content: a string, or an array of items
// whose "text" items are joined with newlines; opaque reports items with no neutral form
// (images, tool calls and results, thinking).
func (c Content) ParseContent(raw []byte, field Path) (text string, opaque bool, err error) {
	switch JSONKind(raw) {
	case "nothing", "null":
		if c.NullsOK {
			return "", false, nil
		}
	case "a string":
		if s, ok := String(raw); ok {
			return s, false, nil
		}
		if err := json.Unmarshal(raw, &text); err != nil {
			return "", false, BadField(field.String(), "must be a string or an array of content %ss", c.Noun)
		}
		return text, false, nil
	case "an array":
		return c.parseItems(raw, field)
	}
	return "", false, BadField(field.String(), "must be a string or an array of content %ss, got %s", c.Noun, JSONKind(raw))
}

func (c Content) parseItems(raw []byte, field Path) (text string, opaque bool, err error) {
	var items []contentItem
	if err := json.Unmarshal(raw, &items); err != nil {
		var list []json.RawMessage
		_ = json.Unmarshal(raw, &list) // raw is a valid array
		for j, ir := range list {
			if json.Unmarshal(ir, new(contentItem)) != nil {
				return "", false, BadField(fmt.Sprintf("%s[%d]", field, j), "must be a content %s object with a string type", c.Noun)
			}
		}
		return "", false, BadField(field.String(), "must be a string or an array of content %ss", c.Noun)
	}
	var texts []string
	for j, it := range items {
		switch it.Type {
		case "text":
			if it.Text == nil {
				return "", false, BadField(fmt.Sprintf("%s[%d].text", field, j), "is required for a text %s", c.Noun)
			}
			texts = append(texts, *it.Text)
		case "":
			return "", false, BadField(fmt.Sprintf("%s[%d].type", field, j), "is required")
		default:
			opaque = true
		}
	}
	return strings.Join(texts, "\n"), opaque, nil
}

// BodyMembers checks a caller's request body (ValidJSON) and returns its top-level
// members; a body that is valid JSON but not an object is a *RequestError saying so.
func BodyMembers(body []byte) ([]Member, error) {
	if err := ValidJSON(body); err != nil {
		return nil, err
	}
	ms, _, err := Members(body)
	if err != nil {
		return nil, &RequestError{Msg: "request body must be a JSON object"}
	}
	return ms, nil
}
