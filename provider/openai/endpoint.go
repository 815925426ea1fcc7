package openai

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// url returns the URL of the API path (such as "/responses") under the configured base.
func (p *Provider) url(path string) string {
	return strings.TrimSuffix(p.endpoint, "/chat/completions") + path
}

// post sends body to url, with tollgate's request id (llm.Call.RequestID) when not
// empty, and returns the upstream's 2xx answer with its body unread and the upstream's id
// of the call, or the classified failure: a transport error, or the status and body of
// any other answer.
func (p *Provider) post(ctx context.Context, url string, body []byte, stream bool, requestID string) (*http.Response, string, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, "", &llm.Error{Kind: llm.KindBadRequest, Provider: p.name, Err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	if p.key != "" {
		hreq.Header.Set("Authorization", "Bearer "+p.key)
	}
	if requestID != "" {
		hreq.Header.Set(wire.ClientRequestIDHeader, requestID)
	}
	if stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	resp, err := p.client.Do(hreq)
	if err != nil {
		return nil, "", wire.TransportError(ctx, p.name, p.key, err)
	}
	upstreamID := resp.Header.Get(requestIDHeader)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, upstreamID, p.statusError(ctx, resp, upstreamID)
	}
	return resp, upstreamID, nil
}

// readWhole reads a 2xx answer's body, at most limit bytes. A body that breaks off was
// generated all the same: the failure names the upstream's id of the call, so that the
// caller may charge it.
func (p *Provider) readWhole(ctx context.Context, resp *http.Response, upstreamID string, limit int) ([]byte, error) {
	raw, err := wire.ReadBodyLimit(resp.Body, limit)
	if err != nil {
		err = wire.TransportError(ctx, p.name, p.key, err)
		var le *llm.Error
		if errors.As(err, &le) {
			le.UpstreamRequestID = upstreamID
		}
		return nil, err
	}
	return raw, nil
}

// named sets the provider's name on an *llm.Error that an encoder made.
func (p *Provider) named(err error) error {
	var le *llm.Error
	if errors.As(err, &le) {
		le.Provider = p.name
	}
	return err
}

// doResponses performs one attempt of a Responses API call: POST {base}/responses.
func (p *Provider) doResponses(ctx context.Context, call llm.Call) (*llm.Response, error) {
	body, err := EncodeResponsesRequest(call)
	if err != nil {
		return nil, p.named(err)
	}
	stream := call.Request.Stream
	resp, upstreamID, err := p.post(ctx, p.url("/responses"), body, stream, call.RequestID)
	if err != nil {
		return nil, err
	}
	model := call.Model
	if model == "" {
		model = call.Request.Model
	}
	if stream {
		return &llm.Response{Format: llm.Responses, Model: model, Header: resp.Header, UpstreamRequestID: upstreamID,
			Stream: newResponsesStream(resp.Body, p.name, p.key)}, nil
	}
	defer resp.Body.Close()
	raw, err := p.readWhole(ctx, resp, upstreamID, wire.MaxBody)
	if err != nil {
		return nil, err
	}
	out, err := parseResponses(raw, p.name, p.key)
	if err != nil {
		var le *llm.Error
		if errors.As(err, &le) {
			le.Header, le.UpstreamRequestID = resp.Header, upstreamID
			return nil, le
		}
		return nil, &llm.Error{Kind: llm.KindServer, Provider: p.name, Status: resp.StatusCode,
			Message: "unreadable response body", Err: err, UpstreamRequestID: upstreamID}
	}
	if out.Model == "" {
		out.Model = model
	}
	out.Header, out.UpstreamRequestID = resp.Header, upstreamID
	return out, nil
}
