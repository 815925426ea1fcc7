package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// DefaultMaxTokens is the max_tokens written to an Anthropic request when neither the
// target nor the caller set a cap: the Messages API requires one.
const DefaultMaxTokens = 4096

// Target is what the upstream call decides over the caller's body: the concrete model, the
// output cap after the engine's clamping, and whether the answer is streamed.
type Target struct {
	// Model is the model to name in the translated body; empty keeps the caller's.
	Model string
	// MaxTokens is the output cap; 0 keeps the caller's (and, to Anthropic, which requires
	// a cap, DefaultMaxTokens when the caller set none).
	MaxTokens int
	// Stream asks for a streamed answer. A stream to OpenAI always asks for
	// stream_options.include_usage, so that it can be metered.
	Stream bool
}

// Request is a translated request.
type Request struct {
	// Body is the request body in the target format.
	Body []byte
	// ResponseTool, when not empty, names the tool that carries an OpenAI response_format
	// to Anthropic (the tool-forcing pattern): the upstream's tool_use of that name is the
	// answer's text, and its "tool_use" stop is a natural end. See the package doc.
	ResponseTool string
}

// translator knows the direction, for its errors.
type translator struct {
	from, to llm.Format
}

// refuse returns the *llm.UntranslatableError for field.
func (t translator) refuse(field, format string, args ...any) error {
	return &llm.UntranslatableError{From: t.from, To: t.to, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// bad returns the caller's own error: a field that its own API would refuse as well.
func bad(field, format string, args ...any) error {
	return wire.BadField(field, format, args...)
}

// member is one top-level member of the caller's body, by exact name as the upstream
// matches them; a duplicate's last value wins, as encoding/json would keep it.
func members(body []byte) ([]string, map[string]json.RawMessage, error) {
	ms, err := wire.BodyMembers(body)
	if err != nil {
		return nil, nil, err
	}
	keys := make([]string, 0, len(ms))
	vals := make(map[string]json.RawMessage, len(ms))
	for _, m := range ms {
		k := string(m.Key)
		if _, dup := vals[k]; !dup {
			keys = append(keys, k)
		}
		vals[k] = body[m.Start:m.End]
	}
	return keys, vals, nil
}

func isNull(raw []byte) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

// decode decodes raw into dst, or says what field must be.
func decode(raw []byte, dst any, field, want string) error {
	return wire.DecodeField(raw, dst, field, want)
}

// compactJSON returns raw without insignificant space, or raw itself when it is no JSON.
func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// marshal encodes v without escaping <, > and &, which a model's text is full of.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Every value marshalled here is built of strings, numbers and raw JSON that was
		// checked valid.
		panic(fmt.Sprintf("translate: marshal: %v", err))
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// imageTypes are the media types that Anthropic accepts in an image block.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// parseDataURL splits "data:<media type>;base64,<data>"; ok is false for anything else.
func parseDataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	mediaType, enc, found := strings.Cut(meta, ";")
	if !found || enc != "base64" {
		return "", "", false
	}
	return strings.ToLower(mediaType), data, true
}

// toolID makes an OpenAI tool-call id fit Anthropic's pattern ^[a-zA-Z0-9_-]+$: every
// other byte becomes '_'. The same id maps the same way in the tool_use and in the
// tool_result that answers it, so the pair still matches.
func toolID(id string) string {
	if id == "" {
		return "toolu_"
	}
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Reasoning budgets: what OpenAI's reasoning_effort asks of Anthropic's thinking, and the
// thresholds back. Anthropic's minimum budget is 1024 tokens.
const (
	minThinkingBudget = 1024
	budgetLow         = 1024
	budgetMedium      = 2048
	budgetHigh        = 4096
	budgetXHigh       = 8192
	budgetMax         = 16384
)
