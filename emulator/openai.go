package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/llm"
)

// openAIChat serves POST /v1/chat/completions.
func (e *Emulator) openAIChat(w http.ResponseWriter, r *http.Request) {
	c := e.begin(r, "req_", 32)
	if !c.openAIRequest(w, r) {
		return
	}
	var err error
	c.req, err = parseOpenAI(c.body)
	if err != nil {
		c.openAIBadRequest(w, err)
		return
	}
	if !c.resolve("openai") {
		c.openAIError(w, &apiError{status: 404, typ: "invalid_request_error", code: "model_not_found", reason: RefusedNotFound,
			message: "The model `" + c.req.model + "` does not exist or you do not have access to it."})
		return
	}
	if c.m.embedding {
		c.openAIError(w, notChatModel("v1/chat/completions"))
		return
	}
	if c.req.hasMax && c.req.maxTokens > c.m.MaxOutput {
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: "max_tokens", code: "invalid_value", reason: RefusedMaxTokens,
			message: fmt.Sprintf("max_tokens is too large: %d. This model supports at most %d completion tokens, whereas you provided %d.", c.req.maxTokens, c.m.MaxOutput, c.req.maxTokens)})
		return
	}
	d := c.m.dialect
	if d.overflows(c.m.ContextWindow, c.req.prompt, c.req.maxTokens) {
		status, b := d.contextError(c.m.ContextWindow, c.req.prompt, c.req.maxTokens)
		c.rawError(w, status, b, "application/json", RefusedContextLength)
		return
	}
	if d.promptOnly() {
		c.windowCap = c.m.ContextWindow - c.req.prompt
	}

	// OpenAI counts n times the output cap against the token limit.
	if !c.openAIAdmit(w, r, cost{tokens: float64(c.req.prompt + c.req.n*c.req.maxTokens)}) {
		return
	}

	// Accepted: the prompt is processed, and billed from here on.
	cached := 0
	if c.req.prompt >= c.m.minCache {
		cached, _ = c.openAICache() // the body parsed once already
	}
	c.usage = llm.Usage{InputTokens: int64(c.req.prompt), CachedInputTokens: int64(cached)}
	if c.fault == faultSilent {
		c.silent(w, r, "application/json")
		return
	}
	var one [1]answer
	answers := one[:]
	if c.req.n > 1 {
		answers = make([]answer, c.req.n)
	}
	out, reasoning, longest := 0, 0, 0
	for i := range answers {
		answers[i] = c.plan(false)
		out += answers[i].tokens()
		reasoning += answers[i].reasoning
		longest = max(longest, answers[i].tokens())
	}
	if !c.req.hasMax {
		c.settle(cost{tokens: float64(out)}) // charge the output that max_tokens did not reserve
	}
	if c.req.stream {
		c.openAIStream(w, r, answers, out, reasoning)
		return
	}
	if !c.waitWhole(r, longest, out, reasoning) {
		return
	}
	size := 640 + len(c.req.model)
	for i := range answers {
		size += 120 + len(answers[i].text)
		for j := range answers[i].calls {
			size += 100 + len(answers[i].calls[j].args)*5/4 // quotes escaped in the string
		}
	}
	b := make([]byte, 0, size)
	b = append(b, `{"id":"chatcmpl-`...)
	b = c.rng.appendID(b, 29)
	b = append(b, `","object":"chat.completion","created":`...)
	b = appendInt(b, c.now.Unix())
	b = append(b, `,"model":`...)
	b = appendString(b, c.req.model)
	b = append(b, `,"choices":[`...)
	for i := range answers {
		a := &answers[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"message":{"role":"assistant","content":`...)
		if len(a.calls) > 0 && a.textN == 0 {
			b = append(b, "null"...)
		} else {
			b = append(b, '"')
			b = append(b, a.text...)
			b = append(b, '"')
		}
		if len(a.calls) > 0 {
			b = append(b, `,"tool_calls":[`...)
			for j := range a.calls {
				k := &a.calls[j]
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"id":"`...)
				b = append(b, k.id...)
				b = append(b, `","type":"function","function":{"name":`...)
				b = appendString(b, k.name)
				b = append(b, `,"arguments":`...)
				b = appendString(b, k.args)
				b = append(b, "}}"...)
			}
			b = append(b, ']')
		}
		b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"`...)
		b = append(b, openAIFinish[a.finish]...)
		b = append(b, `"}`...)
	}
	b = append(b, `],"usage":`...)
	b = c.appendOpenAIUsage(b, out, reasoning)
	b = append(b, `,"service_tier":"default","system_fingerprint":"fp_emulator"}`...)
	c.sendWhole(w, b, out, reasoning)
}

// openAIRequest sets the headers of every OpenAI answer, checks the API key and reads the
// body into c.body; it reports whether the request goes on, and otherwise has answered.
func (c *call) openAIRequest(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	setHeader(h, "X-Request-Id", c.reqIDString)
	h["Openai-Organization"] = c.e.orgHeader
	h["Openai-Version"] = openAIVersion

	auth := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || key == "" {
		c.openAIError(w, &apiError{status: 401, typ: "invalid_request_error", reason: RefusedAuth,
			message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys."})
		return false
	}
	if c.e.keys != nil && !c.e.keys[key] {
		c.openAIError(w, &apiError{status: 401, typ: "invalid_request_error", code: "invalid_api_key", reason: RefusedAuth,
			message: "Incorrect API key provided: " + redact(key) + ". You can find your API key at https://platform.openai.com/account/api-keys."})
		return false
	}
	c.key = key
	body, err := readBody(r)
	if err != nil {
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedBadRequest, message: "We could not read the body of your request: " + err.Error()})
		return false
	}
	c.body = body
	return true
}

// openAIBadRequest answers a request that the parser refused with OpenAI's 400.
func (c *call) openAIBadRequest(w http.ResponseWriter, err error) {
	var pe *parseError
	errors.As(err, &pe)
	c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: pe.param, code: pe.code, reason: RefusedBadRequest, message: pe.msg})
}

// openAIAdmit applies the rate limits and draws the fault; it reports whether the request
// goes on, and otherwise has answered its 429 or its fault.
func (c *call) openAIAdmit(w http.ResponseWriter, r *http.Request, k cost) bool {
	c.admit(k)
	if c.dec.refused != limitNone {
		c.openAIRateLimited(w)
		return false
	}
	c.openAIRateHeaders(w.Header(), false)
	return c.openAIFault(w, r)
}

// openAIFault draws the request's fault and answers those that come before the 200; it
// reports whether the request goes on (with c.fault set for the faults that come later).
func (c *call) openAIFault(w http.ResponseWriter, r *http.Request) bool {
	c.fault = c.pickFault(r)
	switch c.fault {
	case fault500:
		c.openAIError(w, &apiError{status: 500, typ: "server_error", reason: FaultServerError,
			message: "The server had an error while processing your request. Sorry about that!"})
		return false
	case fault502:
		c.openAIError(w, &apiError{status: 502, typ: "server_error", reason: FaultBadGateway, message: "Bad gateway."})
		return false
	case fault503:
		c.openAIError(w, &apiError{status: 503, typ: "server_error", reason: FaultUnavailable,
			message: "The server is overloaded or not ready yet."})
		return false
	case faultOverloaded:
		if status, b, retry, ok := c.m.dialect.overloadedError(); ok {
			if retry != "" {
				setHeader(w.Header(), "Retry-After", retry)
			}
			c.rawError(w, status, b, "application/json", FaultOverloaded)
			return false
		}
		c.openAIError(w, &apiError{status: 503, typ: "server_error", reason: FaultOverloaded,
			message: "That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists."})
		return false
	case faultQuota:
		c.openAIError(w, &apiError{status: 429, typ: "insufficient_quota", code: "insufficient_quota", reason: FaultQuota,
			message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."})
		return false
	case faultDrop:
		c.refuse(FaultDrop)
		drop()
	case faultHang:
		c.refuse(FaultHang)
		c.hang(w, r)
	}
	return true
}

var openAIFinish = [...]string{finishStop: "stop", finishLength: "length", finishTools: "tool_calls"}

func (c *call) appendOpenAIUsage(b []byte, out, reasoning int) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, c.usage.InputTokens)
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, int64(out))
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, c.usage.InputTokens+int64(out))
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, c.usage.CachedInputTokens)
	b = append(b, `,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":`...)
	b = appendInt(b, int64(reasoning))
	b = append(b, `,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
	return b
}

// openAIStreamError is the error object OpenAI sends inside a stream that fails after the
// 200.
const openAIStreamError = "data: {\"error\":{\"message\":\"The server had an error while processing your request. Sorry about that!\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n"

// openAIStream writes the chunks of a streamed answer: one word, or one token of a call's
// arguments, per chunk; the chunks of several choices interleave.
func (c *call) openAIStream(w http.ResponseWriter, r *http.Request, answers []answer, out, reasoning int) {
	h := w.Header()
	setHeader(h, "Content-Type", "text/event-stream; charset=utf-8")
	setHeader(h, "Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if !pause(r, c.firstTokenDelay()) {
		c.bill(EndClientGone, 0, 0)
		return
	}
	var oneCS [1]openAIChoiceStream
	cs := oneCS[:]
	if len(answers) > 1 {
		cs = make([]openAIChoiceStream, len(answers))
	}
	steps := 0
	for i := range answers {
		cs[i].init(&answers[i])
		steps += cs[i].steps
	}
	s := c.newStreamer(w, r, steps, openAIStreamError)
	if !s.think(c, answers) {
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
	tail := "}\n\n"
	if c.req.includeUsage {
		tail = `,"usage":null}` + "\n\n"
	}
	// chunk renders one chunk of choice i whose delta is delta followed by lit.
	chunk := func(i int, delta []byte, lit, finish string) []byte {
		b := append(s.buf[:0], head...)
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"delta":`...)
		b = append(b, delta...)
		b = append(b, lit...)
		b = append(b, `,"logprobs":null,"finish_reason":`...)
		if finish == "" {
			b = append(b, "null"...)
		} else {
			b = append(b, '"')
			b = append(b, finish...)
			b = append(b, '"')
		}
		b = append(b, "}]"...)
		s.buf = append(b, tail...)
		return s.buf
	}
	active := 0
	for i := range cs {
		if !cs[i].mergedRole { // else its first call's chunk carries the role
			s.write(chunk(i, nil, `{"role":"assistant","content":""}`, ""))
		}
		if cs[i].done {
			s.write(chunk(i, nil, "{}", openAIFinish[answers[i].finish]))
		} else {
			active++
		}
	}
	var deltaBuf [128]byte // most deltas fit: one word, or a token of a call's arguments
	delta := deltaBuf[:0]
	for active > 0 {
		for i := range cs {
			x := &cs[i]
			if x.done {
				continue
			}
			var k int
			delta, k = x.next(delta[:0])
			if !s.step(c, chunk(i, delta, "", ""), k) {
				return
			}
			if x.ended() {
				x.done = true
				active--
				s.write(chunk(i, nil, "{}", openAIFinish[x.a.finish]))
			}
		}
	}
	b := s.buf[:0]
	if c.req.includeUsage {
		b = append(b, head...)
		b = append(b, `],"usage":`...)
		b = c.appendOpenAIUsage(b, out, reasoning)
		b = append(b, "}\n\n"...)
	}
	b = append(b, "data: [DONE]\n\n"...)
	s.finish(c, b, out, reasoning)
}

// openAIChoiceStream walks the deltas of one choice: its words, then each call's first
// delta (id and name) and its arguments, a token at a time.
type openAIChoiceStream struct {
	a          answer
	words      string
	word       int // words sent
	call, frag int // the call being sent, and its fragments sent (-1: its first delta)
	frags      [][]string
	steps      int
	mergedRole bool // the choice starts with a call: the role rides on its first delta
	done       bool
}

func (x *openAIChoiceStream) init(a *answer) {
	x.a, x.words, x.frag = *a, a.text, -1
	x.steps = a.textN
	x.mergedRole = a.textN == 0 && len(a.calls) > 0
	x.frags = make([][]string, len(a.calls))
	for j := range a.calls {
		x.frags[j] = fragments(a.calls[j].args, 1)
		x.steps += 1 + len(x.frags[j])
	}
	if x.steps == 0 {
		x.done = true // nothing visible: only the role and the finish chunks
	}
}

func (x *openAIChoiceStream) ended() bool {
	return x.word == x.a.textN && x.call == len(x.a.calls)
}

// next appends the next delta to b and returns it with its output tokens.
func (x *openAIChoiceStream) next(b []byte) ([]byte, int) {
	if x.word < x.a.textN {
		word, rest, _ := strings.Cut(x.words, " ")
		x.words = rest
		b = append(b, `{"content":"`...)
		if x.word > 0 {
			b = append(b, ' ') // the leading space belongs to the token, as in real streams
		}
		x.word++
		b = append(b, word...)
		return append(b, `"}`...), 1
	}
	k := &x.a.calls[x.call]
	if x.frag < 0 {
		x.frag = 0
		if x.mergedRole && x.call == 0 {
			b = append(b, `{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"`...)
		} else {
			b = append(b, `{"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(x.call), 10)
			b = append(b, `,"id":"`...)
		}
		b = append(b, k.id...)
		b = append(b, `","type":"function","function":{"name":`...)
		b = appendString(b, k.name)
		b = append(b, `,"arguments":""}}]`...)
		if x.mergedRole && x.call == 0 {
			b = append(b, `,"refusal":null`...)
		}
		b = append(b, '}')
		n := CountTokens(k.name)
		x.advance()
		return b, n
	}
	f := x.frags[x.call][x.frag]
	b = append(b, `{"tool_calls":[{"index":`...)
	b = strconv.AppendInt(b, int64(x.call), 10)
	b = append(b, `,"function":{"arguments":`...)
	b = appendString(b, f)
	b = append(b, "}}]}"...)
	x.frag++
	x.advance()
	return b, CountTokens(f)
}

// advance moves to the next call once the current one's fragments are all sent.
func (x *openAIChoiceStream) advance() {
	if x.frag == len(x.frags[x.call]) {
		x.call, x.frag = x.call+1, -1
	}
}

// openAIError writes an OpenAI error body and counts the refusal.
func (c *call) openAIError(w http.ResponseWriter, e *apiError) {
	c.rawError(w, e.status, appendOpenAIError(make([]byte, 0, 256+len(e.message)), e), "application/json; charset=utf-8", e.reason)
}

func appendOpenAIError(b []byte, e *apiError) []byte {
	b = append(b, `{"error":{"message":`...)
	b = appendString(b, e.message)
	b = append(b, `,"type":`...)
	b = appendString(b, e.typ)
	b = append(b, `,"param":`...)
	b = appendNullable(b, e.param)
	b = append(b, `,"code":`...)
	b = appendNullable(b, e.code)
	return append(b, "}}\n"...)
}

// rawError writes an error body and counts the refusal.
func (c *call) rawError(w http.ResponseWriter, status int, b []byte, contentType string, reason Reason) {
	c.refuse(reason)
	h := w.Header()
	setHeader(h, "Content-Type", contentType)
	setHeader(h, "Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

// openAIRateHeaders sets the x-ratelimit-* headers of an answer, a 429 or not, unless the
// limits hide them.
func (c *call) openAIRateHeaders(h http.Header, refused bool) {
	if c.limits == nil || c.lim.hideHeaders(refused) {
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
	c.openAIRateHeaders(h, true)
	d := c.dec
	what, typ, reason, limit := "tokens per min (TPM)", "tokens", RefusedTPM, d.tok.limit
	if d.refused == limitRequests {
		what, typ, reason, limit = "requests per min (RPM)", "requests", RefusedRPM, d.req.limit
	}
	if d.tooLarge {
		reason = RefusedTooLarge
	} else if !c.lim.HideRetryAfter {
		setHeader(h, "Retry-After", strconv.FormatInt(seconds(d.retryAfter), 10))
		setHeader(h, "Retry-After-Ms", strconv.FormatInt(int64((d.retryAfter+999_999)/1_000_000), 10))
	}
	if status, b, ok := c.m.dialect.rateLimitError(c, limit); ok {
		c.rawError(w, status, b, "application/json", reason)
		return
	}
	if d.tooLarge {
		c.openAIError(w, &apiError{status: 429, typ: typ, code: "rate_limit_exceeded", reason: reason,
			message: fmt.Sprintf("Request too large for %s in organization %s on %s: Limit %d, Requested %d. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.", c.m.id, c.e.org, what, limit, d.requested)})
		return
	}
	c.openAIError(w, &apiError{status: 429, typ: typ, code: "rate_limit_exceeded", reason: reason,
		message: fmt.Sprintf("Rate limit reached for %s in organization %s on %s: Limit %d, Used %d, Requested %d. Please try again in %s. Visit https://platform.openai.com/account/rate-limits to learn more.", c.m.id, c.e.org, what, limit, d.used, d.requested, formatWait(d.retryAfter))})
}

// notChatModel is OpenAI's refusal of an embedding model on a generation endpoint.
func notChatModel(endpoint string) *apiError {
	return &apiError{status: 404, typ: "invalid_request_error", param: "model", reason: RefusedNotFound,
		message: "This is not a chat model and thus not supported in the " + endpoint + " endpoint. Did you mean to use v1/completions?"}
}

// redact shows a key the way OpenAI's 401 does: its first and last few characters.
func redact(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	return key[:3] + "*****" + key[len(key)-4:]
}
