package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
)

// wireFormat is what differs between the two APIs a caller may speak.
type wireFormat struct {
	format llm.Format
	parse  func([]byte) (*llm.Request, error)
	hint   func([]byte) string
	encode func(*llm.Response, string) []byte
}

var (
	openAIWire    = &wireFormat{llm.OpenAI, openai.ParseRequest, openai.SessionHint, openai.EncodeResponse}
	anthropicWire = &wireFormat{llm.Anthropic, anthropic.ParseRequest, anthropic.SessionHint, anthropic.EncodeResponse}
)

// maxLabel bounds the identity values taken from headers and bodies, which become quota
// keys and log fields.
const maxLabel = 256

// exchange is one request's record, for its log line and metrics.
type exchange struct {
	wf      *wireFormat
	start   time.Time
	key     *Key
	id      string // the request id, also the ledger's
	route   string // the request's model field once known to exist
	model   string // the model that served
	outcome string
	status  int
	err     string
	out     *fallback.Outcome
}

// complete serves POST /v1/chat/completions and POST /v1/messages.
func (g *Gateway) complete(w http.ResponseWriter, r *http.Request, wf *wireFormat) {
	x := &exchange{wf: wf, start: time.Now(), id: llm.NewRequestID()}
	defer g.record(r, x)
	// Every answer, refusals included, names the request, as the providers' own answers
	// do: the official SDKs surface these headers as the request id of a response or an
	// error, and the ledger and the log carry the same id.
	w.Header()[HeaderRequestID] = []string{x.id}
	w.Header()[HeaderAnthropicRequestID] = []string{x.id}
	x.key = g.authenticate(r)
	if x.key == nil {
		g.fail(w, x, errUnauthorized)
		return
	}
	body, err := g.readBody(w, r)
	if err != nil {
		g.fail(w, x, classify(err))
		return
	}
	req, err := wf.parse(body)
	if err != nil {
		g.fail(w, x, classify(err))
		return
	}
	if ae := g.checkModel(x.key, req); ae != nil {
		g.fail(w, x, ae)
		return
	}
	x.route = req.Model
	prio, asked, capped, err := priority(r, x.key)
	if err != nil {
		g.fail(w, x, classify(err))
		return
	}
	timeout, err := requestTimeout(r)
	if err != nil {
		g.fail(w, x, classify(err))
		return
	}
	req.ID = x.id
	req.Identity = identity(r, x.key, func() string { return wf.hint(body) }, prio)
	if len(req.Identity.Session) > maxLabel || len(req.Identity.Agent) > maxLabel {
		g.fail(w, x, badRequest(fmt.Sprintf("session and agent ids are limited to %d bytes", maxLabel)))
		return
	}
	h := w.Header()
	switch {
	case capped:
		h.Set(HeaderPriorityOut, strconv.Itoa(prio)+"; requested="+strconv.Itoa(asked))
	case r.Header.Get(HeaderPriority) != "":
		h.Set(HeaderPriorityOut, strconv.Itoa(prio))
	}
	h.Set(HeaderRoute, headerValue(req.Model))

	if timeout <= 0 || timeout > g.cfg.RequestTimeout {
		timeout = g.cfg.RequestTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := g.eng.Do(ctx, req)
	resp, out := res.Response, &res.Outcome
	x.out = out
	if err != nil {
		g.fail(w, x, classify(err))
		return
	}
	x.model = resp.Model
	if x.model == "" {
		x.model = out.Served
	}
	x.outcome, x.status = successOutcome(resp, out), http.StatusOK
	if out.FellBack() {
		g.metrics.fallback(req.Model, out)
	}
	g.answerHeaders(h, res, x.model)
	switch {
	case resp.Stream != nil:
		g.relay(ctx, w, x, req, resp)
	case req.Stream:
		g.replay(w, x, req, resp)
	default:
		b := resp.Body
		if resp.Format != wf.format || len(b) == 0 {
			b = wf.encode(resp, x.model)
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	}
}

func successOutcome(resp *llm.Response, out *fallback.Outcome) string {
	switch {
	case resp.Cached:
		return outcomeCached
	case out.Served == "static":
		return outcomeStatic
	case out.FellBack():
		return outcomeFallback
	}
	return outcomeOK
}

func (g *Gateway) authenticate(r *http.Request) *Key {
	if k := g.keys.find(secret(r)); k != nil {
		return k
	}
	// A client may send both headers (an Anthropic SDK with an auth token set as well):
	// either may carry the virtual key.
	if r.Header.Get("Authorization") != "" {
		return g.keys.find(r.Header.Get("X-Api-Key"))
	}
	return nil
}

// readBody reads the whole body, at most Config.MaxBodyBytes (*http.MaxBytesError beyond).
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := g.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	n := r.ContentLength
	if n < 0 {
		n = 512
	}
	buf := make([]byte, 0, n+1) // +1: ReadAll sees EOF without growing
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		k, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	// The body is read: lift the server's ReadTimeout, whose expiry would otherwise cancel
	// the request's context in the middle of a long stream.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	return buf, nil
}

// checkModel refuses a model the gateway does not serve (404), one the key may not use
// (403), and a max_tokens that no model of the route can produce (400).
func (g *Gateway) checkModel(k *Key, req *llm.Request) *apiError {
	name := req.Model
	maxOut, known := g.resolve(name)
	if !known {
		return notFound(fmt.Sprintf("tollgate: model or route %q does not exist or is not available to this key; available: %s",
			name, listForMessage(g.visible(k))))
	}
	if !k.allows(name) {
		return &apiError{status: http.StatusForbidden, oaType: "invalid_request_error", oaCode: "model_not_allowed",
			anType: "permission_error", outcome: outcomeForbidden,
			msg: fmt.Sprintf("tollgate: virtual key %q may not use %q; it may use: %s", k.ID, name, listForMessage(g.visible(k)))}
	}
	if maxOut > 0 && req.MaxTokens > maxOut {
		return badRequest(fmt.Sprintf("max_tokens: %d is more than %q can produce (at most %d output tokens)",
			req.MaxTokens, name, maxOut))
	}
	return nil
}

// resolve reports whether the gateway serves name, and the largest max_tokens that a model
// of its route accepts (0 when no model step is priced).
func (g *Gateway) resolve(name string) (maxOut int, ok bool) {
	if g.models != nil && !g.models[name] {
		return 0, false
	}
	route, err := g.eng.Route(name)
	if err != nil {
		return 0, false
	}
	prices := g.eng.Pricing()
	priced := false
	for _, s := range route.Steps {
		if s.Kind != fallback.StepModel {
			continue
		}
		if m, err := prices.Lookup(s.Model); err == nil {
			priced = true
			maxOut = max(maxOut, m.MaxOutput)
		}
	}
	// A configured name is served even when unpriced: the engine then says why it fails.
	return maxOut, priced || g.models != nil
}

func listForMessage(names []string) string {
	const max = 20
	if len(names) == 0 {
		return "none"
	}
	if len(names) > max {
		return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more (GET /v1/models)", len(names)-max)
	}
	return strings.Join(names, ", ")
}

// answerHeaders sets what tollgate says about an answer: the model that served, the route,
// why it fell back, cache state, clamping, and the caller's quotas, from the engine's
// result alone.
func (g *Gateway) answerHeaders(h http.Header, res *engine.Result, model string) {
	out := &res.Outcome
	h.Set(HeaderModel, headerValue(model))
	if out.FallbackReason != "" && len(out.Attempts) > 1 {
		h.Set(HeaderFallbackReason, headerValue(out.FallbackReason))
	}
	if res.Response.Cached {
		cache := "hit"
		if out.Stale {
			cache = "stale"
		}
		h.Set(HeaderCache, cache)
	}
	if out.Clamped > 0 {
		h.Set(HeaderClamped, strconv.Itoa(out.Clamped))
	}
	if len(res.Statuses) == 0 {
		return
	}
	setQuotaHeaders(h, res.Statuses, time.Now())
	g.metrics.budgets(res.Statuses)
}

// fail answers with e in the caller's format.
func (g *Gateway) fail(w http.ResponseWriter, x *exchange, e *apiError) {
	x.outcome, x.err = e.outcome, e.msg
	x.status = e.status
	if x.wf.format == llm.Anthropic {
		x.status = e.anStatus()
	}
	writeError(w, x.wf.format, e)
}

// record logs a request and counts it.
func (g *Gateway) record(r *http.Request, x *exchange) {
	d := time.Since(x.start)
	g.metrics.request(string(x.wf.format), x.route, x.model, x.outcome, d)
	if x.err == "" && (x.out == nil || !x.out.FellBack()) {
		return
	}
	attrs := []any{"format", string(x.wf.format), "status", x.status, "outcome", x.outcome,
		"route", x.route, "duration", d}
	if x.key != nil {
		attrs = append(attrs, "key", x.key.ID, "tenant", x.key.Tenant)
	}
	if x.out != nil && len(x.out.Attempts) > 0 {
		attrs = append(attrs, "chain", x.out)
	}
	if x.err != "" {
		attrs = append(attrs, "err", x.err)
	}
	level := slogLevel(x.status)
	g.log.Log(r.Context(), level, "gateway: request", attrs...)
}
