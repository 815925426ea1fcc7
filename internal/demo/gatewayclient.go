package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate/gateway"
	"github.com/tollgate/tollgate/llm"
)

// gatewayClient calls the gateway over HTTP with the official OpenAI Go SDK, exactly as an
// agent in production does: base URL pointed at the gateway, the session's virtual key as
// the API key, identity in X-Session-Id, X-Agent-Id and X-Priority, and its deadline in
// X-Request-Timeout. It knows nothing of the
// engine: everything it reports comes from the HTTP answer (status, headers, body).
type gatewayClient struct {
	// sdk holds one SDK client per session, each with the session's virtual key.
	sdk map[string]openai.Client
}

var _ client = (*gatewayClient)(nil)

// newGatewayClient returns a client of the gateway at baseURL (its /v1 root) that sends
// each session's requests with keys[session].
func newGatewayClient(baseURL string, keys map[string]string, hc *http.Client) *gatewayClient {
	c := &gatewayClient{sdk: make(map[string]openai.Client, len(keys))}
	for session, secret := range keys {
		c.sdk[session] = openai.NewClient(option.WithBaseURL(baseURL), option.WithAPIKey(secret),
			option.WithHTTPClient(hc),
			// tollgate is the one retry layer: an SDK that retried too would multiply the
			// load on a limit that is already refusing, and hide the refusals the report
			// counts.
			option.WithMaxRetries(0))
	}
	return c
}

// Do sends req as a Chat Completions request; a streamed answer is read to its end. Errors
// are *callError.
func (c *gatewayClient) Do(ctx context.Context, req *llm.Request) (answer, error) {
	sdk, ok := c.sdk[req.Identity.Session]
	if !ok {
		return answer{}, &callError{reason: "no key", err: fmt.Errorf("no virtual key for session %q", req.Identity.Session)}
	}
	params := openai.ChatCompletionNewParams{Model: req.Model}
	if req.System != "" {
		params.Messages = append(params.Messages, openai.SystemMessage(req.System))
	}
	for _, m := range req.Messages {
		params.Messages = append(params.Messages, openai.UserMessage(m.Content))
	}
	if req.MaxTokens > 0 {
		params.MaxTokens = openai.Int(int64(req.MaxTokens))
	}
	var hr *http.Response
	opts := []option.RequestOption{option.WithResponseInto(&hr),
		option.WithHeader(gateway.HeaderSessionID, req.Identity.Session),
		option.WithHeader(gateway.HeaderAgentID, req.Identity.Agent),
		option.WithHeader(gateway.HeaderPriority, strconv.Itoa(req.Identity.Priority))}
	if deadline, ok := ctx.Deadline(); ok {
		// The agent's deadline travels with the request, as a deadline-aware agent sends
		// it: the engine then falls back rather than wait out a long Retry-After that the
		// agent would not live to see.
		if left := time.Until(deadline); left > time.Millisecond {
			opts = append(opts, option.WithHeader(gateway.HeaderRequestTimeout, strconv.FormatFloat(left.Seconds(), 'f', 3, 64)))
		}
	}
	if req.Stream {
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		return c.stream(ctx, sdk, params, opts, &hr)
	}
	resp, err := sdk.Chat.Completions.New(ctx, params, opts...)
	if err != nil {
		return answer{}, sdkError(err)
	}
	a := answerOf(hr)
	if len(resp.Choices) > 0 {
		a.Text = resp.Choices[0].Message.Content
	}
	a.Usage = llm.Usage{InputTokens: resp.Usage.PromptTokens, OutputTokens: resp.Usage.CompletionTokens}
	return a, nil
}

// stream reads a streamed answer to its end. A stream that fails after its 200 (an error
// event, or a connection cut) or that ends without a finish_reason is a cut stream: the
// agent got part of an answer and must not take it for a whole one.
func (c *gatewayClient) stream(ctx context.Context, sdk openai.Client, params openai.ChatCompletionNewParams,
	opts []option.RequestOption, hr **http.Response) (answer, error) {
	s := sdk.Chat.Completions.NewStreaming(ctx, params, opts...)
	defer s.Close()
	var b strings.Builder
	var usage llm.Usage
	finished := false
	for s.Next() {
		ch := s.Current()
		for _, choice := range ch.Choices {
			b.WriteString(choice.Delta.Content)
			if choice.FinishReason != "" {
				finished = true
			}
		}
		if ch.JSON.Usage.Valid() {
			usage = llm.Usage{InputTokens: ch.Usage.PromptTokens, OutputTokens: ch.Usage.CompletionTokens}
		}
	}
	err := s.Err()
	var ae *openai.Error
	switch {
	case errors.As(err, &ae) || (err != nil && *hr == nil):
		// Refused before the stream began: an HTTP error like any other, or no answer.
		return answer{}, sdkError(err)
	case err != nil:
		return answer{}, &callError{class: classStreamCut, reason: "stream cut", status: http.StatusOK, err: err}
	case !finished:
		return answer{}, &callError{class: classStreamCut, reason: "stream cut", status: http.StatusOK,
			err: errors.New("the stream ended without a finish_reason")}
	}
	a := answerOf(*hr)
	a.Text, a.Usage = b.String(), usage
	return a, nil
}

// answerOf reads what the gateway says about an answer in its headers.
func answerOf(hr *http.Response) answer {
	if hr == nil {
		return answer{Status: http.StatusOK}
	}
	model := hr.Header.Get(gateway.HeaderModel)
	cache := hr.Header.Get(gateway.HeaderCache)
	return answer{Status: hr.StatusCode, Model: model, Cached: cache == "hit" || cache == "stale", Static: model == "static",
		FellBack: hr.Header.Get(gateway.HeaderFallbackReason) != "", Clamped: hr.Header.Get(gateway.HeaderClamped) != ""}
}

// sdkError classifies an error of the SDK by what the gateway answered: its status and
// the OpenAI error type and code of its body.
//
//   - a budget refusal is a 429 (or 402) with OpenAI's code insufficient_quota from
//     tollgate itself (X-Tollgate-Error-Source: tollgate; an upstream's spent quota says
//     "upstream"); the gateway sends it with x-should-retry: false;
//   - a 429 with code rate_limit_exceeded is tollgate's queue or rate rules shedding the
//     request, or an upstream 429 passed on after tollgate's retries and fallbacks: the
//     gateway's X-Tollgate-Error-Source header ("tollgate" or "upstream") tells them apart.
func sdkError(err error) *callError {
	var ae *openai.Error
	if !errors.As(err, &ae) {
		return &callError{reason: "no response", err: err}
	}
	ce := &callError{status: ae.StatusCode, err: err, reason: fmt.Sprintf("HTTP %d %s", ae.StatusCode, cmp.Or(ae.Code, ae.Type))}
	switch {
	case (ae.StatusCode == http.StatusTooManyRequests || ae.StatusCode == http.StatusPaymentRequired) &&
		ae.Code == "insufficient_quota" && ae.Response != nil && ae.Response.Header.Get(gateway.HeaderErrorSource) == "tollgate":
		ce.class = classBudget
	case ae.StatusCode == http.StatusTooManyRequests && ae.Code == "rate_limit_exceeded" &&
		ae.Response != nil && ae.Response.Header.Get(gateway.HeaderErrorSource) == "upstream":
		ce.class = classUpstream429
	case ae.StatusCode == http.StatusTooManyRequests && ae.Code == "rate_limit_exceeded":
		ce.class = classShed
	}
	return ce
}
