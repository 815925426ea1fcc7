package openai

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/sse"
	"github.com/tollgate/tollgate/llm"
)

// The id prefixes of the items tollgate writes in answers that no OpenAI upstream made.
// An item with one of them that a client sends back in its input is tollgate's own:
// EncodeResponsesRequest drops such reasoning items before an OpenAI upstream sees them.
const (
	tgReasoningPrefix = "rs_tg"
	tgMessagePrefix   = "msg_tg"
	tgCallPrefix      = "fc_tg"
)

// ResponsesStatus maps a stop reason in any vocabulary (the Responses API's, OpenAI's
// finish_reason, Anthropic's stop_reason) to the status of a Responses answer and, for an
// incomplete one, the reason incomplete_details gives: a cap reached (length,
// max_tokens, the context window) is "max_output_tokens", a filtered or refused answer
// "content_filter"; every other stop, the empty one included, is "completed".
func ResponsesStatus(stop string) (status, reason string) {
	switch stop {
	case "length", "max_tokens", "model_context_window_exceeded", StopMaxOutputTokens:
		return "incomplete", StopMaxOutputTokens
	case StopContentFilter, "refusal":
		return "incomplete", StopContentFilter
	case StopIncomplete:
		return "incomplete", ""
	}
	return "completed", ""
}

type respText struct {
	Type        string     `json:"type"`
	Annotations []struct{} `json:"annotations"`
	Logprobs    []struct{} `json:"logprobs"`
	Text        string     `json:"text"`
}

func outputText(s string) respText {
	return respText{Type: "output_text", Annotations: []struct{}{}, Logprobs: []struct{}{}, Text: s}
}

type respSummary struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// respItem is an output item: a message, a reasoning item or a function call, in the
// member order OpenAI writes them.
type respItem struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Status    string         `json:"status,omitempty"`
	Content   *[]respText    `json:"content,omitempty"`
	Summary   *[]respSummary `json:"summary,omitempty"`
	Arguments *string        `json:"arguments,omitempty"`
	CallID    string         `json:"call_id,omitempty"`
	Name      string         `json:"name,omitempty"`
	Role      string         `json:"role,omitempty"`
}

func messageItem(id, status string, text *string) respItem {
	content := []respText{}
	if text != nil {
		content = append(content, outputText(*text))
	}
	return respItem{ID: id, Type: "message", Status: status, Content: &content, Role: "assistant"}
}

func reasoningItem(id string, text *string) respItem {
	summary := []respSummary{}
	if text != nil {
		summary = append(summary, respSummary{Type: "summary_text", Text: *text})
	}
	return respItem{ID: id, Type: "reasoning", Summary: &summary}
}

func callItem(id, status, callID, name, args string) respItem {
	return respItem{ID: id, Type: "function_call", Status: status, Arguments: &args, CallID: callID, Name: name}
}

type respUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int64 `json:"total_tokens"`
}

// toRespUsage reports every prompt token as input_tokens, the cache reads and writes
// included, with the reads as cached_tokens, as OpenAI counts them.
func toRespUsage(u llm.Usage) *respUsage {
	o := &respUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.Total()}
	o.InputTokensDetails.CachedTokens = u.CachedInputTokens
	o.OutputTokensDetails.ReasoningTokens = u.ReasoningTokens
	return o
}

type respError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type respIncomplete struct {
	Reason string `json:"reason"`
}

// respObject is a response object with the members OpenAI writes, in its order. The
// request's settings it would echo are not known to an encoder and take their defaults;
// "store" is false, since nothing stored an answer that no OpenAI upstream made.
type respObject struct {
	ID                 string          `json:"id"`
	Object             string          `json:"object"`
	CreatedAt          int64           `json:"created_at"`
	Status             string          `json:"status"`
	Background         bool            `json:"background"`
	CompletedAt        *int64          `json:"completed_at"`
	Error              *respError      `json:"error"`
	IncompleteDetails  *respIncomplete `json:"incomplete_details"`
	Instructions       *string         `json:"instructions"`
	MaxOutputTokens    *int            `json:"max_output_tokens"`
	Model              string          `json:"model"`
	Output             []respItem      `json:"output"`
	ParallelToolCalls  bool            `json:"parallel_tool_calls"`
	PreviousResponseID *string         `json:"previous_response_id"`
	Reasoning          struct {
		Effort  *string `json:"effort"`
		Summary *string `json:"summary"`
	} `json:"reasoning"`
	Store       bool    `json:"store"`
	Temperature float64 `json:"temperature"`
	Text        struct {
		Format struct {
			Type string `json:"type"`
		} `json:"format"`
	} `json:"text"`
	ToolChoice string     `json:"tool_choice"`
	Tools      []struct{} `json:"tools"`
	TopP       float64    `json:"top_p"`
	Truncation string     `json:"truncation"`
	Usage      *respUsage `json:"usage"`
	User       *string    `json:"user"`
	Metadata   struct{}   `json:"metadata"`
}

func newRespObject(id, model string, created int64, status string) respObject {
	o := respObject{ID: id, Object: "response", CreatedAt: created, Status: status, Model: model, Output: []respItem{},
		ParallelToolCalls: true, Temperature: 1, ToolChoice: "auto", Tools: []struct{}{}, TopP: 1, Truncation: "disabled"}
	o.Text.Format.Type = "text"
	return o
}

// finish sets the object's end: its status and incomplete reason, completion time,
// output and usage.
func (o *respObject) finish(status, reason string, output []respItem, u llm.Usage) {
	o.Status, o.Output, o.Usage = status, output, toRespUsage(u)
	switch {
	case status == "completed":
		at := o.CreatedAt
		o.CompletedAt = &at
	case reason != "":
		o.IncompleteDetails = &respIncomplete{Reason: reason}
	}
}

// responsesID is the id of an answer in the Responses API's shape: the upstream's own
// id behind "resp_" (so that the answer can be traced to the upstream's logs), or one
// derived from the answer when the upstream gave none.
func responsesID(resp *llm.Response, model string, created time.Time) string {
	if resp.ID != "" {
		if strings.HasPrefix(resp.ID, "resp_") {
			return resp.ID
		}
		return "resp_" + resp.ID
	}
	return responseID("resp_tg", model, resp.Text, strconv.FormatInt(created.Unix(), 10))
}

// itemID is the id of output item i of the answer id, with the given prefix.
func itemID(prefix, answerID string, i int) string {
	return responseID(prefix, answerID, strconv.Itoa(i))
}

// EncodeResponsesResponse returns a complete non-streaming Responses API body carrying
// resp's answer, reported as served by model: a reasoning item with resp's visible
// reasoning as its summary, a message item with its text (also when the answer is
// empty and made no calls), and a function_call item per tool call (call_id the call's
// id, arguments its JSON text); status completed, or incomplete with the reason (see
// ResponsesStatus); and the usage, every prompt token in input_tokens with the cache reads
// as cached_tokens. It is used to answer a Responses caller with what another format's
// upstream, the cache or a static answer produced.
//
// The id is the upstream's behind "resp_" (resp.ID), or, for an answer without one,
// derived from its content and time; "created_at" is resp.Created, or the current time
// when that is zero. Item ids are derived from the answer's id ("rs_tg…", "msg_tg…",
// "fc_tg…"). "store" is false: nothing stored the answer, and a later request cannot
// continue it by its id.
func EncodeResponsesResponse(resp *llm.Response, model string) []byte {
	created := resp.Created
	if created.IsZero() {
		created = time.Now()
	}
	id := responsesID(resp, model, created)
	status, reason := ResponsesStatus(resp.StopReason)
	var output []respItem
	if resp.Reasoning != "" {
		output = append(output, reasoningItem(itemID(tgReasoningPrefix, id, len(output)), &resp.Reasoning))
	}
	if resp.Text != "" || len(resp.ToolCalls) == 0 {
		itemStatus := "completed"
		if status == "incomplete" && len(resp.ToolCalls) == 0 {
			itemStatus = "incomplete"
		}
		output = append(output, messageItem(itemID(tgMessagePrefix, id, len(output)), itemStatus, &resp.Text))
	}
	for i, tc := range resp.ToolCalls {
		cid := tc.ID
		if cid == "" {
			cid = callID(id, i)
		}
		output = append(output, callItem(itemID(tgCallPrefix, id, len(output)), "completed", cid, tc.Name, tc.Arguments))
	}
	o := newRespObject(id, model, created.Unix(), status)
	o.finish(status, reason, output, resp.Usage)
	b, _ := json.Marshal(o) // strings and numbers always marshal
	return b
}

// ResponsesStreamEncoder writes a neutral stream as Responses API events, each with its
// sequence_number, in the order OpenAI writes them: response.created and
// response.in_progress; then one output item per run of the same kind of content, each
// opened with response.output_item.added and closed with response.output_item.done at
// consecutive output indices: a reasoning item (reasoning_summary_part.added,
// reasoning_summary_text.delta…, .done, reasoning_summary_part.done), a message
// (content_part.added, output_text.delta…, output_text.done, content_part.done), a
// function_call per tool call (function_call_arguments.delta…, .done); and last
// response.completed or response.incomplete with the whole response and its usage. Call
// Start once, Chunk any number of times, then End (or Fail). It is not safe for
// concurrent use.
type ResponsesStreamEncoder struct {
	// ID, when set before Start, is the response id (behind "resp_" unless it has it);
	// by default it is derived from the model and Created.
	ID string
	// Created, when set before Start, is the response's "created_at"; by default the time
	// Start is called.
	Created time.Time

	w       *sse.Writer
	seq     int
	started bool
	obj     respObject
	items   []respItem
	bufs    []strings.Builder // the text, summary or arguments of each item so far
	open    int               // the index of the open item, -1 for none
	toolAt  map[int]int       // a tool call's position → its item's index
	stop    string            // the latest stop reason a chunk carried
}

// NewResponsesStreamEncoder returns an encoder writing to w (flushed after every event
// when w can flush).
func NewResponsesStreamEncoder(w io.Writer) *ResponsesStreamEncoder {
	return &ResponsesStreamEncoder{w: sse.NewWriter(w), open: -1}
}

// event writes one event of type typ: v's members after "type" and "sequence_number".
func (e *ResponsesStreamEncoder) event(typ string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	head := `{"type":` + strconv.Quote(typ) + `,"sequence_number":` + strconv.Itoa(e.seq)
	e.seq++
	b := make([]byte, 0, len(head)+len(body)+1)
	b = append(b, head...)
	if len(body) > 2 {
		b = append(b, ',')
		b = append(b, body[1:]...)
	} else {
		b = append(b, '}')
	}
	return e.w.Event(typ, b)
}

func (e *ResponsesStreamEncoder) init(model string) {
	if e.started {
		return
	}
	e.started = true
	created := e.Created
	if created.IsZero() {
		created = time.Now()
	}
	id := e.ID
	switch {
	case id == "":
		id = responseID("resp_tg", model, strconv.FormatInt(created.UnixNano(), 10))
	case !strings.HasPrefix(id, "resp_"):
		id = "resp_" + id
	}
	e.obj = newRespObject(id, model, created.Unix(), "in_progress")
}

type respEnvelope struct {
	Response respObject `json:"response"`
}

// Start writes response.created and response.in_progress for model.
func (e *ResponsesStreamEncoder) Start(model string) error {
	e.init(model)
	if err := e.event("response.created", respEnvelope{e.obj}); err != nil {
		return err
	}
	return e.event("response.in_progress", respEnvelope{e.obj})
}

type itemEvent struct {
	OutputIndex int      `json:"output_index"`
	Item        respItem `json:"item"`
}

type partEvent struct {
	ItemID       string   `json:"item_id"`
	OutputIndex  int      `json:"output_index"`
	ContentIndex int      `json:"content_index"`
	Part         respText `json:"part"`
}

type textEvent struct {
	ItemID       string     `json:"item_id"`
	OutputIndex  int        `json:"output_index"`
	ContentIndex int        `json:"content_index"`
	Delta        *string    `json:"delta,omitempty"`
	Text         *string    `json:"text,omitempty"`
	Logprobs     []struct{} `json:"logprobs"`
}

type summaryPartEvent struct {
	ItemID       string      `json:"item_id"`
	OutputIndex  int         `json:"output_index"`
	SummaryIndex int         `json:"summary_index"`
	Part         respSummary `json:"part"`
}

type summaryTextEvent struct {
	ItemID       string  `json:"item_id"`
	OutputIndex  int     `json:"output_index"`
	SummaryIndex int     `json:"summary_index"`
	Delta        *string `json:"delta,omitempty"`
	Text         *string `json:"text,omitempty"`
}

type argsEvent struct {
	ItemID      string  `json:"item_id"`
	OutputIndex int     `json:"output_index"`
	Delta       *string `json:"delta,omitempty"`
	Arguments   *string `json:"arguments,omitempty"`
}

// openItem closes the open item and starts it at the next output index.
func (e *ResponsesStreamEncoder) openItem(it respItem) (int, error) {
	if err := e.closeItem("completed"); err != nil {
		return 0, err
	}
	i := len(e.items)
	e.items = append(e.items, it)
	e.bufs = append(e.bufs, strings.Builder{})
	e.open = i
	if err := e.event("response.output_item.added", itemEvent{i, it}); err != nil {
		return 0, err
	}
	switch it.Type {
	case "message":
		return i, e.event("response.content_part.added", partEvent{it.ID, i, 0, outputText("")})
	case "reasoning":
		return i, e.event("response.reasoning_summary_part.added", summaryPartEvent{it.ID, i, 0, respSummary{Type: "summary_text"}})
	}
	return i, nil
}

// closeItem writes the done events of the open item, which ends with status.
func (e *ResponsesStreamEncoder) closeItem(status string) error {
	i := e.open
	if i < 0 {
		return nil
	}
	e.open = -1
	it := &e.items[i]
	s := e.bufs[i].String()
	switch it.Type {
	case "message":
		*it = messageItem(it.ID, status, &s)
		if err := e.event("response.output_text.done", textEvent{ItemID: it.ID, OutputIndex: i, Text: &s, Logprobs: []struct{}{}}); err != nil {
			return err
		}
		if err := e.event("response.content_part.done", partEvent{it.ID, i, 0, outputText(s)}); err != nil {
			return err
		}
	case "reasoning":
		*it = reasoningItem(it.ID, &s)
		if err := e.event("response.reasoning_summary_text.done", summaryTextEvent{ItemID: it.ID, OutputIndex: i, Text: &s}); err != nil {
			return err
		}
		if err := e.event("response.reasoning_summary_part.done", summaryPartEvent{it.ID, i, 0, respSummary{Type: "summary_text", Text: s}}); err != nil {
			return err
		}
	case "function_call":
		it.Status, it.Arguments = "completed", &s
		if err := e.event("response.function_call_arguments.done", argsEvent{ItemID: it.ID, OutputIndex: i, Arguments: &s}); err != nil {
			return err
		}
	}
	return e.event("response.output_item.done", itemEvent{i, *it})
}

// ensure makes an item of kind ("message" or "reasoning") the open one.
func (e *ResponsesStreamEncoder) ensure(kind string) (int, error) {
	if e.open >= 0 && e.items[e.open].Type == kind {
		return e.open, nil
	}
	id := itemID(tgMessagePrefix, e.obj.ID, len(e.items))
	it := messageItem(id, "in_progress", nil)
	if kind == "reasoning" {
		it = reasoningItem(itemID(tgReasoningPrefix, e.obj.ID, len(e.items)), nil)
	}
	return e.openItem(it)
}

// Chunk writes what c generated (reasoning, text, then tool-call deltas of the first
// choice), opening and closing items as the kind of content changes, and remembers its
// stop reason for End. A tool call's first delta opens its function_call item (with a
// call_id derived from the response's id when the upstream gave none); a later fragment
// of a call whose item was already closed is written at that item's index. Other (other
// choices' output) has no place in a response and is not written.
func (e *ResponsesStreamEncoder) Chunk(c llm.Chunk) error {
	if c.StopReason != "" {
		e.stop = c.StopReason
	}
	if c.Reasoning != "" {
		i, err := e.ensure("reasoning")
		if err != nil {
			return err
		}
		e.bufs[i].WriteString(c.Reasoning)
		if err := e.event("response.reasoning_summary_text.delta", summaryTextEvent{ItemID: e.items[i].ID, OutputIndex: i, Delta: &c.Reasoning}); err != nil {
			return err
		}
	}
	if c.Text != "" {
		i, err := e.ensure("message")
		if err != nil {
			return err
		}
		e.bufs[i].WriteString(c.Text)
		if err := e.event("response.output_text.delta", textEvent{ItemID: e.items[i].ID, OutputIndex: i, Delta: &c.Text, Logprobs: []struct{}{}}); err != nil {
			return err
		}
	}
	for _, tc := range c.ToolCalls {
		i, ok := e.toolAt[tc.Index]
		if !ok {
			cid := tc.ID
			if cid == "" {
				cid = callID(e.obj.ID, tc.Index)
			}
			var err error
			if i, err = e.openItem(callItem(itemID(tgCallPrefix, e.obj.ID, len(e.items)), "in_progress", cid, tc.Name, "")); err != nil {
				return err
			}
			if e.toolAt == nil {
				e.toolAt = map[int]int{}
			}
			e.toolAt[tc.Index] = i
		}
		if tc.Arguments == "" {
			continue
		}
		e.bufs[i].WriteString(tc.Arguments)
		if i != e.open {
			args := e.bufs[i].String()
			e.items[i].Arguments = &args
		}
		if err := e.event("response.function_call_arguments.delta", argsEvent{ItemID: e.items[i].ID, OutputIndex: i, Delta: &tc.Arguments}); err != nil {
			return err
		}
	}
	return nil
}

// End closes the open item and writes response.completed, or response.incomplete when
// the stop reason says the answer was cut (see ResponsesStatus; an empty stop means the
// one the chunks carried), with the whole response: its output items and usage.
func (e *ResponsesStreamEncoder) End(stop string, usage llm.Usage) error {
	if stop == "" {
		stop = e.stop
	}
	status, reason := ResponsesStatus(stop)
	itemStatus := "completed"
	if status == "incomplete" {
		itemStatus = "incomplete"
	}
	if err := e.closeItem(itemStatus); err != nil {
		return err
	}
	e.obj.finish(status, reason, e.items, usage)
	if e.obj.Output == nil {
		e.obj.Output = []respItem{}
	}
	return e.event("response."+status, respEnvelope{e.obj})
}

// Fail ends the stream with response.failed, the way OpenAI reports a failure after the
// response has started, so that the client does not take a cut answer for a whole one.
// code is the error's code ("server_error", "rate_limit_exceeded"; empty means
// "server_error"). The failed response has no output, as OpenAI's has none.
func (e *ResponsesStreamEncoder) Fail(code, message string) error {
	e.init(e.obj.Model)
	if code == "" {
		code = "server_error"
	}
	o := e.obj
	o.Status, o.Output, o.Error = "failed", []respItem{}, &respError{Code: code, Message: message}
	return e.event("response.failed", respEnvelope{o})
}
