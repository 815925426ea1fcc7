package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
	"github.com/tollgate/tollgate/provider/translate"
)

// DefaultMaxTokens is the output cap written when a request translated from another format
// carries none, since the Messages API requires one. The engine normally sets the cap.
const DefaultMaxTokens = translate.DefaultMaxTokens

// EncodeRequest returns the Messages API body to send upstream for call.
//
// When the request came in this format with a Body, only "model" and "max_tokens" are
// rewritten and every other member is forwarded untouched and in order. An OpenAI Body is
// translated in full by translate.ToAnthropic, a Responses API Body by
// translate.ResponsesToAnthropic: a field that Anthropic cannot carry fails with an
// *llm.Error of KindBadRequest that wraps an *llm.UntranslatableError naming it
// (errors.Is(err, llm.ErrUntranslatable)). An embeddings request, or a Responses request
// that continues state stored at OpenAI, fails the same way wrapping an
// *llm.UnsupportedError (errors.Is(err, llm.ErrUnsupported)). A Request without a Body is built from the
// neutral fields, and an Opaque message fails the same way.
func EncodeRequest(call llm.Call) ([]byte, error) {
	body, _, err := encodeRequest(call)
	return body, err
}

// encodeRequest also returns the name of the tool that carries an OpenAI response_format,
// whose tool_use Do reads back as the answer's text.
func encodeRequest(call llm.Call) (body []byte, responseTool string, err error) {
	req := call.Request
	if req == nil {
		return nil, "", &llm.Error{Kind: llm.KindBadRequest, Provider: "anthropic", Message: "no request"}
	}
	model := call.Model
	if model == "" {
		model = req.Model
	}
	if req.Format == llm.Anthropic && req.Body != nil {
		modelJSON, _ := json.Marshal(model)
		sets := []wire.Set{{Key: "model", Value: modelJSON}}
		if call.MaxTokens > 0 {
			sets = append(sets, wire.Set{Key: "max_tokens", Value: []byte(strconv.Itoa(call.MaxTokens))})
		}
		if msgs, ok := dropUnsignedThinking(req.Body); ok {
			sets = append(sets, wire.Set{Key: "messages", Value: msgs})
		}
		// "stream" must agree with Request.Stream, which decides how Do reads the answer:
		// a library caller may set one without the other.
		if raw, ok := wire.Get(req.Body, "stream"); req.Stream && string(raw) != "true" {
			sets = append(sets, wire.Set{Key: "stream", Value: []byte("true")})
		} else if !req.Stream && ok && string(raw) == "true" {
			sets = append(sets, wire.Set{Key: "stream", Value: []byte("false")})
		}
		out, err := wire.Patch(req.Body, sets...)
		if err != nil {
			return nil, "", &llm.Error{Kind: llm.KindBadRequest, Provider: "anthropic", Message: fmt.Sprintf("request body: %v", err)}
		}
		return out, "", nil
	}
	if err := unsupported("anthropic", req); err != nil {
		return nil, "", &llm.Error{Kind: llm.KindBadRequest, Provider: "anthropic", Message: err.Error(), Err: err}
	}
	if req.Body != nil {
		translateFn := translate.ToAnthropic
		switch req.Format {
		case llm.OpenAI:
		case llm.Responses:
			translateFn = translate.ResponsesToAnthropic
		default:
			return nil, "", &llm.Error{Kind: llm.KindBadRequest, Provider: "anthropic", Message: fmt.Sprintf("unknown request format %q", req.Format)}
		}
		tr, err := translateFn(req.Body, translate.Target{Model: model, MaxTokens: call.MaxTokens, Stream: req.Stream})
		if err != nil {
			return nil, "", &llm.Error{Kind: llm.KindBadRequest, Provider: "anthropic", Message: err.Error(), Err: err}
		}
		return tr.Body, tr.ResponseTool, nil
	}
	body, err = translateRequest(call, model)
	return body, "", err
}

type outMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type outRequest struct {
	Model       string       `json:"model"`
	System      string       `json:"system,omitempty"`
	Messages    []outMessage `json:"messages"`
	MaxTokens   int          `json:"max_tokens"`
	Temperature *float64     `json:"temperature,omitempty"`
	Stream      bool         `json:"stream,omitempty"`
}

func translateRequest(call llm.Call, model string) ([]byte, error) {
	req := call.Request
	out := outRequest{Model: model, System: req.System, Stream: req.Stream, MaxTokens: DefaultMaxTokens}
	switch {
	case call.MaxTokens > 0:
		out.MaxTokens = call.MaxTokens
	case req.MaxTokens > 0:
		out.MaxTokens = req.MaxTokens
	}
	if t := req.Temperature; t != nil {
		// OpenAI allows up to 2; Anthropic refuses anything above 1.
		v := min(max(*t, 0), 1)
		out.Temperature = &v
	}
	out.Messages = make([]outMessage, 0, len(req.Messages))
	for i, m := range req.Messages {
		if m.Opaque || (m.Role != "user" && m.Role != "assistant") {
			ue := &llm.UntranslatableError{From: req.Format, To: llm.Anthropic, Field: fmt.Sprintf("messages[%d]", i),
				Reason: "it has parts without a neutral form (images, tool calls or tool results) and the request has no body to translate them from"}
			return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "anthropic", Message: ue.Error(), Err: ue}
		}
		out.Messages = append(out.Messages, outMessage{Role: m.Role, Content: m.Content})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "anthropic", Message: err.Error()}
	}
	return b, nil
}

// signatureKey is in every thinking block of a conversation's history.
var signatureKey = []byte(`"signature"`)

// dropUnsignedThinking returns the body's messages without the thinking blocks whose
// signature is empty, and whether it had any. tollgate's encoders write such blocks for
// the reasoning of another provider's model (only Anthropic can sign its own thinking); a
// client keeps them in its history, and Anthropic refuses a thinking block whose signature
// it cannot verify. Dropping them loses nothing Anthropic would read: it ignores earlier
// turns' thinking. A body without a "signature" key costs one scan, and one that has only
// signed blocks is forwarded untouched.
func dropUnsignedThinking(body []byte) ([]byte, bool) {
	if !bytes.Contains(body, signatureKey) {
		return nil, false
	}
	raw, ok := wire.Get(body, "messages")
	if !ok {
		return nil, false
	}
	var msgs []map[string]json.RawMessage
	if json.Unmarshal(raw, &msgs) != nil {
		return nil, false
	}
	changed := false
	kept := msgs[:0]
	for _, m := range msgs {
		var blocks []json.RawMessage
		if json.Unmarshal(m["content"], &blocks) != nil {
			kept = append(kept, m)
			continue
		}
		signed := blocks[:0]
		for _, b := range blocks {
			var h struct {
				Type      string  `json:"type"`
				Signature *string `json:"signature"`
			}
			if json.Unmarshal(b, &h) == nil && h.Type == "thinking" && h.Signature != nil && *h.Signature == "" {
				continue
			}
			signed = append(signed, b)
		}
		if len(signed) == len(blocks) {
			kept = append(kept, m)
			continue
		}
		changed = true
		if len(signed) == 0 {
			continue // a turn that was only foreign reasoning
		}
		m["content"], _ = json.Marshal(signed)
		kept = append(kept, m)
	}
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(kept)
	if err != nil {
		return nil, false
	}
	return out, true
}
