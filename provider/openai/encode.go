package openai

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/sse"
	"github.com/tollgate/tollgate/llm"
)

// FinishReason maps a stop reason in any vocabulary (OpenAI's finish_reason, Anthropic's
// stop_reason, the Responses API's status or incomplete reason) to OpenAI's. An empty
// reason stays empty, and so does StopCompleted, which says no more than that (a call's
// finish reason depends on whether it made tool calls); an unknown one passes through.
func FinishReason(reason string) string {
	switch reason {
	case StopCompleted:
		return ""
	case "end_turn", "stop_sequence", "pause_turn":
		return "stop"
	case "max_tokens", "model_context_window_exceeded", StopMaxOutputTokens:
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
	CompletionTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// toUsage reports every prompt token as prompt_tokens, the cache reads and writes
// included (OpenAI's prompt_tokens counts cached tokens too), with the reads as
// cached_tokens.
func toUsage(u llm.Usage) *outUsage {
	o := &outUsage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.Total()}
	o.PromptTokensDetails.CachedTokens = u.CachedInputTokens
	o.CompletionTokensDetails.ReasoningTokens = u.ReasoningTokens
	return o
}

type outToolCall struct {
	// Index is set in stream deltas only.
	Index    *int        `json:"index,omitempty"`
	ID       string      `json:"id,omitempty"`
	Type     string      `json:"type,omitempty"`
	Function outFunction `json:"function"`
}

type outFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type outChoiceMessage struct {
	Role    string  `json:"role"`
	Content *string `json:"content"`
	Refusal *string `json:"refusal"`
	// ReasoningContent carries visible reasoning (Anthropic thinking) under the name that
	// OpenAI-compatible servers and their clients use; OpenAI's own clients ignore it.
	ReasoningContent string        `json:"reasoning_content,omitempty"`
	ToolCalls        []outToolCall `json:"tool_calls,omitempty"`
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

// responseID derives a stable id from what identifies an answer, so that encoding is
// deterministic (a replayed cached answer keeps its id) without a random source.
func responseID(prefix string, parts ...string) string {
	h := fnv.New64a()
	for i, p := range parts {
		if i > 0 {
			io.WriteString(h, "\x00")
		}
		io.WriteString(h, p)
	}
	return fmt.Sprintf("%s%016x", prefix, h.Sum64())
}

// completionID is the id of an answer in OpenAI's shape: the upstream's own id, prefixed
// with "chatcmpl-" unless it already is (so the answer can be traced to the upstream's
// logs), or one derived from the answer when the upstream gave none.
func completionID(resp *llm.Response, model string, created time.Time) string {
	if resp.ID != "" {
		if strings.HasPrefix(resp.ID, "chatcmpl-") {
			return resp.ID
		}
		return "chatcmpl-" + resp.ID
	}
	return responseID("chatcmpl-tg", model, resp.Text, strconv.FormatInt(created.Unix(), 10))
}

// callID is the id given to a tool call that came without one (OpenAI's legacy
// function_call, some OpenAI-compatible servers): derived from the answer's id and the
// call's position, so that the caller's tool result can name it.
func callID(answerID string, i int) string {
	return responseID("call_tg", answerID, strconv.Itoa(i))
}

// finishReason maps a stop reason to OpenAI's, defaulting an empty one by whether the
// answer made tool calls.
func finishReason(stop string, tools bool) string {
	reason := FinishReason(stop)
	switch {
	case reason != "":
		return reason
	case tools:
		return "tool_calls"
	}
	return "stop"
}

// EncodeResponse returns a complete non-streaming Chat Completions body carrying resp's
// text, visible reasoning (as reasoning_content), tool calls (arguments as JSON text), stop
// reason and usage, reported as served by model. It is used to answer in OpenAI format
// what another format's upstream, the cache or a static answer produced.
//
// The id is the upstream's (resp.ID, with OpenAI's "chatcmpl-" prefix), or, for an answer
// without one, derived from its content and time, so it is stable for a cached answer.
// "created" is resp.Created, or the current time when that is zero.
func EncodeResponse(resp *llm.Response, model string) []byte {
	created := resp.Created
	if created.IsZero() {
		created = time.Now()
	}
	id := completionID(resp, model, created)
	msg := outChoiceMessage{Role: "assistant", ReasoningContent: resp.Reasoning}
	if resp.Text != "" || len(resp.ToolCalls) == 0 {
		text := resp.Text
		msg.Content = &text
	}
	for i, tc := range resp.ToolCalls {
		cid := tc.ID
		if cid == "" {
			cid = callID(id, i)
		}
		msg.ToolCalls = append(msg.ToolCalls, outToolCall{ID: cid, Type: "function",
			Function: outFunction{Name: tc.Name, Arguments: tc.Arguments}})
	}
	out := outCompletion{
		ID:      id,
		Object:  "chat.completion",
		Created: created.Unix(),
		Model:   model,
		Choices: []outChoice{{Message: msg, FinishReason: finishReason(resp.StopReason, len(resp.ToolCalls) > 0)}},
		Usage:   toUsage(resp.Usage),
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

// StreamEncoder writes a neutral stream as Chat Completions chunks: text as
// delta.content, visible reasoning as delta.reasoning_content, tool calls as
// delta.tool_calls (a call's first delta with its index, id, type and name, later ones
// with arguments only), then the finish reason, the usage chunk when the caller asked for
// it, and [DONE]. Call Start once, Chunk (or Delta) any number of times, then End (or
// Fail). It is not safe for concurrent use.
type StreamEncoder struct {
	// ID, when set before Start, is the completion id of every chunk; by default it is
	// derived from the model and Created.
	ID string
	// Created, when set before Start, is the "created" time of every chunk; by default
	// the time Start is called.
	Created time.Time

	w            *sse.Writer
	includeUsage bool
	id, model    string
	created      int64
	started      map[int]bool // tool calls whose first delta has been written
	stop         string       // the latest stop reason a chunk carried
}

// NewStreamEncoder returns an encoder writing to w (flushed after every event when w can
// flush). includeUsage says whether the caller asked for stream_options.include_usage, and
// so whether End writes the usage-only chunk.
func NewStreamEncoder(w io.Writer, includeUsage bool) *StreamEncoder {
	return &StreamEncoder{w: sse.NewWriter(w), includeUsage: includeUsage}
}

type outDelta struct {
	Role             string        `json:"role,omitempty"`
	Content          *string       `json:"content,omitempty"`
	ReasoningContent string        `json:"reasoning_content,omitempty"`
	ToolCalls        []outToolCall `json:"tool_calls,omitempty"`
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
	created := e.Created
	if created.IsZero() {
		created = time.Now()
	}
	e.model, e.created = model, created.Unix()
	e.id = e.ID
	if e.id == "" {
		e.id = responseID("chatcmpl-tg", model, strconv.FormatInt(created.UnixNano(), 10))
	}
	empty := ""
	return e.chunk([]outChunkChoice{{Delta: outDelta{Role: "assistant", Content: &empty}}}, nil)
}

// Delta writes one text delta.
func (e *StreamEncoder) Delta(text string) error {
	return e.chunk([]outChunkChoice{{Delta: outDelta{Content: &text}}}, nil)
}

// Chunk writes what c generated (text, reasoning and tool-call deltas of the first
// choice) as one chunk, and remembers its stop reason for End. A chunk that generated
// nothing writes nothing; Other (other choices' output) has no place in a one-choice
// answer and is not written.
func (e *StreamEncoder) Chunk(c llm.Chunk) error {
	if c.StopReason != "" {
		e.stop = c.StopReason
	}
	d := outDelta{ReasoningContent: c.Reasoning}
	if c.Text != "" {
		d.Content = &c.Text
	}
	for _, tc := range c.ToolCalls {
		idx := tc.Index
		if e.started[idx] && tc.Arguments == "" {
			continue // an empty fragment (Anthropic sends one first) says nothing
		}
		out := outToolCall{Index: &idx, Function: outFunction{Arguments: tc.Arguments}}
		if !e.started[idx] {
			if e.started == nil {
				e.started = map[int]bool{}
			}
			e.started[idx] = true
			out.ID, out.Type, out.Function.Name = tc.ID, "function", tc.Name
			if out.ID == "" {
				out.ID = callID(e.id, idx)
			}
		}
		d.ToolCalls = append(d.ToolCalls, out)
	}
	if d.Content == nil && d.ReasoningContent == "" && len(d.ToolCalls) == 0 {
		return nil
	}
	return e.chunk([]outChunkChoice{{Delta: d}}, nil)
}

// End writes the chunk with the finish reason (in either vocabulary; see FinishReason;
// empty means the one the chunks carried, else "tool_calls" after tool calls and "stop"
// otherwise), the usage chunk when the caller asked for it, and the terminal [DONE].
func (e *StreamEncoder) End(stopReason string, usage llm.Usage) error {
	if stopReason == "" {
		stopReason = e.stop
	}
	reason := finishReason(stopReason, len(e.started) > 0)
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
	c := outChunk{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model, Choices: choices, Usage: usage}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return e.w.Event("", b)
}
