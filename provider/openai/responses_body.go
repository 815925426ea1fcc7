package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// EncodeResponsesRequest returns the Responses API body to send upstream for call.
//
// When the request came in this format with a Body, only "model", the token cap
// (max_output_tokens, which bounds reasoning plus visible output) and "stream" are
// rewritten, and every other member is forwarded untouched and in order: store,
// previous_response_id, conversation, include and the rest reach the upstream as the
// caller wrote them. A Request without a Body is built from the neutral fields (the
// system prompt as instructions, the messages as input), and an Opaque message fails
// with an *llm.Error of KindBadRequest that wraps an *llm.UntranslatableError naming it.
// A request of another format fails with KindBadRequest: Chat Completions and Messages
// bodies are not carried to this endpoint.
func EncodeResponsesRequest(call llm.Call) ([]byte, error) {
	req := call.Request
	if req == nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: "no request"}
	}
	if req.Format != llm.Responses {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: fmt.Sprintf("a %q request is not sent to the Responses API", req.Format)}
	}
	model := call.Model
	if model == "" {
		model = req.Model
	}
	if req.Body == nil {
		return neutralResponses(call, model)
	}
	ms, closing, err := wire.Members(req.Body)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: fmt.Sprintf("request body: %v", err)}
	}
	modelJSON, _ := json.Marshal(model)
	sets := []wire.Set{{Key: "model", Value: modelJSON}}
	if call.MaxTokens > 0 {
		sets = append(sets, wire.Set{Key: "max_output_tokens", Value: []byte(strconv.Itoa(call.MaxTokens))})
	}
	sets = appendStream(sets, req.Body, ms, req.Stream)
	if input, ok := dropForeignReasoning(req.Body, ms); ok {
		sets = append(sets, wire.Set{Key: "input", Value: input})
	}
	return wire.PatchMembers(req.Body, ms, closing, sets...), nil
}

var foreignReasoningID = []byte(`"` + tgReasoningPrefix)

// dropForeignReasoning returns the body's input without the reasoning items that
// tollgate wrote into an answer that another provider's model made (EncodeResponsesResponse
// and ResponsesStreamEncoder give them ids that start with "rs_tg"), and whether it had
// any. A client sends its answers' items back as input; OpenAI refuses a reasoning item
// that it did not make (it has no encrypted content to read back, and its id names no
// stored item), and dropping it loses nothing OpenAI could read. A body without that
// prefix costs one scan and is forwarded untouched.
func dropForeignReasoning(body []byte, ms []wire.Member) ([]byte, bool) {
	if !bytes.Contains(body, foreignReasoningID) {
		return nil, false
	}
	raw, ok := lastMember(body, ms, "input")
	if !ok {
		return nil, false
	}
	v := gjsonOf(raw)
	if !v.IsArray() {
		return nil, false
	}
	out := make([]byte, 0, len(raw))
	out = append(out, '[')
	dropped := false
	v.ForEach(func(_, it gjson.Result) bool {
		if it.Get("type").Str == "reasoning" && strings.HasPrefix(it.Get("id").Str, tgReasoningPrefix) {
			dropped = true
			return true
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, it.Raw...)
		return true
	})
	if !dropped {
		return nil, false
	}
	return append(out, ']'), true
}

type outResponsesInput struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type outResponsesRequest struct {
	Model           string              `json:"model"`
	Instructions    string              `json:"instructions,omitempty"`
	Input           []outResponsesInput `json:"input"`
	MaxOutputTokens int                 `json:"max_output_tokens,omitempty"`
	Temperature     *float64            `json:"temperature,omitempty"`
	Stream          bool                `json:"stream,omitempty"`
	Store           *bool               `json:"store,omitempty"`
}

// neutralResponses builds a body from a library caller's neutral fields. It asks the
// upstream to store the answer only when the request says so.
func neutralResponses(call llm.Call, model string) ([]byte, error) {
	req := call.Request
	out := outResponsesRequest{Model: model, Instructions: req.System, MaxOutputTokens: req.MaxTokens,
		Temperature: req.Temperature, Stream: req.Stream, Store: &req.State.Store}
	if call.MaxTokens > 0 {
		out.MaxOutputTokens = call.MaxTokens
	}
	for i, m := range req.Messages {
		if m.Opaque || (m.Role != "user" && m.Role != "assistant") {
			ue := &llm.UntranslatableError{From: req.Format, To: llm.Responses, Field: fmt.Sprintf("messages[%d]", i),
				Reason: "it has parts without a neutral form (images, tool calls or tool results) and the request has no body to translate them from"}
			return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: ue.Error(), Err: ue}
		}
		out.Input = append(out.Input, outResponsesInput{Role: m.Role, Content: m.Content})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: err.Error()}
	}
	return b, nil
}
