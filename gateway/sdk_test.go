package gateway

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/quota"
)

// fixedOutput makes every emulated answer 50 tokens long, so that spend is predictable.
var fixedOutput = emulator.Output{MinTokens: 50, MaxTokens: 50}

func openAIClient(e *env, secret string, opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{option.WithBaseURL(e.srv.URL + "/v1"),
		option.WithAPIKey(secret)}, opts...)...)
}

func anthropicClient(e *env, secret string, opts ...aoption.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]aoption.RequestOption{aoption.WithBaseURL(e.srv.URL),
		aoption.WithAPIKey(secret)}, opts...)...)
}

func chatParams(model string, maxTokens int64) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: model, MaxTokens: openai.Int(maxTokens),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello there")}}
}

func messageParams(model string, maxTokens int64) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: maxTokens,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))}}
}

func TestOpenAISDK(t *testing.T) {
	e := newEnv(t, envConfig{emu: emulator.Config{Seed: 1, Output: fixedOutput},
		rules: quota.Rules{{Name: "key-rpm", Scope: quota.Labels{Key: quota.Each}, Unit: quota.Requests,
			Limit: 1000, Window: quota.PerMinute()}}})
	c := openAIClient(e, secretAlice)
	ctx := t.Context()

	t.Run("non-streaming", func(t *testing.T) {
		var hr *http.Response
		resp, err := c.Chat.Completions.New(ctx, chatParams("gpt-4o-mini", 100), option.WithResponseInto(&hr))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if resp.Usage.CompletionTokens != 50 || resp.Choices[0].Message.Content == "" {
			t.Errorf("usage %+v, content %q; want 50 completion tokens and some text", resp.Usage, resp.Choices[0].Message.Content)
		}
		if got := hr.Header.Get(HeaderModel); got != "gpt-4o-mini" {
			t.Errorf("%s = %q, want gpt-4o-mini", HeaderModel, got)
		}
		if got := hr.Header.Get("X-Ratelimit-Limit-Requests"); got != "1000" {
			t.Errorf("x-ratelimit-limit-requests = %q, want 1000", got)
		}
		if got := hr.Header.Get("RateLimit-Policy"); got != `"key-rpm";q=1000;w=60;qu="requests"` {
			t.Errorf("RateLimit-Policy = %q", got)
		}
	})

	t.Run("streaming", func(t *testing.T) {
		params := chatParams("gpt-4o-mini", 100)
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := c.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		if acc.Usage.CompletionTokens != 50 || acc.Choices[0].Message.Content == "" || acc.Choices[0].FinishReason != "stop" {
			t.Errorf("streamed usage %+v, finish %q, text %q", acc.Usage, acc.Choices[0].FinishReason, acc.Choices[0].Message.Content)
		}
	})

	t.Run("models", func(t *testing.T) {
		oc := openAIClient(e, secretBob)
		page, err := oc.Models.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != "gpt-4o-mini" || page.Data[0].OwnedBy != "openai" {
			t.Errorf("models = %+v, want only gpt-4o-mini owned by openai", page.Data)
		}
	})

	t.Run("bad key", func(t *testing.T) {
		bad := openAIClient(e, "tg-wrong")
		_, err := bad.Chat.Completions.New(ctx, chatParams("gpt-4o-mini", 100))
		var ae *openai.Error
		if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Code != "invalid_api_key" {
			t.Errorf("err = %v, want *openai.Error 401 invalid_api_key", err)
		}
	})
	noLeak(t, "log", e.logs.String())
}

func TestAnthropicSDK(t *testing.T) {
	e := newEnv(t, envConfig{emu: emulator.Config{Seed: 1, Output: fixedOutput}})
	c := anthropicClient(e, secretAlice)
	ctx := t.Context()

	t.Run("non-streaming", func(t *testing.T) {
		var hr *http.Response
		msg, err := c.Messages.New(ctx, messageParams("claude-haiku-4-5", 100), aoption.WithResponseInto(&hr))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if msg.Usage.OutputTokens != 50 || msg.Content[0].Text == "" {
			t.Errorf("usage %+v, content %+v", msg.Usage, msg.Content)
		}
		if got := hr.Header.Get(HeaderModel); got != "claude-haiku-4-5" {
			t.Errorf("%s = %q, want claude-haiku-4-5", HeaderModel, got)
		}
	})

	t.Run("streaming", func(t *testing.T) {
		stream := c.Messages.NewStreaming(ctx, messageParams("claude-haiku-4-5", 100))
		var acc anthropic.Message
		for stream.Next() {
			if err := acc.Accumulate(stream.Current()); err != nil {
				t.Fatalf("Accumulate: %v", err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		if acc.Usage.OutputTokens != 50 || acc.Content[0].Text == "" || acc.StopReason != "end_turn" {
			t.Errorf("streamed usage %+v, stop %q, content %+v", acc.Usage, acc.StopReason, acc.Content)
		}
	})

	t.Run("models", func(t *testing.T) {
		ac := anthropicClient(e, secretBob)
		page, err := ac.Models.List(ctx, anthropic.ModelListParams{})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != "gpt-4o-mini" {
			t.Errorf("models = %+v, want only gpt-4o-mini", page.Data)
		}
	})

	t.Run("bad key", func(t *testing.T) {
		bad := anthropicClient(e, "tg-wrong")
		_, err := bad.Messages.New(ctx, messageParams("claude-haiku-4-5", 100))
		var ae *anthropic.Error
		if !errors.As(err, &ae) || ae.StatusCode != 401 || !strings.Contains(ae.Error(), "authentication_error") {
			t.Errorf("err = %v, want *anthropic.Error 401 authentication_error", err)
		}
	})
	noLeak(t, "log", e.logs.String())
}

// TestSDKBudgetRefusal checks that a budget refusal reaches each SDK, at its default retry
// settings, as one request with a readable message: the SDKs retry 429s unless told not to.
func TestSDKBudgetRefusal(t *testing.T) {
	// gpt-4o-mini with max_tokens 150 costs at most about 92 micro-USD, claude-haiku-4-5
	// about 760; a first answer of 50 tokens leaves less than that.
	budget := func(limit int64) quota.Rules {
		return quota.Rules{{Name: "tenant-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD,
			Limit: limit, Window: quota.Daily(nil)}}
	}
	wantMsg := []string{"budget exhausted", "tenant-usd", "tenant=acme", "limit $0.", "used $0.", "resets at"}

	t.Run("openai", func(t *testing.T) {
		e := newEnv(t, envConfig{emu: emulator.Config{Output: fixedOutput}, rules: budget(100)})
		c := openAIClient(e, secretAlice)
		if _, err := c.Chat.Completions.New(t.Context(), chatParams("gpt-4o-mini", 150)); err != nil {
			t.Fatalf("first request: %v", err)
		}
		before := e.requests.Load()
		var hr *http.Response
		_, err := c.Chat.Completions.New(t.Context(), chatParams("gpt-4o-mini", 150), option.WithResponseInto(&hr))
		if got := e.requests.Load() - before; got != 1 {
			t.Errorf("the SDK sent %d requests for a budget refusal, want 1", got)
		}
		var ae *openai.Error
		if !errors.As(err, &ae) {
			t.Fatalf("err = %v, want *openai.Error", err)
		}
		if ae.StatusCode != 429 || ae.Type != "insufficient_quota" || ae.Code != "insufficient_quota" {
			t.Errorf("error = %d %s %s, want 429 insufficient_quota insufficient_quota", ae.StatusCode, ae.Type, ae.Code)
		}
		for _, s := range wantMsg {
			if !strings.Contains(ae.Message, s) {
				t.Errorf("message %q lacks %q", ae.Message, s)
			}
		}

		// A streaming request is refused before its stream starts: a plain HTTP error.
		before = e.requests.Load()
		stream := c.Chat.Completions.NewStreaming(t.Context(), chatParams("gpt-4o-mini", 150))
		for stream.Next() {
		}
		if got := e.requests.Load() - before; got != 1 {
			t.Errorf("the SDK sent %d streaming requests for a budget refusal, want 1", got)
		}
		if err := stream.Err(); !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Code != "insufficient_quota" {
			t.Errorf("stream.Err() = %v, want *openai.Error 429 insufficient_quota", err)
		}
	})

	t.Run("anthropic", func(t *testing.T) {
		e := newEnv(t, envConfig{emu: emulator.Config{Output: fixedOutput}, rules: budget(1000)})
		c := anthropicClient(e, secretAlice)
		if _, err := c.Messages.New(t.Context(), messageParams("claude-haiku-4-5", 150)); err != nil {
			t.Fatalf("first request: %v", err)
		}
		before := e.requests.Load()
		_, err := c.Messages.New(t.Context(), messageParams("claude-haiku-4-5", 150))
		if got := e.requests.Load() - before; got != 1 {
			t.Errorf("the SDK sent %d requests for a budget refusal, want 1", got)
		}
		var ae *anthropic.Error
		if !errors.As(err, &ae) {
			t.Fatalf("err = %v, want *anthropic.Error", err)
		}
		if ae.StatusCode != 429 || ae.Type() != "billing_error" {
			t.Errorf("error = %d %s, want 429 billing_error", ae.StatusCode, ae.Type())
		}
		for _, s := range wantMsg {
			if !strings.Contains(ae.Error(), s) {
				t.Errorf("error %q lacks %q", ae.Error(), s)
			}
		}
	})
}

// TestSDKRateLimited checks how each SDK surfaces a rate refusal: a 429 with Retry-After,
// which the SDKs may retry (not here: retries are off to keep the test fast).
func TestSDKRateLimited(t *testing.T) {
	rpm := quota.Rules{{Name: "key-rpm", Scope: quota.Labels{Key: quota.Each}, Unit: quota.Requests,
		Limit: 1, Window: quota.PerMinute()}}
	e := newEnv(t, envConfig{rules: rpm})
	ctx := t.Context()

	oc := openAIClient(e, secretAlice, option.WithMaxRetries(0))
	if _, err := oc.Chat.Completions.New(ctx, chatParams("gpt-4o-mini", 100)); err != nil {
		t.Fatalf("first request: %v", err)
	}
	_, err := oc.Chat.Completions.New(ctx, chatParams("gpt-4o-mini", 100))
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 429 || oe.Code != "rate_limit_exceeded" {
		t.Fatalf("err = %v, want *openai.Error 429 rate_limit_exceeded", err)
	}
	if oe.Response.Header.Get("Retry-After") == "" || oe.Response.Header.Get("Retry-After-Ms") == "" ||
		oe.Response.Header.Get("X-Should-Retry") != "" {
		t.Errorf("headers %v: want Retry-After and Retry-After-Ms, no x-should-retry", oe.Response.Header)
	}
	if !strings.Contains(oe.Message, "key-rpm") || !strings.Contains(oe.Message, "limit 1") {
		t.Errorf("message %q does not name the quota and its limit", oe.Message)
	}

	ac := anthropicClient(e, secretAlice, aoption.WithMaxRetries(0))
	_, err = ac.Messages.New(ctx, messageParams("claude-haiku-4-5", 100))
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Type() != "rate_limit_error" {
		t.Fatalf("err = %v, want *anthropic.Error 429 rate_limit_error", err)
	}
}

// TestSDKCrossFormatFallback: an Anthropic caller whose route falls back from an
// overloaded Claude model to an OpenAI model gets an Anthropic answer, streamed or not.
func TestSDKCrossFormatFallback(t *testing.T) {
	down := &emulator.Faults{Overloaded: 1}
	e := newEnv(t, envConfig{
		emu:    emulator.Config{Output: fixedOutput, Models: map[string]emulator.Model{"claude-haiku-4-5": {Provider: "anthropic", Faults: down}}},
		routes: []fallback.Route{{Name: "smart", Steps: []fallback.Step{{Model: "claude-haiku-4-5"}, {Model: "gpt-4o-mini"}}}},
	})
	c := anthropicClient(e, secretAlice)
	ctx := t.Context()

	var hr *http.Response
	msg, err := c.Messages.New(ctx, messageParams("smart", 100), aoption.WithResponseInto(&hr))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if msg.Model != "gpt-4o-mini" || msg.Content[0].Text == "" || msg.Usage.OutputTokens != 50 || msg.StopReason != "end_turn" {
		t.Errorf("message = model %q, stop %q, usage %+v, content %+v", msg.Model, msg.StopReason, msg.Usage, msg.Content)
	}
	if got := hr.Header.Get(HeaderModel); got != "gpt-4o-mini" {
		t.Errorf("%s = %q, want gpt-4o-mini", HeaderModel, got)
	}
	if got := hr.Header.Get(HeaderRoute); got != "smart" {
		t.Errorf("%s = %q, want smart", HeaderRoute, got)
	}
	if got := hr.Header.Get(HeaderFallbackReason); !strings.Contains(got, "claude-haiku-4-5") || !strings.Contains(got, "overloaded") {
		t.Errorf("%s = %q, want the overloaded Claude step", HeaderFallbackReason, got)
	}

	// The first step is in cooldown now, which is another reason to fall back.
	stream := c.Messages.NewStreaming(ctx, messageParams("smart", 100))
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatalf("Accumulate: %v", err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if acc.Model != "gpt-4o-mini" || acc.Content[0].Text == "" || acc.Usage.OutputTokens != 50 {
		t.Errorf("streamed message = model %q, usage %+v, content %+v", acc.Model, acc.Usage, acc.Content)
	}
	noLeak(t, "log", e.logs.String())
}

// TestSDKStreamErrorAfterStart: an upstream that fails after the first event ends the
// stream with an error event that each SDK reports, not with a clean close.
func TestSDKStreamErrorAfterStart(t *testing.T) {
	bad := &emulator.Faults{ErrorEvent: 1}
	e := newEnv(t, envConfig{emu: emulator.Config{Output: fixedOutput, Models: map[string]emulator.Model{
		"gpt-4o-mini": {Provider: "openai", Faults: bad}, "claude-haiku-4-5": {Provider: "anthropic", Faults: bad}}}})
	ctx := t.Context()

	oc := openAIClient(e, secretAlice)
	os := oc.Chat.Completions.NewStreaming(ctx, chatParams("gpt-4o-mini", 100))
	n := 0
	for os.Next() {
		n++
	}
	if os.Err() == nil {
		t.Errorf("openai stream: Err() = nil after %d chunks, want the upstream's error", n)
	}

	ac := anthropicClient(e, secretAlice)
	as := ac.Messages.NewStreaming(ctx, messageParams("claude-haiku-4-5", 100))
	for as.Next() {
	}
	var ae *anthropic.Error
	if err := as.Err(); !errors.As(err, &ae) {
		t.Errorf("anthropic stream: Err() = %v, want *anthropic.Error", err)
	}
}

// TestSDKUpstreamAuth: when the upstream refuses tollgate's own provider key, the caller
// gets a 502 that names the problem without the key, and the SDK does not retry it.
func TestSDKUpstreamAuth(t *testing.T) {
	e := newEnv(t, envConfig{emu: emulator.Config{Keys: []string{"sk-the-right-one"}}})
	c := openAIClient(e, secretAlice)
	before := e.requests.Load()
	_, err := c.Chat.Completions.New(t.Context(), chatParams("gpt-4o-mini", 100))
	if got := e.requests.Load() - before; got != 1 {
		t.Errorf("the SDK sent %d requests, want 1", got)
	}
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != 502 || ae.Code != "upstream_auth" {
		t.Fatalf("err = %v, want *openai.Error 502 upstream_auth", err)
	}
	noLeak(t, "error", ae.RawJSON()+ae.Message)
	noLeak(t, "log", e.logs.String())
}
