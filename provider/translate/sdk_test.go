package translate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	anthropicopt "github.com/anthropics/anthropic-sdk-go/option"
	openaisdk "github.com/openai/openai-go/v3"
	openaiopt "github.com/openai/openai-go/v3/option"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
)

// Upstream answers in the real shapes, with our own values.

const anthropicToolMessage = `{
  "id": "msg_01Aq9w938a90dw8q",
  "type": "message",
  "role": "assistant",
  "model": "claude-sonnet-4-5-20250929",
  "content": [
    {"type": "thinking", "thinking": "Two cities, two calls.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
    {"type": "text", "text": "I'll check both cities."},
    {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}},
    {"type": "tool_use", "id": "toolu_01B18r81rx81mr826724mr8", "name": "get_weather", "input": {"city": "Oslo"}}
  ],
  "stop_reason": "tool_use",
  "stop_sequence": null,
  "usage": {"input_tokens": 412, "cache_creation_input_tokens": 1024, "cache_read_input_tokens": 2048, "output_tokens": 96, "service_tier": "standard"}
}`

const openaiToolCompletion = `{
  "id": "chatcmpl-BcQ8ko2nz9B7CRvV0uVbcowidHpQU",
  "object": "chat.completion",
  "created": 1748496646,
  "model": "gpt-4o-2024-08-06",
  "choices": [{
    "index": 0,
    "message": {"role": "assistant", "content": null, "refusal": null, "annotations": [],
      "tool_calls": [
        {"id": "call_qOfTGgDrItLORNfC6VwUbyLL", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Shanghai\"}"}},
        {"id": "call_Z2vR8kXcBf1lMnA4pQe7sTuV", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"Asia/Shanghai\"}"}}
      ]},
    "logprobs": null,
    "finish_reason": "tool_calls"
  }],
  "usage": {"prompt_tokens": 91, "completion_tokens": 34, "total_tokens": 125,
    "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
  "service_tier": "default",
  "system_fingerprint": "fp_76544d79cb"
}`

const anthropicToolStream = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":1500,"output_tokens":2}}}` + "\n\n" +
	"event: content_block_start\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Need the weather."}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}}` + "\n\n" +
	"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":0}` + "\n\n" +
	"event: content_block_start\n" + `data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}` + "\n\n" +
	"event: ping\n" + `data: {"type": "ping"}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Okay, let's check "}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"the weather."}}` + "\n\n" +
	"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":1}` + "\n\n" +
	"event: content_block_start\n" + `data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" \"San Francisco, CA\"}"}}` + "\n\n" +
	"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":2}` + "\n\n" +
	"event: content_block_start\n" + `data: {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_01Lm9kQ7nR2sT4vW6xY8zA1b","name":"get_time","input":{}}}` + "\n\n" +
	"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"tz\": \"America/Los_Angeles\"}"}}` + "\n\n" +
	"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":3}` + "\n\n" +
	"event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}` + "\n\n" +
	"event: message_stop\n" + `data: {"type":"message_stop"}` + "\n\n"

const openaiToolStream = `data: {"id":"chatcmpl-BQb0iSFzE1zz1OVhaqg3u2Yqn1Ezf","object":"chat.completion.chunk","created":1745678496,"model":"gpt-4.1-nano-2025-04-14","service_tier":"default","system_fingerprint":"fp_eede8f0d45","choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BQb0iSFzE1zz1OVhaqg3u2Yqn1Ezf","object":"chat.completion.chunk","created":1745678496,"model":"gpt-4.1-nano-2025-04-14","service_tier":"default","system_fingerprint":"fp_eede8f0d45","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_PieqNSej6kM9hgYbcQdbZSaC","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BQb0iSFzE1zz1OVhaqg3u2Yqn1Ezf","object":"chat.completion.chunk","created":1745678496,"model":"gpt-4.1-nano-2025-04-14","service_tier":"default","system_fingerprint":"fp_eede8f0d45","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BQb0iSFzE1zz1OVhaqg3u2Yqn1Ezf","object":"chat.completion.chunk","created":1745678496,"model":"gpt-4.1-nano-2025-04-14","service_tier":"default","system_fingerprint":"fp_eede8f0d45","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BQb0iSFzE1zz1OVhaqg3u2Yqn1Ezf","object":"chat.completion.chunk","created":1745678496,"model":"gpt-4.1-nano-2025-04-14","service_tier":"default","system_fingerprint":"fp_eede8f0d45","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_8sWcQJ0e1Ty1kSGH2RzJbIvf","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BQb0iSFzE1zz1OVhaqg3u2Yqn1Ezf","object":"chat.completion.chunk","created":1745678496,"model":"gpt-4.1-nano-2025-04-14","service_tier":"default","system_fingerprint":"fp_eede8f0d45","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"city\": \"Oslo\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BQb0iSFzE1zz1OVhaqg3u2Yqn1Ezf","object":"chat.completion.chunk","created":1745678496,"model":"gpt-4.1-nano-2025-04-14","service_tier":"default","system_fingerprint":"fp_eede8f0d45","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}

data: {"id":"chatcmpl-BQb0iSFzE1zz1OVhaqg3u2Yqn1Ezf","object":"chat.completion.chunk","created":1745678496,"model":"gpt-4.1-nano-2025-04-14","service_tier":"default","system_fingerprint":"fp_eede8f0d45","choices":[],"usage":{"prompt_tokens":81,"completion_tokens":41,"total_tokens":122,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}

data: [DONE]

`

// recorder is an upstream or a client-facing server that answers with fixed bytes and
// keeps the request body it got.
type recorder struct {
	mu    sync.Mutex
	got   []byte
	ctype string
	body  string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = b
	r.mu.Unlock()
	w.Header().Set("Content-Type", r.ctype)
	io.WriteString(w, r.body)
}

func (r *recorder) request() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got
}

func serve(t *testing.T, ctype, body string) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{ctype: ctype, body: body}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return srv, rec
}

var created = time.Unix(1767225600, 0).UTC()

// openaiClient reads what tollgate writes for an OpenAI caller through the official SDK.
func openaiClient(t *testing.T, ctype string, body []byte) *openaisdk.Client {
	srv, _ := serve(t, ctype, string(body))
	c := openaisdk.NewClient(openaiopt.WithBaseURL(srv.URL+"/v1"), openaiopt.WithAPIKey("k"), openaiopt.WithMaxRetries(0))
	return &c
}

func anthropicClient(t *testing.T, ctype string, body []byte) *anthropicsdk.Client {
	srv, _ := serve(t, ctype, string(body))
	c := anthropicsdk.NewClient(anthropicopt.WithBaseURL(srv.URL), anthropicopt.WithAPIKey("k"), anthropicopt.WithMaxRetries(0))
	return &c
}

var (
	oaParams = openaisdk.ChatCompletionNewParams{Model: "route", Messages: []openaisdk.ChatCompletionMessageParamUnion{openaisdk.UserMessage("hi")}}
	anParams = anthropicsdk.MessageNewParams{Model: "route", MaxTokens: 100,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hi"))}}
)

func sameJSON(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("%s = %s, not JSON: %v", what, got, err)
		return
	}
	json.Unmarshal([]byte(want), &w)
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("%s = %s, want %s", what, gb, wb)
	}
}

// TestAnswerToOpenAI encodes a Claude answer with tool calls for an OpenAI caller and
// reads it back with the OpenAI SDK.
func TestAnswerToOpenAI(t *testing.T) {
	t.Parallel()
	resp, err := anthropic.ParseResponse([]byte(anthropicToolMessage))
	if err != nil {
		t.Fatal(err)
	}
	resp.Created = created
	body := openai.EncodeResponse(resp, "claude-sonnet-4-5")
	golden(t, "answer_to_openai.json", pretty(t, body))

	got, err := openaiClient(t, "application/json", body).Chat.Completions.New(context.Background(), oaParams)
	if err != nil {
		t.Fatalf("OpenAI SDK: %v", err)
	}
	c := got.Choices[0]
	if got.ID != "chatcmpl-msg_01Aq9w938a90dw8q" || got.Created != created.Unix() || c.FinishReason != "tool_calls" || c.Message.Content != "I'll check both cities." {
		t.Errorf("id %q created %d finish %q content %q", got.ID, got.Created, c.FinishReason, c.Message.Content)
	}
	if len(c.Message.ToolCalls) != 2 {
		t.Fatalf("%d tool calls, want 2", len(c.Message.ToolCalls))
	}
	tc := c.Message.ToolCalls[0]
	if tc.ID != "toolu_01A09q90qw90lq917835lq9" || tc.Function.Name != "get_weather" {
		t.Errorf("tool call 0 = %s %s", tc.ID, tc.Function.Name)
	}
	sameJSON(t, "arguments", tc.Function.Arguments, `{"city":"Paris","unit":"celsius"}`)
	u := got.Usage
	if u.PromptTokens != 412+1024+2048 || u.PromptTokensDetails.CachedTokens != 2048 || u.CompletionTokens != 96 || u.TotalTokens != 412+1024+2048+96 {
		t.Errorf("usage %+v, want every prompt token counted and the reads as cached", u)
	}
}

// TestAnswerToAnthropic encodes a GPT answer with parallel tool calls for an Anthropic
// caller and reads it back with the Anthropic SDK.
func TestAnswerToAnthropic(t *testing.T) {
	t.Parallel()
	resp, err := openai.ParseResponse([]byte(openaiToolCompletion))
	if err != nil {
		t.Fatal(err)
	}
	body := anthropic.EncodeResponse(resp, "gpt-4o")
	golden(t, "answer_to_anthropic.json", pretty(t, body))

	got, err := anthropicClient(t, "application/json", body).Messages.New(context.Background(), anParams)
	if err != nil {
		t.Fatalf("Anthropic SDK: %v", err)
	}
	if got.StopReason != anthropicsdk.StopReasonToolUse || len(got.Content) != 2 {
		t.Fatalf("stop %q, %d blocks; want tool_use and 2 tool_use blocks", got.StopReason, len(got.Content))
	}
	for i, want := range []struct{ id, name, input string }{
		{"call_qOfTGgDrItLORNfC6VwUbyLL", "get_weather", `{"location":"Shanghai"}`},
		{"call_Z2vR8kXcBf1lMnA4pQe7sTuV", "get_time", `{"tz":"Asia/Shanghai"}`},
	} {
		b := got.Content[i].AsToolUse()
		if b.ID != want.id || b.Name != want.name {
			t.Errorf("block %d = %s %s, want %s %s", i, b.ID, b.Name, want.id, want.name)
		}
		sameJSON(t, "input", string(b.Input), want.input)
	}
	u := got.Usage
	if u.InputTokens != 91-64 || u.CacheReadInputTokens != 64 || u.CacheCreationInputTokens != 0 || u.OutputTokens != 34 {
		t.Errorf("usage %+v, want 27 uncached, 64 read, 34 out", u)
	}
}

// relay reads a provider stream and encodes it for the other format's caller, as the
// gateway's sinks do.
func relay(t *testing.T, s llm.Stream, start func() error, chunk func(llm.Chunk) error, end func(llm.Usage) error) {
	t.Helper()
	if err := start(); err != nil {
		t.Fatal(err)
	}
	for {
		c, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv() error %v", err)
		}
		if err := chunk(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := end(s.Usage()); err != nil {
		t.Fatal(err)
	}
}

// TestStreamToOpenAI streams a Claude answer with thinking, text and two tool calls
// through the anthropic provider, re-encodes it for an OpenAI caller that asked for usage,
// and accumulates it with the OpenAI SDK.
func TestStreamToOpenAI(t *testing.T) {
	t.Parallel()
	up, rec := serve(t, "text/event-stream", anthropicToolStream)
	p, err := anthropic.New(anthropic.Config{BaseURL: up.URL})
	if err != nil {
		t.Fatal(err)
	}
	callerBody := []byte(`{"model":"route","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Weather and time in SF?"}],` +
		`"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object"}}}]}`)
	req, err := openai.ParseRequest(callerBody)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Do(context.Background(), llm.Call{Request: req, Model: "claude-sonnet-4-5", MaxTokens: 500})
	if err != nil {
		t.Fatalf("Do() error %v", err)
	}
	defer resp.Stream.Close()
	if !bytes.Contains(rec.request(), []byte(`"tools":[{"name":"get_weather"`)) {
		t.Errorf("upstream got %s, want the caller's tools translated", rec.request())
	}
	var buf bytes.Buffer
	enc := openai.NewStreamEncoder(&buf, openai.IncludeUsage(callerBody))
	enc.ID, enc.Created = "chatcmpl-tgstream", created
	relay(t, resp.Stream, func() error { return enc.Start("claude-sonnet-4-5") }, enc.Chunk,
		func(u llm.Usage) error { return enc.End("", u) })
	golden(t, "stream_to_openai.sse", buf.Bytes())

	stream := openaiClient(t, "text/event-stream", buf.Bytes()).Chat.Completions.NewStreaming(context.Background(), oaParams)
	var acc openaisdk.ChatCompletionAccumulator
	var reasoning strings.Builder
	for stream.Next() {
		ch := stream.Current()
		if !acc.AddChunk(ch) {
			t.Fatalf("the SDK's accumulator refused chunk %s", ch.RawJSON())
		}
		if len(ch.Choices) > 0 {
			if f, ok := ch.Choices[0].Delta.JSON.ExtraFields["reasoning_content"]; ok {
				var s string
				json.Unmarshal([]byte(f.Raw()), &s)
				reasoning.WriteString(s)
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("OpenAI SDK stream: %v", err)
	}
	c := acc.Choices[0]
	if c.Message.Content != "Okay, let's check the weather." || c.FinishReason != "tool_calls" || reasoning.String() != "Need the weather." {
		t.Errorf("content %q finish %q reasoning %q", c.Message.Content, c.FinishReason, reasoning.String())
	}
	if len(c.Message.ToolCalls) != 2 {
		t.Fatalf("%d tool calls, want 2", len(c.Message.ToolCalls))
	}
	for i, want := range []struct{ id, name, args string }{
		{"toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", `{"location":"San Francisco, CA"}`},
		{"toolu_01Lm9kQ7nR2sT4vW6xY8zA1b", "get_time", `{"tz":"America/Los_Angeles"}`},
	} {
		tc := c.Message.ToolCalls[i]
		if tc.ID != want.id || tc.Function.Name != want.name {
			t.Errorf("tool call %d = %s %s", i, tc.ID, tc.Function.Name)
		}
		sameJSON(t, "arguments", tc.Function.Arguments, want.args)
	}
	if u := acc.Usage; u.PromptTokens != 472+1500 || u.PromptTokensDetails.CachedTokens != 1500 || u.CompletionTokens != 89 {
		t.Errorf("usage %+v", u)
	}
}

// TestStreamToAnthropic streams a GPT answer with two parallel tool calls through the
// openai provider, for an Anthropic caller whose request is translated on the way, and
// accumulates the re-encoded stream with the Anthropic SDK.
func TestStreamToAnthropic(t *testing.T) {
	t.Parallel()
	up, rec := serve(t, "text/event-stream", openaiToolStream)
	p, err := openai.New(openai.Config{BaseURL: up.URL})
	if err != nil {
		t.Fatal(err)
	}
	req, err := anthropic.ParseRequest([]byte(`{"model":"route","max_tokens":300,"stream":true,"messages":[{"role":"user","content":"Weather in Paris and Oslo?"}],` +
		`"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],"tool_choice":{"type":"any"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Do(context.Background(), llm.Call{Request: req, Model: "gpt-4.1-nano", MaxTokens: 300})
	if err != nil {
		t.Fatalf("Do() error %v", err)
	}
	defer resp.Stream.Close()
	if !bytes.Contains(rec.request(), []byte(`"tool_choice":"required"`)) || !bytes.Contains(rec.request(), []byte(`"include_usage":true`)) {
		t.Errorf("upstream got %s, want tool_choice required and include_usage", rec.request())
	}
	var buf bytes.Buffer
	enc := anthropic.NewStreamEncoder(&buf)
	enc.ID = "msg_tgstream"
	relay(t, resp.Stream, func() error { return enc.Start("gpt-4.1-nano") }, enc.Chunk,
		func(u llm.Usage) error { return enc.End("", u) })
	golden(t, "stream_to_anthropic.sse", buf.Bytes())

	stream := anthropicClient(t, "text/event-stream", buf.Bytes()).Messages.NewStreaming(context.Background(), anParams)
	var msg anthropicsdk.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatalf("the SDK's accumulator refused an event: %v", err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("Anthropic SDK stream: %v", err)
	}
	if msg.StopReason != anthropicsdk.StopReasonToolUse || len(msg.Content) != 2 {
		t.Fatalf("stop %q, %d blocks; want tool_use and 2 blocks", msg.StopReason, len(msg.Content))
	}
	for i, want := range []struct{ id, input string }{
		{"call_PieqNSej6kM9hgYbcQdbZSaC", `{"city":"Paris"}`},
		{"call_8sWcQJ0e1Ty1kSGH2RzJbIvf", `{"city":"Oslo"}`},
	} {
		b := msg.Content[i].AsToolUse()
		if b.ID != want.id || b.Name != "get_weather" {
			t.Errorf("block %d = %s %s", i, b.ID, b.Name)
		}
		sameJSON(t, "input", string(b.Input), want.input)
	}
	if msg.Usage.InputTokens != 81 || msg.Usage.OutputTokens != 41 {
		t.Errorf("usage %+v, want 81 in, 41 out", msg.Usage)
	}
}

// TestStreamFailAfterContent checks that a stream cut after a tool call has started ends
// with an error event that each SDK reports as an error, not as a whole answer.
func TestStreamFailAfterContent(t *testing.T) {
	t.Parallel()
	tool := llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_1", Name: "f", Arguments: `{"a":`}}}

	var an bytes.Buffer
	ae := anthropic.NewStreamEncoder(&an)
	ae.Start("gpt-4o")
	ae.Chunk(tool)
	ae.Fail("overloaded_error", "the upstream stream was cut")
	s := anthropicClient(t, "text/event-stream", an.Bytes()).Messages.NewStreaming(context.Background(), anParams)
	for s.Next() {
	}
	if s.Err() == nil || !strings.Contains(s.Err().Error(), "the upstream stream was cut") {
		t.Errorf("Anthropic SDK error = %v, want the error event's", s.Err())
	}

	var oa bytes.Buffer
	oe := openai.NewStreamEncoder(&oa, false)
	oe.Start("claude-haiku-4-5")
	oe.Chunk(tool)
	oe.Fail("server_error", "", "the upstream stream was cut")
	os := openaiClient(t, "text/event-stream", oa.Bytes()).Chat.Completions.NewStreaming(context.Background(), oaParams)
	for os.Next() {
	}
	if os.Err() == nil || !strings.Contains(os.Err().Error(), "the upstream stream was cut") {
		t.Errorf("OpenAI SDK error = %v, want the error event's", os.Err())
	}
}

const calendarArgs = `{"name":"Science fair","date":"Friday","participants":["Alice","Bob"]}`

// TestResponseFormatRoundTrip sends an OpenAI json_schema request to a Claude model by
// the tool-forcing pattern and checks that the caller gets its JSON as the message
// content with a natural stop, as OpenAI would answer, streamed and not.
func TestResponseFormatRoundTrip(t *testing.T) {
	t.Parallel()
	caller := fixture(t, "openai_json_schema.json")
	message := `{"id":"msg_01Xg","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"tool_use","id":"toolu_01","name":"calendar_event","input":` +
		calendarArgs + `}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":120,"output_tokens":30}}`
	stream := "event: message_start\n" + `data: {"type":"message_start","message":{"id":"msg_01Xs","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":120,"output_tokens":1}}}` + "\n\n" +
		"event: content_block_start\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_01","name":"calendar_event","input":{}}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"name\":\"Science fair\",\"date\":\"Friday\","}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"participants\":[\"Alice\",\"Bob\"]}"}}` + "\n\n" +
		"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":0}` + "\n\n" +
		"event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}` + "\n\n" +
		"event: message_stop\n" + `data: {"type":"message_stop"}` + "\n\n"

	for _, streamed := range []bool{false, true} {
		name := map[bool]string{false: "whole", true: "streamed"}[streamed]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctype, body := "application/json", message
			if streamed {
				ctype, body = "text/event-stream", stream
			}
			up, rec := serve(t, ctype, body)
			p, err := anthropic.New(anthropic.Config{BaseURL: up.URL})
			if err != nil {
				t.Fatal(err)
			}
			req, err := openai.ParseRequest(caller)
			if err != nil {
				t.Fatal(err)
			}
			req.Stream = streamed
			resp, err := p.Do(context.Background(), llm.Call{Request: req, Model: "claude-sonnet-4-5"})
			if err != nil {
				t.Fatalf("Do() error %v", err)
			}
			if !bytes.Contains(rec.request(), []byte(`"tool_choice":{"type":"tool","name":"calendar_event"}`)) {
				t.Errorf("upstream got %s, want the response tool forced", rec.request())
			}
			var out []byte
			if streamed {
				var buf bytes.Buffer
				enc := openai.NewStreamEncoder(&buf, false)
				relay(t, resp.Stream, func() error { return enc.Start("claude-sonnet-4-5") }, enc.Chunk,
					func(u llm.Usage) error { return enc.End("", u) })
				resp.Stream.Close()
				s := openaiClient(t, "text/event-stream", buf.Bytes()).Chat.Completions.NewStreaming(context.Background(), oaParams)
				var acc openaisdk.ChatCompletionAccumulator
				for s.Next() {
					acc.AddChunk(s.Current())
				}
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				out, _ = json.Marshal(acc.ChatCompletion)
			} else {
				if len(resp.ToolCalls) != 0 || resp.StopReason != "end_turn" {
					t.Errorf("Do() tool calls %v, stop %q; want the answer as text with end_turn", resp.ToolCalls, resp.StopReason)
				}
				out = openai.EncodeResponse(resp, "claude-sonnet-4-5")
			}
			var got openaisdk.ChatCompletion
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			c := got.Choices[0]
			sameJSON(t, "content", c.Message.Content, calendarArgs)
			if c.FinishReason != "stop" || len(c.Message.ToolCalls) != 0 {
				t.Errorf("finish %q with %d tool calls, want stop and none", c.FinishReason, len(c.Message.ToolCalls))
			}
		})
	}
}
