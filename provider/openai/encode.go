package openai

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"

	"github.com/tollgate/tollgate/internal/sse"
	"github.com/tollgate/tollgate/llm"
)

// FinishReason maps a stop reason in either vocabulary (OpenAI's finish_reason or
// Anthropic's stop_reason) to OpenAI's. An empty reason stays empty; an unknown one passes
// through.
func FinishReason(reason string) string {
	switch reason {
	case "end_turn", "stop_sequence", "pause_turn":
		return "stop"
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return reason
}

type outUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func toUsage(u llm.Usage) *outUsage {
	o := &outUsage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.Total()}
	o.PromptTokensDetails.CachedTokens = u.CachedInputTokens
	return o
}

type outChoiceMessage struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type outChoice struct {
	Index        int              `json:"index"`
	Message      outChoiceMessage `json:"message"`
	Logprobs     *struct{}        `json:"logprobs"`
	FinishReason string           `json:"finish_reason"`
}

type outCompletion struct {
	ID      string      `json:"id"`
	Object  string      `json:"object"`
	Created int64       `json:"created"`
	Model   string      `json:"model"`
	Choices []outChoice `json:"choices"`
	Usage   *outUsage   `json:"usage"`
}

// responseID derives a stable id from the answer, so that encoding is deterministic (a
// replayed cached answer keeps its id) without a clock or a random source.
func responseID(prefix, model, text string) string {
	h := fnv.New64a()
	io.WriteString(h, model)
	io.WriteString(h, "\x00")
	io.WriteString(h, text)
	return fmt.Sprintf("%s%016x", prefix, h.Sum64())
}

// EncodeResponse returns a complete non-streaming Chat Completions body carrying resp's
// text, stop reason and usage, reported as served by model. It is used to answer in OpenAI
// format what another format's upstream, the cache or a static answer produced. The id is
// derived from the content and "created" is 0, so the output is deterministic.
func EncodeResponse(resp *llm.Response, model string) []byte {
	reason := FinishReason(resp.StopReason)
	if reason == "" {
		reason = "stop"
	}
	out := outCompletion{
		ID:     responseID("chatcmpl-tg", model, resp.Text),
		Object: "chat.completion",
		Model:  model,
		Choices: []outChoice{{
			Message:      outChoiceMessage{Role: "assistant", Content: resp.Text},
			FinishReason: reason,
		}},
		Usage: toUsage(resp.Usage),
	}
	b, _ := json.Marshal(out) // plain strings and numbers always marshal
	return b
}

// EncodeError returns an OpenAI error body: {"error":{"message","type","param","code"}}.
// code may be empty, which is encoded as null, as OpenAI does.
func EncodeError(errType, code, message string) []byte {
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	e.Error.Message, e.Error.Type = message, errType
	if code != "" {
		e.Error.Code = &code
	}
	b, _ := json.Marshal(e)
	return b
}

// ErrorType returns the OpenAI error type and code that describe a failure of kind k, for
// relaying another format's upstream failure in OpenAI's words.
func ErrorType(k llm.Kind) (errType, code string) {
	switch k {
	case llm.KindRateLimited:
		return "requests", "rate_limit_exceeded"
	case llm.KindQuotaExhausted:
		return "insufficient_quota", "insufficient_quota"
	case llm.KindContextLength:
		return "invalid_request_error", "context_length_exceeded"
	case llm.KindBadRequest:
		return "invalid_request_error", ""
	case llm.KindTooLarge:
		return "tokens", "rate_limit_exceeded"
	case llm.KindAuth:
		return "invalid_request_error", "invalid_api_key"
	case llm.KindTimeout:
		return "timeout", "timeout"
	case llm.KindOverloaded:
		return "server_error", "overloaded"
	}
	return "server_error", ""
}

// StreamEncoder writes neutral text deltas as Chat Completions chunks. Call Start once,
// Delta any number of times, then End (or Fail). It is not safe for concurrent use.
type StreamEncoder struct {
	// ID, when set before Start, is the completion id of every chunk; by default it is
	// derived from the model, so that output is deterministic.
	ID string

	w            *sse.Writer
	includeUsage bool
	id, model    string
}

// NewStreamEncoder returns an encoder writing to w (flushed after every event when w can
// flush). includeUsage says whether the caller asked for stream_options.include_usage, and
// so whether End writes the usage-only chunk.
func NewStreamEncoder(w io.Writer, includeUsage bool) *StreamEncoder {
	return &StreamEncoder{w: sse.NewWriter(w), includeUsage: includeUsage}
}

type outDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type outChunkChoice struct {
	Index        int       `json:"index"`
	Delta        outDelta  `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type outChunk struct {
	ID      string           `json:"id"`
	Object  string           `json:"object"`
	Created int64            `json:"created"`
	Model   string           `json:"model"`
	Choices []outChunkChoice `json:"choices"`
	Usage   *outUsage        `json:"usage,omitempty"`
}

// Start writes the first chunk, which carries the assistant role, for model.
func (e *StreamEncoder) Start(model string) error {
	e.model = model
	e.id = e.ID
	if e.id == "" {
		e.id = responseID("chatcmpl-tg", model, "")
	}
	empty := ""
	return e.chunk([]outChunkChoice{{Delta: outDelta{Role: "assistant", Content: &empty}}}, nil)
}

// Delta writes one text delta.
func (e *StreamEncoder) Delta(text string) error {
	return e.chunk([]outChunkChoice{{Delta: outDelta{Content: &text}}}, nil)
}

// End writes the chunk with the finish reason (in either vocabulary; see FinishReason),
// the usage chunk when the caller asked for it, and the terminal [DONE].
func (e *StreamEncoder) End(stopReason string, usage llm.Usage) error {
	reason := FinishReason(stopReason)
	if reason == "" {
		reason = "stop"
	}
	if err := e.chunk([]outChunkChoice{{FinishReason: &reason}}, nil); err != nil {
		return err
	}
	if e.includeUsage {
		if err := e.chunk([]outChunkChoice{}, toUsage(usage)); err != nil {
			return err
		}
	}
	return e.w.Event("", []byte("[DONE]"))
}

// Fail ends the stream with an error event, the way OpenAI reports a failure after the
// response has started, so that the client does not take a cut answer for a whole one.
func (e *StreamEncoder) Fail(errType, code, message string) error {
	return e.w.Event("", EncodeError(errType, code, message))
}

func (e *StreamEncoder) chunk(choices []outChunkChoice, usage *outUsage) error {
	c := outChunk{ID: e.id, Object: "chat.completion.chunk", Model: e.model, Choices: choices, Usage: usage}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return e.w.Event("", b)
}
