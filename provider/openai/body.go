package openai

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
	"github.com/tollgate/tollgate/provider/translate"
)

// EncodeRequest returns the Chat Completions body to send upstream for call.
//
// When the request came in this format with a Body, only "model" and the token cap are
// rewritten and every other member is forwarded untouched and in order; a streaming request
// also gets stream_options.include_usage so that the stream can be metered. An Anthropic
// Body is translated in full by translate.ToOpenAI: a field that OpenAI cannot carry fails
// with an *llm.Error of KindBadRequest that wraps an *llm.UntranslatableError naming it
// (errors.Is(err, llm.ErrUntranslatable)). A Request without a Body is built from the
// neutral fields, and an Opaque message fails the same way.
func EncodeRequest(call llm.Call) ([]byte, error) {
	b, _, err := encodeRequest(call)
	return b, err
}

// encodeRequest also reports whether include_usage was added, so that the stream reader
// hides the usage-only chunk that the caller did not ask for.
func encodeRequest(call llm.Call) (body []byte, addedUsage bool, err error) {
	req := call.Request
	if req == nil {
		return nil, false, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: "no request"}
	}
	if req.Format == llm.OpenAI && req.Body != nil {
		return patchRequest(call)
	}
	if req.Body != nil {
		if req.Format != llm.Anthropic {
			return nil, false, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: fmt.Sprintf("unknown request format %q", req.Format)}
		}
		model := call.Model
		if model == "" {
			model = req.Model
		}
		tr, err := translate.ToOpenAI(req.Body, translate.Target{Model: model, MaxTokens: call.MaxTokens, Stream: req.Stream})
		if err != nil {
			return nil, false, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: err.Error(), Err: err}
		}
		// The caller speaks Anthropic: the usage chunk is tollgate's, never relayed as such.
		return tr.Body, req.Stream, nil
	}
	return translateRequest(call)
}

func patchRequest(call llm.Call) ([]byte, bool, error) {
	body := call.Request.Body
	ms, closing, err := wire.Members(body)
	if err != nil {
		return nil, false, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: fmt.Sprintf("request body: %v", err)}
	}
	model := call.Model
	if model == "" {
		model = call.Request.Model
	}
	modelJSON, _ := json.Marshal(model)
	sets := []wire.Set{{Key: "model", Value: modelJSON}}
	if call.MaxTokens > 0 {
		limit := []byte(strconv.Itoa(call.MaxTokens))
		var hasLegacy, hasCurrent bool
		for _, m := range ms {
			if !isNull(body[m.Start:m.End]) {
				hasLegacy = hasLegacy || m.Is("max_tokens")
				hasCurrent = hasCurrent || m.Is("max_completion_tokens")
			}
		}
		// Keep the caller's choice: max_tokens is what older OpenAI-compatible servers
		// understand, max_completion_tokens is what reasoning models require. A caller who
		// set neither gets the current name, which every OpenAI chat model accepts.
		if hasLegacy {
			sets = append(sets, wire.Set{Key: "max_tokens", Value: limit})
		}
		if hasCurrent || !hasLegacy {
			sets = append(sets, wire.Set{Key: "max_completion_tokens", Value: limit})
		}
	}
	sets = appendStream(sets, body, ms, call.Request.Stream)
	added := false
	if call.Request.Stream {
		opts, ok := lastMember(body, ms, "stream_options")
		if !ok || isNull(opts) {
			sets = append(sets, wire.Set{Key: "stream_options", Value: []byte(`{"include_usage":true}`)})
			added = true
		} else if iu, ok := wire.Get(opts, "include_usage"); !ok || string(iu) != "true" {
			patched, err := wire.Patch(opts, wire.Set{Key: "include_usage", Value: []byte("true")})
			if err != nil {
				return nil, false, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: "stream_options must be an object"}
			}
			sets = append(sets, wire.Set{Key: "stream_options", Value: patched})
			added = true
		}
	}
	return wire.PatchMembers(body, ms, closing, sets...), added, nil
}

func lastMember(body []byte, ms []wire.Member, key string) ([]byte, bool) {
	for j := len(ms) - 1; j >= 0; j-- {
		if ms[j].Is(key) {
			return body[ms[j].Start:ms[j].End], true
		}
	}
	return nil, false
}

func isNull(raw []byte) bool { return string(raw) == "null" }

type outMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type outRequest struct {
	Model               string         `json:"model"`
	Messages            []outMessage   `json:"messages"`
	MaxCompletionTokens int            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64       `json:"temperature,omitempty"`
	Stream              bool           `json:"stream,omitempty"`
	StreamOptions       *streamOptions `json:"stream_options,omitempty"`
}

func translateRequest(call llm.Call) ([]byte, bool, error) {
	req := call.Request
	out := outRequest{Model: call.Model, Temperature: req.Temperature, Stream: req.Stream}
	if out.Model == "" {
		out.Model = req.Model
	}
	out.MaxCompletionTokens = req.MaxTokens
	if call.MaxTokens > 0 {
		out.MaxCompletionTokens = call.MaxTokens
	}
	if req.System != "" {
		out.Messages = append(out.Messages, outMessage{Role: "system", Content: req.System})
	}
	for i, m := range req.Messages {
		if m.Opaque {
			ue := &llm.UntranslatableError{From: req.Format, To: llm.OpenAI, Field: fmt.Sprintf("messages[%d]", i),
				Reason: "it has parts without a neutral form (images, tool calls or tool results) and the request has no body to translate them from"}
			return nil, false, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: ue.Error(), Err: ue}
		}
		out.Messages = append(out.Messages, outMessage{Role: m.Role, Content: m.Content})
	}
	if req.Stream {
		out.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, false, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: err.Error()}
	}
	return b, req.Stream, nil
}

// appendStream makes the body's "stream" agree with Request.Stream, which decides how Do
// reads the answer: a library caller may set one without the other. A body that already
// agrees is left as it is.
func appendStream(sets []wire.Set, body []byte, ms []wire.Member, stream bool) []wire.Set {
	raw, ok := lastMember(body, ms, "stream")
	switch {
	case stream && string(raw) != "true":
		return append(sets, wire.Set{Key: "stream", Value: []byte("true")})
	case !stream && ok && string(raw) == "true":
		return append(sets, wire.Set{Key: "stream", Value: []byte("false")})
	}
	return sets
}
