package anthropic

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// DefaultMaxTokens is the output cap written when a request translated from another format
// carries none, since the Messages API requires one. The engine normally sets the cap.
const DefaultMaxTokens = 4096

// EncodeRequest returns the Messages API body to send upstream for call.
//
// When the request came in this format with a Body, only "model" and "max_tokens" are
// rewritten and every other member is forwarded untouched and in order. Otherwise the body
// is translated from the neutral fields, and a request with an Opaque message fails with an
// *llm.Error of KindBadRequest because it cannot be translated without loss.
func EncodeRequest(call llm.Call) ([]byte, error) {
	req := call.Request
	if req == nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "anthropic", Message: "no request"}
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
		// "stream" must agree with Request.Stream, which decides how Do reads the answer:
		// a library caller may set one without the other.
		if raw, ok := wire.Get(req.Body, "stream"); req.Stream && string(raw) != "true" {
			sets = append(sets, wire.Set{Key: "stream", Value: []byte("true")})
		} else if !req.Stream && ok && string(raw) == "true" {
			sets = append(sets, wire.Set{Key: "stream", Value: []byte("false")})
		}
		out, err := wire.Patch(req.Body, sets...)
		if err != nil {
			return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "anthropic", Message: fmt.Sprintf("request body: %v", err)}
		}
		return out, nil
	}
	return translateRequest(call, model)
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
			return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "anthropic",
				Message: fmt.Sprintf("cannot translate the %s request to anthropic: message %d has parts without a neutral form (images, tool calls or tool results)", req.Format, i)}
		}
		out.Messages = append(out.Messages, outMessage{Role: m.Role, Content: m.Content})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "anthropic", Message: err.Error()}
	}
	return b, nil
}
