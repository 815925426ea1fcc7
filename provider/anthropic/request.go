package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
	"github.com/tollgate/tollgate/tokens"
)

// ErrBadRequest is the sentinel that every request parsing error unwraps to.
var ErrBadRequest = wire.ErrBadRequest

// RequestError says which field of a caller's request is wrong and how. Field is a JSON
// path such as "messages[2].content", empty for the body as a whole.
type RequestError = wire.RequestError

// ParseRequest reads a caller's Messages API request body into the neutral form. The
// returned Request keeps body as Body (not copied: the caller must not modify it) so that an
// Anthropic upstream receives it intact. Identity is left empty; SessionHint gives the
// caller's metadata.user_id for the gateway to use.
//
// Top-level members are matched by exact name, as the upstream matches them, so tollgate
// reads the same model and max_tokens that the upstream would. Request.CacheTTL is the
// longest TTL of the body's cache_control breakpoints. Errors are *RequestError.
func ParseRequest(body []byte) (*llm.Request, error) {
	req, _, err := ParseRequestInfo(body)
	return req, err
}

// RequestInfo is what ParseRequestInfo reads from a body besides the neutral request.
type RequestInfo struct {
	// SessionHint is the caller's metadata.user_id, empty when absent or not a string.
	SessionHint string
}

// ParseRequestInfo is ParseRequest that also returns the body's session hint, read in the
// same pass over the body: the gateway reads a body once.
func ParseRequestInfo(body []byte) (*llm.Request, RequestInfo, error) {
	var info RequestInfo
	ms, err := wire.BodyMembers(body)
	if err != nil {
		return nil, info, err
	}
	req := &llm.Request{Format: llm.Anthropic, Body: body}
	var messages, system json.RawMessage
	var maxTokens *int64
	// The input estimate is counted in the same pass, from the members found here, so
	// that the engine does not parse the body again (it uses Request.InputTokens).
	count := tokens.NewAnthropicCounter()
	for _, m := range ms {
		raw := body[m.Start:m.End]
		count.Member(string(m.Key), raw)
		switch string(m.Key) {
		case "metadata":
			info.SessionHint = userID(raw)
		case "model":
			if err := wire.DecodeField(raw, &req.Model, "model", "a string"); err != nil {
				return nil, info, err
			}
		case "messages":
			messages = raw
		case "system":
			system = raw
		case "max_tokens":
			if err := wire.DecodeTokens(raw, &maxTokens, "max_tokens"); err != nil {
				return nil, info, err
			}
		case "temperature":
			if err := wire.DecodeField(raw, &req.Temperature, "temperature", "a number"); err != nil {
				return nil, info, err
			}
		case "stream":
			var s *bool
			if err := wire.DecodeField(raw, &s, "stream", "a boolean"); err != nil {
				return nil, info, err
			}
			req.Stream = s != nil && *s
		}
	}
	if req.Model == "" {
		return nil, info, wire.BadField("model", "is required: name the model to call")
	}
	if maxTokens == nil {
		return nil, info, wire.BadField("max_tokens", "is required: the maximum number of tokens to generate")
	}
	req.MaxTokens = int(*maxTokens)
	if len(messages) == 0 || string(messages) == "null" {
		return nil, info, wire.BadField("messages", "is required: an array of at least one message")
	}
	if len(system) > 0 {
		text, opaque, err := parseContent(system, wire.Path{Msg: -1, Name: "system"})
		if err != nil {
			return nil, info, err
		}
		if opaque {
			return nil, info, wire.BadField("system", "may contain text blocks only")
		}
		req.System = text
	}
	if err := parseMessages(req, messages); err != nil {
		return nil, info, err
	}
	req.CacheTTL = cacheTTL(body, ms)
	n, err := count.Total()
	if err != nil {
		return nil, info, &RequestError{Msg: err.Error()}
	}
	req.InputTokens = n
	return req, info, nil
}

// The prompt-cache TTLs that cache_control can ask for.
const (
	cacheTTL5m = 5 * time.Minute
	cacheTTL1h = time.Hour
)

type cacheControl struct {
	CacheControl *struct {
		Type string `json:"type"`
		TTL  string `json:"ttl"`
	} `json:"cache_control"`
}

// ttl returns the TTL a cache_control asks for: 0 for none, an hour for "1h", 5 minutes
// for the default or "5m". A value the API does not know counts as an hour: the upstream
// refuses such a request, and until then the dearest write price is the safe guess.
func (c cacheControl) ttl() time.Duration {
	switch {
	case c.CacheControl == nil:
		return 0
	case c.CacheControl.TTL == "" || c.CacheControl.TTL == "5m":
		return cacheTTL5m
	}
	return cacheTTL1h
}

// cacheTTL returns the longest TTL among the request's cache breakpoints: every
// "cache_control" member of an object anywhere in the body (top level, system blocks, tool
// definitions, message content blocks). It scans for the key rather than decoding the
// messages, which cost more than the rest of the parse: in valid JSON the bytes
// "cache_control" preceded by '{' or ',' and followed by ':' are a key, since a quote
// inside a string is escaped. A key spelt with \u escapes of its letters, which no encoder
// writes but the upstream would read, sends the body to the slower decoding walk. A key of
// that name inside a tool's schema or arguments also counts: the TTL is then an
// overestimate, which only makes the reservation larger.
func cacheTTL(body []byte, ms []wire.Member) time.Duration {
	longest := scanCacheControl(body)
	if longest < cacheTTL1h && escapedLetters(body) {
		longest = max(longest, walkCacheControl(body, ms))
	}
	return longest
}

var cacheControlKey = []byte(`"cache_control"`)

func scanCacheControl(body []byte) time.Duration {
	var longest time.Duration
	for off := 0; ; {
		i := bytes.Index(body[off:], cacheControlKey)
		if i < 0 {
			return longest
		}
		i += off
		off = i + len(cacheControlKey)
		before := bytes.TrimRight(body[:i], " \t\r\n")
		j := off
		for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\r' || body[j] == '\n') {
			j++
		}
		if len(before) == 0 || (before[len(before)-1] != '{' && before[len(before)-1] != ',') ||
			j >= len(body) || body[j] != ':' {
			continue
		}
		start, end, err := wire.Value(body, j+1)
		if err != nil {
			continue
		}
		longest = max(longest, cacheControlTTL(body[start:end]))
	}
}

// cacheControlTTL decodes one cache_control value.
func cacheControlTTL(raw []byte) time.Duration {
	var c cacheControl
	if json.Unmarshal(raw, &c.CacheControl) != nil {
		return 0
	}
	return c.ttl()
}

// escapedLetters reports whether body has a \u escape of a letter of "cache_control".
func escapedLetters(body []byte) bool {
	for off := 0; ; {
		i := bytes.Index(body[off:], []byte(`\u00`))
		if i < 0 || off+i+6 > len(body) {
			return false
		}
		i += off
		off = i + 4
		switch strings.ToLower(string(body[i+4 : i+6])) {
		case "63", "61", "68", "65", "5f", "6f", "6e", "74", "72", "6c":
			return true
		}
	}
}

// walkCacheControl decodes the places a breakpoint can be: a top-level cache_control and
// those of the system blocks, tool definitions and message content blocks.
func walkCacheControl(body []byte, ms []wire.Member) time.Duration {
	var longest time.Duration
	blocks := func(raw []byte) {
		var bs []cacheControl
		if json.Unmarshal(raw, &bs) != nil {
			return
		}
		for _, b := range bs {
			longest = max(longest, b.ttl())
		}
	}
	for _, m := range ms {
		raw := body[m.Start:m.End]
		switch string(m.Key) {
		case "cache_control":
			longest = max(longest, cacheControlTTL(raw))
		case "system", "tools":
			blocks(raw)
		case "messages":
			var msgs []struct {
				Content json.RawMessage `json:"content"`
			}
			if json.Unmarshal(raw, &msgs) != nil {
				continue
			}
			for _, msg := range msgs {
				blocks(msg.Content)
			}
		}
	}
	return longest
}

// SessionHint returns the caller's metadata.user_id, empty when absent or not a string. The
// gateway may use it to group a caller's requests into a session.
func SessionHint(body []byte) string {
	meta, ok := wire.Get(body, "metadata")
	if !ok {
		return ""
	}
	return userID(meta)
}

// userID returns the user_id string of a metadata object, "" when there is none.
func userID(meta []byte) string {
	raw, ok := wire.Get(meta, "user_id")
	if !ok {
		return ""
	}
	if s, ok := wire.String(raw); ok {
		return s
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

func parseMessages(req *llm.Request, raw json.RawMessage) error {
	// One decoding pass for the common, well-typed body; the element-by-element pass below
	// runs only to say precisely what is wrong with a body that failed it.
	var list []wireMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return messagesError(raw)
	}
	if len(list) == 0 {
		return wire.BadField("messages", "must contain at least one message")
	}
	req.Messages = make([]llm.Message, 0, len(list))
	for i, m := range list {
		switch m.Role {
		case "user", "assistant":
		case "":
			return wire.BadField(wire.Path{Msg: i, Name: ".role"}.String(), "is required")
		default:
			return wire.BadField(wire.Path{Msg: i, Name: ".role"}.String(), "must be user or assistant, got %q (put system text in the top-level system field)", m.Role)
		}
		if len(m.Content) == 0 || string(m.Content) == "null" {
			return wire.BadField(wire.Path{Msg: i, Name: ".content"}.String(), "is required")
		}
		text, opaque, err := parseContent(m.Content, wire.Path{Msg: i, Name: ".content"})
		if err != nil {
			return err
		}
		req.Messages = append(req.Messages, llm.Message{Role: m.Role, Content: text, Opaque: opaque})
	}
	return nil
}

// messagesError explains why messages did not decode.
func messagesError(raw json.RawMessage) error {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return wire.BadField("messages", "must be an array of messages, got %s", wire.JSONKind(raw))
	}
	for i, r := range list {
		var m wireMessage
		if err := json.Unmarshal(r, &m); err != nil {
			field := fmt.Sprintf("messages[%d]", i)
			if wire.JSONKind(r) != "an object" {
				return wire.BadField(field, "must be an object, got %s", wire.JSONKind(r))
			}
			return wire.BadField(field+".role", "must be a string")
		}
	}
	return wire.BadField("messages", "must be an array of message objects")
}

// parseContent returns the text of a message's content and whether it had parts with no
// neutral form; see wire.Content.
func parseContent(raw json.RawMessage, field wire.Path) (string, bool, error) {
	return wire.Content{Noun: "block", NullsOK: false}.ParseContent(raw, field)
}
