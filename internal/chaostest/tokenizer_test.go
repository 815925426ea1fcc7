package chaostest

import (
	"encoding/json"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
)

// emulatorTokenizer counts as the emulator bills, so that the test measures the charging
// rules and not a tokenizer's error: generated text with emulator.CountTokens, and the
// prompts of OpenAI bodies served by OpenAI models as the emulator counts them (3 tokens
// per message and per request, text, tool calls in the history, tool definitions). Other
// prompts are estimated offline, above the emulator's count, which is what a worst case
// needs; an Anthropic stream reports its input side in message_start, so its early end is
// charged the real one.
type emulatorTokenizer struct{ engine.OfflineTokenizer }

func (t emulatorTokenizer) Input(req *llm.Request, provider string) (int64, error) {
	if req.Format != llm.OpenAI || req.Body == nil || provider != pricing.ProviderOpenAI {
		return t.OfflineTokenizer.Input(req, provider)
	}
	var body struct {
		Messages []struct {
			Content   json.RawMessage `json:"content"`
			ToolCalls []struct {
				Function struct{ Name, Arguments string } `json:"function"`
			} `json:"tool_calls"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				Parameters  json.RawMessage `json:"parameters"`
			} `json:"function"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return 0, err
	}
	n := 3
	for _, m := range body.Messages {
		n += 3 + contentTokens(m.Content)
		for _, c := range m.ToolCalls {
			n += emulator.CountTokens(c.Function.Name) + emulator.CountTokens(c.Function.Arguments)
		}
	}
	for _, tool := range body.Tools {
		f := tool.Function
		n += emulator.CountTokens(f.Name) + emulator.CountTokens(f.Description) + emulator.CountTokens(string(f.Parameters))
	}
	return int64(n), nil
}

// contentTokens counts a message content, a string or text parts, as the emulator does.
func contentTokens(raw json.RawMessage) int {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return emulator.CountTokens(s)
	}
	var parts []struct{ Text string }
	_ = json.Unmarshal(raw, &parts)
	n := 0
	for _, p := range parts {
		n += emulator.CountTokens(p.Text)
	}
	return n
}

func (emulatorTokenizer) Output(string) engine.TokenCounter { return &wordCounter{} }

type wordCounter struct{ n int64 }

func (c *wordCounter) Add(s string)  { c.n += int64(emulator.CountTokens(s)) }
func (c *wordCounter) Tokens() int64 { return c.n }
