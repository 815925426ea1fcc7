package sdkcheck

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/tollgate/tollgate/emulator"
)

// longText is a prompt long enough for both prompt caches (1024 tokens and more).
var longText = strings.Repeat("the quota ledger keeps every reservation ", 300)

// TestSDKFeatures points the official SDKs at the shapes beyond plain text: n choices,
// reasoning and cache usage details, tool calls, extended thinking, cache writes and
// reads, the error events that come before any content, and the error dialects of
// OpenAI-compatible servers. The SDKs must parse them all, streamed and not.
func TestSDKFeatures(t *testing.T) {
	ctx := t.Context()
	srv, err := emulator.Start(ctx, emulator.Config{Seed: 9, Models: map[string]emulator.Model{
		"local-vllm":  {Provider: "openai", Dialect: "vllm", ContextWindow: 100},
		"local-llama": {Provider: "openai", Dialect: "llamacpp", ContextWindow: 100},
	}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	oc := openai.NewClient(option.WithBaseURL(srv.URL()+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	ac := anthropic.NewClient(aoption.WithBaseURL(srv.URL()), aoption.WithAPIKey("sk-ant-test"), aoption.WithMaxRetries(0))

	weather := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather",
		Description: openai.String("Get the weather"),
		Parameters: openai.FunctionParameters{"type": "object", "required": []string{"location"},
			"properties": map[string]any{"location": map[string]any{"type": "string"}, "unit": map[string]any{"type": "string", "enum": []string{"c", "f"}}}}})

	t.Run("openai n choices", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{Model: "gpt-4o", N: openai.Int(3), MaxTokens: openai.Int(40),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}
		resp, err := oc.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		sum := int64(0)
		for i, c := range resp.Choices {
			if c.Index != int64(i) {
				t.Errorf("choice %d has index %d", i, c.Index)
			}
			sum += int64(emulator.CountTokens(c.Message.Content))
		}
		if len(resp.Choices) != 3 || resp.Usage.CompletionTokens != sum {
			t.Errorf("%d choices, completion_tokens %d, want 3 and %d", len(resp.Choices), resp.Usage.CompletionTokens, sum)
		}
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := oc.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			if !acc.AddChunk(stream.Current()) {
				t.Fatal("AddChunk refused a chunk")
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		sum = 0
		for _, c := range acc.Choices {
			sum += int64(emulator.CountTokens(c.Message.Content))
			if c.FinishReason == "" {
				t.Errorf("choice %d has no finish reason", c.Index)
			}
		}
		if len(acc.Choices) != 3 || acc.Usage.CompletionTokens != sum {
			t.Errorf("streamed: %d choices, completion_tokens %d, want 3 and %d", len(acc.Choices), acc.Usage.CompletionTokens, sum)
		}
	})

	t.Run("openai reasoning and cached tokens", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{Model: "o4-mini", MaxCompletionTokens: openai.Int(2000),
			ReasoningEffort: shared.ReasoningEffortHigh,
			Messages:        []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(longText), openai.UserMessage("hello")}}
		first, err := oc.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		second, err := oc.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		u := second.Usage
		if first.Usage.PromptTokensDetails.CachedTokens != 0 || u.PromptTokensDetails.CachedTokens < 1024 || u.PromptTokensDetails.CachedTokens%128 != 0 ||
			u.CompletionTokensDetails.ReasoningTokens == 0 ||
			u.CompletionTokens != u.CompletionTokensDetails.ReasoningTokens+int64(emulator.CountTokens(second.Choices[0].Message.Content)) {
			t.Errorf("usage %+v (first cached %d)", u, first.Usage.PromptTokensDetails.CachedTokens)
		}
	})

	t.Run("openai tool calls", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{Model: "gpt-4o", Tools: []openai.ChatCompletionToolUnionParam{weather},
			ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")},
			Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")}}
		resp, err := oc.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		calls := resp.Choices[0].Message.ToolCalls
		var args map[string]any
		if len(calls) == 0 || resp.Choices[0].FinishReason != "tool_calls" || calls[0].Function.Name != "get_weather" ||
			json.Unmarshal([]byte(calls[0].Function.Arguments), &args) != nil || args["location"] == nil {
			t.Errorf("tool calls %+v, finish %q", calls, resp.Choices[0].FinishReason)
		}
		stream := oc.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		finished := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			if _, ok := acc.JustFinishedToolCall(); ok {
				finished++
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		calls = acc.Choices[0].Message.ToolCalls
		if len(calls) == 0 || finished != len(calls) || !strings.HasPrefix(calls[0].ID, "call_") ||
			json.Unmarshal([]byte(calls[0].Function.Arguments), &args) != nil || args["location"] == nil {
			t.Errorf("streamed tool calls %+v (%d finished)", calls, finished)
		}
	})

	t.Run("openai error before any content", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
		stream := oc.Chat.Completions.NewStreaming(ctx, params, option.WithHeader("X-Emulator-Fault", "start_error_event"))
		for stream.Next() {
			if c := stream.Current(); len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
				t.Error("content before the error")
			}
		}
		if stream.Err() == nil {
			t.Error("stream.Err() = nil, want the error event")
		}
	})

	t.Run("openai-compatible dialects", func(t *testing.T) {
		for _, model := range []string{"local-vllm", "local-llama"} {
			_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(longText)}})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, "context") {
				t.Errorf("%s: err = %v, want a 400 about the context", model, err)
			}
		}
	})

	antTool := anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "get_weather",
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"location": map[string]any{"type": "string"}}, Required: []string{"location"}}}}

	t.Run("anthropic tool use", func(t *testing.T) {
		params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 500, Tools: []anthropic.ToolUnionParam{antTool},
			ToolChoice: anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}},
			Messages:   []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather in Paris?"))}}
		msg, err := ac.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		var in map[string]any
		if msg.StopReason != "tool_use" || msg.Content[0].Type != "tool_use" || msg.Content[0].Name != "get_weather" ||
			json.Unmarshal(msg.Content[0].Input, &in) != nil || in["location"] == nil {
			t.Errorf("message %s", msg.RawJSON())
		}
		stream := ac.Messages.NewStreaming(ctx, params)
		var acc anthropic.Message
		for stream.Next() {
			if err := acc.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.StopReason != "tool_use" || acc.Content[0].Type != "tool_use" || json.Unmarshal(acc.Content[0].Input, &in) != nil || in["location"] == nil ||
			!strings.HasPrefix(acc.Content[0].ID, "toolu_01") {
			t.Errorf("streamed message %+v", acc.Content)
		}
	})

	t.Run("anthropic extended thinking", func(t *testing.T) {
		params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 3000, Thinking: anthropic.ThinkingConfigParamOfEnabled(1024),
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("think"))}}
		for _, streamed := range []bool{false, true} {
			var msg anthropic.Message
			if streamed {
				stream := ac.Messages.NewStreaming(ctx, params)
				for stream.Next() {
					if err := msg.Accumulate(stream.Current()); err != nil {
						t.Fatal(err)
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
			} else {
				m, err := ac.Messages.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				msg = *m
			}
			th := msg.Content[0]
			thinking := int64(emulator.CountTokens(th.Thinking))
			if th.Type != "thinking" || th.Signature == "" || thinking == 0 || msg.Usage.OutputTokensDetails.ThinkingTokens != thinking ||
				msg.Usage.OutputTokens != thinking+int64(emulator.CountTokens(msg.Content[1].Text)) {
				t.Errorf("streamed=%v: content %+v, usage %+v", streamed, msg.Content, msg.Usage)
			}
		}
	})

	t.Run("anthropic cache writes and reads", func(t *testing.T) {
		cc := anthropic.NewCacheControlEphemeralParam()
		cc.TTL = anthropic.CacheControlEphemeralTTLTTL1h
		params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 100,
			System:   []anthropic.TextBlockParam{{Text: longText, CacheControl: cc}},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}}
		first, err := ac.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		stream := ac.Messages.NewStreaming(ctx, params)
		var second anthropic.Message
		for stream.Next() {
			if err := second.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		w := first.Usage.CacheCreationInputTokens
		if w < 1024 || first.Usage.CacheCreation.Ephemeral1hInputTokens != w || first.Usage.CacheReadInputTokens != 0 ||
			second.Usage.CacheReadInputTokens != w || second.Usage.CacheCreationInputTokens != 0 || second.Usage.InputTokens != first.Usage.InputTokens {
			t.Errorf("first usage %+v, second %+v", first.Usage, second.Usage)
		}
	})

	t.Run("anthropic error before any content", func(t *testing.T) {
		params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 100,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
		stream := ac.Messages.NewStreaming(ctx, params, aoption.WithHeader("X-Emulator-Fault", "start_error_event"))
		for stream.Next() {
		}
		var apiErr *anthropic.Error
		if err := stream.Err(); !errors.As(err, &apiErr) {
			t.Errorf("stream.Err() = %v, want *anthropic.Error", err)
		}
	})

	bills := srv.Bills()
	if len(bills) == 0 {
		t.Fatal("no bills")
	}
	for _, b := range bills {
		if b.Usage.InputTokens == 0 {
			t.Errorf("bill without input: %+v", b)
		}
	}
}
