package anthropic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/llm"
)

// sse writes named events as the Messages API does: the event name, then its data.
func transcriptOf(events ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(events); i += 2 {
		b.WriteString("event: " + events[i] + "\ndata: " + events[i+1] + "\n\n")
	}
	return b.String()
}

// TestStreamChunks checks what each event of real Messages API streams says was generated
// (extended thinking with its signature, tool use with input_json_delta) and the usage,
// with our own values.
func TestStreamChunks(t *testing.T) {
	type want struct {
		Text, Reasoning string
		ToolCalls       []llm.ToolCallDelta
		Content         bool
	}
	tests := []struct {
		name   string
		sse    string
		chunks []want
		usage  llm.Usage
	}{
		{
			name: "thinking, signature, text; 1-hour cache write; input figures in message_delta",
			sse: transcriptOf(
				"message_start", `{"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_01QC4g3HwBThD4BaNtBckFDJ","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":7,"cache_creation_input_tokens":30210,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":30210},"output_tokens":1,"service_tier":"standard"}}}`,
				"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
				"ping", `{"type": "ping"}`,
				"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user says hello."}}`,
				"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}`,
				"content_block_stop", `{"type":"content_block_stop","index":0}`,
				"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
				"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello!"}}`,
				"content_block_stop", `{"type":"content_block_stop","index":1}`,
				"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":7,"cache_creation_input_tokens":30210,"cache_read_input_tokens":0,"output_tokens":48}}`,
				"message_stop", `{"type":"message_stop"}`),
			chunks: []want{{}, {}, {}, {Reasoning: "The user says hello.", Content: true}, {}, {}, {},
				{Text: "Hello!", Content: true}, {}, {}, {}},
			usage: llm.Usage{InputTokens: 30217, CacheWriteTokens: 30210, CacheWrite1hTokens: 30210, OutputTokens: 48},
		},
		{
			name: "two tool calls after text; cache read; message_delta grows the input",
			sse: transcriptOf(
				"message_start", `{"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-opus-4-1-20250805","stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":2048,"output_tokens":2},"content":[],"stop_reason":null}}`,
				"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
				"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}`,
				"content_block_stop", `{"type":"content_block_stop","index":0}`,
				"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}`,
				"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`,
				"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"Lyo"}}`,
				"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"n\"}"}}`,
				"content_block_stop", `{"type":"content_block_stop","index":1}`,
				"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01Kq8VQ2nAbmWZ3pTr6yJm3e","name":"get_time","input":{}}}`,
				"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
				"content_block_stop", `{"type":"content_block_stop","index":2}`,
				"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":480,"cache_creation_input_tokens":0,"cache_read_input_tokens":2048,"output_tokens":89}}`,
				"message_stop", `{"type":"message_stop"}`),
			chunks: []want{{}, {}, {Text: "Checking.", Content: true}, {},
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", Name: "get_weather"}}, Content: true},
				{ToolCalls: []llm.ToolCallDelta{{Index: 0}}, Content: true},
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `{"location": "Lyo`}}, Content: true},
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `n"}`}}, Content: true},
				{},
				{ToolCalls: []llm.ToolCallDelta{{Index: 1, ID: "toolu_01Kq8VQ2nAbmWZ3pTr6yJm3e", Name: "get_time"}}, Content: true},
				{ToolCalls: []llm.ToolCallDelta{{Index: 1, Arguments: "{}"}}, Content: true},
				{}, {}, {}},
			usage: llm.Usage{InputTokens: 2528, CachedInputTokens: 2048, OutputTokens: 89},
		},
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
				got = append(got, want{Text: c.Text, Reasoning: c.Reasoning, ToolCalls: c.ToolCalls, Content: c.IsContent()})
			}
			if diff := cmp.Diff(tt.chunks, got); diff != "" {
				t.Errorf("chunks mismatch (-want +got):\n%s", diff)
			}
			if raw.String() != tt.sse {
				t.Errorf("relayed bytes differ from the upstream's")
			}
			if u := resp.Stream.Usage(); u != tt.usage {
				t.Errorf("Usage() = %+v, want %+v", u, tt.usage)
			}
		})
	}
}

// TestUsage converts the usage objects of non-streaming responses: writes split by TTL,
// and the older shape without the split, whose writes are all 5-minute ones.
func TestUsage(t *testing.T) {
	tests := []struct {
		name, usage string
		want        llm.Usage
	}{
		{"writes without a split", `{"input_tokens":3,"cache_creation_input_tokens":12304,"cache_read_input_tokens":0,"output_tokens":550}`,
			llm.Usage{InputTokens: 12307, CacheWriteTokens: 12304, OutputTokens: 550}},
		{"split between TTLs", `{"input_tokens":50,"cache_creation_input_tokens":3000,"cache_read_input_tokens":9000,"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},"output_tokens":20,"service_tier":"standard"}`,
			llm.Usage{InputTokens: 12050, CachedInputTokens: 9000, CacheWriteTokens: 3000, CacheWrite1hTokens: 2000, OutputTokens: 20}},
		{"nulls", `{"input_tokens":9,"cache_creation_input_tokens":null,"cache_read_input_tokens":null,"output_tokens":4}`,
			llm.Usage{InputTokens: 9, OutputTokens: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"id":"msg_01","type":"message","role":"assistant","model":"claude-3-7-sonnet-20250219","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":` + tt.usage + `}`
			r, err := ParseResponse([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if r.Usage != tt.want {
				t.Errorf("Usage = %+v, want %+v", r.Usage, tt.want)
			}
		})
	}
}

func TestCacheTTL(t *testing.T) {
	msgs := func(content string) string {
		return `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":` + content + `}]`
	}
	tests := []struct {
		name, body string
		want       time.Duration
	}{
		{"no breakpoint", msgs(`"hi"`) + `}`, 0},
		{"text mentioning cache_control", msgs(`"what is \"cache_control\"?"`) + `}`, 0},
		{"ephemeral on a message block", msgs(`[{"type":"text","text":"doc","cache_control":{"type":"ephemeral"}}]`) + `}`, 5 * time.Minute},
		{"explicit 5m", msgs(`[{"type":"text","text":"doc","cache_control":{"type":"ephemeral","ttl":"5m"}}]`) + `}`, 5 * time.Minute},
		{"1h on a tool", msgs(`"hi"`) + `,"tools":[{"name":"t","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral","ttl":"1h"}}]}`, time.Hour},
		{"1h on system beside 5m in messages", msgs(`[{"type":"text","text":"q","cache_control":{"type":"ephemeral"}}]`) +
			`,"system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral","ttl":"1h"}}]}`, time.Hour},
		{"top-level", msgs(`"hi"`) + `,"cache_control":{"type":"ephemeral"}}`, 5 * time.Minute},
		{"escaped key", msgs(`[{"type":"text","text":"doc","cache\u005fcontrol":{"type":"ephemeral","ttl":"1h"}}]`) + `}`, time.Hour},
		{"unknown ttl counts as the dearest", msgs(`[{"type":"text","text":"doc","cache_control":{"type":"ephemeral","ttl":"2h"}}]`) + `}`, time.Hour},
		{"spaces around the key", msgs(`[{"type":"text","text":"doc" , "cache_control" :  {"type":"ephemeral","ttl":"1h"}}]`) + `}`, time.Hour},
		{"a string value, not a key", msgs(`"hi"`) + `,"stop_sequences":["cache_control","x"],"metadata":{"user_id":"cache_control"}}`, 0},
		{"null cache_control", msgs(`[{"type":"text","text":"doc","cache_control":null}]`) + `}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ParseRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if req.CacheTTL != tt.want {
				t.Errorf("CacheTTL = %v, want %v", req.CacheTTL, tt.want)
			}
		})
	}
}

// TestNoKeyInType makes the upstream echo the key in the error's type and message.
func TestNoKeyInType(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Api-Key")
		w.WriteHeader(401)
		io.WriteString(w, `{"type":"error","error":{"type":"`+key+`","message":"invalid x-api-key `+key+`"},"request_id":"req_01"}`)
	})
	p := newTestProvider(t, echo)
	for _, stream := range []bool{false, true} {
		_, err := p.Do(context.Background(), userCall(stream))
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != llm.KindAuth {
			t.Fatalf("Do() error = %v, want KindAuth", err)
		}
		if strings.Contains(le.Code, testKey) || strings.Contains(le.Message, testKey) || strings.Contains(err.Error(), testKey) {
			t.Errorf("Do() error = %+v carries the key", le)
		}
	}
}
