package tollgate_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate"
	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	anthropicp "github.com/tollgate/tollgate/provider/anthropic"
	openaip "github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/retry"
)

// An OpenAI client whose chat completions run through tollgate: a budget per agent run
// pays for the first answer and refuses the second before it is sent, with an error that
// the SDK does not retry.
func ExampleOpenAI() {
	// The emulator plays OpenAI; in production the provider has the default BaseURL and
	// the real key.
	emu, err := emulator.New(emulator.Config{Seed: 1, Output: emulator.Output{MinTokens: 50, MaxTokens: 50}})
	if err != nil {
		log.Fatal(err)
	}
	upstream := httptest.NewServer(emu)
	defer upstream.Close()
	op, err := openaip.New(openaip.Config{BaseURL: upstream.URL + "/v1", APIKey: "sk-provider-key"})
	if err != nil {
		log.Fatal(err)
	}
	eng, err := engine.New(engine.Config{
		Providers: map[string]llm.Provider{"openai": op},
		Rules: quota.Rules{{Name: "run-usd", Scope: quota.Labels{Session: quota.Each},
			Unit: quota.MicroUSD, Limit: 100, Window: quota.Forever()}}, // $0.0001 per run
	})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()

	client := openai.NewClient(
		option.WithMiddleware(tollgate.OpenAI(eng)),
		option.WithMaxRetries(0), // tollgate retries; the SDK must not retry on top
	)
	ctx := tollgate.WithSession(context.Background(), "run-42")
	params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", MaxTokens: openai.Int(150),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Summarize the report.")}}

	var hr *http.Response
	c, err := client.Chat.Completions.New(ctx, params, option.WithResponseInto(&hr))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("served by", c.Model, "finish", c.Choices[0].FinishReason, "tokens", c.Usage.CompletionTokens)

	_, err = client.Chat.Completions.New(ctx, params)
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		fmt.Println("refused:", apiErr.StatusCode, apiErr.Code, "final:", apiErr.Response.Header.Get("X-Should-Retry") == "false")
	}
	// Output:
	// served by gpt-4o-mini finish stop tokens 50
	// refused: 429 insufficient_quota final: true
}

// An Anthropic client that streams through a route: the first model is overloaded, so
// the answer comes from the next one, and the response says why.
func ExampleAnthropic() {
	emu, err := emulator.New(emulator.Config{Seed: 1, Output: emulator.Output{MinTokens: 50, MaxTokens: 50},
		Models: map[string]emulator.Model{"claude-sonnet-4-5": {Faults: &emulator.Faults{Overloaded: 1}}}})
	if err != nil {
		log.Fatal(err)
	}
	upstream := httptest.NewServer(emu)
	defer upstream.Close()
	ap, err := anthropicp.New(anthropicp.Config{BaseURL: upstream.URL, APIKey: "sk-ant-provider-key"})
	if err != nil {
		log.Fatal(err)
	}
	routes, err := fallback.NewRoutes(fallback.Route{Name: "writer",
		Steps: []fallback.Step{{Model: "claude-sonnet-4-5"}, {Model: "claude-haiku-4-5"}}})
	if err != nil {
		log.Fatal(err)
	}
	eng, err := engine.New(engine.Config{
		Providers: map[string]llm.Provider{"anthropic": ap},
		Routes:    routes,
		Retry:     retry.Policy{MaxAttempts: 1}, // one attempt per model, then the next model
	})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()

	client := anthropic.NewClient(
		aoption.WithMiddleware(tollgate.Anthropic(eng)),
		aoption.WithMaxRetries(0),
	)
	ctx := tollgate.WithAgent(tollgate.WithTenant(context.Background(), "acme"), "writer-bot")
	var hr *http.Response
	stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
		Model: "writer", MaxTokens: 200,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Draft the release note."))},
	}, aoption.WithResponseInto(&hr))
	defer stream.Close()
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			log.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("served by", msg.Model, "stop", msg.StopReason, "tokens", msg.Usage.OutputTokens)
	fmt.Println("route", hr.Header.Get("X-Tollgate-Route"), "fell back:", hr.Header.Get("X-Tollgate-Fallback-Reason") != "")
	// Output:
	// served by claude-haiku-4-5 stop end_turn tokens 50
	// route writer fell back: true
}
