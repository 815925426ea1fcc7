package openai

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
	"github.com/tollgate/tollgate/tokens"
)

// ResponsesInfo is what ParseResponsesRequest reads from a body besides the neutral
// request.
type ResponsesInfo struct {
	// SessionHint is the caller's "user", else its "safety_identifier", else its
	// "prompt_cache_key" (which agents such as Codex set to their conversation's id);
	// empty when none is a string.
	SessionHint string
}

// ParseResponsesRequest reads a caller's Responses API request body (POST /v1/responses)
// into the neutral form, in one pass over its members. The returned Request has Format
// llm.Responses and keeps body as Body (not copied: the caller must not modify it), so
// that an OpenAI upstream receives it intact and the anthropic provider can translate it.
//
// It reads the model, max_output_tokens as MaxTokens (the cap on reasoning plus visible
// output; a Responses request has no "n"), stream, temperature, instructions as System,
// the input's messages (items with no neutral form, such as function calls and their
// outputs, become Opaque messages), and the conversation state (Request.State: store,
// which defaults to true, previous_response_id, and the first member that refers to
// stored state). InputTokens is the estimate of the body's prompt: instructions, input
// items, tools and the text format's schema, counted as for chat (tokens.Text, the
// per-message and per-call framing, fixed allowances for images and PDF pages). A stored
// conversation the request continues is not in the body and is not counted: see
// llm.Request.NeedsStoredState.
//
// A background response ("background": true) is refused: it is generated after the call
// returns and fetched by later requests, where tollgate could not meter it. Top-level
// members are matched by exact name, as the upstream matches them. Errors are
// *RequestError values naming the field.
func ParseResponsesRequest(body []byte) (*llm.Request, ResponsesInfo, error) {
	var info ResponsesInfo
	ms, err := wire.BodyMembers(body)
	if err != nil {
		return nil, info, err
	}
	req := &llm.Request{Format: llm.Responses, Body: body, State: llm.State{Store: true}}
	var (
		input, instructions        []byte
		maxTokens                  *int64
		user, safety, cacheKey     string
		conversation, prompt, prev bool
	)
	n := tokens.PerRequest
	for _, m := range ms {
		raw := body[m.Start:m.End]
		switch string(m.Key) {
		case "model":
			if err := wire.DecodeField(raw, &req.Model, "model", "a string"); err != nil {
				return nil, info, err
			}
		case "input":
			input = raw
		case "instructions":
			instructions = raw
		case "max_output_tokens":
			if err := wire.DecodeTokens(raw, &maxTokens, "max_output_tokens"); err != nil {
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
		case "store":
			var s *bool
			if err := wire.DecodeField(raw, &s, "store", "a boolean"); err != nil {
				return nil, info, err
			}
			req.State.Store = s == nil || *s
		case "previous_response_id":
			var id *string
			if err := wire.DecodeField(raw, &id, "previous_response_id", "a string"); err != nil {
				return nil, info, err
			}
			if id != nil && *id != "" {
				req.State.PreviousResponseID, prev = *id, true
				req.State.Refs++
			}
		case "background":
			var b *bool
			if err := wire.DecodeField(raw, &b, "background", "a boolean"); err != nil {
				return nil, info, err
			}
			if b != nil && *b {
				// The answer of a background response is polled for later, by requests
				// that are not generation and that the engine does not see: its cost
				// could never be reserved or settled.
				return nil, info, wire.BadField("background", "is not supported through tollgate, which could not meter a response generated after the call returns; stream it instead")
			}
		case "conversation":
			if conversation = !isNull(raw); conversation {
				req.State.Refs++
			}
		case "prompt":
			if prompt = !isNull(raw); prompt {
				req.State.Refs++
			}
			// A stored template's text is unknown; its variables are in the body.
			n += tokens.Text(string(raw))
		case "tools":
			if !isNull(raw) {
				// OpenAI renders tool definitions more tersely than JSON: an upper bound.
				n += tokens.Text(string(raw))
			}
		case "text":
			n += tokens.Text(gjsonOf(raw).Get("format.schema").Raw)
		case "user":
			user = stringValue(raw)
		case "safety_identifier":
			safety = stringValue(raw)
		case "prompt_cache_key":
			cacheKey = stringValue(raw)
		}
	}
	if req.Model == "" {
		return nil, info, wire.BadField("model", "is required: name the model to call")
	}
	if maxTokens != nil {
		req.MaxTokens = int(*maxTokens)
	}
	switch {
	case prev:
		req.State.Field = "previous_response_id"
	case conversation:
		req.State.Field = "conversation"
	case prompt:
		req.State.Field = "prompt"
	}
	if len(instructions) > 0 && !isNull(instructions) {
		if err := wire.DecodeField(instructions, &req.System, "instructions", "a string"); err != nil {
			return nil, info, err
		}
		n += tokens.PerMessage + tokens.Text(req.System)
	}
	if len(input) == 0 || isNull(input) {
		if req.State.Field == "" {
			return nil, info, wire.BadField("input", "is required: a string or an array of input items")
		}
	} else {
		k, err := parseInput(req, input)
		if err != nil {
			return nil, info, err
		}
		n += k
	}
	req.InputTokens = n
	switch {
	case user != "":
		info.SessionHint = user
	case safety != "":
		info.SessionHint = safety
	default:
		info.SessionHint = cacheKey
	}
	return req, info, nil
}

// gjsonOf reads one valid JSON value in place: raw is not copied and must not change
// while the result is in use.
func gjsonOf(raw []byte) gjson.Result {
	return gjson.Parse(unsafe.String(unsafe.SliceData(raw), len(raw)))
}

// parseInput reads the input, a string or an array of items, into req's messages (and
// system prompt, for system and developer messages), notes the first item that refers
// to stored state, and returns its token estimate.
func parseInput(req *llm.Request, raw []byte) (int, error) {
	v := gjsonOf(raw)
	switch {
	case v.Type == gjson.String:
		req.Messages = []llm.Message{{Role: "user", Content: v.Str}}
		return tokens.PerMessage + tokens.Text(v.Str), nil
	case !v.IsArray():
		return 0, wire.BadField("input", "must be a string or an array of input items, got %s", wire.JSONKind(raw))
	}
	var (
		n      int
		err    error
		system []string
	)
	if req.System != "" {
		system = append(system, req.System)
	}
	i := 0
	v.ForEach(func(_, it gjson.Result) bool {
		field := fmt.Sprintf("input[%d]", i)
		if !it.IsObject() {
			err = wire.BadField(field, "must be an input item object, got %s", wire.JSONKind([]byte(it.Raw)))
			return false
		}
		typ, role := it.Get("type"), it.Get("role")
		kind := typ.Str
		if kind == "" && role.Exists() {
			kind = "message"
		}
		switch kind {
		case "message":
			text, opaque, k, e := itemContent(it.Get("content"), field+".content")
			if e != nil {
				err = e
				return false
			}
			n += tokens.PerMessage + k
			switch role.Str {
			case "system", "developer":
				system = append(system, text)
			case "user", "assistant":
				req.Messages = append(req.Messages, llm.Message{Role: role.Str, Content: text, Opaque: opaque})
			case "":
				err = wire.BadField(field+".role", "is required")
				return false
			default:
				err = wire.BadField(field+".role", "must be one of system, developer, user, assistant; got %q", role.Str)
				return false
			}
		case "function_call", "custom_tool_call":
			n += tokens.PerToolCall + tokens.Text(it.Get("name").Str) + tokens.Text(it.Get("arguments").Str) + tokens.Text(it.Get("input").Str)
			req.Messages = append(req.Messages, llm.Message{Role: "assistant", Opaque: true})
		case "function_call_output", "custom_tool_call_output":
			out := it.Get("output")
			k := 0
			if out.Type == gjson.String {
				k = tokens.Text(out.Str)
			} else if _, _, c, e := itemContent(out, field+".output"); e == nil {
				k = c
			} else {
				err = e
				return false
			}
			n += tokens.PerToolCall + k
			req.Messages = append(req.Messages, llm.Message{Role: "tool", Opaque: true})
		case "item_reference", "":
			if kind == "" && !it.Get("id").Exists() {
				err = wire.BadField(field+".type", "is required")
				return false
			}
			// The referenced item is stored at the upstream; its size is unknown here.
			req.State.Refs++
			if req.State.Field == "" {
				req.State.Field = field
			}
		default:
			// Reasoning, hosted tool calls and their outputs: counted as their JSON text,
			// which is generous (encrypted reasoning is longer than its tokens).
			n += tokens.Text(it.Raw)
		}
		i++
		return true
	})
	if err != nil {
		return 0, err
	}
	req.System = strings.Join(system, "\n")
	return n, nil
}

// itemContent returns the text of a message's content (a string or parts), whether it
// had parts with no neutral form (images, files), and its token estimate.
func itemContent(v gjson.Result, field string) (text string, opaque bool, n int, err error) {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		return "", false, 0, nil
	case v.Type == gjson.String:
		return v.Str, false, tokens.Text(v.Str), nil
	case !v.IsArray():
		return "", false, 0, wire.BadField(field, "must be a string or an array of content parts, got %s", wire.JSONKind([]byte(v.Raw)))
	}
	var texts []string
	j := 0
	v.ForEach(func(_, p gjson.Result) bool {
		if !p.IsObject() {
			err = wire.BadField(fmt.Sprintf("%s[%d]", field, j), "must be a content part object")
			return false
		}
		switch p.Get("type").Str {
		case "input_text", "output_text":
			t := p.Get("text").Str
			texts = append(texts, t)
			n += tokens.Text(t)
		case "refusal":
			t := p.Get("refusal").Str
			texts = append(texts, t)
			n += tokens.Text(t)
		case "input_image":
			opaque = true
			if p.Get("detail").Str == "low" {
				n += tokens.ImageOpenAILow
			} else {
				n += tokens.ImageOpenAI
			}
		case "input_file":
			opaque = true
			n += tokens.Text(p.Get("filename").Str)
			if data := p.Get("file_data"); data.Type == gjson.String {
				b64 := data.Str
				if _, after, ok := strings.Cut(b64, ";base64,"); ok {
					b64 = after
				}
				n += tokens.PDFPage * tokens.PDFPages(b64)
			} else {
				n += tokens.PDFPage * tokens.PDFUnknownPages
			}
		case "":
			err = wire.BadField(fmt.Sprintf("%s[%d].type", field, j), "is required")
			return false
		default:
			opaque = true
			n += tokens.Text(p.Raw)
		}
		j++
		return true
	})
	return strings.Join(texts, "\n"), opaque, n, err
}
