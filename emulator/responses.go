package emulator

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/tollgate/tollgate/llm"
)

// openAIResponses serves POST /v1/responses, streamed or not, as OpenAI serves it
// (https://platform.openai.com/docs/api-reference/responses): input as a string or items,
// instructions, max_output_tokens (reasoning included), function tools, reasoning,
// text.format, store and previous_response_id. Limits, faults, latency and bills are
// those of chat completions.
func (e *Emulator) openAIResponses(w http.ResponseWriter, r *http.Request) {
	c := e.begin(r, "req_", 32)
	if !c.openAIRequest(w, r) {
		return
	}
	req, x, err := parseResponses(c.body)
	c.req = req
	if err != nil {
		c.openAIBadRequest(w, err)
		return
	}
	if !c.resolve("openai") {
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: "model", code: "model_not_found", reason: RefusedNotFound,
			message: "The requested model '" + c.req.model + "' does not exist."})
		return
	}
	m := c.m
	if m.embedding {
		c.openAIError(w, notChatModel("v1/responses"))
		return
	}
	if x.echoEffort != "" && !m.reasoning {
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: "reasoning.effort", code: "unsupported_parameter", reason: RefusedBadRequest,
			message: "Unsupported parameter: 'reasoning.effort' is not supported with this model."})
		return
	}
	if c.req.hasMax && c.req.maxTokens > m.MaxOutput {
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: "max_output_tokens", code: "integer_above_max_value", reason: RefusedMaxTokens,
			message: fmt.Sprintf("Invalid 'max_output_tokens': integer above maximum value. Expected a value <= %d, but got %d instead.", m.MaxOutput, c.req.maxTokens)})
		return
	}
	var prev *storedResponse
	if x.prevID != "" {
		if prev = e.responses.get(c.key, x.prevID); prev == nil {
			c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: "previous_response_id", code: "previous_response_not_found", reason: RefusedBadRequest,
				message: "Previous response with id '" + x.prevID + "' not found."})
			return
		}
		c.req.prompt += prev.convTokens
	}
	if msg := checkCalls(x, prev); msg != "" {
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: "input", reason: RefusedBadRequest, message: msg})
		return
	}
	if c.req.prompt > m.ContextWindow {
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: "input", code: "context_length_exceeded", reason: RefusedContextLength,
			message: "Your input exceeds the context window of this model. Please adjust your input and try again."})
		return
	}
	// The answer stops when the window is full, incomplete as with max_output_tokens.
	c.windowCap = m.ContextWindow - c.req.prompt
	switch {
	case x.schema != nil:
		c.req.format = x.schema
	case x.jsonMode:
		c.req.format = jsonObjectSchema
	}

	if !c.openAIAdmit(w, r, cost{tokens: float64(c.req.prompt + c.req.maxTokens)}) {
		return
	}

	// Accepted: the prompt is processed, and billed from here on.
	p, head := c.respPrompt(x, prev)
	cached := 0
	if c.req.prompt >= m.minCache {
		cached = c.openAICacheMarks(p.marks)
	}
	c.usage = llm.Usage{InputTokens: int64(c.req.prompt), CachedInputTokens: int64(cached)}
	if c.fault == faultSilent {
		c.silent(w, r, "application/json")
		return
	}
	a := c.plan(false)
	out := a.tokens()
	if !c.req.hasMax {
		c.settle(cost{tokens: float64(out)}) // charge the output that max_output_tokens did not reserve
	}
	rw := c.newRespWriter(x, &a, prev)
	if x.store {
		c.storeResponse(rw, x, &a, prev, p, head)
	}
	if c.req.stream {
		rw.stream(w, r)
		return
	}
	if !c.waitWhole(r, out, out, a.reasoning) {
		return
	}
	b := rw.object(make([]byte, 0, rw.size()), rw.finalStatus(), true)
	c.sendWhole(w, b, out, a.reasoning)
}

// checkCalls checks the function calls and their outputs as OpenAI does: every call of
// the previous response needs an output, and every output answers a call of the input
// or of the previous response. It returns OpenAI's message, "" when all is well.
func checkCalls(x *respRequest, prev *storedResponse) string {
	answered := map[string]bool{}
	known := map[string]bool{}
	if prev != nil {
		for _, id := range prev.calls {
			known[id] = true
		}
	}
	for i := range x.items {
		switch it := &x.items[i]; it.kind {
		case itemCall:
			known[it.callID] = true
		case itemCallOutput:
			if !known[it.callID] {
				return "No tool call found for function call output with call_id " + it.callID + "."
			}
			answered[it.callID] = true
		}
	}
	if prev != nil {
		for _, id := range prev.calls {
			if !answered[id] {
				return "No tool output found for function call " + id + "."
			}
		}
	}
	return ""
}

// storeResponse keeps the response for previous_response_id: its conversation is the
// previous one, its input and its output, as the model will read them next time.
func (c *call) storeResponse(rw *respWriter, x *respRequest, a *answer, prev *storedResponse, p prefixHasher, head uint64) {
	conv := 0
	if prev != nil {
		conv = prev.convTokens
	}
	for i := range x.items {
		conv += x.items[i].tokens
	}
	s := &storedResponse{id: rw.id, key: c.key, head: head}
	if rw.hasMessage {
		it := respItem{kind: itemMessage, role: "assistant", text: a.text, tokens: tokensPerMessage + a.textN}
		p.item(&it)
		conv += it.tokens
	}
	for i := range a.calls {
		k := &a.calls[i]
		it := respItem{kind: itemCall, name: k.name, text: k.args, tokens: tokensPerMessage + k.tokens}
		p.item(&it)
		conv += it.tokens
		s.calls = append(s.calls, rw.callIDs[i])
	}
	s.h, s.n, s.marks, s.convTokens = p.h, p.n, p.marks, conv
	c.e.responses.put(s)
}

// respWriter renders one response: the object, its output items and, streamed, its
// events in order, each with its sequence number.
type respWriter struct {
	c          *call
	x          *respRequest
	a          *answer
	prevID     string
	id         string // resp_...
	rsID       string // the reasoning item's, "" without one
	msgID      string
	hasMessage bool
	callIDs    []string // call_...
	itemIDs    []string // fc_...
	encrypted  string   // the reasoning item's encrypted_content when included
	seq        int
	buf        []byte
}

func (c *call) newRespWriter(x *respRequest, a *answer, prev *storedResponse) *respWriter {
	rw := &respWriter{c: c, x: x, a: a, prevID: x.prevID, buf: make([]byte, 0, 512)}
	rw.id = string(c.appendHex([]byte("resp_"), 50))
	if c.m.reasoning {
		rw.rsID = string(c.appendHex([]byte("rs_"), 50))
		if x.include {
			rw.encrypted = "gAAAAA" + c.signature()
		}
	}
	rw.hasMessage = a.textN > 0 || len(a.calls) == 0 && (a.finish != finishLength || a.reasoning == 0)
	if rw.hasMessage {
		rw.msgID = string(c.appendHex([]byte("msg_"), 50))
	}
	for range a.calls {
		rw.itemIDs = append(rw.itemIDs, string(c.appendHex([]byte("fc_"), 50)))
		rw.callIDs = append(rw.callIDs, string(c.rng.appendID([]byte("call_"), 24)))
	}
	return rw
}

const hexDigits = "0123456789abcdef"

// appendHex appends n random hexadecimal digits, the form of the Responses API's ids.
func (c *call) appendHex(b []byte, n int) []byte {
	for range n {
		b = append(b, hexDigits[c.rng.intn(16)])
	}
	return b
}

// finalStatus is "incomplete" when the cap or the window stopped the answer.
func (rw *respWriter) finalStatus() string {
	if rw.a.finish == finishLength {
		return "incomplete"
	}
	return "completed"
}

// size estimates the rendered object's length.
func (rw *respWriter) size() int {
	n := 1200 + len(rw.x.echoTools) + len(rw.x.echoInstructions) + len(rw.x.echoFormat) + len(rw.a.text)*5/4
	for i := range rw.a.calls {
		n += 200 + len(rw.a.calls[i].args)*5/4
	}
	return n
}

// object appends the response object in a given status, with its output items (all of
// them, finished) or none, and its usage when finished.
func (rw *respWriter) object(b []byte, status string, finished bool) []byte {
	c, x := rw.c, rw.x
	b = append(b, `{"id":"`...)
	b = append(b, rw.id...)
	b = append(b, `","object":"response","created_at":`...)
	created := c.now.Unix()
	b = appendInt(b, created)
	b = append(b, `,"status":"`...)
	b = append(b, status...)
	b = append(b, `","background":false,"completed_at":`...)
	if status == "completed" {
		b = appendInt(b, c.e.now().Unix())
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"error":`...)
	if status == "failed" {
		b = append(b, `{"code":"server_error","message":`...)
		b = appendString(b, "An error occurred while processing your request. You can retry your request, or contact us through our help center at help.openai.com if the error persists. Please include the request ID "+c.reqIDString+" in your message.")
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"incomplete_details":`...)
	if status == "incomplete" {
		b = append(b, `{"reason":"max_output_tokens"}`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"instructions":`...)
	b = appendRaw(b, x.echoInstructions, "null")
	b = append(b, `,"max_output_tokens":`...)
	if x.maxOutput > 0 {
		b = appendInt(b, int64(x.maxOutput))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"max_tool_calls":null,"model":`...)
	b = appendString(b, c.req.model)
	b = append(b, `,"output":[`...)
	if finished {
		b = rw.items(b)
	}
	b = append(b, `],"parallel_tool_calls":`...)
	b = strconv.AppendBool(b, c.req.parallel)
	b = append(b, `,"previous_response_id":`...)
	b = appendNullable(b, rw.prevID)
	b = append(b, `,"prompt_cache_key":`...)
	b = appendNullable(b, c.req.cacheKey)
	b = append(b, `,"reasoning":{"effort":`...)
	switch {
	case x.echoEffort != "":
		b = appendString(b, x.echoEffort)
	case c.m.reasoning:
		b = append(b, `"medium"`...)
	default:
		b = append(b, "null"...)
	}
	b = append(b, `,"summary":null},"safety_identifier":null,"service_tier":"default","store":`...)
	b = strconv.AppendBool(b, x.store)
	b = append(b, `,"temperature":`...)
	b = appendRaw(b, x.temperature, "1.0")
	b = append(b, `,"text":{"format":`...)
	b = appendRaw(b, x.echoFormat, `{"type":"text"}`)
	b = append(b, `,"verbosity":"medium"},"tool_choice":`...)
	b = appendRaw(b, x.echoChoice, `"auto"`)
	b = append(b, `,"tools":`...)
	b = appendRaw(b, x.echoTools, "[]")
	b = append(b, `,"top_logprobs":0,"top_p":`...)
	b = appendRaw(b, x.topP, "1.0")
	b = append(b, `,"truncation":"disabled","usage":`...)
	if finished {
		b = rw.usage(b)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"user":null,"metadata":`...)
	b = appendRaw(b, x.echoMetadata, "{}")
	return append(b, '}')
}

func appendRaw(b []byte, raw, otherwise string) []byte {
	if raw == "" {
		return append(b, otherwise...)
	}
	return append(b, raw...)
}

// usage appends the usage object.
func (rw *respWriter) usage(b []byte) []byte {
	u := &rw.c.usage
	out := int64(rw.a.tokens())
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, u.InputTokens)
	b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, u.CachedInputTokens)
	b = append(b, `},"output_tokens":`...)
	b = appendInt(b, out)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
	b = appendInt(b, int64(rw.a.reasoning))
	b = append(b, `},"total_tokens":`...)
	b = appendInt(b, u.InputTokens+out)
	return append(b, '}')
}

// items appends the output items, finished: reasoning, the message, the calls.
func (rw *respWriter) items(b []byte) []byte {
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	if rw.rsID != "" {
		sep()
		b = rw.reasoningItem(b)
	}
	if rw.hasMessage {
		sep()
		b = rw.messageItem(b, rw.itemStatus(-1), true)
	}
	for i := range rw.a.calls {
		sep()
		b = rw.callItem(b, i, rw.itemStatus(i), true)
	}
	return b
}

// itemStatus is the status of a finished item: the last one is incomplete when the cap
// stopped the answer in it. i is a call's index, -1 for the message.
func (rw *respWriter) itemStatus(i int) string {
	if rw.a.finish != finishLength {
		return "completed"
	}
	last := len(rw.a.calls) - 1
	if i == last || i == -1 && last < 0 {
		return "incomplete"
	}
	return "completed"
}

func (rw *respWriter) reasoningItem(b []byte) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, rw.rsID...)
	b = append(b, `","type":"reasoning"`...)
	if rw.encrypted != "" {
		b = append(b, `,"encrypted_content":"`...)
		b = append(b, rw.encrypted...)
		b = append(b, '"')
	}
	return append(b, `,"summary":[]}`...)
}

// messageItem appends the message item: in progress and empty, or with its text.
func (rw *respWriter) messageItem(b []byte, status string, withText bool) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, rw.msgID...)
	b = append(b, `","type":"message","status":"`...)
	b = append(b, status...)
	b = append(b, `","content":[`...)
	if withText {
		b = rw.textPart(b, rw.a.text)
	}
	return append(b, `],"role":"assistant"}`...)
}

func (rw *respWriter) textPart(b []byte, text string) []byte {
	b = append(b, `{"type":"output_text","annotations":[],"logprobs":[],"text":`...)
	b = appendString(b, text)
	return append(b, '}')
}

// callItem appends function call i: in progress with empty arguments, or whole.
func (rw *respWriter) callItem(b []byte, i int, status string, withArgs bool) []byte {
	k := &rw.a.calls[i]
	b = append(b, `{"id":"`...)
	b = append(b, rw.itemIDs[i]...)
	b = append(b, `","type":"function_call","status":"`...)
	b = append(b, status...)
	b = append(b, `","arguments":`...)
	if withArgs {
		b = appendString(b, k.args)
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"call_id":"`...)
	b = append(b, rw.callIDs[i]...)
	b = append(b, `","name":`...)
	b = appendString(b, k.name)
	return append(b, '}')
}

// event starts an SSE event of the given type in rw.buf, up to its sequence number.
func (rw *respWriter) event(typ string) []byte {
	b := append(rw.buf[:0], "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: {\"type\":\""...)
	b = append(b, typ...)
	b = append(b, `","sequence_number":`...)
	b = strconv.AppendInt(b, int64(rw.seq), 10)
	rw.seq++
	return b
}

func (rw *respWriter) end(b []byte) []byte {
	rw.buf = append(b, "}\n\n"...)
	return rw.buf
}

// withResponse renders a response.* event carrying the response object.
func (rw *respWriter) withResponse(typ, status string, finished bool) []byte {
	b := rw.event(typ)
	b = append(b, `,"response":`...)
	b = rw.object(b, status, finished)
	return rw.end(b)
}

// itemEvent renders output_item.added or .done for output index i.
func (rw *respWriter) itemEvent(typ string, i int, item func([]byte) []byte) []byte {
	b := rw.event(typ)
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"item":`...)
	b = item(b)
	return rw.end(b)
}

// partEvent renders an event of the message's content part: .added, .done, a delta.
func (rw *respWriter) partEvent(typ string, index int, field, value string, part bool) []byte {
	b := rw.event(typ)
	b = append(b, `,"item_id":"`...)
	b = append(b, rw.msgID...)
	b = append(b, `","output_index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"content_index":0,"`...)
	b = append(b, field...)
	b = append(b, `":`...)
	if part {
		b = rw.textPart(b, value)
	} else {
		b = appendString(b, value)
		b = append(b, `,"logprobs":[]`...)
	}
	return rw.end(b)
}

// argsEvent renders function_call_arguments.delta or .done for call i at index index.
func (rw *respWriter) argsEvent(typ string, i, index int, field, value string) []byte {
	b := rw.event(typ)
	b = append(b, `,"item_id":"`...)
	b = append(b, rw.itemIDs[i]...)
	b = append(b, `","output_index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"`...)
	b = append(b, field...)
	b = append(b, `":`...)
	b = appendString(b, value)
	return rw.end(b)
}

// failed renders the response.failed event that ends a stream struck by an error event.
func (rw *respWriter) failed() []byte { return rw.withResponse("response.failed", "failed", false) }

// errorEvent renders the error event that ends a stream before any content.
func (rw *respWriter) errorEvent() []byte {
	b := rw.event("error")
	b = append(b, `,"code":"server_error","message":`...)
	b = appendString(b, "The server had an error while processing your request. Sorry about that!")
	b = append(b, `,"param":null`...)
	return rw.end(b)
}

// stream writes the typed events of a streamed response in OpenAI's order: created,
// in_progress, then each output item (added, its content, done), then completed or
// incomplete with the usage. Text goes a token per output_text.delta, arguments a token
// per function_call_arguments.delta.
func (rw *respWriter) stream(w http.ResponseWriter, r *http.Request) {
	c, a := rw.c, rw.a
	out := a.tokens()
	h := w.Header()
	setHeader(h, "Content-Type", "text/event-stream; charset=utf-8")
	setHeader(h, "Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if !pause(r, c.firstTokenDelay()) {
		c.bill(EndClientGone, 0, 0)
		return
	}
	frags := make([][]string, len(a.calls))
	steps := 0
	if rw.hasMessage {
		steps += a.textN
	}
	for i := range a.calls {
		frags[i] = fragments(a.calls[i].args, 1)
		steps += 1 + len(frags[i])
	}
	s := c.newStreamer(w, r, steps, "")
	s.respFail = rw
	s.write(rw.withResponse("response.created", "in_progress", false))
	s.write(rw.withResponse("response.in_progress", "in_progress", false))
	index := 0
	if rw.rsID != "" {
		s.write(rw.itemEvent("response.output_item.added", index, rw.reasoningItem))
		if !s.think(c, []answer{*a}) {
			return
		}
		s.write(rw.itemEvent("response.output_item.done", index, rw.reasoningItem))
		index++
	}
	if rw.hasMessage {
		s.write(rw.itemEvent("response.output_item.added", index, func(b []byte) []byte { return rw.messageItem(b, "in_progress", false) }))
		s.write(rw.partEvent("response.content_part.added", index, "part", "", true))
		text := a.text
		for range a.textN {
			var d string
			d, text = nextToken(text)
			if !s.step(c, rw.partEvent("response.output_text.delta", index, "delta", d, false), 1) {
				return
			}
		}
		s.write(rw.partEvent("response.output_text.done", index, "text", a.text, false))
		s.write(rw.partEvent("response.content_part.done", index, "part", a.text, true))
		s.write(rw.itemEvent("response.output_item.done", index, func(b []byte) []byte { return rw.messageItem(b, rw.itemStatus(-1), true) }))
		index++
	}
	for i := range a.calls {
		if !s.step(c, rw.itemEvent("response.output_item.added", index, func(b []byte) []byte { return rw.callItem(b, i, "in_progress", false) }), CountTokens(a.calls[i].name)) {
			return
		}
		for _, f := range frags[i] {
			if !s.step(c, rw.argsEvent("response.function_call_arguments.delta", i, index, "delta", f), CountTokens(f)) {
				return
			}
		}
		s.write(rw.argsEvent("response.function_call_arguments.done", i, index, "arguments", a.calls[i].args))
		s.write(rw.itemEvent("response.output_item.done", index, func(b []byte) []byte { return rw.callItem(b, i, rw.itemStatus(i), true) }))
		index++
	}
	final := "response.completed"
	if rw.finalStatus() == "incomplete" {
		final = "response.incomplete"
	}
	s.finish(c, rw.withResponse(final, rw.finalStatus(), true), out, a.reasoning)
}

// nextToken splits the first token of s, with the spaces before it, from the rest: a
// stream's delta.
func nextToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i + 1
	if i < len(s) && isWordByte(s[i]) {
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
	}
	j = min(j, len(s))
	return s[:j], s[j:]
}
