package anthropic

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

// StopReason maps a stop reason in any vocabulary (Anthropic's stop_reason, OpenAI's
// finish_reason, the Responses API's status or incomplete reason) to Anthropic's. An
// empty reason stays empty, and so does the Responses API's "completed", which says no
// more than that (a call's stop reason depends on whether it made tool calls); an unknown
// one passes through.
func StopReason(reason string) string {
	switch reason {
	case "completed":
		return ""
	case "stop":
		return "end_turn"
	case "length", "max_output_tokens":
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
// input_tokens, cache_creation_input_tokens (the writes) and cache_read_input_tokens.
func toUsage(u llm.Usage) outUsage {
	return outUsage{
		InputTokens:              max(u.InputTokens-u.CachedInputTokens-u.CacheWriteTokens, 0),
		CacheCreationInputTokens: u.CacheWriteTokens,
		CacheReadInputTokens:     u.CachedInputTokens,
		OutputTokens:             u.OutputTokens,
	}
}

// outBlock is a content block of an answer: text, thinking or tool_use.
type outBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
}

func textOut(s string) outBlock { return outBlock{Type: "text", Text: &s} }

// thinkingOut is a thinking block of reasoning that another provider made: it has no
// signature, since only Anthropic can sign its own.
func thinkingOut(s string) outBlock {
	empty := ""
	return outBlock{Type: "thinking", Thinking: &s, Signature: &empty}
}

type outResponse struct {
	ID           string     `json:"id"`
	Type         string     `json:"type"`
	Role         string     `json:"role"`
	Model        string     `json:"model"`
	Content      []outBlock `json:"content"`
	StopReason   *string    `json:"stop_reason"`
	StopSequence *string    `json:"stop_sequence"`
	Usage        outUsage   `json:"usage"`
}

// hashID derives a stable id from what identifies an answer, so that encoding is
// deterministic (a replayed cached answer keeps its id) without a random source.
func hashID(prefix string, parts ...string) string {
	h := fnv.New64a()
	for i, p := range parts {
		if i > 0 {
			io.WriteString(h, "\x00")
		}
		io.WriteString(h, p)
	}
	return fmt.Sprintf("%s%016x", prefix, h.Sum64())
}

// messageID is the id of an answer in Anthropic's shape: the upstream's own id, prefixed
// with "msg_" unless it already is (so the answer can be traced to the upstream's logs),
// or one derived from the answer when the upstream gave none.
func messageID(resp *llm.Response, model string) string {
	if resp.ID != "" {
		if strings.HasPrefix(resp.ID, "msg_") {
			return resp.ID
		}
		return "msg_" + resp.ID
	}
	return hashID("msg_tg", model, resp.Text)
}

// toolUseID is the id given to a tool call that came without one (OpenAI's legacy
// function_call, some OpenAI-compatible servers), derived from the answer's id and the
// call's position, so that the caller's tool_result can name it.
func toolUseID(answerID string, i int) string {
	return hashID("toolu_tg", answerID, strconv.Itoa(i))
}

// toolInput returns a tool call's arguments as an Anthropic tool input. Arguments that are
// a JSON object are the input as they are; none are an empty object. Anything else (a
// model can write invalid JSON in OpenAI's arguments text) is kept as a JSON string, so
// that nothing is lost and the caller's own parsing fails as it would have on OpenAI's.
func toolInput(args string) json.RawMessage {
	trimmed := strings.TrimSpace(args)
	if trimmed == "" {
		return json.RawMessage(`{}`)
	}
	if trimmed[0] == '{' && json.Valid([]byte(trimmed)) {
		return json.RawMessage(trimmed)
	}
	b, _ := json.Marshal(args)
	return b
}

// stopReason maps a stop reason to Anthropic's, defaulting an empty one by whether the
// answer made tool calls.
func stopReason(stop string, tools bool) string {
	reason := StopReason(stop)
	switch {
	case reason != "":
		return reason
	case tools:
		return "tool_use"
	}
	return "end_turn"
}

// EncodeResponse returns a complete non-streaming Messages API body carrying resp's
// visible reasoning (a thinking block, unsigned), text, tool calls (tool_use blocks with
// the arguments as input), stop reason and usage (cache reads and writes apart), reported
// as served by model. It is used to answer in Anthropic format what another format's
// upstream, the cache or a static answer produced. The id is the upstream's (resp.ID,
// with Anthropic's "msg_" prefix) or, without one, derived from the content, so the
// output is deterministic.
func EncodeResponse(resp *llm.Response, model string) []byte {
	id := messageID(resp, model)
	var content []outBlock
	if resp.Reasoning != "" {
		content = append(content, thinkingOut(resp.Reasoning))
	}
	if resp.Text != "" || len(resp.ToolCalls) == 0 {
		content = append(content, textOut(resp.Text))
	}
	for i, tc := range resp.ToolCalls {
		tid := tc.ID
		if tid == "" {
			tid = toolUseID(id, i)
		}
		content = append(content, outBlock{Type: "tool_use", ID: tid, Name: tc.Name, Input: toolInput(tc.Arguments)})
	}
	reason := stopReason(resp.StopReason, len(resp.ToolCalls) > 0)
	out := outResponse{
		ID:         id,
		Type:       "message",
		Role:       "assistant",
		Model:      model,
		Content:    content,
		StopReason: &reason,
		Usage:      toUsage(resp.Usage),
	}
	b, _ := json.Marshal(out) // strings, numbers and valid raw JSON always marshal
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

// StreamEncoder writes a neutral stream as Messages API events: message_start, then one
// content block per run of the same kind (a thinking block for visible reasoning, a text
// block, a tool_use block per tool call with input_json_delta fragments), each opened with
// content_block_start and closed with content_block_stop at consecutive indices, then
// message_delta with the stop reason and the usage, and message_stop. Call Start once,
// Chunk (or Delta) any number of times, then End (or Fail). It is not safe for concurrent
// use.
type StreamEncoder struct {
	// ID, when set before Start, is the message id; by default it is derived from the
	// model and the time Start is called.
	ID string

	w        *sse.Writer
	id       string
	next     int         // the index of the next block
	open     int         // the index of the open block, -1 for none
	openKind string      // the open block's type
	toolAt   map[int]int // a tool call's position → its block's index
	stop     string      // the latest stop reason a chunk carried
}

// NewStreamEncoder returns an encoder writing to w (flushed after every event when w can
// flush).
func NewStreamEncoder(w io.Writer) *StreamEncoder {
	return &StreamEncoder{w: sse.NewWriter(w), open: -1}
}

func (e *StreamEncoder) event(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return e.w.Event(name, b)
}

// Start writes message_start for model. The input usage is not known yet and is reported
// by End in message_delta, whose figures are cumulative.
func (e *StreamEncoder) Start(model string) error {
	e.id = e.ID
	if e.id == "" {
		e.id = hashID("msg_tg", model, strconv.FormatInt(time.Now().UnixNano(), 10))
	}
	start := struct {
		Type    string      `json:"type"`
		Message outResponse `json:"message"`
	}{Type: "message_start", Message: outResponse{
		ID: e.id, Type: "message", Role: "assistant", Model: model, Content: []outBlock{},
	}}
	return e.event("message_start", start)
}

type blockEvent struct {
	Type         string    `json:"type"`
	Index        int       `json:"index"`
	ContentBlock *outBlock `json:"content_block,omitempty"`
	Delta        any       `json:"delta,omitempty"`
}

type textDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type thinkingDelta struct {
	Type     string `json:"type"`
	Thinking string `json:"thinking"`
}

type jsonDelta struct {
	Type        string `json:"type"`
	PartialJSON string `json:"partial_json"`
}

// openBlock closes the open block and starts b at the next index.
func (e *StreamEncoder) openBlock(b outBlock) (int, error) {
	if err := e.closeBlock(); err != nil {
		return 0, err
	}
	i := e.next
	e.next++
	e.open, e.openKind = i, b.Type
	return i, e.event("content_block_start", blockEvent{Type: "content_block_start", Index: i, ContentBlock: &b})
}

func (e *StreamEncoder) closeBlock() error {
	if e.open < 0 {
		return nil
	}
	i := e.open
	e.open, e.openKind = -1, ""
	return e.event("content_block_stop", blockEvent{Type: "content_block_stop", Index: i})
}

func (e *StreamEncoder) delta(i int, d any) error {
	return e.event("content_block_delta", blockEvent{Type: "content_block_delta", Index: i, Delta: d})
}

// Delta writes one text delta.
func (e *StreamEncoder) Delta(text string) error {
	return e.Chunk(llm.Chunk{Text: text})
}

// Chunk writes what c generated (reasoning, text, then tool-call deltas of the first
// choice), opening and closing blocks as the kind of content changes, and remembers its
// stop reason for End. A tool call's first delta opens its tool_use block (with an id
// derived from the message's when the upstream gave none); a later fragment of a call
// whose block was already closed is written at that block's index, which the official
// SDKs' accumulators accept. Other (other choices' output) has no place in a message and is
// not written.
func (e *StreamEncoder) Chunk(c llm.Chunk) error {
	if c.StopReason != "" {
		e.stop = c.StopReason
	}
	if c.Reasoning != "" {
		if e.openKind != "thinking" {
			if _, err := e.openBlock(thinkingOut("")); err != nil {
				return err
			}
		}
		if err := e.delta(e.open, thinkingDelta{Type: "thinking_delta", Thinking: c.Reasoning}); err != nil {
			return err
		}
	}
	if c.Text != "" {
		if e.openKind != "text" {
			if _, err := e.openBlock(textOut("")); err != nil {
				return err
			}
		}
		if err := e.delta(e.open, textDelta{Type: "text_delta", Text: c.Text}); err != nil {
			return err
		}
	}
	for _, tc := range c.ToolCalls {
		i, ok := e.toolAt[tc.Index]
		if !ok {
			id := tc.ID
			if id == "" {
				id = toolUseID(e.id, tc.Index)
			}
			var err error
			if i, err = e.openBlock(outBlock{Type: "tool_use", ID: id, Name: tc.Name, Input: json.RawMessage(`{}`)}); err != nil {
				return err
			}
			if e.toolAt == nil {
				e.toolAt = map[int]int{}
			}
			e.toolAt[tc.Index] = i
		}
		if tc.Arguments != "" {
			if err := e.delta(i, jsonDelta{Type: "input_json_delta", PartialJSON: tc.Arguments}); err != nil {
				return err
			}
		}
	}
	return nil
}

// End closes the open block and writes message_delta with the stop reason (in either
// vocabulary; see StopReason; empty means the one the chunks carried, else "tool_use"
// after tool calls and "end_turn" otherwise) and the usage, then message_stop.
func (e *StreamEncoder) End(stop string, usage llm.Usage) error {
	if err := e.closeBlock(); err != nil {
		return err
	}
	if stop == "" {
		stop = e.stop
	}
	type delta struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}
	if err := e.event("message_delta", struct {
		Type  string   `json:"type"`
		Delta delta    `json:"delta"`
		Usage outUsage `json:"usage"`
	}{Type: "message_delta", Delta: delta{StopReason: stopReason(stop, len(e.toolAt) > 0)}, Usage: toUsage(usage)}); err != nil {
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
