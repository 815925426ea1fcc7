package anthropic

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"

	"github.com/tollgate/tollgate/internal/sse"
	"github.com/tollgate/tollgate/llm"
)

// StopReason maps a stop reason in either vocabulary (Anthropic's stop_reason or OpenAI's
// finish_reason) to Anthropic's. An empty reason stays empty; an unknown one passes through.
func StopReason(reason string) string {
	switch reason {
	case "stop":
		return "end_turn"
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	return reason
}

type outUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

// toUsage splits tollgate's inclusive input count back into Anthropic's uncached
// input_tokens and cache_read_input_tokens.
func toUsage(u llm.Usage) outUsage {
	return outUsage{
		InputTokens:          u.InputTokens - u.CachedInputTokens,
		CacheReadInputTokens: u.CachedInputTokens,
		OutputTokens:         u.OutputTokens,
	}
}

type textBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type outResponse struct {
	ID           string      `json:"id"`
	Type         string      `json:"type"`
	Role         string      `json:"role"`
	Model        string      `json:"model"`
	Content      []textBlock `json:"content"`
	StopReason   *string     `json:"stop_reason"`
	StopSequence *string     `json:"stop_sequence"`
	Usage        outUsage    `json:"usage"`
}

// messageID derives a stable id from the answer, so that encoding is deterministic (a
// replayed cached answer keeps its id) without a clock or a random source.
func messageID(model, text string) string {
	h := fnv.New64a()
	io.WriteString(h, model)
	io.WriteString(h, "\x00")
	io.WriteString(h, text)
	return fmt.Sprintf("msg_tg%016x", h.Sum64())
}

// EncodeResponse returns a complete non-streaming Messages API body carrying resp's text,
// stop reason and usage, reported as served by model. It is used to answer in Anthropic
// format what another format's upstream, the cache or a static answer produced. The id is
// derived from the content, so the output is deterministic.
func EncodeResponse(resp *llm.Response, model string) []byte {
	reason := StopReason(resp.StopReason)
	if reason == "" {
		reason = "end_turn"
	}
	out := outResponse{
		ID:         messageID(model, resp.Text),
		Type:       "message",
		Role:       "assistant",
		Model:      model,
		Content:    []textBlock{{Type: "text", Text: resp.Text}},
		StopReason: &reason,
		Usage:      toUsage(resp.Usage),
	}
	b, _ := json.Marshal(out) // plain strings and numbers always marshal
	return b
}

// EncodeError returns an Anthropic error body: {"type":"error","error":{"type","message"}}.
func EncodeError(errType, message string) []byte {
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e.Type, e.Error.Type, e.Error.Message = "error", errType, message
	b, _ := json.Marshal(e)
	return b
}

// ErrorType returns the Anthropic error type that describes a failure of kind k, for
// relaying another format's upstream failure in Anthropic's words.
func ErrorType(k llm.Kind) string {
	switch k {
	case llm.KindRateLimited:
		return "rate_limit_error"
	case llm.KindOverloaded:
		return "overloaded_error"
	case llm.KindQuotaExhausted:
		return "billing_error"
	case llm.KindContextLength, llm.KindBadRequest:
		return "invalid_request_error"
	case llm.KindTooLarge:
		return "request_too_large"
	case llm.KindAuth:
		return "authentication_error"
	case llm.KindTimeout:
		return "timeout_error"
	}
	return "api_error"
}

// StreamEncoder writes neutral text deltas as Messages API stream events: message_start,
// one text content block, message_delta and message_stop. Call Start once, Delta any number
// of times, then End (or Fail). It is not safe for concurrent use.
type StreamEncoder struct {
	// ID, when set before Start, is the message id; by default it is derived from the
	// model, so that output is deterministic.
	ID string

	w *sse.Writer
}

// NewStreamEncoder returns an encoder writing to w (flushed after every event when w can
// flush).
func NewStreamEncoder(w io.Writer) *StreamEncoder {
	return &StreamEncoder{w: sse.NewWriter(w)}
}

func (e *StreamEncoder) event(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return e.w.Event(name, b)
}

// Start writes message_start for model and opens the text block. The input usage is not
// known yet and is reported by End in message_delta, whose figures are cumulative.
func (e *StreamEncoder) Start(model string) error {
	start := struct {
		Type    string      `json:"type"`
		Message outResponse `json:"message"`
	}{Type: "message_start", Message: outResponse{
		ID: cmp.Or(e.ID, messageID(model, "")), Type: "message", Role: "assistant", Model: model, Content: []textBlock{},
	}}
	if err := e.event("message_start", start); err != nil {
		return err
	}
	return e.event("content_block_start", struct {
		Type         string    `json:"type"`
		Index        int       `json:"index"`
		ContentBlock textBlock `json:"content_block"`
	}{Type: "content_block_start", ContentBlock: textBlock{Type: "text"}})
}

// Delta writes one text delta.
func (e *StreamEncoder) Delta(text string) error {
	return e.event("content_block_delta", struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Delta struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"delta"`
	}{Type: "content_block_delta", Delta: struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{Type: "text_delta", Text: text}})
}

// End closes the text block and writes message_delta with the stop reason (in either
// vocabulary; see StopReason) and the usage, then message_stop.
func (e *StreamEncoder) End(stopReason string, usage llm.Usage) error {
	reason := StopReason(stopReason)
	if reason == "" {
		reason = "end_turn"
	}
	if err := e.event("content_block_stop", struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}{Type: "content_block_stop"}); err != nil {
		return err
	}
	type delta struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}
	if err := e.event("message_delta", struct {
		Type  string   `json:"type"`
		Delta delta    `json:"delta"`
		Usage outUsage `json:"usage"`
	}{Type: "message_delta", Delta: delta{StopReason: reason}, Usage: toUsage(usage)}); err != nil {
		return err
	}
	return e.event("message_stop", struct {
		Type string `json:"type"`
	}{Type: "message_stop"})
}

// Fail ends the stream with an error event, the way Anthropic reports a failure after the
// response has started, so that the client does not take a cut answer for a whole one.
func (e *StreamEncoder) Fail(errType, message string) error {
	return e.w.Event("error", EncodeError(errType, message))
}
