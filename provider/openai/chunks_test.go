package openai

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/llm"
)

// events joins SSE data lines into a transcript as a server writes it.
func events(data ...string) string {
	var b strings.Builder
	for _, d := range data {
		b.WriteString("data: " + d + "\n\n")
	}
	return b.String()
}

// TestStreamChunks checks what each event of real stream shapes (OpenAI tool calls and
// n > 1, DeepSeek, vLLM, llama.cpp and Ollama reasoning) says was generated, and the
// usage, with our own values.
func TestStreamChunks(t *testing.T) {
	type want struct {
		Text, Reasoning, Other string
		ToolCalls              []llm.ToolCallDelta
		Content                bool
	}
	tests := []struct {
		name   string
		sse    string
		chunks []want
		usage  llm.Usage
	}{
		{
			name: "openai tool calls",
			sse: events(
				`{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1761000000,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_Qm7vX2","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1761000000,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1761000000,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Lyon\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1761000000,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_Zp3kR8","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1761000000,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}`,
				`{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1761000000,"model":"gpt-4.1-2025-04-14","choices":[],"usage":{"prompt_tokens":84,"completion_tokens":31,"total_tokens":115,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`,
				`[DONE]`),
			chunks: []want{
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_Qm7vX2", Name: "get_weather"}}, Content: true},
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `{"city":`}}, Content: true},
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `"Lyon"}`}}, Content: true},
				{ToolCalls: []llm.ToolCallDelta{{Index: 1, ID: "call_Zp3kR8", Name: "get_time", Arguments: "{}"}}, Content: true},
				{}, // finish_reason
				{}, // usage chunk: relayed only because the caller asked for usage
				{}, // [DONE]
			},
			usage: llm.Usage{InputTokens: 84, OutputTokens: 31},
		},
		{
			name: "n=2: the second choice is Other, usage counts both",
			sse: events(
				`{"id":"chatcmpl-C2","object":"chat.completion.chunk","created":1761000001,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null},{"index":1,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-C2","object":"chat.completion.chunk","created":1761000001,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":1,"delta":{"content":"Bonjour"},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-C2","object":"chat.completion.chunk","created":1761000001,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-C2","object":"chat.completion.chunk","created":1761000001,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null},{"index":1,"delta":{"content":" !"},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-C2","object":"chat.completion.chunk","created":1761000001,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"},{"index":1,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`,
				`{"id":"chatcmpl-C2","object":"chat.completion.chunk","created":1761000001,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
				`[DONE]`),
			chunks: []want{{}, {Other: "Bonjour", Content: true}, {Text: "Hello", Content: true},
				{Text: "!", Other: " !", Content: true}, {}, {}, {}},
			usage: llm.Usage{InputTokens: 12, OutputTokens: 5},
		},
		{
			name: "deepseek reasoning_content, cache hits, reasoning tokens",
			sse: events(
				`{"id":"5f3e","object":"chat.completion.chunk","created":1761000002,"model":"deepseek-reasoner","system_fingerprint":"fp_7e0991cad4","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":""},"logprobs":null,"finish_reason":null}]}`,
				`{"id":"5f3e","object":"chat.completion.chunk","created":1761000002,"model":"deepseek-reasoner","system_fingerprint":"fp_7e0991cad4","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"Two plus two"},"logprobs":null,"finish_reason":null}]}`,
				`{"id":"5f3e","object":"chat.completion.chunk","created":1761000002,"model":"deepseek-reasoner","system_fingerprint":"fp_7e0991cad4","choices":[{"index":0,"delta":{"content":"4","reasoning_content":null},"logprobs":null,"finish_reason":null}]}`,
				`{"id":"5f3e","object":"chat.completion.chunk","created":1761000002,"model":"deepseek-reasoner","system_fingerprint":"fp_7e0991cad4","choices":[{"index":0,"delta":{"content":"","reasoning_content":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":41,"total_tokens":61,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":38},"prompt_cache_hit_tokens":16,"prompt_cache_miss_tokens":4}}`,
				`[DONE]`),
			chunks: []want{{}, {Reasoning: "Two plus two", Content: true}, {Text: "4", Content: true}, {}, {}},
			usage:  llm.Usage{InputTokens: 20, CachedInputTokens: 16, OutputTokens: 41, ReasoningTokens: 38},
		},
		{
			name: "vllm and ollama reasoning, llama.cpp usage on the last choice chunk",
			sse: events(
				`{"id":"chatcmpl-9a1","object":"chat.completion.chunk","created":1761000003,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
				`{"id":"chatcmpl-9a1","object":"chat.completion.chunk","created":1761000003,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning":"The user greets"},"logprobs":null,"finish_reason":null}]}`,
				`{"id":"chatcmpl-9a1","object":"chat.completion.chunk","created":1761000003,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"reasoning":" me.","reasoning_content":" me."},"logprobs":null,"finish_reason":null}]}`,
				`{"id":"chatcmpl-9a1","object":"chat.completion.chunk","created":1761000003,"model":"Qwen/Qwen3-8B","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}`,
				`{"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1761000003,"id":"chatcmpl-9a1","model":"gpt-oss:20b","system_fingerprint":"b6097-9515c613","object":"chat.completion.chunk","usage":{"completion_tokens":9,"prompt_tokens":30,"total_tokens":39},"timings":{"prompt_n":30,"prompt_ms":20.1,"predicted_n":9,"predicted_ms":40.2}}`,
				`[DONE]`),
			chunks: []want{{}, {Reasoning: "The user greets", Content: true}, {Reasoning: " me.", Content: true}, {Text: "Hi", Content: true}, {}, {}},
			usage:  llm.Usage{InputTokens: 30, OutputTokens: 9},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProvider(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tt.sse)
			}))
			req, err := ParseRequest([]byte(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.Do(context.Background(), llm.Call{Request: req})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Stream.Close()
			var got []want
			var raw strings.Builder
			for {
				c, err := resp.Stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Recv() error %v", err)
				}
				raw.Write(c.Raw)
				got = append(got, want{Text: c.Text, Reasoning: c.Reasoning, Other: c.Other, ToolCalls: c.ToolCalls, Content: c.IsContent()})
			}
			if diff := cmp.Diff(tt.chunks, got); diff != "" {
				t.Errorf("chunks mismatch (-want +got):\n%s", diff)
			}
			if raw.String() != tt.sse {
				t.Errorf("relayed bytes differ from the upstream's:\n%q\nwant\n%q", raw.String(), tt.sse)
			}
			if u := resp.Stream.Usage(); u != tt.usage {
				t.Errorf("Usage() = %+v, want %+v", u, tt.usage)
			}
		})
	}
}

// TestStreamErrorEvent checks an error sent inside a 200 stream: LM Studio's context
// overflow, and an upstream that echoes the key in the event's code and type.
func TestStreamErrorEvent(t *testing.T) {
	tests := []struct {
		name string
		sse  string
		kind llm.Kind
	}{
		{"lm studio context overflow", "event: error\ndata: {\"error\":{\"message\":\"Input does not fit in context length. The input has 31430 tokens, but the context length only supports 30000 tokens.\"},\"message\":\"Input does not fit in context length. The input has 31430 tokens, but the context length only supports 30000 tokens.\"}\n\n",
			llm.KindContextLength},
		{"key echoed in code and type", "data: {\"error\":{\"message\":\"key " + testKey + " revoked\",\"type\":\"" + testKey + "\",\"param\":\"" + testKey + "\",\"code\":\"" + testKey + "\"}}\n\n",
			llm.KindServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProvider(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tt.sse)
			}))
			resp, err := p.Do(context.Background(), userCall(true))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Stream.Close()
			_, err = resp.Stream.Recv()
			var le *llm.Error
			if !errors.As(err, &le) || le.Kind != tt.kind {
				t.Fatalf("Recv() error = %v, want kind %v", err, tt.kind)
			}
			if strings.Contains(le.Code, testKey) || strings.Contains(le.Message, testKey) || strings.Contains(err.Error(), testKey) {
				t.Errorf("error %+v carries the key", le)
			}
		})
	}
}
