package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
	"github.com/tollgate/tollgate/tokens"
)

// CountTokensRequest is a caller's token-counting request (POST /v1/messages/count_tokens):
// a Messages API body without max_tokens.
type CountTokensRequest struct {
	// Model is the body's model, a model id or a route name.
	Model string
	// Body is the caller's body, not copied.
	Body []byte
	// Estimate is the offline estimate of the input tokens that /v1/messages would bill
	// for the same system, messages and tools (tokens.AnthropicMessages, biased high): the
	// answer when no Anthropic upstream can count them.
	Estimate int
	// ID, when set, is tollgate's id of the request, sent upstream as the
	// X-Client-Request-Id header, as Do sends llm.Call.RequestID.
	ID string
}

// ParseCountTokensRequest reads a token-counting body in one pass: the model (required),
// the messages (required, an array) and the estimate of their tokens. Errors are
// *RequestError values naming the field.
func ParseCountTokensRequest(body []byte) (*CountTokensRequest, error) {
	ms, err := wire.BodyMembers(body)
	if err != nil {
		return nil, err
	}
	out := &CountTokensRequest{Body: body}
	count := tokens.NewAnthropicCounter()
	var messages []byte
	for _, m := range ms {
		raw := body[m.Start:m.End]
		count.Member(string(m.Key), raw)
		switch string(m.Key) {
		case "model":
			if err := wire.DecodeField(raw, &out.Model, "model", "a string"); err != nil {
				return nil, err
			}
		case "messages":
			messages = raw
		}
	}
	if out.Model == "" {
		return nil, wire.BadField("model", "is required: name the model to count for")
	}
	if wire.JSONKind(messages) != "an array" {
		return nil, wire.BadField("messages", "is required: an array of messages")
	}
	n, err := count.Total()
	if err != nil {
		return nil, &RequestError{Msg: err.Error()}
	}
	out.Estimate = n
	return out, nil
}

// EncodeTokenCount returns the answer of token counting, {"input_tokens": n}, for an
// estimate made without an upstream.
func EncodeTokenCount(n int) []byte {
	return []byte(`{"input_tokens":` + strconv.Itoa(n) + `}`)
}

// TokenCount is an upstream's answer to token counting.
type TokenCount struct {
	// InputTokens is the upstream's count.
	InputTokens int64
	// Body is the upstream's answer as received, to relay (it may carry more than the
	// count).
	Body []byte
	// Header is the upstream's HTTP response header, read-only: the rate-limit state of
	// the counting endpoint's own limit.
	Header http.Header
	// UpstreamRequestID is the upstream's id of the call (its request-id header).
	UpstreamRequestID string
}

// CountTokens asks the upstream how many input tokens req's body would be billed, by
// POST {base}/v1/messages/count_tokens. The body is passed through with only "model"
// rewritten (when model is not empty) and the unsigned thinking blocks that tollgate's
// encoders wrote dropped (as Do drops them), with the context's anthropic-beta (WithBeta)
// and req.ID as X-Client-Request-Id. Counting is free and is not an attempt at generation: the
// engine's quotas and budgets do not apply, and the upstream's own request limit does.
// Failures are *llm.Error values classified as Do's.
func (p *Provider) CountTokens(ctx context.Context, req *CountTokensRequest, model string) (*TokenCount, error) {
	body := req.Body
	var sets []wire.Set
	if model != "" {
		modelJSON, _ := json.Marshal(model)
		sets = append(sets, wire.Set{Key: "model", Value: modelJSON})
	}
	if msgs, ok := dropUnsignedThinking(body); ok {
		sets = append(sets, wire.Set{Key: "messages", Value: msgs})
	}
	if len(sets) > 0 {
		patched, err := wire.Patch(body, sets...)
		if err != nil {
			return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: p.name, Message: fmt.Sprintf("request body: %v", err)}
		}
		body = patched
	}
	url := strings.TrimSuffix(p.endpoint, "/v1/messages") + "/v1/messages/count_tokens"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: p.name, Err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("Anthropic-Version", APIVersion)
	if p.key != "" {
		hreq.Header.Set("X-Api-Key", p.key)
	}
	if beta := betaFrom(ctx); beta != "" {
		hreq.Header.Set("Anthropic-Beta", beta)
	}
	if req.ID != "" {
		hreq.Header.Set(wire.ClientRequestIDHeader, req.ID)
	}
	resp, err := p.client.Do(hreq)
	if err != nil {
		return nil, wire.TransportError(ctx, p.name, p.key, err)
	}
	defer resp.Body.Close()
	upstreamID := resp.Header.Get(requestIDHeader)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, p.statusError(ctx, resp, upstreamID)
	}
	raw, err := wire.ReadBody(resp.Body)
	if err != nil {
		return nil, wire.TransportError(ctx, p.name, p.key, err)
	}
	var w struct {
		InputTokens *int64 `json:"input_tokens"`
	}
	if err := json.Unmarshal(raw, &w); err != nil || w.InputTokens == nil {
		return nil, &llm.Error{Kind: llm.KindServer, Provider: p.name, Status: resp.StatusCode,
			Message: "unreadable token count", Err: err, UpstreamRequestID: upstreamID}
	}
	return &TokenCount{InputTokens: *w.InputTokens, Body: raw, Header: resp.Header, UpstreamRequestID: upstreamID}, nil
}
