package llm_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tollgate/tollgate/llm"
)

func TestKindRetryable(t *testing.T) {
	t.Parallel()
	retryable := map[llm.Kind]bool{
		llm.KindRateLimited: true, llm.KindOverloaded: true, llm.KindServer: true,
		llm.KindTimeout: true, llm.KindConnection: true,
	}
	for k := llm.KindUnknown; k <= llm.KindTooLarge; k++ {
		if got := k.Retryable(); got != retryable[k] {
			t.Errorf("%v.Retryable() = %v, want %v", k, got, retryable[k])
		}
	}
}

func TestKindOfWrapped(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("attempt 2: %w", &llm.Error{Kind: llm.KindOverloaded, Provider: "anthropic", Status: 529})
	if got := llm.KindOf(err); got != llm.KindOverloaded {
		t.Errorf("KindOf(wrapped) = %v, want overloaded", got)
	}
	if got := llm.KindOf(errors.New("plain")); got != llm.KindUnknown {
		t.Errorf("KindOf(plain) = %v, want unknown", got)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	u := llm.Usage{InputTokens: 10, CachedInputTokens: 4, OutputTokens: 5}.Add(llm.Usage{InputTokens: 1, OutputTokens: 2})
	if u != (llm.Usage{InputTokens: 11, CachedInputTokens: 4, OutputTokens: 7}) || u.Total() != 18 {
		t.Errorf("Add/Total = %+v, %d", u, u.Total())
	}
}

func ExampleError() {
	err := &llm.Error{Kind: llm.KindRateLimited, Provider: "openai", Status: 429, Code: "rate_limit_exceeded",
		Message: "Rate limit reached for gpt-4o"}
	fmt.Println(err)
	fmt.Println(llm.KindOf(err).Retryable())
	// Output:
	// openai: rate_limited (429 rate_limit_exceeded): Rate limit reached for gpt-4o
	// true
}

func TestResponseChunk(t *testing.T) {
	r := &llm.Response{Text: "t", Reasoning: "r", StopReason: "tool_use",
		ToolCalls: []llm.ToolCall{{ID: "a", Name: "f", Arguments: "{}"}, {ID: "b", Name: "g", Arguments: `{"x":1}`}}}
	c := r.Chunk()
	if c.Text != "t" || c.Reasoning != "r" || c.StopReason != "tool_use" || len(c.ToolCalls) != 2 ||
		c.ToolCalls[1] != (llm.ToolCallDelta{Index: 1, ID: "b", Name: "g", Arguments: `{"x":1}`}) || !c.IsContent() {
		t.Errorf("Chunk() = %+v", c)
	}
}
