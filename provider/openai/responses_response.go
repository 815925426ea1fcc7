package openai

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
	"github.com/tollgate/tollgate/tokens"
)

// The stop reasons of a Responses API answer, in its own vocabulary: the status of a
// completed answer, or the incomplete_details.reason of an incomplete one.
const (
	StopCompleted       = "completed"         // status "completed"
	StopMaxOutputTokens = "max_output_tokens" // incomplete: the cap (or the context window) was reached
	StopContentFilter   = "content_filter"    // incomplete: the answer was filtered
	StopIncomplete      = "incomplete"        // incomplete for a reason the answer does not give
)

// wireResponsesUsage is the usage object of the Responses API: input_tokens counts every
// prompt token (the stored conversation a follow-up continues included), cached ones
// among them; output_tokens every generated token, reasoning included.
type wireResponsesUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

func (u *wireResponsesUsage) usage() llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	out := llm.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens}
	if d := u.InputTokensDetails; d != nil {
		out.CachedInputTokens = d.CachedTokens
	}
	if d := u.OutputTokensDetails; d != nil {
		out.ReasoningTokens = d.ReasoningTokens
	}
	return out
}

// wireResponsesState is what a response object says of how it ended, in a whole answer
// and in the stream's terminal events.
type wireResponsesState struct {
	ID                string          `json:"id"`
	CreatedAt         float64         `json:"created_at"`
	Model             string          `json:"model"`
	Status            string          `json:"status"`
	Error             json.RawMessage `json:"error"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Usage      *wireResponsesUsage `json:"usage"`
	Store      *bool               `json:"store"`
	Truncation string              `json:"truncation"`
	Output     []wireOutputItem    `json:"output"`
}

// conversation bounds the conversation this response leaves stored (llm.Response's
// Conversation): its input and output as counted, and tokens.PerMessage for each output
// item read back as input. It is 0 when the response was not stored, when its input may
// have been truncated ("truncation": "auto" drops items the stored conversation may keep),
// and when an output item is a hosted tool's (an image, a code interpreter's output),
// whose size neither count includes.
func (w *wireResponsesState) conversation() int64 {
	if w.Store == nil || !*w.Store || w.Truncation == "auto" || w.Usage == nil {
		return 0
	}
	u := w.Usage.usage()
	if u.InputTokens <= 0 {
		return 0
	}
	n := u.InputTokens + u.OutputTokens
	for _, it := range w.Output {
		switch it.Type {
		case "message", "reasoning", "function_call", "custom_tool_call":
			n += tokens.PerMessage
		default:
			return 0
		}
	}
	return n
}

// stopReason is the answer's stop reason in the Responses vocabulary (StopCompleted,
// StopMaxOutputTokens, ...), or its status when it has not ended.
func (w *wireResponsesState) stopReason() string {
	if w.Status != "incomplete" {
		return w.Status
	}
	if d := w.IncompleteDetails; d != nil && d.Reason != "" {
		return d.Reason
	}
	return StopIncomplete
}

// failure returns the classified error of a failed answer ("status": "failed" with its
// error object {code, message}), nil for any other.
func (w *wireResponsesState) failure(provider, secret string) *llm.Error {
	if w.Status != "failed" && (w.Status != "" || isNull(w.Error) || len(w.Error) == 0) {
		return nil
	}
	body := []byte(`{"error":null}`)
	if len(w.Error) > 0 && !isNull(w.Error) {
		body = append(append([]byte(`{"error":`), w.Error...), '}')
	}
	e := wire.UpstreamError(provider, 0, body, secret)
	if e.Message == "" {
		e.Message = "the response failed"
	}
	return e
}

func (w *wireResponsesState) created() time.Time {
	if w.CreatedAt <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(w.CreatedAt), 0).UTC()
}

// wireOutputItem is an item of a response's output: the members of the types that carry
// generated content.
type wireOutputItem struct {
	Type    string `json:"type"`
	Content []struct {
		Type    string `json:"type"`
		Text    string `json:"text"`
		Refusal string `json:"refusal"`
	} `json:"content"`
	Summary []struct {
		Text string `json:"text"`
	} `json:"summary"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
	Input     string `json:"input"`
}

// ParseResponsesResponse reads a non-streaming Responses API answer: its id, model and
// creation time; its text (the output_text and refusal parts of its message items,
// joined); its visible reasoning (the summaries and reasoning_text of its reasoning items);
// its function and custom tool calls in order (ID is the call_id a function_call_output
// must name, Arguments the JSON text, or a custom tool's input); its stop reason in the
// Responses vocabulary (StopCompleted, StopMaxOutputTokens, StopContentFilter); and its
// usage (input_tokens with their cached part, output_tokens with their reasoning part).
// Body is raw, not copied. A failed answer ("status": "failed") is returned as the
// classified *llm.Error of its error object.
func ParseResponsesResponse(raw []byte) (*llm.Response, error) {
	return parseResponses(raw, "openai", "")
}

// parseResponses is ParseResponsesResponse for a provider, whose name and key its errors
// carry and are redacted of.
func parseResponses(raw []byte, provider, secret string) (*llm.Response, error) {
	var w wireResponsesState
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("openai: responses body: %w", err)
	}
	if e := w.failure(provider, secret); e != nil {
		return nil, e
	}
	out := &llm.Response{Format: llm.Responses, Model: w.Model, ID: w.ID, Created: w.created(), Body: raw,
		StopReason: w.stopReason(), Usage: w.Usage.usage(), Conversation: w.conversation()}
	var text, reasoning []string
	for _, it := range w.Output {
		switch it.Type {
		case "message":
			for _, c := range it.Content {
				switch c.Type {
				case "output_text":
					text = append(text, c.Text)
				case "refusal":
					text = append(text, c.Refusal)
				}
			}
		case "reasoning":
			for _, s := range it.Summary {
				reasoning = append(reasoning, s.Text)
			}
			for _, c := range it.Content {
				if c.Type == "reasoning_text" {
					reasoning = append(reasoning, c.Text)
				}
			}
		case "function_call":
			out.ToolCalls = append(out.ToolCalls, llm.ToolCall{ID: it.CallID, Name: it.Name, Arguments: it.Arguments})
		case "custom_tool_call":
			out.ToolCalls = append(out.ToolCalls, llm.ToolCall{ID: it.CallID, Name: it.Name, Arguments: it.Input})
		}
	}
	out.Text, out.Reasoning = strings.Join(text, ""), strings.Join(reasoning, "\n\n")
	return out, nil
}
