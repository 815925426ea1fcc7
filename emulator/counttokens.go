package emulator

import (
	"net/http"
	"strconv"
)

// anthropicCountTokens serves POST /v1/messages/count_tokens
// (https://docs.claude.com/en/api/messages-count-tokens): {"input_tokens": N}, where N is
// the input that POST /v1/messages would bill for the same system, messages, tools
// (with Anthropic's tool-use system prompt) and images, nothing generated. It is not
// billed and has a request limit of its own, Limits.CountTokensRPM, apart from RPM;
// Stats counts its requests in Counts.CountTokens, not in Requests.
func (e *Emulator) anthropicCountTokens(w http.ResponseWriter, r *http.Request) {
	c := e.start(r, "req_011C", 20)
	c.countTokens = true
	if !c.anthropicRequest(w, r, true) {
		return
	}
	m := e.lookup(c.req.model)
	if m == nil || m.provider != "anthropic" {
		c.anthropicError(w, &apiError{status: 404, typ: "not_found_error", reason: RefusedNotFound, message: "model: " + c.req.model})
		return
	}
	c.m = m
	m.ctr.countTokens.Add(1)
	e.stats.total.countTokens.Add(1)
	if len(c.req.tools) > 0 {
		k := c.req.choice.kind
		c.req.prompt += toolPromptTokens(m.id, k == choiceRequired || k == choiceNamed)
	}
	c.lim = m.limits.Load()
	if c.lim.CountTokensRPM > 0 {
		c.limits = e.limits.state(c.key, m, true, c.now)
		c.dec = c.limits.admit(c.now, cost{})
		if c.dec.refused != limitNone {
			c.anthropicRateLimited(w)
			return
		}
		c.anthropicRateHeaders(w.Header(), false)
	}
	b := append(make([]byte, 0, 32), `{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(c.req.prompt), 10)
	b = append(b, '}')
	h := w.Header()
	h["Content-Type"] = contentJSON
	setHeader(h, "Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}
