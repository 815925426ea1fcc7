package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
)

// HeaderTokenCount says who counted the answer of POST /v1/messages/count_tokens:
// "upstream" (an Anthropic upstream of the route's chain) or "estimate" (tollgate's offline
// estimate, biased high: no step of the route is an Anthropic upstream that could count).
const HeaderTokenCount = "X-Tollgate-Token-Count"

var (
	valueCountUpstream = []string{"upstream"}
	valueCountEstimate = []string{"estimate"}
)

// tokenCounter is an upstream that counts a prompt's tokens without generating:
// *anthropic.Provider is one.
type tokenCounter interface {
	CountTokens(ctx context.Context, req *anthropic.CountTokensRequest, model string) (*anthropic.TokenCount, error)
}

var _ tokenCounter = (*anthropic.Provider)(nil)

// countTokens serves POST /v1/messages/count_tokens. The key and the model are checked
// as for /v1/messages; the count is then asked of the first Anthropic upstream of the
// route's chain that is not cooling down, and, when there is none or every one fails,
// answered with the offline estimate. Counting generates nothing and costs nothing, so
// no quota or budget applies (the upstream's own request limit does, and its refusal
// sends the count to the estimate rather than to the caller).
func (g *Gateway) countTokens(w http.ResponseWriter, r *http.Request) {
	x := g.begin(countTokensWire)
	defer g.record(r.Context(), x)
	h := w.Header()
	body, ok := g.accept(w, r, x)
	if !ok {
		return
	}
	creq, err := anthropic.ParseCountTokensRequest(body)
	if err != nil {
		g.fail(w, x, classify(err))
		return
	}
	if ae := g.checkModel(x.key, &llm.Request{Format: llm.Anthropic, Model: creq.Model}); ae != nil {
		g.fail(w, x, ae)
		return
	}
	x.route = creq.Model
	creq.ID = x.id
	h[HeaderRoute] = []string{headerValue(creq.Model)}
	timeout, err := requestTimeout(r)
	if err != nil {
		g.fail(w, x, classify(err))
		return
	}
	if timeout <= 0 || timeout > g.cfg.RequestTimeout {
		timeout = g.cfg.RequestTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if beta := r.Header.Get("Anthropic-Beta"); beta != "" {
		ctx = anthropic.WithBeta(ctx, beta)
	}
	b := anthropic.EncodeTokenCount(creq.Estimate)
	h[HeaderTokenCount] = valueCountEstimate
	tc, model, err := g.countUpstream(ctx, creq)
	switch {
	case err != nil:
		x.rendered(Render{Format: llm.Anthropic}.refuse(w, classify(err)))
		return
	case tc != nil:
		b, x.model = tc.Body, model
		h[HeaderTokenCount] = valueCountUpstream
		h[HeaderModel] = []string{headerValue(model)}
	}
	h[headerContentType] = valueJSON
	h[headerContentLength] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	x.status, x.outcome = http.StatusOK, outcomeOK
}

// countUpstream asks the route's Anthropic upstreams, in chain order, to count creq, and
// returns the first count with the model that counted it; nil when none could (no
// Anthropic step, each cooling down or failing). Its error is the caller's going away
// only.
func (g *Gateway) countUpstream(ctx context.Context, creq *anthropic.CountTokensRequest) (*anthropic.TokenCount, string, error) {
	route, err := g.eng.Route(creq.Model)
	if err != nil {
		return nil, "", nil
	}
	prices := g.eng.Pricing()
	for _, s := range route.Steps {
		if s.Kind != fallback.StepModel {
			continue
		}
		provider := s.Provider
		if provider == "" {
			m, err := prices.Lookup(s.Model)
			if err != nil {
				continue
			}
			provider = m.Provider
		}
		c, ok := g.eng.Provider(provider).(tokenCounter)
		if !ok || g.eng.Cooldowns().State(fallback.Deployment(provider, s.Model), time.Now()) == fallback.Open {
			continue
		}
		tc, err := c.CountTokens(ctx, creq, s.Model)
		if err == nil {
			return tc, s.Model, nil
		}
		if ctx.Err() != nil {
			return nil, "", streamErr(ctx, err)
		}
		var le *llm.Error
		if errors.As(err, &le) && le.Kind == llm.KindBadRequest {
			// The body is wrong for Anthropic as well: the caller must hear it.
			return nil, "", err
		}
		g.log.Warn("count_tokens: upstream failed; trying the next step or the estimate",
			"request", creq.ID, "model", s.Model, "err", err)
	}
	return nil, "", nil
}
