package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
)

// wireFormat is what differs between the two APIs a caller may speak.
type wireFormat struct {
	format llm.Format
	// parse reads a body once into the request and what the gateway needs besides it.
	parse func([]byte) (*llm.Request, parsed, error)
}

// parsed is what the gateway takes from a request body besides the neutral request: the
// body's session hint and whether a stream re-encoded for the caller ends with a usage
// chunk.
type parsed struct {
	hint         string
	includeUsage bool
}

var (
	openAIWire = &wireFormat{format: llm.OpenAI,
		parse: func(b []byte) (*llm.Request, parsed, error) {
			req, info, err := openai.ParseRequestInfo(b)
			return req, parsed{hint: info.SessionHint, includeUsage: info.IncludeUsage}, err
		}}
	anthropicWire = &wireFormat{format: llm.Anthropic,
		parse: func(b []byte) (*llm.Request, parsed, error) {
			req, info, err := anthropic.ParseRequestInfo(b)
			return req, parsed{hint: info.SessionHint}, err
		}}
	responsesWire = &wireFormat{format: llm.Responses,
		parse: func(b []byte) (*llm.Request, parsed, error) {
			req, info, err := openai.ParseResponsesRequest(b)
			return req, parsed{hint: info.SessionHint}, err
		}}
	embeddingsWire = &wireFormat{format: llm.Embeddings,
		parse: func(b []byte) (*llm.Request, parsed, error) {
			req, info, err := openai.ParseEmbeddingsRequest(b)
			return req, parsed{hint: info.SessionHint}, err
		}}
	// countTokensWire is POST /v1/messages/count_tokens: its body is parsed by the
	// handler itself, and its errors are Anthropic's.
	countTokensWire = &wireFormat{format: llm.Anthropic}
)

// maxLabel bounds the identity values taken from headers and bodies, which become quota
// keys and log fields.
const maxLabel = 256

// accept names the request in the answer's headers, authenticates its virtual key and
// reads its body; it reports false when it has answered with a refusal. Every answer,
// refusals included, names the request, as the providers' own answers do: the official
// SDKs surface these headers as the request id of a response or an error, and the ledger
// and the log carry the same id.
func (g *Gateway) accept(w http.ResponseWriter, r *http.Request, x *exchange) ([]byte, bool) {
	SetRequestID(w.Header(), x.wf.format, x.id)
	x.key = g.authenticate(r)
	if x.key == nil {
		g.fail(w, x, errUnauthorized)
		return nil, false
	}
	x.ident.Key, x.ident.Tenant = x.key.ID, x.key.Tenant
	body, err := g.readBody(w, r)
	if err != nil {
		g.fail(w, x, classify(err))
		return nil, false
	}
	return body, true
}

// complete serves POST /v1/chat/completions, /v1/messages, /v1/responses and
// /v1/embeddings: one life of a request over the engine, whatever its format.
func (g *Gateway) complete(w http.ResponseWriter, r *http.Request, wf *wireFormat) {
	x := g.begin(wf)
	defer g.record(r.Context(), x)
	h := w.Header()
	body, ok := g.accept(w, r, x)
	if !ok {
		return
	}
	req, p, err := wf.parse(body)
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
	req.Identity = identity(r, x.key, p.hint, prio)
	x.ident = req.Identity
	if len(req.Identity.Session) > maxLabel || len(req.Identity.Agent) > maxLabel {
		g.fail(w, x, badRequest(fmt.Sprintf("session and agent ids are limited to %d bytes", maxLabel)))
		return
	}
	if x.key.RequireSession && req.Identity.Session == "" {
		g.fail(w, x, badRequest(fmt.Sprintf("tollgate: virtual key %q requires a session id: send the %s header "+
			"(or the OpenAI \"user\" field, or the Anthropic metadata.user_id), so that the session's budget applies",
			x.key.ID, HeaderSessionID)))
		return
	}
	switch {
	case capped:
		h[HeaderPriorityOut] = []string{strconv.Itoa(prio) + "; requested=" + strconv.Itoa(asked)}
	case r.Header.Get(HeaderPriority) != "":
		h[HeaderPriorityOut] = []string{strconv.Itoa(prio)}
	}
	h[HeaderRoute] = []string{headerValue(req.Model)}

	if timeout <= 0 || timeout > g.cfg.RequestTimeout {
		timeout = g.cfg.RequestTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if beta := r.Header.Get("Anthropic-Beta"); beta != "" && wf.format == llm.Anthropic {
		// The beta features the caller opted into go to an Anthropic step as sent; a
		// translated step gets none (the Anthropic adapter drops it).
		ctx = anthropic.WithBeta(ctx, beta)
	}
	res, err := g.eng.Do(ctx, req)
	x.res = res
	if err == nil {
		x.model = res.Response.Model
	}
	x.rendered(Render{Format: wf.format, Stream: req.Stream, IncludeUsage: p.includeUsage,
		BudgetStatus: x.live.budgetStatus}.Result(ctx, w, res, err))
}

// successOutcome labels an answer: from the cache, from a static step (no upstream served
// and not the cache), after a fallback, or straight from the route's first step.
func successOutcome(res *engine.Result) string {
	switch {
	case res.Response.Cached:
		return outcomeCached
	case res.Provider == "":
		return outcomeStatic
	case res.Outcome.FellBack():
		return outcomeFallback
	}
	return outcomeOK
}

// authenticate returns the valid virtual key of the request, nil when it has none.
func (g *Gateway) authenticate(r *http.Request) *keys.Key {
	if k, ok := g.keys.Find(secret(r)); ok {
		return k
	}
	// A client may send both headers (an Anthropic SDK with an auth token set as well):
	// either may carry the virtual key.
	if r.Header.Get("Authorization") != "" {
		if k, ok := g.keys.Find(r.Header.Get("X-Api-Key")); ok {
			return k
		}
	}
	return nil
}

// errSlowBody is a request body that did not arrive within the server's ReadTimeout.
type errSlowBody struct{ limit time.Duration }

func (e *errSlowBody) Error() string {
	return "tollgate: the request body did not arrive within " + e.limit.String() + "; send it faster or in a smaller request"
}

// readBody reads the whole body, at most Config.MaxBodyBytes (*http.MaxBytesError beyond);
// a body that arrives slower than the server's ReadTimeout is an *errSlowBody.
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
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, &errSlowBody{limit: g.cfg.ReadTimeout}
			}
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
func (g *Gateway) checkModel(k *keys.Key, req *llm.Request) *apiError {
	name := req.Model
	maxOut, known := g.resolve(name)
	if !known {
		return notFound(fmt.Sprintf("tollgate: model or route %q does not exist or is not available to this key; available: %s",
			name, listForMessage(g.visible(k))))
	}
	if !k.Allows(name) {
		return &apiError{status: http.StatusForbidden, oaType: "invalid_request_error", oaCode: "model_not_allowed",
			anType: "permission_error", outcome: outcomeForbidden,
			msg: fmt.Sprintf("tollgate: virtual key %q may not use %q; it may use: %s", k.ID, name, listForMessage(g.visible(k)))}
	}
	if maxOut > 0 && req.MaxTokens > maxOut {
		field := "max_tokens"
		if req.Format == llm.Responses {
			field = "max_output_tokens"
		}
		return badRequest(fmt.Sprintf("%s: %d is more than %q can produce (at most %d output tokens)",
			field, req.MaxTokens, name, maxOut))
	}
	return nil
}

// resolve reports whether the gateway serves name, and the largest max_tokens that a model
// of its route accepts (0 when no model step is priced). Config.Models are resolved once,
// in New, and a dated id of one of them is served as it; other names (any route or priced
// model, when Config.Models is empty) are resolved each time.
func (g *Gateway) resolve(name string) (maxOut int, ok bool) {
	if g.models != nil {
		if m, ok := g.models[name]; ok {
			return m, true
		}
		// A dated or floating id of a listed model ("gpt-4o-2024-08-06" of "gpt-4o") is
		// that model, as the price table resolves it.
		if pm, err := g.eng.Pricing().Lookup(name); err == nil && pm.Name != name {
			m, ok := g.models[pm.Name]
			return m, ok
		}
		return 0, false
	}
	return g.routeMaxOutput(name)
}

// routeMaxOutput is resolve's answer from the engine's routes and price table: the one
// place the gateway reads them.
func (g *Gateway) routeMaxOutput(name string) (maxOut int, ok bool) {
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
func answerHeaders(h http.Header, res *engine.Result, model string) {
	out := &res.Outcome
	h[HeaderModel] = []string{headerValue(model)}
	if out.FallbackReason != "" && len(out.Attempts) > 1 {
		h[HeaderFallbackReason] = []string{headerValue(out.FallbackReason)}
	}
	if res.Response.Cached {
		if out.Stale {
			h[HeaderCache] = valueStale
		} else {
			h[HeaderCache] = valueHit
		}
	}
	if out.Clamped > 0 {
		h[HeaderClamped] = []string{strconv.Itoa(out.Clamped)}
	}
	if len(res.Statuses) > 0 {
		setQuotaHeaders(h, res.Statuses, time.Now())
	}
}

// fail answers with e in the caller's format.
func (g *Gateway) fail(w http.ResponseWriter, x *exchange, e *apiError) {
	x.rendered(Render{Format: x.wf.format, BudgetStatus: x.live.budgetStatus}.refuse(w, e))
}

// rendered records what the answer was.
func (x *exchange) rendered(r Rendered) {
	x.status, x.outcome, x.source, x.err = r.Status, r.Outcome, r.Source, r.Err
}
