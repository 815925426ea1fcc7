package sdkcheck

import (
	"errors"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate/emulator"
)

// TestSDKs points the official Go SDKs at the emulator: they must parse every answer,
// stream and error that it sends.
func TestSDKs(t *testing.T) {
	ctx := t.Context()
	srv, err := emulator.Start(ctx, emulator.Config{Seed: 7, Limits: emulator.Limits{RPM: 4}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	oc := openai.NewClient(option.WithBaseURL(srv.URL()+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	ac := anthropic.NewClient(aoption.WithBaseURL(srv.URL()), aoption.WithAPIKey("sk-ant-test"), aoption.WithMaxRetries(0))

	t.Run("openai", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{Model: "gpt-4o", MaxTokens: openai.Int(100),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello there")}}
		resp, err := oc.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if resp.Usage.PromptTokens != 8 || resp.Usage.CompletionTokens == 0 ||
			resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens ||
			int64(emulator.CountTokens(resp.Choices[0].Message.Content)) != resp.Usage.CompletionTokens {
			t.Errorf("usage %+v does not match content %q", resp.Usage, resp.Choices[0].Message.Content)
		}

		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := oc.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		text := acc.Choices[0].Message.Content
		if acc.Usage.CompletionTokens == 0 || int64(emulator.CountTokens(text)) != acc.Usage.CompletionTokens ||
			(acc.Choices[0].FinishReason == "length") != (acc.Usage.CompletionTokens == 100) {
			t.Errorf("streamed usage %+v, finish %q, text %q", acc.Usage, acc.Choices[0].FinishReason, text)
		}

		// Stream error event after 200: the SDK reports it from Err.
		errStream := oc.Chat.Completions.NewStreaming(ctx, params, option.WithHeader("X-Emulator-Fault", "error_event"))
		for errStream.Next() {
		}
		if errStream.Err() == nil {
			t.Error("error event: stream.Err() = nil, want an error")
		}

		// RPM 4 is now used up (3 requests above + this one).
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{}
		if _, err := oc.Chat.Completions.New(ctx, params); err != nil {
			t.Fatalf("4th request: %v", err)
		}
		_, err = oc.Chat.Completions.New(ctx, params)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" || apiErr.Type != "requests" {
			t.Errorf("over the limit: err = %v, want *openai.Error 429 rate_limit_exceeded", err)
		}
	})

	t.Run("anthropic", func(t *testing.T) {
		params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 100,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))}}
		msg, err := ac.Messages.New(ctx, params)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if msg.Usage.InputTokens != 8 || msg.Usage.OutputTokens == 0 || int64(emulator.CountTokens(msg.Content[0].Text)) != msg.Usage.OutputTokens {
			t.Errorf("usage %+v does not match content %q", msg.Usage, msg.Content[0].Text)
		}

		stream := ac.Messages.NewStreaming(ctx, params)
		var acc anthropic.Message
		for stream.Next() {
			if err := acc.Accumulate(stream.Current()); err != nil {
				t.Fatalf("Accumulate: %v", err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		if acc.Usage.InputTokens != 8 || acc.Usage.OutputTokens == 0 || int64(emulator.CountTokens(acc.Content[0].Text)) != acc.Usage.OutputTokens ||
			(acc.StopReason == "max_tokens") != (acc.Usage.OutputTokens == 100) {
			t.Errorf("streamed usage %+v, stop %q, text %q", acc.Usage, acc.StopReason, acc.Content[0].Text)
		}

		errStream := ac.Messages.NewStreaming(ctx, params, aoption.WithHeader("X-Emulator-Fault", "error_event"))
		for errStream.Next() {
		}
		var streamErr *anthropic.Error
		if err := errStream.Err(); !errors.As(err, &streamErr) {
			t.Errorf("error event: stream.Err() = %v, want *anthropic.Error", err)
		}

		_, err = ac.Messages.New(ctx, params, aoption.WithHeader("X-Emulator-Fault", "overloaded"))
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 {
			t.Errorf("overloaded: err = %v, want *anthropic.Error 529", err)
		}

		_, err = ac.Messages.New(ctx, params)
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.RequestID == "" {
			t.Errorf("over the limit: err = %v, want *anthropic.Error 429 with a request id", err)
		}
	})
}
