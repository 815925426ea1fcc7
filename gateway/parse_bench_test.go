package gateway

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/tokens"
)

// BenchmarkParse compares what reading a request body costs the gateway and the engine:
//
//   - separate: the previous path, in which ParseRequest, SessionHint and IncludeUsage each
//     scanned the body, and the engine's estimate validated and walked it again with gjson;
//   - onepass: ParseRequestInfo, whose one scan of the top level yields the request, the
//     session hint, include_usage and, counted member by member, the input estimate.
//
// The bodies are the tokens package's testdata: a chat, a tool-calling exchange and a
// Messages request with images and documents.
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"openai_chat", "openai_tools", "anthropic_messages"} {
		body, err := os.ReadFile("../tokens/testdata/" + name + ".json")
		if err != nil {
			b.Fatal(err)
		}
		an := name == "anthropic_messages"
		b.Run(name+"/separate", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if an {
					if _, err := anthropic.ParseRequest(body); err != nil {
						b.Fatal(err)
					}
					_ = anthropic.SessionHint(body)
					if _, err := tokens.AnthropicMessages(body); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if _, err := openai.ParseRequest(body); err != nil {
					b.Fatal(err)
				}
				_ = openai.SessionHint(body)
				_ = openai.IncludeUsage(body)
				if _, err := tokens.OpenAIChat(body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/onepass", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if an {
					if _, _, err := anthropic.ParseRequestInfo(body); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if _, _, err := openai.ParseRequestInfo(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidate compares the two validators the parse could use on its first pass:
// encoding/json's (which wire.ValidJSON uses, for its error offsets) and gjson's.
func BenchmarkValidate(b *testing.B) {
	for _, name := range []string{"openai_chat", "openai_tools", "anthropic_messages"} {
		body, err := os.ReadFile("../tokens/testdata/" + name + ".json")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if !jsonValid(body) {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(name+"/gjson", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if !gjson.ValidBytes(body) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

func jsonValid(b []byte) bool { return json.Valid(b) }
