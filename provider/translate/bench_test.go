package translate_test

import (
	"testing"

	"github.com/tollgate/tollgate/provider/translate"
)

func BenchmarkToAnthropic(b *testing.B) {
	body := fixture(b, "openai_tool_history.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := translate.ToAnthropic(body, translate.Target{Model: "claude-haiku-4-5", MaxTokens: 1000}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToOpenAI(b *testing.B) {
	body := fixture(b, "anthropic_tool_history.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := translate.ToOpenAI(body, translate.Target{Model: "gpt-4o", MaxTokens: 1000}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResponsesToAnthropic(b *testing.B) {
	body := fixture(b, "responses_agent_tools.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := translate.ResponsesToAnthropic(body, translate.Target{Model: "claude-haiku-4-5", MaxTokens: 1000}); err != nil {
			b.Fatal(err)
		}
	}
}
