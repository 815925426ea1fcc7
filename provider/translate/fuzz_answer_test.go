package translate_test

import (
	"bytes"
	"encoding/json"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	openaisdk "github.com/openai/openai-go/v3"
	"github.com/tollgate/tollgate/internal/sse"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
)

// FuzzAnswerToOpenAI: whatever Anthropic answer the provider parses, the OpenAI encoding
// of it is a chat.completion that the SDK reads, with every tool call.
func FuzzAnswerToOpenAI(f *testing.F) {
	f.Add([]byte(anthropicToolMessage))
	f.Add([]byte(`{"content":[{"type":"tool_use","id":"","name":"f","input":null}],"stop_reason":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := anthropic.ParseResponse(body)
		if err != nil {
			return
		}
		out := openai.EncodeResponse(resp, "claude")
		var c openaisdk.ChatCompletion
		if err := json.Unmarshal(out, &c); err != nil {
			t.Fatalf("SDK cannot read %s: %v", out, err)
		}
		if len(c.Choices) != 1 || len(c.Choices[0].Message.ToolCalls) != len(resp.ToolCalls) {
			t.Fatalf("%s lost tool calls of %+v", out, resp.ToolCalls)
		}
		for _, tc := range c.Choices[0].Message.ToolCalls {
			if tc.ID == "" || !json.Valid([]byte(tc.Function.Arguments)) {
				t.Fatalf("tool call %+v has no id or invalid arguments", tc)
			}
		}
	})
}

// FuzzAnswerToAnthropic: whatever chat.completion the provider parses, the Anthropic
// encoding of it is a message that the SDK reads, with a tool_use block per call.
func FuzzAnswerToAnthropic(f *testing.F) {
	f.Add([]byte(openaiToolCompletion))
	f.Add([]byte(`{"choices":[{"message":{"tool_calls":[{"function":{"name":"f","arguments":"{bad"}}]}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := openai.ParseResponse(body)
		if err != nil {
			return
		}
		out := anthropic.EncodeResponse(resp, "gpt")
		var m anthropicsdk.Message
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("SDK cannot read %s: %v", out, err)
		}
		tools := 0
		for _, b := range m.Content {
			if b.Type == "tool_use" {
				tools++
				if b.ID == "" || !json.Valid(b.Input) {
					t.Fatalf("tool_use %s has no id or invalid input", b.RawJSON())
				}
			}
		}
		if tools != len(resp.ToolCalls) {
			t.Fatalf("%s has %d tool_use blocks, want %d", out, tools, len(resp.ToolCalls))
		}
	})
}

// FuzzStreamEncoders feeds both encoders a stream of chunks made from the input and
// checks that each SDK accumulates what they write without complaint.
func FuzzStreamEncoders(f *testing.F) {
	f.Add([]byte("\x00hello\x01think\x02\x00get_weather\x03{\"a\":\x03 1}\x02\x01f\x00hi"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var chunks []llm.Chunk
		for _, part := range bytes.Split(in, []byte{0xff}) {
			if len(part) == 0 {
				continue
			}
			s := string(part[1:])
			switch part[0] % 4 {
			case 0:
				chunks = append(chunks, llm.Chunk{Text: s})
			case 1:
				chunks = append(chunks, llm.Chunk{Reasoning: s})
			case 2:
				chunks = append(chunks, llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Index: int(part[0]/4) % 3, ID: "", Name: s}}})
			case 3:
				chunks = append(chunks, llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Index: int(part[0]/4) % 3, Arguments: s}}})
			}
		}
		var an, oa bytes.Buffer
		ae, oe := anthropic.NewStreamEncoder(&an), openai.NewStreamEncoder(&oa, true)
		ae.Start("m")
		oe.Start("m")
		for _, c := range chunks {
			if err := ae.Chunk(c); err != nil {
				t.Fatal(err)
			}
			if err := oe.Chunk(c); err != nil {
				t.Fatal(err)
			}
		}
		ae.End("", llm.Usage{InputTokens: 3, OutputTokens: 2})
		oe.End("", llm.Usage{InputTokens: 3, OutputTokens: 2})

		var msg anthropicsdk.Message
		r := sse.NewReader(&an, 0)
		for ev, err := r.Next(); err == nil; ev, err = r.Next() {
			var e anthropicsdk.MessageStreamEventUnion
			if err := json.Unmarshal(ev.Data, &e); err != nil {
				t.Fatalf("SDK cannot read event %s: %v", ev.Data, err)
			}
			if err := msg.Accumulate(e); err != nil {
				t.Fatalf("SDK accumulator refused %s: %v", ev.Data, err)
			}
		}
		var acc openaisdk.ChatCompletionAccumulator
		r = sse.NewReader(&oa, 0)
		for ev, err := r.Next(); err == nil; ev, err = r.Next() {
			if string(ev.Data) == "[DONE]" {
				break
			}
			var c openaisdk.ChatCompletionChunk
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				t.Fatalf("SDK cannot read chunk %s: %v", ev.Data, err)
			}
			if !acc.AddChunk(c) {
				t.Fatalf("SDK accumulator refused %s", ev.Data)
			}
		}
	})
}
