package openai

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
	"github.com/tollgate/tollgate/tokens"
)

// ErrBadRequest is the sentinel that every request parsing error unwraps to.
var ErrBadRequest = wire.ErrBadRequest

// RequestError says which field of a caller's request is wrong and how. Field is a JSON
// path such as "messages[2].content", empty for the body as a whole.
type RequestError = wire.RequestError

// ParseRequest reads a caller's Chat Completions request body into the neutral form. The
// returned Request keeps body as Body (not copied: the caller must not modify it) so that
// an OpenAI upstream receives it intact. Identity is left empty; SessionHint gives the
// caller's "user" for the gateway to use.
//
// Top-level members are matched by exact name, as the upstream matches them (not case
// insensitively as encoding/json would), so tollgate reads the same model, token cap and
// number of choices ("n", into Request.N) that the upstream would. Errors are
// *RequestError values naming the field.
func ParseRequest(body []byte) (*llm.Request, error) {
	req, _, err := ParseRequestInfo(body)
	return req, err
}

// RequestInfo is what ParseRequestInfo reads from a body besides the neutral request.
type RequestInfo struct {
	// SessionHint is the caller's "user" field, empty when absent or not a string.
	SessionHint string
	// IncludeUsage reports that the body asked for stream_options.include_usage: a stream
	// encoded for this caller ends with a usage chunk.
	IncludeUsage bool
}

// ParseRequestInfo is ParseRequest that also returns the body's session hint and
// include_usage, read in the same pass over the body: the gateway reads a body once.
func ParseRequestInfo(body []byte) (*llm.Request, RequestInfo, error) {
	var info RequestInfo
	ms, err := wire.BodyMembers(body)
	if err != nil {
		return nil, info, err
	}
	req := &llm.Request{Format: llm.OpenAI, Body: body}
	var (
		messages              json.RawMessage
		maxTokens, maxCompTok *int64
	)
	// The input estimate is counted in the same pass, from the members found here, so
	// that the engine does not parse the body again (it uses Request.InputTokens).
	count := tokens.NewOpenAICounter()
	for _, m := range ms {
		raw := body[m.Start:m.End]
		count.Member(string(m.Key), raw)
		switch string(m.Key) {
		case "user":
			info.SessionHint = stringValue(raw)
		case "stream_options":
			v, ok := wire.Get(raw, "include_usage")
			info.IncludeUsage = ok && string(v) == "true"
		case "model":
			if err := wire.DecodeField(raw, &req.Model, "model", "a string"); err != nil {
				return nil, info, err
			}
		case "messages":
			messages = raw
		case "max_tokens":
			if err := wire.DecodeTokens(raw, &maxTokens, "max_tokens"); err != nil {
				return nil, info, err
			}
		case "max_completion_tokens":
			if err := wire.DecodeTokens(raw, &maxCompTok, "max_completion_tokens"); err != nil {
				return nil, info, err
			}
		case "n":
			if err := decodeN(raw, &req.N); err != nil {
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
	switch {
	case maxCompTok != nil:
		req.MaxTokens = int(*maxCompTok)
	case maxTokens != nil:
		req.MaxTokens = int(*maxTokens)
	}
	if len(messages) == 0 || string(messages) == "null" {
		return nil, info, wire.BadField("messages", "is required: an array of at least one message")
	}
	if err := parseMessages(req, messages); err != nil {
		return nil, info, err
	}
	n, err := count.Total()
	if err != nil {
		return nil, info, &RequestError{Msg: err.Error()}
	}
	req.InputTokens = n
	return req, info, nil
}

// MaxChoices is the largest "n" that OpenAI accepts.
const MaxChoices = 128

// decodeN reads "n", the number of choices, as OpenAI validates it: an integer from 1 to
// 128, or null for the default of 1 (left as 0 in Request.N). Each choice is billed for its
// own output, so the worst case of a request is n times its token cap.
func decodeN(raw []byte, dst *int) error {
	var n *float64
	if err := json.Unmarshal(raw, &n); err != nil {
		return wire.BadField("n", "must be an integer from 1 to %d, got %s", MaxChoices, wire.JSONKind(raw))
	}
	if n == nil {
		*dst = 0
		return nil
	}
	if *n != float64(int64(*n)) || *n < 1 || *n > MaxChoices {
		return wire.BadField("n", "must be an integer from 1 to %d, got %s", MaxChoices, raw)
	}
	*dst = int(*n)
	return nil
}

// SessionHint returns the caller's "user" field, empty when absent or not a string. The
// gateway may use it to group a caller's requests into a session.
func SessionHint(body []byte) string {
	raw, ok := wire.Get(body, "user")
	if !ok {
		return ""
	}
	return stringValue(raw)
}

// stringValue returns the JSON string raw holds, "" when it is not a string.
func stringValue(raw []byte) string {
	if s, ok := wire.String(raw); ok {
		return s
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// IncludeUsage reports whether the caller's body asked for stream_options.include_usage,
// that is whether a stream encoded for this caller should end with a usage chunk.
func IncludeUsage(body []byte) bool {
	opts, ok := wire.Get(body, "stream_options")
	if !ok {
		return false
	}
	v, ok := wire.Get(opts, "include_usage")
	return ok && string(v) == "true"
}

type wireMessage struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	ToolCalls    json.RawMessage `json:"tool_calls"`
	FunctionCall json.RawMessage `json:"function_call"`
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
	var system []string
	for i, m := range list {
		text, opaque, err := parseContent(m.Content, wire.Path{Msg: i, Name: ".content"})
		if err != nil {
			return err
		}
		if present(m.ToolCalls) || present(m.FunctionCall) {
			opaque = true
		}
		switch m.Role {
		case "system", "developer":
			if opaque {
				return wire.BadField(wire.Path{Msg: i, Name: ".content"}.String(), "a %s message may contain text parts only", m.Role)
			}
			system = append(system, text)
			continue
		case "user", "assistant":
		case "tool", "function":
			// A tool result has no neutral form: it only makes sense next to the call.
			m.Role, opaque = "tool", true
		case "":
			return wire.BadField(wire.Path{Msg: i, Name: ".role"}.String(), "is required")
		default:
			return wire.BadField(wire.Path{Msg: i, Name: ".role"}.String(), "must be one of system, developer, user, assistant, tool; got %q", m.Role)
		}
		req.Messages = append(req.Messages, llm.Message{Role: m.Role, Content: text, Opaque: opaque})
	}
	req.System = strings.Join(system, "\n")
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

func present(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null" && s != "[]"
}

// parseContent returns the text of a message's content and whether it had parts with no
// neutral form; see wire.Content.
func parseContent(raw json.RawMessage, field wire.Path) (string, bool, error) {
	return wire.Content{Noun: "part", NullsOK: true}.ParseContent(raw, field)
}
