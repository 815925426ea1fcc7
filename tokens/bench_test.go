package tokens

import (
	"encoding/json"
	"os"
	"testing"
)

func jsonValid(b []byte) bool { return json.Valid(b) }

func BenchmarkText(b *testing.B) {
	for _, f := range []string{"prose_en.txt", "code_go.txt", "chinese.txt"} {
		data, err := os.ReadFile("testdata/corpus/" + f)
		if err != nil {
			b.Fatal(err)
		}
		s := string(data[:1024]) // 1 KB, as the brief's target is stated
		b.Run(f+"/1KB", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				Text(s)
			}
		})
	}
}

func BenchmarkOpenAIChat(b *testing.B) {
	body, err := os.ReadFile("testdata/openai_chat.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := OpenAIChat(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnthropicMessages(b *testing.B) {
	body, err := os.ReadFile("testdata/anthropic_messages.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := AnthropicMessages(body); err != nil {
			b.Fatal(err)
		}
	}
}
