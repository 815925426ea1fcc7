package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// openAIChat serves POST /v1/chat/completions.
func (e *Emulator) openAIChat(w http.ResponseWriter, r *http.Request) {
	c := e.begin("req_", 32)
	h := w.Header()
	setHeader(h, "X-Request-Id", string(c.reqID))
	h["Openai-Organization"] = e.orgHeader
	h["Openai-Version"] = openAIVersion

	auth := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || key == "" {
		c.openAIError(w, &apiError{status: 401, typ: "invalid_request_error", reason: RefusedAuth,
			message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys."})
		return
	}
	if e.keys != nil && !e.keys[key] {
		c.openAIError(w, &apiError{status: 401, typ: "invalid_request_error", code: "invalid_api_key", reason: RefusedAuth,
			message: "Incorrect API key provided: " + redact(key) + ". You can find your API key at https://platform.openai.com/account/api-keys."})
		return
	}
	c.key = key
	body, err := readBody(r)
	if err != nil {
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedBadRequest, message: "We could not read the body of your request: " + err.Error()})
		return
	}
	c.req, err = parseOpenAI(body)
	if err != nil {
		var pe *parseError
		errors.As(err, &pe)
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: pe.param, reason: RefusedBadRequest, message: pe.msg})
		return
	}
	if !c.resolve("openai") {
		c.openAIError(w, &apiError{status: 404, typ: "invalid_request_error", code: "model_not_found", reason: RefusedNotFound,
			message: "The model `" + c.req.model + "` does not exist or you do not have access to it."})
		return
	}
	if c.req.hasMax && c.req.maxTokens > c.m.MaxOutput {
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: "max_tokens", code: "invalid_value", reason: RefusedMaxTokens,
			message: fmt.Sprintf("max_tokens is too large: %d. This model supports at most %d completion tokens, whereas you provided %d.", c.req.maxTokens, c.m.MaxOutput, c.req.maxTokens)})
		return
	}
	if total := c.req.prompt + c.req.maxTokens; total > c.m.ContextWindow {
		msg := fmt.Sprintf("This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.", c.m.ContextWindow, c.req.prompt)
		if c.req.hasMax {
			msg = fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.", c.m.ContextWindow, total, c.req.prompt, c.req.maxTokens)
		}
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: "messages", code: "context_length_exceeded", reason: RefusedContextLength, message: msg})
		return
	}

	c.admit(cost{tokens: float64(c.req.prompt + c.req.maxTokens)})
	if c.dec.refused != limitNone {
		c.openAIRateLimited(w)
		return
	}
	c.openAIRateHeaders(h)

	f := c.pickFault(r)
	switch f {
	case fault500:
		c.openAIError(w, &apiError{status: 500, typ: "server_error", reason: FaultServerError,
			message: "The server had an error while processing your request. Sorry about that!"})
		return
	case fault502:
		c.openAIError(w, &apiError{status: 502, typ: "server_error", reason: FaultBadGateway, message: "Bad gateway."})
		return
	case fault503:
		c.openAIError(w, &apiError{status: 503, typ: "server_error", reason: FaultUnavailable,
			message: "The server is overloaded or not ready yet."})
		return
	case faultOverloaded:
		c.openAIError(w, &apiError{status: 503, typ: "server_error", reason: FaultOverloaded,
			message: "That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists."})
		return
	case faultQuota:
		c.openAIError(w, &apiError{status: 429, typ: "insufficient_quota", code: "insufficient_quota", reason: FaultQuota,
			message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."})
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
	if c.limits != nil && !c.req.hasMax {
		c.limits.settle(c.e.now(), float64(n), 0) // charge the output that max_tokens did not reserve
	}
	finish := "stop"
	if capped {
		finish = "length"
	}
	if c.req.stream {
		c.openAIStream(w, r, text, n, finish, f)
		return
	}
	if !pause(r, c.firstTokenDelay()+c.perTokenDelay()*time.Duration(n)) {
		return
	}
	b := make([]byte, 0, 640+len(text)+len(c.req.model))
	b = append(b, `{"id":"chatcmpl-`...)
	b = c.rng.appendID(b, 29)
	b = append(b, `","object":"chat.completion","created":`...)
	b = appendInt(b, c.now.Unix())
	b = append(b, `,"model":`...)
	b = appendString(b, c.req.model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":"`...)
	b = append(b, text...)
	b = append(b, `","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"`...)
	b = append(b, finish...)
	b = append(b, `"}],"usage":`...)
	b = c.appendOpenAIUsage(b, n)
	b = append(b, `,"service_tier":"default","system_fingerprint":"fp_emulator"}`...)
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

func (c *call) appendOpenAIUsage(b []byte, n int) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, int64(c.req.prompt))
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, int64(n))
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, int64(c.req.prompt+n))
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
	return b
}

// openAIStream writes the chunks of a streamed answer, one word per chunk.
func (c *call) openAIStream(w http.ResponseWriter, r *http.Request, text string, n int, finish string, f fault) {
	h := w.Header()
	setHeader(h, "Content-Type", "text/event-stream; charset=utf-8")
	setHeader(h, "Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	flush := c.m.latency != (Latency{})
	if !pause(r, c.firstTokenDelay()) {
		return
	}
	id := c.rng.appendID(append(make([]byte, 0, 40), "chatcmpl-"...), 29)
	// head is the common prefix of every chunk.
	head := append(make([]byte, 0, 160), `data: {"id":"`...)
	head = append(head, id...)
	head = append(head, `","object":"chat.completion.chunk","created":`...)
	head = appendInt(head, c.now.Unix())
	head = append(head, `,"model":`...)
	head = appendString(head, c.req.model)
	head = append(head, `,"service_tier":"default","system_fingerprint":"fp_emulator","choices":[`...)
	var tail string
	if c.req.includeUsage {
		tail = `,"usage":null}` + "\n\n"
	} else {
		tail = "}\n\n"
	}
	buf := make([]byte, 0, 512)
	chunk := func(choice string, word string) {
		buf = append(buf[:0], head...)
		buf = append(buf, `{"index":0,"delta":`...)
		buf = append(buf, choice...)
		buf = append(buf, word...)
		buf = append(buf, `"},"logprobs":null,"finish_reason":null}]`...)
		buf = append(buf, tail...)
		_, _ = w.Write(buf)
	}
	chunk(`{"role":"assistant","content":"`, "")
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
			_, _ = w.Write([]byte("data: {\"error\":{\"message\":\"The server had an error while processing your request. Sorry about that!\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n"))
			_ = rc.Flush()
			return
		}
		word, rest, _ := strings.Cut(words, " ")
		words = rest
		if i > 0 {
			word = " " + word // the leading space belongs to the token, as in real streams
		}
		chunk(`{"content":"`, word)
		if flush {
			_ = rc.Flush()
			if !pause(r, c.perTokenDelay()) {
				return
			}
		}
	}
	buf = append(buf[:0], head...)
	buf = append(buf, `{"index":0,"delta":{},"logprobs":null,"finish_reason":"`...)
	buf = append(buf, finish...)
	buf = append(buf, `"}]`...)
	buf = append(buf, tail...)
	if c.req.includeUsage {
		buf = append(buf, head...)
		buf = append(buf, `],"usage":`...)
		buf = c.appendOpenAIUsage(buf, n)
		buf = append(buf, "}\n\n"...)
	}
	buf = append(buf, "data: [DONE]\n\n"...)
	_, _ = w.Write(buf)
	_ = rc.Flush()
	c.e.stats.serve(&c.m.ctr, c.m, int64(c.req.prompt), 0, int64(n))
}

// openAIError writes an OpenAI error body and counts the refusal.
func (c *call) openAIError(w http.ResponseWriter, e *apiError) {
	c.refuse(e.reason)
	b := make([]byte, 0, 256+len(e.message))
	b = append(b, `{"error":{"message":`...)
	b = appendString(b, e.message)
	b = append(b, `,"type":`...)
	b = appendString(b, e.typ)
	b = append(b, `,"param":`...)
	b = appendNullable(b, e.param)
	b = append(b, `,"code":`...)
	b = appendNullable(b, e.code)
	b = append(b, "}}\n"...)
	h := w.Header()
	setHeader(h, "Content-Type", "application/json; charset=utf-8")
	setHeader(h, "Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

// openAIRateHeaders sets the x-ratelimit-* headers unless the limits are hidden.
func (c *call) openAIRateHeaders(h http.Header) {
	if c.limits == nil || c.m.limits.Hidden {
		return
	}
	if m := c.dec.req; m.on {
		setHeader(h, "X-Ratelimit-Limit-Requests", strconv.FormatInt(m.limit, 10))
		setHeader(h, "X-Ratelimit-Remaining-Requests", strconv.FormatInt(m.remaining, 10))
		setHeader(h, "X-Ratelimit-Reset-Requests", formatWait(m.reset))
	}
	if m := c.dec.tok; m.on {
		setHeader(h, "X-Ratelimit-Limit-Tokens", strconv.FormatInt(m.limit, 10))
		setHeader(h, "X-Ratelimit-Remaining-Tokens", strconv.FormatInt(m.remaining, 10))
		setHeader(h, "X-Ratelimit-Reset-Tokens", formatWait(m.reset))
	}
}

// openAIRateLimited writes the 429 of a refused request.
func (c *call) openAIRateLimited(w http.ResponseWriter) {
	h := w.Header()
	c.openAIRateHeaders(h)
	d := c.dec
	what, typ, reason, limit := "tokens per min (TPM)", "tokens", RefusedTPM, d.tok.limit
	if d.refused == limitRequests {
		what, typ, reason, limit = "requests per min (RPM)", "requests", RefusedRPM, d.req.limit
	}
	if d.tooLarge {
		c.openAIError(w, &apiError{status: 429, typ: typ, code: "rate_limit_exceeded", reason: RefusedTooLarge,
			message: fmt.Sprintf("Request too large for %s in organization %s on %s: Limit %d, Requested %d. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.", c.m.id, c.e.org, what, limit, d.requested)})
		return
	}
	setHeader(h, "Retry-After", strconv.FormatInt(seconds(d.retryAfter), 10))
	setHeader(h, "Retry-After-Ms", strconv.FormatInt(int64((d.retryAfter+999_999)/1_000_000), 10))
	c.openAIError(w, &apiError{status: 429, typ: typ, code: "rate_limit_exceeded", reason: reason,
		message: fmt.Sprintf("Rate limit reached for %s in organization %s on %s: Limit %d, Used %d, Requested %d. Please try again in %s. Visit https://platform.openai.com/account/rate-limits to learn more.", c.m.id, c.e.org, what, limit, d.used, d.requested, formatWait(d.retryAfter))})
}

// redact shows a key the way OpenAI's 401 does: its first and last few characters.
func redact(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	return key[:3] + "*****" + key[len(key)-4:]
}
