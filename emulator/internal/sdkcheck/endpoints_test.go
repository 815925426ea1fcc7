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
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/tollgate/tollgate/emulator"
)

// TestSDKResponses points openai-go's Responses client at the emulator: a plain call, a
// stream read event by event and through the SDK's ResponseAccumulator, a function-call
// round trip over previous_response_id, structured output and the stream's failures.
func TestSDKResponses(t *testing.T) {
	ctx := t.Context()
	srv, err := emulator.Start(ctx, emulator.Config{Seed: 11}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	oc := openai.NewClient(option.WithBaseURL(srv.URL()+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))

	t.Run("plain", func(t *testing.T) {
		resp, err := oc.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o",
			Instructions: openai.String("Be brief."),
			Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hi")}})
		if err != nil {
			t.Fatal(err)
		}
		text := resp.OutputText()
		u := resp.Usage
		if !strings.HasPrefix(resp.ID, "resp_") || resp.Status != responses.ResponseStatusCompleted || text == "" ||
			u.OutputTokens != int64(emulator.CountTokens(text)) || u.TotalTokens != u.InputTokens+u.OutputTokens || resp.Instructions.OfString != "Be brief." {
			t.Errorf("response %s", resp.RawJSON())
		}
	})

	t.Run("stream and accumulator", func(t *testing.T) {
		stream := oc.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "o4-mini",
			Reasoning: shared.ReasoningParam{Effort: shared.ReasoningEffortLow},
			Input:     responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hi")}})
		var acc responses.ResponseAccumulator
		var types []string
		var deltas strings.Builder
		var final responses.Response
		seq := int64(0)
		for stream.Next() {
			ev := stream.Current()
			if ev.SequenceNumber != seq {
				t.Errorf("event %s has sequence number %d, want %d", ev.Type, ev.SequenceNumber, seq)
			}
			seq++
			types = append(types, ev.Type)
			switch ev.Type {
			case "response.output_text.delta":
				deltas.WriteString(ev.Delta)
			case "response.completed":
				final = ev.Response
			}
			var server responses.ResponsesServerEventUnion
			if err := json.Unmarshal([]byte(ev.RawJSON()), &server); err != nil {
				t.Fatalf("event %s: %v", ev.Type, err)
			}
			if err := acc.AddEvent(server); err != nil {
				t.Fatalf("accumulator refused %s: %v", ev.Type, err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.output_item.done",
			"response.output_item.added", "response.content_part.added"}
		if len(types) < len(want)+5 || strings.Join(types[:len(want)], " ") != strings.Join(want, " ") ||
			strings.Join(types[len(types)-4:], " ") != "response.output_text.done response.content_part.done response.output_item.done response.completed" {
			t.Errorf("event types %v", types)
		}
		rebuilt, err := acc.ReconstructedResponse()
		if err != nil {
			t.Fatal(err)
		}
		u := final.Usage
		if deltas.String() != final.OutputText() || rebuilt.OutputText() != final.OutputText() || acc.Snapshot().OutputText() != final.OutputText() ||
			u.OutputTokensDetails.ReasoningTokens == 0 || u.OutputTokens != u.OutputTokensDetails.ReasoningTokens+int64(emulator.CountTokens(final.OutputText())) ||
			final.Output[0].Type != "reasoning" {
			t.Errorf("deltas %q, final %q, rebuilt %q; usage %+v", deltas.String(), final.OutputText(), rebuilt.OutputText(), u)
		}
	})

	t.Run("function call round trip", func(t *testing.T) {
		tool := responses.ToolParamOfFunction("get_weather", map[string]any{"type": "object", "required": []string{"location"},
			"properties": map[string]any{"location": map[string]any{"type": "string"}}}, true)
		system := strings.Repeat("the quota ledger keeps every reservation ", 300)
		first, err := oc.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", Instructions: openai.String(system),
			Tools:      []responses.ToolUnionParam{tool},
			ToolChoice: responses.ResponseNewParamsToolChoiceUnion{OfToolChoiceMode: openai.Opt(responses.ToolChoiceOptionsRequired)},
			Input:      responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")}})
		if err != nil {
			t.Fatal(err)
		}
		var call responses.ResponseFunctionToolCall
		for _, item := range first.Output {
			if item.Type == "function_call" {
				call = item.AsFunctionCall()
			}
		}
		var args map[string]any
		if call.Name != "get_weather" || !strings.HasPrefix(call.CallID, "call_") || json.Unmarshal([]byte(call.Arguments), &args) != nil || args["location"] == nil {
			t.Fatalf("first output %s", first.RawJSON())
		}
		second, err := oc.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", Instructions: openai.String(system),
			Tools: []responses.ToolUnionParam{tool}, PreviousResponseID: openai.String(first.ID),
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
				{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{CallID: openai.String(call.CallID),
					Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: openai.String(`{"temperature":21}`)}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		// The follow-up reads the first response's conversation as input: its instructions
		// again, its input, its call, then the output; the instructions and input come
		// from the prompt cache.
		u1, u2 := first.Usage, second.Usage
		if second.PreviousResponseID != first.ID || u2.InputTokens <= u1.InputTokens+u1.OutputTokens ||
			u2.InputTokensDetails.CachedTokens < 1024 || u2.InputTokensDetails.CachedTokens > u1.InputTokens {
			t.Errorf("first usage %+v, second %+v", u1, u2)
		}
		_, err = oc.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", PreviousResponseID: openai.String(first.ID),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("and tomorrow?")}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, "No tool output found for function call "+call.CallID) {
			t.Errorf("follow-up without the tool output: %v", err)
		}
		_, err = oc.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", PreviousResponseID: openai.String("resp_unknown"),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "previous_response_not_found" || apiErr.Param != "previous_response_id" {
			t.Errorf("unknown previous_response_id: %v", err)
		}
	})

	t.Run("structured output", func(t *testing.T) {
		resp, err := oc.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("weather?")},
			Text: responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{
				OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{Name: "weather", Strict: openai.Bool(true),
					Schema: map[string]any{"type": "object", "required": []string{"city", "celsius"},
						"properties": map[string]any{"city": map[string]any{"type": "string"}, "celsius": map[string]any{"type": "integer"}}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			City    string `json:"city"`
			Celsius *int   `json:"celsius"`
		}
		if err := json.Unmarshal([]byte(resp.OutputText()), &v); err != nil || v.City == "" || v.Celsius == nil {
			t.Errorf("structured output %q: %v", resp.OutputText(), err)
		}
	})

	t.Run("incomplete at max_output_tokens", func(t *testing.T) {
		resp, err := oc.Responses.New(ctx, responses.ResponseNewParams{Model: "o3", MaxOutputTokens: openai.Int(16),
			Reasoning: shared.ReasoningParam{Effort: shared.ReasoningEffortHigh},
			Input:     responses.ResponseNewParamsInputUnion{OfString: openai.String("think hard")}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != responses.ResponseStatusIncomplete || resp.IncompleteDetails.Reason != "max_output_tokens" || resp.Usage.OutputTokens != 16 {
			t.Errorf("response %s", resp.RawJSON())
		}
	})

	t.Run("failures mid-stream", func(t *testing.T) {
		for fault, last := range map[string]string{"error_event": "response.failed", "start_error_event": "error"} {
			stream := oc.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "gpt-4o",
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}}, option.WithHeader("X-Emulator-Fault", fault))
			var ev responses.ResponseStreamEventUnion
			for stream.Next() {
				ev = stream.Current()
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("%s: %v", fault, err)
			}
			if ev.Type != last || (last == "error" && ev.Code != "server_error") || (last != "error" && ev.Response.Error.Code != "server_error") {
				t.Errorf("%s: last event %s", fault, ev.RawJSON())
			}
		}
	})
}

// TestSDKEndpoints points the SDKs at the other endpoints: embeddings, a model by id,
// Anthropic's token counting.
func TestSDKEndpoints(t *testing.T) {
	ctx := t.Context()
	srv, err := emulator.Start(ctx, emulator.Config{Seed: 12}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	oc := openai.NewClient(option.WithBaseURL(srv.URL()+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	ac := anthropic.NewClient(aoption.WithBaseURL(srv.URL()), aoption.WithAPIKey("sk-ant-test"), aoption.WithMaxRetries(0))

	emb, err := oc.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: openai.EmbeddingModelTextEmbedding3Small,
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"the quota", "ledger"}}, Dimensions: openai.Int(64)})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) != 2 || len(emb.Data[1].Embedding) != 64 || emb.Data[1].Index != 1 || emb.Usage.PromptTokens != 3 {
		t.Errorf("embeddings %s", emb.RawJSON())
	}

	m, err := oc.Models.Get(ctx, "gpt-4o")
	if err != nil || m.ID != "gpt-4o" || m.OwnedBy != "system" {
		t.Errorf("OpenAI model %+v: %v", m, err)
	}
	_, err = oc.Models.Get(ctx, "gpt-9")
	var oErr *openai.Error
	if !errors.As(err, &oErr) || oErr.StatusCode != 404 || oErr.Code != "model_not_found" {
		t.Errorf("unknown OpenAI model: %v", err)
	}
	am, err := ac.Models.Get(ctx, "claude-sonnet-4-5", anthropic.ModelGetParams{})
	if err != nil || am.ID != "claude-sonnet-4-5" || am.MaxTokens == 0 || am.CreatedAt.IsZero() {
		t.Errorf("Anthropic model %+v: %v", am, err)
	}

	params := anthropic.MessageCountTokensParams{Model: "claude-sonnet-4-5",
		System:   anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("Be brief.")},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))}}
	count, err := ac.Messages.CountTokens(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 50,
		System:   []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages: params.Messages})
	if err != nil {
		t.Fatal(err)
	}
	if count.InputTokens == 0 || count.InputTokens != msg.Usage.InputTokens {
		t.Errorf("count_tokens %d, messages billed %d", count.InputTokens, msg.Usage.InputTokens)
	}
}
