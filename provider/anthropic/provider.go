package anthropic

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

// DefaultBaseURL is the Anthropic API root that Config.BaseURL defaults to.
const DefaultBaseURL = "https://api.anthropic.com"

// requestIDHeader is where Anthropic names its id of a call.
const requestIDHeader = "Request-Id"

// APIVersion is the anthropic-version header sent with every call.
const APIVersion = "2023-06-01"

// Config configures a Provider. The zero value talks to api.anthropic.com without a key.
type Config struct {
	// BaseURL is the API root without the version path; requests go to
	// BaseURL + "/v1/messages". Default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as "x-api-key" when not empty. It never appears in an error.
	APIKey string
	// HTTPClient performs the calls. Default: a client with keep-alive pools sized for a
	// gateway (256 idle connections per host) and no overall timeout, since the caller's
	// context bounds each call and streams last as long as they last.
	HTTPClient *http.Client
	// Name identifies the provider in errors and metrics. Default "anthropic".
	Name string
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.BaseURL == "" {
		return nil
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("anthropic: Config.BaseURL: want an http(s) URL, got %q", c.BaseURL)
	}
	return nil
}

// Provider calls the Anthropic Messages API. It is safe for concurrent use.
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
	p.endpoint += "/v1/messages"
	if p.client == nil {
		p.client = wire.NewClient()
	}
	if p.name == "" {
		p.name = "anthropic"
	}
	return p, nil
}

// Name returns the provider's name from Config.Name.
func (p *Provider) Name() string { return p.name }

// Do performs one attempt of call. A non-streaming call returns once the whole answer is
// read. A streaming call returns as soon as the upstream answered 200 with its headers, so
// that a refusal can still be handled before anything reaches the client; the caller then
// reads Response.Stream and must close it. Every failure is an *llm.Error except the
// caller's own cancellation, which is returned wrapped (errors.Is(err, context.Canceled)).
func (p *Provider) Do(ctx context.Context, call llm.Call) (*llm.Response, error) {
	body, responseTool, err := encodeRequest(call)
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
	hreq.Header.Set("Anthropic-Version", APIVersion)
	if p.key != "" {
		hreq.Header.Set("X-Api-Key", p.key)
	}
	if beta := betaFrom(ctx); beta != "" && call.Request.Format == llm.Anthropic && call.Request.Body != nil {
		hreq.Header.Set("Anthropic-Beta", beta)
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
		return &llm.Response{Format: llm.Anthropic, Model: model, Created: time.Now(), Header: resp.Header, UpstreamRequestID: upstreamID,
			Stream: newStream(resp.Body, p.name, p.key, responseTool)}, nil
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
	out, err := parseResponse(raw, responseTool)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindServer, Provider: p.name, Status: resp.StatusCode,
			Message: "unreadable response body", Err: err}
	}
	// A message says not when it was made: when it arrived is the closest.
	out.Created = time.Now()
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

// wireUsage is Anthropic's usage object. input_tokens counts only the prompt tokens after
// the last cache breakpoint; cache_read_input_tokens and cache_creation_input_tokens count
// the ones read from and written to the prompt cache, and cache_creation splits the writes
// by TTL. Pointers tell a field that is absent (or null) from a zero, which matters when
// merging the cumulative figures of a stream.
type wireUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreation            *struct {
		Ephemeral5m *int64 `json:"ephemeral_5m_input_tokens"`
		Ephemeral1h *int64 `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
	OutputTokens *int64 `json:"output_tokens"`
}

// tally holds the latest cumulative figures of a stream, or those of one response.
type tally struct{ input, cacheCreate, cacheRead, write5m, write1h, output int64 }

// merge takes the figures u reports. Every figure Anthropic streams is cumulative, so the
// latest is the largest: taking the maximum never double-counts, whichever events carry it.
// withOutput is false for message_start, whose output_tokens is a placeholder (1 or so)
// sent before anything was generated, not a count.
func (t *tally) merge(u *wireUsage, withOutput bool) {
	if u == nil {
		return
	}
	take := func(dst *int64, v *int64) {
		if v != nil && *v > *dst {
			*dst = *v
		}
	}
	take(&t.input, u.InputTokens)
	take(&t.cacheCreate, u.CacheCreationInputTokens)
	take(&t.cacheRead, u.CacheReadInputTokens)
	if c := u.CacheCreation; c != nil {
		take(&t.write5m, c.Ephemeral5m)
		take(&t.write1h, c.Ephemeral1h)
	}
	if withOutput {
		take(&t.output, u.OutputTokens)
	}
}

// usage converts to tollgate's Usage, whose input counts every prompt token: Anthropic's
// uncached input_tokens plus the cache reads and writes. Writes are 5-minute ones except
// the part cache_creation.ephemeral_1h_input_tokens reports (a response without the split,
// from before the 1-hour TTL existed, wrote with the 5-minute one).
func (t tally) usage() llm.Usage {
	writes := max(t.cacheCreate, t.write5m+t.write1h)
	return llm.Usage{
		InputTokens:        t.input + writes + t.cacheRead,
		CachedInputTokens:  t.cacheRead,
		CacheWriteTokens:   writes,
		CacheWrite1hTokens: min(t.write1h, writes),
		OutputTokens:       t.output,
	}
}

type wireResponse struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Content []struct {
		Type     string          `json:"type"`
		Text     string          `json:"text"`
		Thinking string          `json:"thinking"`
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Input    json.RawMessage `json:"input"`
	} `json:"content"`
	StopReason string     `json:"stop_reason"`
	Usage      *wireUsage `json:"usage"`
}

// ParseResponse reads a non-streaming Messages API response body: its id, its text blocks
// joined, its thinking blocks joined (as Reasoning), its tool_use blocks (the input as
// compact JSON text), the stop reason and the usage. Body is raw, not copied; Created is
// left zero (a message does not say when it was made: Do sets the time it arrived).
func ParseResponse(raw []byte) (*llm.Response, error) {
	return parseResponse(raw, "")
}

// parseResponse reads the tool_use of responseTool, when set, as the answer's text (see
// translate.Request.ResponseTool): the caller asked for a JSON answer, not a tool call.
func parseResponse(raw []byte, responseTool string) (*llm.Response, error) {
	var w wireResponse
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("anthropic: response body: %w", err)
	}
	var t tally
	t.merge(w.Usage, true)
	out := &llm.Response{Format: llm.Anthropic, Model: w.Model, ID: w.ID, Body: raw, StopReason: w.StopReason, Usage: t.usage()}
	var text, reasoning strings.Builder
	answered := false
	for _, c := range w.Content {
		switch c.Type {
		case "text":
			text.WriteString(c.Text)
		case "thinking":
			reasoning.WriteString(c.Thinking)
		case "tool_use":
			args := compactInput(c.Input)
			if responseTool != "" && c.Name == responseTool {
				text.WriteString(args)
				answered = true
				continue
			}
			out.ToolCalls = append(out.ToolCalls, llm.ToolCall{ID: c.ID, Name: c.Name, Arguments: args})
		}
	}
	out.Text, out.Reasoning = text.String(), reasoning.String()
	if answered && len(out.ToolCalls) == 0 && out.StopReason == "tool_use" {
		out.StopReason = "end_turn"
	}
	return out, nil
}

// compactInput returns a tool input as compact JSON text; a missing input is no
// arguments.
func compactInput(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return "{}"
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
