package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
	"github.com/tollgate/tollgate/retry"
)

// requestIDHeader is where OpenAI names its id of a call.
const requestIDHeader = "X-Request-Id"

// DefaultBaseURL is the OpenAI API root that Config.BaseURL defaults to.
const DefaultBaseURL = "https://api.openai.com/v1"

// Config configures a Provider. The zero value talks to api.openai.com without a key.
type Config struct {
	// BaseURL is the API root including its version path; requests go to
	// BaseURL + "/chat/completions". Default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <APIKey>" when not empty. It never appears
	// in an error.
	APIKey string
	// HTTPClient performs the calls. Default: a client with keep-alive pools sized for a
	// gateway (256 idle connections per host) and no overall timeout, since the caller's
	// context bounds each call and streams last as long as they last.
	HTTPClient *http.Client
	// Name identifies the provider in errors and metrics. Default "openai".
	Name string
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.BaseURL == "" {
		return nil
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("openai: Config.BaseURL: want an http(s) URL, got %q", c.BaseURL)
	}
	return nil
}

// Provider calls the OpenAI Chat Completions, Responses and embeddings APIs. It is safe
// for concurrent use.
type Provider struct {
	endpoint string
	key      string
	client   *http.Client
	name     string
}

var _ llm.Provider = (*Provider)(nil)

// New returns a Provider for cfg.
func New(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Provider{endpoint: DefaultBaseURL, key: cfg.APIKey, client: cfg.HTTPClient, name: cfg.Name}
	if cfg.BaseURL != "" {
		p.endpoint = strings.TrimRight(cfg.BaseURL, "/")
	}
	p.endpoint += "/chat/completions"
	if p.client == nil {
		p.client = wire.NewClient()
	}
	if p.name == "" {
		p.name = "openai"
	}
	return p, nil
}

// Name returns the provider's name from Config.Name.
func (p *Provider) Name() string { return p.name }

// Do performs one attempt of call, at the endpoint of the request's format: a Chat
// Completions or Anthropic request at /chat/completions, a Responses request at
// /responses (answered in llm.Responses format), an embeddings request at /embeddings. A
// non-streaming call returns once the whole answer is read. A streaming call returns as soon as the upstream answered 200 with its headers, so
// that a refusal can still be handled before anything reaches the client; the caller then
// reads Response.Stream and must close it. Every failure is an *llm.Error except the
// caller's own cancellation, which is returned wrapped (errors.Is(err, context.Canceled)).
func (p *Provider) Do(ctx context.Context, call llm.Call) (*llm.Response, error) {
	if call.Request != nil {
		switch call.Request.Format {
		case llm.Responses:
			return p.doResponses(ctx, call)
		case llm.Embeddings:
			return p.doEmbeddings(ctx, call)
		}
	}
	body, addedUsage, err := encodeRequest(call)
	if err != nil {
		var le *llm.Error
		if errors.As(err, &le) {
			le.Provider = p.name
		}
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: p.name, Err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	if p.key != "" {
		hreq.Header.Set("Authorization", "Bearer "+p.key)
	}
	if call.RequestID != "" {
		hreq.Header.Set(wire.ClientRequestIDHeader, call.RequestID)
	}
	stream := call.Request.Stream
	if stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	resp, err := p.client.Do(hreq)
	if err != nil {
		return nil, wire.TransportError(ctx, p.name, p.key, err)
	}
	upstreamID := resp.Header.Get(requestIDHeader)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, p.statusError(ctx, resp, upstreamID)
	}
	model := call.Model
	if model == "" {
		model = call.Request.Model
	}
	if stream {
		return &llm.Response{Format: llm.OpenAI, Model: model, Header: resp.Header, UpstreamRequestID: upstreamID,
			Stream: newStream(resp.Body, p.name, p.key, addedUsage)}, nil
	}
	defer resp.Body.Close()
	raw, err := wire.ReadBody(resp.Body)
	if err != nil {
		// The upstream answered 200 and the body broke off: the answer was generated, and
		// its id says so to the caller, who may have to pay for it.
		err = wire.TransportError(ctx, p.name, p.key, err)
		var le *llm.Error
		if errors.As(err, &le) {
			le.UpstreamRequestID = upstreamID
		}
		return nil, err
	}
	if errorBody(raw) {
		// LM Studio and some proxies answer 200 with an error body instead of a 4xx.
		e := p.upstreamError(0, raw)
		e.UpstreamRequestID = upstreamID
		return nil, e
	}
	out, err := ParseResponse(raw)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindServer, Provider: p.name, Status: resp.StatusCode,
			Message: "unreadable response body", Err: err}
	}
	if out.Model == "" {
		out.Model = model
	}
	out.Header = resp.Header
	out.UpstreamRequestID = upstreamID
	return out, nil
}

func (p *Provider) statusError(ctx context.Context, resp *http.Response, upstreamID string) error {
	raw, err := wire.ReadBody(resp.Body)
	if err != nil && len(raw) == 0 && ctx.Err() != nil {
		return wire.TransportError(ctx, p.name, p.key, err)
	}
	e := p.upstreamError(resp.StatusCode, raw)
	e.Header = resp.Header
	e.UpstreamRequestID = upstreamID
	if d, ok := retry.ServerDelay(resp.StatusCode, resp.Header, time.Now()); ok {
		e.RetryAfter = d
	}
	return e
}

type wireResponse struct {
	ID      string `json:"id"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
			Refusal *string `json:"refusal"`
			// ReasoningContent and Reasoning are the visible reasoning of OpenAI-compatible
			// servers (DeepSeek, vLLM, SGLang, Ollama, OpenRouter); OpenAI sends none.
			ReasoningContent *string         `json:"reasoning_content"`
			Reasoning        json.RawMessage `json:"reasoning"`
			ToolCalls        []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
			FunctionCall *struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function_call"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *wireUsage `json:"usage"`
}

// wireUsage is the usage object of Chat Completions. prompt_tokens counts every prompt
// token, cached ones included; completion_tokens every generated token over all choices,
// reasoning included. DeepSeek reports its cache hits as prompt_cache_hit_tokens.
type wireUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
	PromptCacheHitTokens *int64 `json:"prompt_cache_hit_tokens"`
}

func (u *wireUsage) usage() llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	out := llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	switch {
	case u.PromptTokensDetails != nil && u.PromptTokensDetails.CachedTokens > 0:
		out.CachedInputTokens = u.PromptTokensDetails.CachedTokens
	case u.PromptCacheHitTokens != nil:
		out.CachedInputTokens = *u.PromptCacheHitTokens
	}
	if u.CompletionTokensDetails != nil {
		out.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return out
}

// errorBody reports whether a 200 body is an error object rather than a completion: it has
// a non-null "error" and no "choices".
func errorBody(raw []byte) bool {
	e, ok := wire.Get(raw, "error")
	if !ok || isNull(e) {
		return false
	}
	_, hasChoices := wire.Get(raw, "choices")
	return !hasChoices
}

// ParseResponse reads a non-streaming Chat Completions response body: its id and creation
// time, the first choice's text (or refusal), visible reasoning (reasoning_content or
// reasoning, from OpenAI-compatible servers), tool calls (the legacy function_call as one
// call without an id) and finish reason, and the usage. Body is raw, not copied.
func ParseResponse(raw []byte) (*llm.Response, error) {
	var w wireResponse
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("openai: response body: %w", err)
	}
	out := &llm.Response{Format: llm.OpenAI, Model: w.Model, ID: w.ID, Body: raw, Usage: w.Usage.usage()}
	if w.Created > 0 {
		out.Created = time.Unix(w.Created, 0).UTC()
	}
	if len(w.Choices) > 0 {
		c := w.Choices[0]
		m := &c.Message
		out.StopReason = c.FinishReason
		switch {
		case m.Content != nil && *m.Content != "":
			out.Text = *m.Content
		case m.Refusal != nil:
			out.Text = *m.Refusal
		case m.Content != nil:
			out.Text = *m.Content
		}
		switch {
		case m.ReasoningContent != nil:
			out.Reasoning = *m.ReasoningContent
		case len(m.Reasoning) > 0 && m.Reasoning[0] == '"':
			_ = json.Unmarshal(m.Reasoning, &out.Reasoning)
		}
		for _, tc := range m.ToolCalls {
			out.ToolCalls = append(out.ToolCalls, llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		if fc := m.FunctionCall; fc != nil {
			out.ToolCalls = append(out.ToolCalls, llm.ToolCall{Name: fc.Name, Arguments: fc.Arguments})
		}
	}
	return out, nil
}
