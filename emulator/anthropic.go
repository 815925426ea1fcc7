package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// anthropicMessages serves POST /v1/messages.
func (e *Emulator) anthropicMessages(w http.ResponseWriter, r *http.Request) {
	c := e.begin("req_011C", 20)
	h := w.Header()
	setHeader(h, "Request-Id", string(c.reqID))
	h["Anthropic-Organization-Id"] = e.orgHeader

	key := r.Header.Get("X-Api-Key")
	if key == "" {
		c.anthropicError(w, &apiError{status: 401, typ: "authentication_error", reason: RefusedAuth, message: "x-api-key header is required"})
		return
	}
	if e.keys != nil && !e.keys[key] {
		c.anthropicError(w, &apiError{status: 401, typ: "authentication_error", reason: RefusedAuth, message: "invalid x-api-key"})
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		c.anthropicError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedBadRequest, message: "anthropic-version: header is required"})
		return
	}
	c.key = key
	body, err := readBody(r)
	if err != nil {
		c.anthropicError(w, &apiError{status: 413, typ: "request_too_large", reason: RefusedBadRequest, message: "Request exceeds the maximum allowed number of bytes."})
		return
	}
	c.req, err = parseAnthropic(body)
	if err != nil {
		var pe *parseError
		errors.As(err, &pe)
		c.anthropicError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedBadRequest, message: pe.msg})
		return
	}
	if !c.resolve("anthropic") {
		c.anthropicError(w, &apiError{status: 404, typ: "not_found_error", reason: RefusedNotFound, message: "model: " + c.req.model})
		return
	}
	if c.req.maxTokens > c.m.MaxOutput {
		c.anthropicError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedMaxTokens,
			message: fmt.Sprintf("max_tokens: %d > %d, which is the maximum allowed number of output tokens for %s", c.req.maxTokens, c.m.MaxOutput, c.m.id)})
		return
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
	c.anthropicRateHeaders(h)

	f := c.pickFault(r)
	switch f {
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

	n, capped := c.answerLength()
	text := c.text(n)
	if c.limits != nil {
		c.limits.settle(c.e.now(), 0, float64(n-c.req.maxTokens)) // refund unused output
	}
	stop := "end_turn"
	if capped {
		stop = "max_tokens"
	}
	if c.req.stream {
		c.anthropicStream(w, r, text, n, stop, f)
		return
	}
	if !pause(r, c.firstTokenDelay()+c.perTokenDelay()*time.Duration(n)) {
		return
	}
	b := make([]byte, 0, 512+len(text)+len(c.req.model))
	b = append(b, `{"id":"msg_01`...)
	b = c.rng.appendID(b, 22)
	b = append(b, `","type":"message","role":"assistant","model":`...)
	b = appendString(b, c.req.model)
	b = append(b, `,"content":[{"type":"text","text":"`...)
	b = append(b, text...)
	b = append(b, `"}],"stop_reason":"`...)
	b = append(b, stop...)
	b = append(b, `","stop_sequence":null,"usage":{"input_tokens":`...)
	b = appendInt(b, int64(c.req.prompt))
	b = append(b, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":`...)
	b = appendInt(b, int64(n))
	b = append(b, `,"service_tier":"standard"}}`...)
	h["Content-Type"] = contentJSON
	setHeader(h, "Content-Length", strconv.Itoa(len(b)))
	if f == faultCut {
		c.refuse(FaultCut)
		_, _ = w.Write(b[:len(b)/2])
		abort(w)
	}
	_, _ = w.Write(b)
	c.e.stats.serve(&c.m.ctr, c.m, int64(c.req.prompt), 0, int64(n))
}

// anthropicStream writes the events of a streamed answer, one word per text delta.
func (c *call) anthropicStream(w http.ResponseWriter, r *http.Request, text string, n int, stop string, f fault) {
	h := w.Header()
	setHeader(h, "Content-Type", "text/event-stream; charset=utf-8")
	setHeader(h, "Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	flush := c.m.latency != (Latency{})
	if !pause(r, c.firstTokenDelay()) {
		return
	}
	buf := make([]byte, 0, 1024)
	buf = append(buf, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01"...)
	buf = c.rng.appendID(buf, 22)
	buf = append(buf, `","type":"message","role":"assistant","model":`...)
	buf = appendString(buf, c.req.model)
	buf = append(buf, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`...)
	buf = appendInt(buf, int64(c.req.prompt))
	buf = append(buf, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}`+"\n\n"...)
	buf = append(buf, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"...)
	buf = append(buf, "event: ping\ndata: {\"type\": \"ping\"}\n\n"...)
	_, _ = w.Write(buf)
	cutAt := -1
	if f == faultCut || f == faultErrorEvent {
		cutAt = n / 2
	}
	words := text
	for i := 0; i < n; i++ {
		if i == cutAt {
			if flush {
				_ = rc.Flush()
			}
			if f == faultCut {
				c.refuse(FaultCut)
				abort(w)
			}
			c.refuse(FaultErrorEvent)
			_, _ = w.Write([]byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"))
			_ = rc.Flush()
			return
		}
		word, rest, _ := strings.Cut(words, " ")
		words = rest
		buf = append(buf[:0], "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\""...)
		if i > 0 {
			buf = append(buf, ' ')
		}
		buf = append(buf, word...)
		buf = append(buf, "\"}}\n\n"...)
		_, _ = w.Write(buf)
		if flush {
			_ = rc.Flush()
			if !pause(r, c.perTokenDelay()) {
				return
			}
		}
	}
	buf = append(buf[:0], "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"...)
	buf = append(buf, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""...)
	buf = append(buf, stop...)
	buf = append(buf, `","stop_sequence":null},"usage":{"output_tokens":`...)
	buf = appendInt(buf, int64(n))
	buf = append(buf, "}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	_, _ = w.Write(buf)
	_ = rc.Flush()
	c.e.stats.serve(&c.m.ctr, c.m, int64(c.req.prompt), 0, int64(n))
}

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

// anthropicRateHeaders sets the anthropic-ratelimit-* headers unless the limits are hidden.
// Resets are RFC 3339 instants when the bucket is full again.
func (c *call) anthropicRateHeaders(h http.Header) {
	if c.limits == nil || c.m.limits.Hidden {
		return
	}
	set := func(prefix string, m meter) {
		setHeader(h, prefix+"-Limit", strconv.FormatInt(m.limit, 10))
		setHeader(h, prefix+"-Remaining", strconv.FormatInt(m.remaining, 10))
		setHeader(h, prefix+"-Reset", ceilSecond(c.now.Add(m.reset)).Format(time.RFC3339))
	}
	d := c.dec
	if d.req.on {
		set("Anthropic-Ratelimit-Requests", d.req)
	}
	if d.in.on {
		set("Anthropic-Ratelimit-Input-Tokens", d.in)
	}
	if d.out.on {
		set("Anthropic-Ratelimit-Output-Tokens", d.out)
	}
	// The combined tokens headers report the most restrictive of the two token limits.
	switch {
	case d.in.on && (!d.out.on || d.in.remaining <= d.out.remaining):
		set("Anthropic-Ratelimit-Tokens", d.in)
	case d.out.on:
		set("Anthropic-Ratelimit-Tokens", d.out)
	}
}

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
	c.anthropicRateHeaders(h)
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
	if d.tooLarge {
		reason = RefusedTooLarge
	} else {
		setHeader(h, "Retry-After", strconv.FormatInt(seconds(d.retryAfter), 10))
	}
	c.anthropicError(w, &apiError{status: 429, typ: "rate_limit_error", reason: reason,
		message: fmt.Sprintf("This request would exceed the rate limit for your organization (%s) of %s %s. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.", c.e.org, thousands(limit), what)})
}
