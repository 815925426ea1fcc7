package tokens

import (
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/llm"
)

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"hello", 2}, // 1 token, rounded up after the 17/16 margin
		{"hello world", 3},
		{"   ", 2},
		{"12345678", 4},
		{"getUserById", 5},
		{"中文", 2},
		{"👋", 2},
		{"\xff\xfe", 4}, // invalid UTF-8 counts as unknown runes, not a panic
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := Text(tt.in); got != tt.want {
				t.Errorf("Text(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// TestTextMonotone: appending text never lowers the estimate, so an estimate of a prefix
// never exceeds that of the whole prompt.
func TestTextMonotone(t *testing.T) {
	t.Parallel()
	for name, s := range corpus(t) {
		prev := 0
		for i := 0; i <= len(s); i += 7 {
			got := Text(s[:i])
			if got+1 < prev { // one token of slack: a split word may read as two
				t.Fatalf("%s: Text(first %d bytes) = %d < %d for a shorter prefix", name, i, got, prev)
			}
			prev = max(prev, got)
		}
	}
}

func TestMessages(t *testing.T) {
	t.Parallel()
	msgs := []llm.Message{{Role: "user", Content: "hello"}, {Role: "assistant", Content: "hello world"}}
	tests := []struct {
		name   string
		system string
		msgs   []llm.Message
		want   int
	}{
		{"empty", "", nil, PerRequest},
		{"system only", "hello", nil, PerRequest + PerMessage + 2},
		{"two messages", "", msgs, PerRequest + 2*PerMessage + 2 + 3},
		{"opaque", "", []llm.Message{{Role: "user", Opaque: true}}, PerRequest + PerMessage + ImageOpenAI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Messages(tt.system, tt.msgs); got != tt.want {
				t.Errorf("Messages(%q, %v) = %d, want %d", tt.system, tt.msgs, got, tt.want)
			}
		})
	}
}

func TestOpenAIChat(t *testing.T) {
	t.Parallel()
	base := PerRequest + PerMessage
	tests := []struct {
		name string
		body string
		want int
	}{
		{"string content", `{"messages":[{"role":"user","content":"hello"}]}`, base + 2},
		{"parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"hello"},{"type":"text","text":"hello"}]}]}`, base + 4},
		{"image high", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, base + ImageOpenAI},
		{"image low", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}]}`, base + ImageOpenAILow},
		{"null content with tool call", `{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"hello","arguments":"hello"}}]}]}`, base + PerToolCall + 4},
		{"tool result", `{"messages":[{"role":"tool","tool_call_id":"c","content":"hello"}]}`, base + PerToolCall + 2},
		{"name", `{"messages":[{"role":"user","name":"hello","content":"hello"}]}`, base + PerName + 4},
		{"legacy function call", `{"messages":[{"role":"assistant","function_call":{"name":"hello","arguments":"hello"}}]}`, base + PerToolCall + 4},
		{"unknown part counts its JSON", `{"messages":[{"role":"user","content":[{"type":"input_audio"}]}]}`, base + Text(`{"type":"input_audio"}`)},
		{"tools", `{"messages":[],"tools":[{"type":"function"}]}`, PerRequest + Text(`[{"type":"function"}]`)},
		{"functions", `{"functions":[{"name":"f"}]}`, PerRequest + Text(`[{"name":"f"}]`)},
		{"response schema", `{"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`, PerRequest + Text(`{"name":"x"}`)},
		{"unknown fields ignored", `{"model":"gpt-4o","x":{"y":[1,2]},"messages":[{"role":"user","content":"hello","z":1}]}`, base + 2},
		{"escapes decoded", `{"messages":[{"role":"user","content":"\u4e2d\u6587"}]}`, base + Text("中文")},
		{"no messages", `{}`, PerRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := OpenAIChat([]byte(tt.body))
			if err != nil || got != tt.want {
				t.Errorf("OpenAIChat(%s) = %d, %v; want %d, nil", tt.body, got, err, tt.want)
			}
		})
	}
}

func TestAnthropicMessages(t *testing.T) {
	t.Parallel()
	margin := func(n int) int { return (n*AnthropicMargin + 3) / 4 }
	base := PerRequest + PerMessage
	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 1 0 obj <</Type /Pages /Count 2>> 2 0 obj <</Type /Page>> 3 0 obj <</Type/Page>> %%EOF"))
	tests := []struct {
		name string
		body string
		want int
	}{
		{"string content", `{"messages":[{"role":"user","content":"hello"}]}`, margin(base + 2)},
		{"system string", `{"system":"hello","messages":[{"role":"user","content":"hello"}]}`, margin(base + PerMessage + 4)},
		{"system blocks", `{"system":[{"type":"text","text":"hello","cache_control":{"type":"ephemeral"}}],"messages":[]}`, margin(base + 2)},
		{"image", `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]}`, margin(base) + ImageAnthropic},
		{"tool use", `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"hello","input":{}}]}]}`, margin(base + PerToolCall + 2 + Text("{}"))},
		{"tool result string", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"hello"}]}]}`, margin(base + PerToolCall + 2)},
		{"tool result blocks", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"hello"},{"type":"image","source":{}}]}]}]}`, margin(base+PerToolCall+2) + ImageAnthropic},
		{"thinking", `{"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"hello","signature":"abc"}]}]}`, margin(base + 2)},
		{"text document", `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"hello"}}]}]}`, margin(base + 2)},
		{"pdf pages counted", `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"` + pdf + `"}}]}]}`, margin(base) + 2*PDFPage},
		{"pdf by url", `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://x.pdf"}}]}]}`, margin(base) + PDFUnknownPages*PDFPage},
		{"tools", `{"tools":[{"name":"f"}],"messages":[]}`, margin(PerRequest+Text(`[{"name":"f"}]`)) + AnthropicTools},
		{"unknown block counts its JSON", `{"messages":[{"role":"user","content":[{"type":"search_result"}]}]}`, margin(base + Text(`{"type":"search_result"}`))},
		{"unknown fields ignored", `{"model":"m","metadata":{"user_id":"u"},"messages":[{"role":"user","content":"hello","x":[]}]}`, margin(base + 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := AnthropicMessages([]byte(tt.body))
			if err != nil || got != tt.want {
				t.Errorf("AnthropicMessages(%s) = %d, %v; want %d, nil", tt.body, got, err, tt.want)
			}
		})
	}
}

func TestInvalidBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string // substring of the error
	}{
		{"empty", ``, "unexpected end"},
		{"truncated", `{"messages":[{"role":"user","content":"hi"`, "unexpected end"},
		{"not an object", `[1,2]`, "want a JSON object"},
		{"messages not an array", `{"messages":"hi"}`, "messages: want an array"},
		{"content a number", `{"messages":[{"role":"user","content":42}]}`, "messages[0]"},
		{"part not an object", `{"messages":[{"role":"user","content":[1]}]}`, "content[0]"},
		{"trailing garbage", `{} x`, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for name, parse := range map[string]func([]byte) (int, error){"OpenAIChat": OpenAIChat, "AnthropicMessages": AnthropicMessages} {
				got, err := parse([]byte(tt.body))
				if !errors.Is(err, ErrInvalidBody) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s(%s) = %d, %v; want an error wrapping ErrInvalidBody containing %q", name, tt.body, got, err, tt.want)
				}
			}
		})
	}
}

func TestTestdataBodies(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"openai_chat.json", "openai_tools.json", "anthropic_messages.json"} {
		body, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		parse := OpenAIChat
		if strings.HasPrefix(f, "anthropic") {
			parse = AnthropicMessages
		}
		if n, err := parse(body); err != nil || n <= PerRequest {
			t.Errorf("%s: %d, %v; want a positive estimate", f, n, err)
		}
	}
}

func FuzzOpenAIChat(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := OpenAIChat(body)
		checkParse(t, body, n, err)
	})
}

func FuzzAnthropicMessages(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := AnthropicMessages(body)
		checkParse(t, body, n, err)
	})
}

func fuzzSeeds(f *testing.F) {
	for _, p := range []string{"testdata/openai_chat.json", "testdata/openai_tools.json", "testdata/anthropic_messages.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"tool_result","content":[{"type":"tool_result","content":[{"type":"document","source":{"type":"content","content":"x"}}]}]}]}]}`))
	f.Add([]byte(`{"messages":[{"content":[{"type":"document","source":{"type":"base64","data":"JVBERi0="}}]}]}`))
	f.Add([]byte(`{"messages":null,"system":null,"tools":null}`))
	f.Add([]byte(`{`))
}

func checkParse(t *testing.T, body []byte, n int, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrInvalidBody) {
			t.Fatalf("error %v does not wrap ErrInvalidBody", err)
		}
		return
	}
	if n < PerRequest {
		t.Fatalf("estimate %d below the per-request overhead", n)
	}
	if !jsonValid(body) {
		t.Fatalf("accepted invalid JSON %q", body)
	}
}

// FuzzText: any bytes, valid UTF-8 or not, give an estimate between zero and a small
// multiple of their length, without panicking.
func FuzzText(f *testing.F) {
	for _, s := range corpus(f) {
		f.Add(s[:min(len(s), 300)])
	}
	f.Add("\xff\xfe\xfd")
	f.Fuzz(func(t *testing.T, s string) {
		n := Text(s)
		if n < 0 || n > 2*len(s)+1 {
			t.Fatalf("Text(%q) = %d, want within [0, %d]", s, n, 2*len(s)+1)
		}
		if s != "" && n == 0 {
			t.Fatalf("Text(%q) = 0 for non-empty text", s)
		}
	})
}
