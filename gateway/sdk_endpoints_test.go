package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/fallback"
	aprov "github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/quota"
)

func respInput(s string) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfString: openai.String(s)}
}

// weatherSchema is the function tools' parameters in every test.
var weatherSchema = map[string]any{"type": "object", "required": []string{"location"},
	"properties": map[string]any{"location": map[string]any{"type": "string"}}}

// TestSDKResponses calls POST /v1/responses with openai-go's Responses client, served by
// an OpenAI model (passed through) and by a Claude model (translated both ways): a plain
// answer, a stream of typed events read through the SDK's accumulator, and a function
// call round trip.
func TestSDKResponses(t *testing.T) {
	e := newEnv(t, envConfig{emu: emulator.Config{Seed: 2, Output: fixedOutput}})
	c := openAIClient(e, secretAlice)
	ctx := t.Context()
	for _, model := range []string{"gpt-4o-mini", "claude-haiku-4-5"} {
		t.Run(model+"/plain", func(t *testing.T) {
			var hr *http.Response
			resp, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: model, MaxOutputTokens: openai.Int(100),
				Instructions: openai.String("Be brief."), Input: respInput("hello there")}, option.WithResponseInto(&hr))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if resp.Status != responses.ResponseStatusCompleted || resp.OutputText() == "" || resp.Usage.OutputTokens != 50 ||
				resp.Usage.InputTokens == 0 || !strings.HasPrefix(resp.ID, "resp_") {
				t.Errorf("response %s", resp.RawJSON())
			}
			if got := hr.Header.Get(HeaderModel); got != model {
				t.Errorf("%s = %q, want %s", HeaderModel, got, model)
			}
		})

		t.Run(model+"/stream", func(t *testing.T) {
			stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: model, MaxOutputTokens: openai.Int(100),
				Input: respInput("hello there")})
			var acc responses.ResponseAccumulator
			var types []string
			var deltas strings.Builder
			var final responses.Response
			for stream.Next() {
				ev := stream.Current()
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
				t.Fatalf("stream: %v", err)
			}
			if len(types) < 4 || types[0] != "response.created" || types[len(types)-1] != "response.completed" {
				t.Errorf("event types %v", types)
			}
			if deltas.Len() == 0 || final.OutputText() != deltas.String() || acc.Snapshot().OutputText() != deltas.String() ||
				final.Usage.OutputTokens != 50 {
				t.Errorf("deltas %q, final %q (usage %+v)", deltas.String(), final.OutputText(), final.Usage)
			}
		})

		t.Run(model+"/function call round trip", func(t *testing.T) {
			tool := responses.ToolParamOfFunction("get_weather", weatherSchema, true)
			first, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: model, MaxOutputTokens: openai.Int(200),
				Tools:      []responses.ToolUnionParam{tool},
				ToolChoice: responses.ResponseNewParamsToolChoiceUnion{OfToolChoiceMode: openai.Opt(responses.ToolChoiceOptionsRequired)},
				Input:      respInput("Weather in Paris?")})
			if err != nil {
				t.Fatalf("first: %v", err)
			}
			var call responses.ResponseFunctionToolCall
			for _, item := range first.Output {
				if item.Type == "function_call" {
					call = item.AsFunctionCall()
				}
			}
			var args map[string]any
			if call.Name != "get_weather" || call.CallID == "" || json.Unmarshal([]byte(call.Arguments), &args) != nil || args["location"] == nil {
				t.Fatalf("first output %s", first.RawJSON())
			}
			// An OpenAI upstream stored the first response: the follow-up continues it by
			// its id. A translated answer is stored nowhere ("store": false), so the
			// client sends the whole conversation again, as the SDKs' agents do.
			// tool_choice none: the emulator's "auto" is a seeded draw between text and calls.
			params := responses.ResponseNewParams{Model: model, MaxOutputTokens: openai.Int(200), Tools: []responses.ToolUnionParam{tool},
				ToolChoice: responses.ResponseNewParamsToolChoiceUnion{OfToolChoiceMode: openai.Opt(responses.ToolChoiceOptionsNone)}}
			output := responses.ResponseInputItemUnionParam{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{
				CallID: openai.String(call.CallID), Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: openai.String(`{"temperature":21}`)}}}
			var stored struct {
				Store bool `json:"store"`
			}
			if err := json.Unmarshal([]byte(first.RawJSON()), &stored); err != nil {
				t.Fatal(err)
			}
			if stored.Store {
				params.PreviousResponseID = openai.String(first.ID)
				params.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{output}}
			} else {
				params.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
					responses.ResponseInputItemParamOfMessage("Weather in Paris?", responses.EasyInputMessageRoleUser),
					responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name),
					output}}
			}
			if want := model == "gpt-4o-mini"; stored.Store != want {
				t.Errorf("first response store = %v, want %v", stored.Store, want)
			}
			second, err := c.Responses.New(ctx, params)
			if err != nil {
				t.Fatalf("second: %v", err)
			}
			if second.OutputText() == "" || second.Usage.InputTokens <= first.Usage.InputTokens {
				t.Errorf("second answer %s after first usage %+v", second.RawJSON(), first.Usage)
			}
		})
	}

	t.Run("previous_response_id cannot go to claude", func(t *testing.T) {
		_, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "claude-haiku-4-5",
			PreviousResponseID: openai.String("resp_abc"), Input: respInput("and then?")})
		var ae *openai.Error
		if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Code != "unsupported_request" || !strings.Contains(ae.Message, "previous_response_id") {
			t.Errorf("err = %v, want a 400 naming previous_response_id", err)
		}
	})
	noLeak(t, "log", e.logs.String())
}

// TestSDKEmbeddings calls POST /v1/embeddings with openai-go: the vectors and the usage
// come through as the upstream made them.
func TestSDKEmbeddings(t *testing.T) {
	e := newEnv(t, envConfig{emu: emulator.Config{Seed: 2}})
	c := openAIClient(e, secretAlice)
	var hr *http.Response
	emb, err := c.Embeddings.New(t.Context(), openai.EmbeddingNewParams{Model: openai.EmbeddingModelTextEmbedding3Small,
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"the quota", "ledger"}}, Dimensions: openai.Int(64)},
		option.WithResponseInto(&hr))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if len(emb.Data) != 2 || len(emb.Data[1].Embedding) != 64 || emb.Usage.PromptTokens == 0 {
		t.Errorf("embeddings %s", emb.RawJSON())
	}
	if got := hr.Header.Get(HeaderModel); got != "text-embedding-3-small" {
		t.Errorf("%s = %q", HeaderModel, got)
	}
	// A chat model cannot embed: refused before any upstream call.
	before := e.emu.Stats().Total.Requests
	_, err = c.Embeddings.New(t.Context(), openai.EmbeddingNewParams{Model: "gpt-4o-mini",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(ae.Message, "not an embedding model") {
		t.Errorf("err = %v, want a 400 saying gpt-4o-mini does not embed", err)
	}
	if got := e.emu.Stats().Total.Requests - before; got != 0 {
		t.Errorf("the upstream got %d requests, want 0", got)
	}
}

// TestSDKNewEndpointsBudgetRefusal: a budget refusal of a Responses request (plain and
// streamed) and of an embeddings request reaches openai-go at its default retry settings
// as one request, and no upstream is called for it.
func TestSDKNewEndpointsBudgetRefusal(t *testing.T) {
	daily := func(unit quota.Unit, limit int64) quota.Rules {
		return quota.Rules{{Name: "tenant-budget", Scope: quota.Labels{Tenant: quota.Each}, Unit: unit,
			Limit: limit, Window: quota.Daily(nil)}}
	}
	// gpt-4o-mini at max_output_tokens 150 costs at most about 92 micro-USD; a first
	// answer of 50 tokens leaves less than that. The embeddings' inputs are 6 tokens each.
	tests := []struct {
		name  string
		rules quota.Rules
		call  func(c openai.Client, opts ...option.RequestOption) error
	}{
		{name: "responses", rules: daily(quota.MicroUSD, 100), call: func(c openai.Client, opts ...option.RequestOption) error {
			_, err := c.Responses.New(t.Context(), responses.ResponseNewParams{Model: "gpt-4o-mini", MaxOutputTokens: openai.Int(150),
				Input: respInput("hello there")}, opts...)
			return err
		}},
		{name: "responses stream", rules: daily(quota.MicroUSD, 100), call: func(c openai.Client, opts ...option.RequestOption) error {
			s := c.Responses.NewStreaming(t.Context(), responses.ResponseNewParams{Model: "gpt-4o-mini", MaxOutputTokens: openai.Int(150),
				Input: respInput("hello there")}, opts...)
			for s.Next() {
			}
			return s.Err()
		}},
		{name: "embeddings", rules: daily(quota.InputTokens, 10), call: func(c openai.Client, opts ...option.RequestOption) error {
			_, err := c.Embeddings.New(t.Context(), openai.EmbeddingNewParams{Model: openai.EmbeddingModelTextEmbedding3Small,
				Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("one two three four five six")}}, opts...)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envConfig{emu: emulator.Config{Output: fixedOutput}, rules: tt.rules})
			c := openAIClient(e, secretAlice)
			if err := tt.call(c); err != nil {
				t.Fatalf("first request: %v", err)
			}
			before, upstream := e.requests.Load(), e.emu.Stats().Total.Requests
			err := tt.call(c)
			if got := e.requests.Load() - before; got != 1 {
				t.Errorf("the SDK sent %d requests for a budget refusal, want 1", got)
			}
			if got := e.emu.Stats().Total.Requests - upstream; got != 0 {
				t.Errorf("the upstream got %d requests, want 0", got)
			}
			var ae *openai.Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *openai.Error", err)
			}
			if ae.StatusCode != 429 || ae.Type != "insufficient_quota" || ae.Code != "insufficient_quota" {
				t.Errorf("error = %d %s %s, want 429 insufficient_quota", ae.StatusCode, ae.Type, ae.Code)
			}
			for _, s := range []string{"budget", "tenant-budget", "tenant=acme", "limit", "used", "resets at"} {
				if !strings.Contains(ae.Message, s) {
					t.Errorf("message %q lacks %q", ae.Message, s)
				}
			}
		})
	}
}

// TestSDKModels lists and gets models with both SDKs: the gateway's configured routes
// and models less those the key may not call, and 404 in the caller's format for the
// others.
func TestSDKModels(t *testing.T) {
	e := newEnv(t, envConfig{models: []string{"smart", "gpt-4o-mini", "text-embedding-3-small"},
		routes: []fallback.Route{{Name: "smart", Steps: []fallback.Step{{Model: "claude-haiku-4-5"}, {Model: "gpt-4o-mini"}}}}})
	ctx := t.Context()
	alice, bob := openAIClient(e, secretAlice), openAIClient(e, secretBob)

	page, err := alice.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID+"/"+m.OwnedBy)
	}
	if got := strings.Join(ids, " "); got != "smart/tollgate gpt-4o-mini/openai text-embedding-3-small/openai" {
		t.Errorf("alice's models = %s", got)
	}
	tests := []struct {
		name   string
		c      openai.Client
		id     string
		wantOK bool
	}{
		{"a route", alice, "smart", true},
		{"a model", alice, "gpt-4o-mini", true},
		{"a dated id of a listed model", alice, "gpt-4o-mini-2024-07-18", true},
		{"a model not listed", alice, "gpt-4o", false},
		{"an unknown id", alice, "gpt-9", false},
		{"a route the key may not call", bob, "smart", false},
		{"the key's model", bob, "gpt-4o-mini", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.c.Models.Get(ctx, tt.id)
			if tt.wantOK {
				if err != nil || m.ID != tt.id || m.Object != "model" {
					t.Errorf("Get(%q) = %+v, %v", tt.id, m, err)
				}
				return
			}
			var ae *openai.Error
			if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Code != "model_not_found" || !strings.Contains(ae.Message, tt.id) {
				t.Errorf("Get(%q) = %v, want 404 model_not_found", tt.id, err)
			}
		})
	}

	ac := anthropicClient(e, secretAlice)
	am, err := ac.Models.Get(ctx, "smart", anthropic.ModelGetParams{})
	if err != nil || am.ID != "smart" {
		t.Errorf("Anthropic Get(smart) = %+v, %v", am, err)
	}
	_, err = ac.Models.Get(ctx, "gpt-9", anthropic.ModelGetParams{})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Type() != "not_found_error" {
		t.Errorf("Anthropic Get(gpt-9) = %v, want 404 not_found_error", err)
	}
}

// TestSDKCountTokens counts with anthropic-sdk-go: an Anthropic model's route is counted
// by the upstream (the count equals what /v1/messages then bills), another's by the
// offline estimate; the header says which.
func TestSDKCountTokens(t *testing.T) {
	e := newEnv(t, envConfig{emu: emulator.Config{Seed: 4, Output: fixedOutput}})
	c := anthropicClient(e, secretAlice)
	ctx := t.Context()
	msgs := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there, how are the budgets today?"))}
	tests := []struct {
		model      string
		wantHeader string
	}{
		{"claude-haiku-4-5", "upstream"},
		{"gpt-4o-mini", "estimate"},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			params := anthropic.MessageCountTokensParams{Model: anthropic.Model(tt.model),
				System: anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("Be brief.")}, Messages: msgs}
			counted := e.emu.Stats().Total.CountTokens
			var hr *http.Response
			count, err := c.Messages.CountTokens(ctx, params, aoption.WithResponseInto(&hr))
			if err != nil {
				t.Fatal(err)
			}
			if got := hr.Header.Get(HeaderTokenCount); got != tt.wantHeader {
				t.Errorf("%s = %q, want %q", HeaderTokenCount, got, tt.wantHeader)
			}
			upstream := e.emu.Stats().Total.CountTokens - counted
			switch tt.wantHeader {
			case "upstream":
				msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: anthropic.Model(tt.model), MaxTokens: 50,
					System: []anthropic.TextBlockParam{{Text: "Be brief."}}, Messages: msgs})
				if err != nil {
					t.Fatal(err)
				}
				if upstream != 1 || count.InputTokens == 0 || count.InputTokens != msg.Usage.InputTokens {
					t.Errorf("count %d after %d upstream counts; messages billed %d", count.InputTokens, upstream, msg.Usage.InputTokens)
				}
			default:
				body, _ := json.Marshal(params)
				want, err := aprov.ParseCountTokensRequest(body)
				if err != nil {
					t.Fatal(err)
				}
				if upstream != 0 || count.InputTokens == 0 || count.InputTokens != int64(want.Estimate) {
					t.Errorf("count %d after %d upstream counts, want the estimate %d", count.InputTokens, upstream, want.Estimate)
				}
			}
		})
	}
}

// TestSDKToolsThroughCrossFormatFallback runs a tool round trip through a fallback that
// changes format: an Anthropic caller served by an OpenAI model after the Claude step
// fails, and an OpenAI caller served by a Claude model after the OpenAI step fails. The
// tools, tool_choice, tool calls and tool results cross both ways.
func TestSDKToolsThroughCrossFormatFallback(t *testing.T) {
	down := &emulator.Faults{Overloaded: 1}
	e := newEnv(t, envConfig{
		emu: emulator.Config{Seed: 5, Output: fixedOutput, Models: map[string]emulator.Model{
			"claude-haiku-4-5": {Provider: "anthropic", Faults: down}, "gpt-4o": {Provider: "openai", Faults: down}}},
		routes: []fallback.Route{
			{Name: "to-openai", Steps: []fallback.Step{{Model: "claude-haiku-4-5"}, {Model: "gpt-4o-mini"}}},
			{Name: "to-claude", Steps: []fallback.Step{{Model: "gpt-4o"}, {Model: "claude-sonnet-4-5"}}},
		},
	})
	ctx := t.Context()

	t.Run("anthropic caller, openai model", func(t *testing.T) {
		c := anthropicClient(e, secretAlice)
		tool := anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{Properties: weatherSchema["properties"],
			Required: []string{"location"}}, "get_weather")
		params := anthropic.MessageNewParams{Model: "to-openai", MaxTokens: 200, Tools: []anthropic.ToolUnionParam{tool},
			ToolChoice: anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}},
			Messages:   []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Weather in Paris?"))}}
		var hr *http.Response
		first, err := c.Messages.New(ctx, params, aoption.WithResponseInto(&hr))
		if err != nil {
			t.Fatalf("first: %v", err)
		}
		if got := hr.Header.Get(HeaderModel); got != "gpt-4o-mini" {
			t.Errorf("%s = %q, want gpt-4o-mini", HeaderModel, got)
		}
		var use anthropic.ToolUseBlock
		for _, b := range first.Content {
			if b.Type == "tool_use" {
				use = b.AsToolUse()
			}
		}
		var args map[string]any
		if first.StopReason != "tool_use" || use.Name != "get_weather" || use.ID == "" || json.Unmarshal(use.Input, &args) != nil || args["location"] == nil {
			t.Fatalf("first answer %s", first.RawJSON())
		}
		params.ToolChoice = anthropic.ToolChoiceUnionParam{OfNone: &anthropic.ToolChoiceNoneParam{}}
		params.Messages = append(params.Messages, first.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, `{"temperature":21}`, false)))
		second, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatalf("second: %v", err)
		}
		if second.Model != "gpt-4o-mini" || len(second.Content) == 0 || second.Content[0].Text == "" ||
			second.Usage.InputTokens <= first.Usage.InputTokens {
			t.Errorf("second answer %s", second.RawJSON())
		}
	})

	t.Run("openai caller, claude model", func(t *testing.T) {
		c := openAIClient(e, secretAlice)
		tool := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather",
			Parameters: shared.FunctionParameters(weatherSchema)})
		params := openai.ChatCompletionNewParams{Model: "to-claude", MaxTokens: openai.Int(200),
			Tools:      []openai.ChatCompletionToolUnionParam{tool},
			ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")},
			Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")}}
		var hr *http.Response
		first, err := c.Chat.Completions.New(ctx, params, option.WithResponseInto(&hr))
		if err != nil {
			t.Fatalf("first: %v", err)
		}
		if got := hr.Header.Get(HeaderModel); got != "claude-sonnet-4-5" {
			t.Errorf("%s = %q, want claude-sonnet-4-5", HeaderModel, got)
		}
		msg := first.Choices[0].Message
		var args map[string]any
		if first.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) == 0 || msg.ToolCalls[0].Function.Name != "get_weather" ||
			json.Unmarshal([]byte(msg.ToolCalls[0].Function.Arguments), &args) != nil || args["location"] == nil {
			t.Fatalf("first answer %s", first.RawJSON())
		}
		if first.Created == 0 {
			t.Errorf("translated answer has created 0")
		}
		params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("none")}
		params.Messages = append(params.Messages, msg.ToParam())
		for _, tc := range msg.ToolCalls {
			params.Messages = append(params.Messages, openai.ToolMessage(`{"temperature":21}`, tc.ID))
		}
		second, err := c.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatalf("second: %v", err)
		}
		if second.Model != "claude-sonnet-4-5" || second.Choices[0].Message.Content == "" || second.Usage.PromptTokens <= first.Usage.PromptTokens {
			t.Errorf("second answer %s", second.RawJSON())
		}
	})
	noLeak(t, "log", e.logs.String())
}

// TestSDKResponsesContinuationUnderTPM: under a tokens-per-minute quota smaller than the
// model's context window, an agent continuing its conversation by previous_response_id
// (openai-go's Responses client, whole and streamed) is served: the gateway reserves the
// conversation the previous response left, not the whole window. A continuation of a
// response this gateway never served cannot be sized and is refused as larger than the
// quota, saying so.
func TestSDKResponsesContinuationUnderTPM(t *testing.T) {
	tpm := quota.Rules{{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 20_000, Window: quota.PerMinute()}}
	e := newEnv(t, envConfig{rules: tpm, emu: emulator.Config{Seed: 2, Output: fixedOutput}})
	c := openAIClient(e, secretAlice)
	ctx := t.Context()
	params := func(prev, input string) responses.ResponseNewParams {
		p := responses.ResponseNewParams{Model: "gpt-4o-mini", MaxOutputTokens: openai.Int(100), Input: respInput(input)}
		if prev != "" {
			p.PreviousResponseID = openai.String(prev)
		}
		return p
	}
	first, err := c.Responses.New(ctx, params("", "remember 7"))
	if err != nil {
		t.Fatalf("first: %v", err)
	}
	second, err := c.Responses.New(ctx, params(first.ID, "which number?"))
	if err != nil {
		t.Fatalf("continuation: %v", err)
	}
	if second.Usage.InputTokens <= first.Usage.InputTokens {
		t.Errorf("continuation billed %d input tokens, want more than the first's %d (the stored conversation)",
			second.Usage.InputTokens, first.Usage.InputTokens)
	}
	stream := c.Responses.NewStreaming(ctx, params(second.ID, "and twice that?"))
	var third responses.Response
	for stream.Next() {
		if ev := stream.Current(); ev.Type == "response.completed" {
			third = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("streamed continuation: %v", err)
	}
	if third.Usage.InputTokens <= second.Usage.InputTokens {
		t.Errorf("streamed continuation billed %d input tokens, want more than the second's %d", third.Usage.InputTokens, second.Usage.InputTokens)
	}
	// And the streamed answer's id is remembered too.
	if _, err := c.Responses.New(ctx, params(third.ID, "thanks")); err != nil {
		t.Fatalf("continuation of the streamed answer: %v", err)
	}

	_, err = c.Responses.New(ctx, params("resp_served_elsewhere", "and then?"))
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusTooManyRequests || !strings.Contains(ae.Message, "tpm") ||
		!strings.Contains(ae.Message, "previous_response_id") || !strings.Contains(ae.Message, "context window") {
		t.Fatalf("continuation of an unknown response: err = %v, want a 429 naming the tpm quota and why the request is that large", err)
	}
	t.Logf("unknown continuation: %s", ae.Message)
}
