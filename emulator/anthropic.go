package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// anthropicMessages serves POST /v1/messages.
func (e *Emulator) anthropicMessages(w http.ResponseWriter, r *http.Request) {
	c := e.begin(r, "req_011C", 20)
	if !c.anthropicRequest(w, r, false) {
		return
	}
	h := w.Header()
	if !c.resolve("anthropic") {
		c.anthropicError(w, &apiError{status: 404, typ: "not_found_error", reason: RefusedNotFound, message: "model: " + c.req.model})
		return
	}
	if c.req.maxTokens > c.m.MaxOutput {
		c.anthropicError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedMaxTokens,
			message: fmt.Sprintf("max_tokens: %d > %d, which is the maximum allowed number of output tokens for %s", c.req.maxTokens, c.m.MaxOutput, c.m.id)})
		return
	}
	toolPrompt := 0
	if len(c.req.tools) > 0 {
		k := c.req.choice.kind
		toolPrompt = toolPromptTokens(c.m.id, k == choiceRequired || k == choiceNamed)
		c.req.prompt += toolPrompt
	}
	var blocks []anthropicBlock
	var marks []int
	if c.req.marked {
		var err error
		if blocks, marks, err = c.anthropicBreakpoints(toolPrompt); err != nil {
			var pe *parseError
			if !errors.As(err, &pe) {
				pe = &parseError{msg: "There was an issue with your request body: it is not valid JSON"}
			}
			c.anthropicError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedBadRequest, message: pe.msg})
			return
		}
	}
	if c.req.prompt > c.m.ContextWindow {
		c.anthropicError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedContextLength,
			message: fmt.Sprintf("prompt is too long: %d tokens > %d maximum", c.req.prompt, c.m.ContextWindow)})
		return
	}
	if total := c.req.prompt + c.req.maxTokens; total > c.m.ContextWindow {
		c.anthropicError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedContextLength,
			message: fmt.Sprintf("input length and `max_tokens` exceed context limit: %d + %d > %d, decrease input length or `max_tokens` and try again", c.req.prompt, c.req.maxTokens, c.m.ContextWindow)})
		return
	}

	c.admit(cost{input: float64(c.req.prompt), output: float64(c.req.maxTokens)})
	if c.dec.refused != limitNone {
		c.anthropicRateLimited(w)
		return
	}
	c.anthropicRateHeaders(h, false)

	c.fault = c.pickFault(r)
	switch c.fault {
	case fault500:
		c.anthropicError(w, &apiError{status: 500, typ: "api_error", reason: FaultServerError, message: "Internal server error"})
		return
	case fault502:
		c.anthropicError(w, &apiError{status: 502, typ: "api_error", reason: FaultBadGateway, message: "Bad gateway"})
		return
	case fault503:
		c.anthropicError(w, &apiError{status: 503, typ: "api_error", reason: FaultUnavailable, message: "Service unavailable"})
		return
	case faultOverloaded:
		c.anthropicError(w, &apiError{status: 529, typ: "overloaded_error", reason: FaultOverloaded, message: "Overloaded"})
		return
	case faultQuota:
		next := c.now.UTC().AddDate(0, 1, 0)
		c.anthropicError(w, &apiError{status: 400, typ: "invalid_request_error", reason: FaultQuota,
			message: fmt.Sprintf("You have reached your specified API usage limits. You will regain access on %04d-%02d-01 at 00:00 UTC.", next.Year(), next.Month())})
		return
	case faultDrop:
		c.refuse(FaultDrop)
		drop()
	case faultHang:
		c.refuse(FaultHang)
		c.hang(w, r)
	}

	// Accepted: the prompt is processed, and billed from here on.
	use := c.anthropicCache(blocks, marks)
	c.usage = llm.Usage{InputTokens: int64(c.req.prompt), CachedInputTokens: int64(use.read),
		CacheWriteTokens: int64(use.write5m + use.write1h), CacheWrite1hTokens: int64(use.write1h)}
	if use.read > 0 {
		c.settle(cost{input: -float64(use.read)}) // cache reads do not count against ITPM
	}
	if c.fault == faultSilent {
		c.silent(w, r, "text/event-stream; charset=utf-8")
		return
	}
	a := c.plan(true)
	out := a.tokens()
	c.settle(cost{output: float64(out - c.req.maxTokens)}) // refund unused output
	if c.req.stream {
		c.anthropicStream(w, r, &a)
		return
	}
	if !c.waitWhole(r, out, out, a.thinkingN) {
		return
	}
	size := 512 + len(a.thinking) + len(a.signature) + len(a.text) + len(c.req.model)
	for i := range a.calls {
		size += 100 + len(a.calls[i].args)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"id":"msg_01`...)
	b = c.rng.appendID(b, 22)
	b = append(b, `","type":"message","role":"assistant","model":`...)
	b = appendString(b, c.req.model)
	b = append(b, `,"content":[`...)
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	if a.thinkingN > 0 || a.signature != "" {
		sep()
		b = append(b, `{"type":"thinking","thinking":"`...)
		b = append(b, a.thinking...)
		b = append(b, `","signature":"`...)
		b = append(b, a.signature...)
		b = append(b, `"}`...)
	}
	if a.textN > 0 || len(a.calls) == 0 && first {
		sep()
		b = append(b, `{"type":"text","text":"`...)
		b = append(b, a.text...)
		b = append(b, `"}`...)
	}
	for i := range a.calls {
		k := &a.calls[i]
		sep()
		b = append(b, `{"type":"tool_use","id":"`...)
		b = append(b, k.id...)
		b = append(b, `","name":`...)
		b = appendString(b, k.name)
		b = append(b, `,"input":`...)
		b = append(b, k.args...)
		b = append(b, '}')
	}
	b = append(b, `],"stop_reason":"`...)
	b = append(b, anthropicStop[a.finish]...)
	b = append(b, `","stop_sequence":null,"usage":`...)
	b = c.appendAnthropicUsage(b, out, a.thinkingN, usageMessage)
	b = append(b, '}')
	c.sendWhole(w, b, out, a.thinkingN)
}

// anthropicRequest checks the headers of an Anthropic request, then reads and parses its
// body; it reports whether the request goes on, and otherwise has answered the error.
func (c *call) anthropicRequest(w http.ResponseWriter, r *http.Request, count bool) bool {
	h := w.Header()
	setHeader(h, "Request-Id", c.reqIDString)
	h["Anthropic-Organization-Id"] = c.e.orgHeader

	key := r.Header.Get("X-Api-Key")
	if key == "" {
		c.anthropicError(w, &apiError{status: 401, typ: "authentication_error", reason: RefusedAuth, message: "x-api-key header is required"})
		return false
	}
	if c.e.keys != nil && !c.e.keys[key] {
		c.anthropicError(w, &apiError{status: 401, typ: "authentication_error", reason: RefusedAuth, message: "invalid x-api-key"})
		return false
	}
	if r.Header.Get("Anthropic-Version") == "" {
		c.anthropicError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedBadRequest, message: "anthropic-version: header is required"})
		return false
	}
	c.key = key
	body, err := readBody(r)
	if err != nil {
		c.anthropicError(w, &apiError{status: 413, typ: "request_too_large", reason: RefusedBadRequest, message: "Request exceeds the maximum allowed number of bytes."})
		return false
	}
	c.body = body
	c.req, err = parseAnthropicRequest(body, count)
	if err != nil {
		var pe *parseError
		errors.As(err, &pe)
		c.anthropicError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedBadRequest, message: pe.msg})
		return false
	}
	return true
}

var anthropicStop = [...]string{finishStop: "end_turn", finishLength: "max_tokens", finishTools: "tool_use"}

// usageForm is where a usage object goes: a message (the full form), message_start (the
// full form, its output count a placeholder and no output breakdown) or message_delta
// (the cumulative counts only).
type usageForm uint8

const (
	usageMessage usageForm = iota
	usageStart
	usageDelta
)

// appendAnthropicUsage appends a usage object in the given form.
func (c *call) appendAnthropicUsage(b []byte, out, thinking int, form usageForm) []byte {
	full := form != usageDelta
	u := &c.usage
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, u.InputTokens-u.CachedInputTokens-u.CacheWriteTokens)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = appendInt(b, u.CacheWriteTokens)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = appendInt(b, u.CachedInputTokens)
	if full {
		b = append(b, `,"cache_creation":{"ephemeral_5m_input_tokens":`...)
		b = appendInt(b, u.CacheWriteTokens-u.CacheWrite1hTokens)
		b = append(b, `,"ephemeral_1h_input_tokens":`...)
		b = appendInt(b, u.CacheWrite1hTokens)
		b = append(b, '}')
	}
	b = append(b, `,"output_tokens":`...)
	b = appendInt(b, int64(out))
	if c.req.thinking != 0 && form != usageStart {
		b = append(b, `,"output_tokens_details":{"thinking_tokens":`...)
		b = appendInt(b, int64(thinking))
		b = append(b, '}')
	}
	if full {
		b = append(b, `,"service_tier":"standard"`...)
	}
	return append(b, '}')
}

// anthropicStreamError is the event Anthropic sends when a stream fails after the 200.
const anthropicStreamError = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"

// anthropicStream writes the events of a streamed answer: its blocks in order (thinking,
// text, tool calls), one word, or a few tokens of a call's input, per delta.
func (c *call) anthropicStream(w http.ResponseWriter, r *http.Request, a *answer) {
	h := w.Header()
	setHeader(h, "Content-Type", "text/event-stream; charset=utf-8")
	setHeader(h, "Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if !pause(r, c.firstTokenDelay()) {
		c.bill(EndClientGone, 0, 0)
		return
	}
	frags := make([][]string, len(a.calls))
	steps := a.thinkingN + a.textN
	for i := range a.calls {
		frags[i] = fragments(a.calls[i].args, anthropicFragment)
		steps += 1 + len(frags[i])
	}
	s := c.newStreamer(w, r, steps, anthropicStreamError)
	out := a.tokens()
	buf := s.buf[:0]
	buf = append(buf, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01"...)
	buf = c.rng.appendID(buf, 22)
	buf = append(buf, `","type":"message","role":"assistant","model":`...)
	buf = appendString(buf, c.req.model)
	buf = append(buf, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	// The output count of message_start is a placeholder; message_delta has the real one.
	buf = c.appendAnthropicUsage(buf, 1, 0, usageStart)
	buf = append(buf, "}}\n\n"...)
	index := 0
	pinged := false
	// start opens a block; the first start is followed by a ping, as Anthropic's streams are.
	start := func(block []byte) []byte {
		buf = append(buf, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
		buf = strconv.AppendInt(buf, int64(index), 10)
		buf = append(buf, `,"content_block":`...)
		buf = append(buf, block...)
		buf = append(buf, "}\n\n"...)
		if !pinged {
			pinged = true
			buf = append(buf, "event: ping\ndata: {\"type\": \"ping\"}\n\n"...)
		}
		return buf
	}
	stop := func() {
		buf = append(buf[:0], "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
		buf = strconv.AppendInt(buf, int64(index), 10)
		buf = append(buf, "}\n\n"...)
		s.write(buf)
		buf = buf[:0]
		index++
	}
	delta := func(typ, field, text string) []byte {
		buf = append(buf[:0], "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
		buf = strconv.AppendInt(buf, int64(index), 10)
		buf = append(buf, `,"delta":{"type":"`...)
		buf = append(buf, typ...)
		buf = append(buf, `","`...)
		buf = append(buf, field...)
		buf = append(buf, `":`...)
		buf = appendString(buf, text)
		buf = append(buf, "}}\n\n"...)
		return buf
	}
	words := func(text string, n int, typ, field string) bool {
		for i := range n {
			word, rest, _ := strings.Cut(text, " ")
			text = rest
			if i > 0 {
				word = " " + word
			}
			if !s.step(c, delta(typ, field, word), 1) {
				return false
			}
		}
		return true
	}
	if a.thinkingN > 0 || a.signature != "" {
		s.write(start([]byte(`{"type":"thinking","thinking":"","signature":""}`)))
		if !words(a.thinking, a.thinkingN, "thinking_delta", "thinking") {
			return
		}
		s.write(delta("signature_delta", "signature", a.signature))
		stop()
	}
	if a.textN > 0 || len(a.calls) == 0 && index == 0 {
		s.write(start([]byte(`{"type":"text","text":""}`)))
		if !words(a.text, a.textN, "text_delta", "text") {
			return
		}
		stop()
	}
	for i := range a.calls {
		k := &a.calls[i]
		block := append([]byte(`{"type":"tool_use","id":"`), k.id...)
		block = append(block, `","name":`...)
		block = appendString(block, k.name)
		block = append(block, `,"input":{}}`...)
		if !s.step(c, start(block), CountTokens(k.name)) {
			return
		}
		s.write(delta("input_json_delta", "partial_json", ""))
		for _, f := range frags[i] {
			if !s.step(c, delta("input_json_delta", "partial_json", f), CountTokens(f)) {
				return
			}
		}
		stop()
	}
	buf = append(buf[:0], "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""...)
	buf = append(buf, anthropicStop[a.finish]...)
	buf = append(buf, `","stop_sequence":null},"usage":`...)
	buf = c.appendAnthropicUsage(buf, out, a.thinkingN, usageDelta)
	buf = append(buf, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	s.finish(c, buf, out, a.thinkingN)
}

// anthropicFragment is how many tokens of a call's input each input_json_delta carries.
const anthropicFragment = 4

// anthropicError writes an Anthropic error body and counts the refusal.
func (c *call) anthropicError(w http.ResponseWriter, e *apiError) {
	c.refuse(e.reason)
	b := make([]byte, 0, 160+len(e.message))
	b = append(b, `{"type":"error","error":{"type":`...)
	b = appendString(b, e.typ)
	b = append(b, `,"message":`...)
	b = appendString(b, e.message)
	b = append(b, `},"request_id":`...)
	b = appendString(b, string(c.reqID))
	b = append(b, '}')
	h := w.Header()
	setHeader(h, "Content-Type", "application/json")
	setHeader(h, "Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// anthropicRateHeaders sets the anthropic-ratelimit-* headers of an answer, a 429 or not,
// unless the limits hide them. Resets are RFC 3339 instants when the bucket is full again;
// token counts remaining are rounded to the nearest thousand, and the -tokens- headers
// are the sum of the input and output limits, as Anthropic reports them when no workspace
// limit applies (https://docs.claude.com/en/api/rate-limits#response-headers).
func (c *call) anthropicRateHeaders(h http.Header, refused bool) {
	if c.limits == nil || c.lim.hideHeaders(refused) {
		return
	}
	set := func(prefix string, limit, remaining int64, reset time.Duration) {
		setHeader(h, prefix+"-Limit", strconv.FormatInt(limit, 10))
		setHeader(h, prefix+"-Remaining", strconv.FormatInt(remaining, 10))
		setHeader(h, prefix+"-Reset", ceilSecond(c.now.Add(reset)).Format(time.RFC3339))
	}
	d := &c.dec
	if d.req.on {
		set("Anthropic-Ratelimit-Requests", d.req.limit, d.req.remaining, d.req.reset)
	}
	if d.in.on {
		set("Anthropic-Ratelimit-Input-Tokens", d.in.limit, roundThousand(d.in.remaining), d.in.reset)
	}
	if d.out.on {
		set("Anthropic-Ratelimit-Output-Tokens", d.out.limit, roundThousand(d.out.remaining), d.out.reset)
	}
	if d.in.on || d.out.on {
		set("Anthropic-Ratelimit-Tokens", d.in.limit+d.out.limit, roundThousand(d.in.remaining+d.out.remaining), max(d.in.reset, d.out.reset))
	}
}

// roundThousand rounds a token count to the nearest thousand, as Anthropic's headers do.
func roundThousand(n int64) int64 { return (n + 500) / 1000 * 1000 }

// ceilSecond rounds t up to the second in UTC, so that a reset is never reported early.
func ceilSecond(t time.Time) time.Time {
	u := t.UTC().Truncate(time.Second)
	if u.Before(t) {
		u = u.Add(time.Second)
	}
	return u
}

// anthropicRateLimited writes the 429 of a refused request.
func (c *call) anthropicRateLimited(w http.ResponseWriter) {
	h := w.Header()
	c.anthropicRateHeaders(h, true)
	d := c.dec
	var what string
	var reason Reason
	var limit int64
	switch d.refused {
	case limitRequests:
		what, reason, limit = "requests per minute", RefusedRPM, d.req.limit
	case limitInputTokens:
		what, reason, limit = "input tokens per minute", RefusedITPM, d.in.limit
	default:
		what, reason, limit = "output tokens per minute", RefusedOTPM, d.out.limit
	}
	if c.countTokens {
		reason = RefusedCountTokens
	}
	if d.tooLarge {
		reason = RefusedTooLarge
	} else if !c.lim.HideRetryAfter {
		setHeader(h, "Retry-After", strconv.FormatInt(seconds(d.retryAfter), 10))
	}
	c.anthropicError(w, &apiError{status: 429, typ: "rate_limit_error", reason: reason,
		message: fmt.Sprintf("This request would exceed the rate limit for your organization (%s) of %s %s. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.", c.e.org, thousands(limit), what)})
}
