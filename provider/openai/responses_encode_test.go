package openai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openaisdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/openai"
)

// goldenExt is golden for the external tests, under the same -update flag (the package's
// own tests define it in the same test binary).
func goldenExt(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// sdkClient is an openai-go client whose server answers every request with body.
func sdkClient(t *testing.T, ctype string, body []byte) openaisdk.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", ctype)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return openaisdk.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("k"), option.WithMaxRetries(0))
}

var respParams = responses.ResponseNewParams{Model: "route", Input: responses.ResponseNewParamsInputUnion{OfString: openaisdk.String("hi")}}

var encodeCreated = time.Unix(1767225600, 0).UTC()

// TestEncodeResponsesResponse encodes answers of every shape for a Responses caller and
// reads them back with openai-go's responses client.
func TestEncodeResponsesResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		resp   llm.Response
		status responses.ResponseStatus
		reason string
		types  string // the output items' types
	}{
		{name: "text", resp: llm.Response{ID: "msg_01Xq7", Created: encodeCreated, Text: "Refill at 500 per minute.", StopReason: "end_turn",
			Usage: llm.Usage{InputTokens: 1200, CachedInputTokens: 1024, CacheWriteTokens: 100, OutputTokens: 9}},
			status: "completed", types: "message"},
		{name: "thinking and tool calls", resp: llm.Response{ID: "msg_01Tc", Created: encodeCreated, Reasoning: "Two lookups.", Text: "Checking both.",
			ToolCalls:  []llm.ToolCall{{ID: "toolu_01A", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {Name: "get_time", Arguments: `{"tz":"UTC"}`}},
			StopReason: "tool_use", Usage: llm.Usage{InputTokens: 400, OutputTokens: 80}},
			status: "completed", types: "reasoning message function_call function_call"},
		{name: "cut by the cap", resp: llm.Response{Created: encodeCreated, Text: "The ledger keeps", StopReason: "max_tokens", Usage: llm.Usage{InputTokens: 50, OutputTokens: 16}},
			status: "incomplete", reason: "max_output_tokens", types: "message"},
		{name: "refused", resp: llm.Response{ID: "msg_r", Created: encodeCreated, StopReason: "refusal", Usage: llm.Usage{InputTokens: 50}},
			status: "incomplete", reason: "content_filter", types: "message"},
		{name: "from a chat upstream", resp: llm.Response{ID: "chatcmpl-Bc1", Created: encodeCreated, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "f", Arguments: "{}"}},
			StopReason: "tool_calls", Usage: llm.Usage{InputTokens: 30, OutputTokens: 5}},
			status: "completed", types: "function_call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := openai.EncodeResponsesResponse(&tt.resp, "claude-sonnet-4-5")
			goldenExt(t, "encode_responses_"+strings.ReplaceAll(tt.name, " ", "_")+".json", body)
			c := sdkClient(t, "application/json", body)
			got, err := c.Responses.New(context.Background(), respParams)
			if err != nil {
				t.Fatalf("openai-go: %v", err)
			}
			var types []string
			for _, it := range got.Output {
				types = append(types, it.Type)
			}
			if got.Status != tt.status || got.IncompleteDetails.Reason != tt.reason || strings.Join(types, " ") != tt.types {
				t.Errorf("status %q reason %q items %v; want %q %q %s", got.Status, got.IncompleteDetails.Reason, types, tt.status, tt.reason, tt.types)
			}
			if !strings.HasPrefix(got.ID, "resp_") || got.Model != "claude-sonnet-4-5" || got.CreatedAt != float64(encodeCreated.Unix()) || !strings.Contains(got.RawJSON(), `"store":false`) {
				t.Errorf("id %q model %q created %v, store not false", got.ID, got.Model, got.CreatedAt)
			}
			if got.OutputText() != tt.resp.Text {
				t.Errorf("OutputText() = %q, want %q", got.OutputText(), tt.resp.Text)
			}
			u := tt.resp.Usage
			if got.Usage.InputTokens != u.InputTokens || got.Usage.InputTokensDetails.CachedTokens != u.CachedInputTokens ||
				got.Usage.OutputTokens != u.OutputTokens || got.Usage.TotalTokens != u.Total() {
				t.Errorf("usage %+v, want %+v", got.Usage, u)
			}
			calls := 0
			for _, it := range got.Output {
				switch it.Type {
				case "function_call":
					want := tt.resp.ToolCalls[calls]
					fc := it.AsFunctionCall()
					if fc.Name != want.Name || fc.Arguments != want.Arguments || fc.CallID == "" || (want.ID != "" && fc.CallID != want.ID) {
						t.Errorf("call %d = %+v, want %+v", calls, fc, want)
					}
					calls++
				case "reasoning":
					if s := it.AsReasoning().Summary; len(s) != 1 || s[0].Text != tt.resp.Reasoning {
						t.Errorf("reasoning %+v", s)
					}
				}
			}
		})
	}
}

// encodeStream runs chunks through a ResponsesStreamEncoder as the gateway would.
func encodeStream(t *testing.T, chunks []llm.Chunk, end func(*openai.ResponsesStreamEncoder) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := openai.NewResponsesStreamEncoder(&buf)
	enc.ID, enc.Created = "msg_01Strm", encodeCreated
	if err := enc.Start("claude-sonnet-4-5"); err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		if err := enc.Chunk(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := end(enc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readStream reads an encoded stream with openai-go's streaming client, checks the
// sequence numbers, and feeds every event to the SDK's ResponseAccumulator.
func readStream(t *testing.T, data []byte) (types []string, final responses.Response, acc *responses.ResponseAccumulator, err error) {
	t.Helper()
	c := sdkClient(t, "text/event-stream", data)
	s := c.Responses.NewStreaming(context.Background(), respParams)
	acc = &responses.ResponseAccumulator{}
	seq := int64(0)
	for s.Next() {
		ev := s.Current()
		if ev.SequenceNumber != seq {
			t.Errorf("event %s has sequence number %d, want %d", ev.Type, ev.SequenceNumber, seq)
		}
		seq++
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.completed", "response.incomplete", "response.failed":
			final = ev.Response
		}
		var server responses.ResponsesServerEventUnion
		if e := json.Unmarshal([]byte(ev.RawJSON()), &server); e != nil {
			t.Fatalf("event %s: %v", ev.Type, e)
		}
		if e := acc.AddEvent(server); e != nil {
			t.Fatalf("the SDK's accumulator refused %s: %v", ev.Type, e)
		}
	}
	return types, final, acc, s.Err()
}

// TestResponsesStreamEncoder writes a stream with thinking, text and two tool calls (the
// second one's arguments in two fragments) in the Responses API's events, and reads it
// back with openai-go's streaming client and its accumulator.
func TestResponsesStreamEncoder(t *testing.T) {
	t.Parallel()
	chunks := []llm.Chunk{
		{Reasoning: "Need the "}, {Reasoning: "weather."},
		{Text: "Okay, "}, {Text: "checking."},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "toolu_01T1", Name: "get_weather"}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `{"location":"SF"}`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 1, ID: "toolu_01L9", Name: "get_time", Arguments: `{"tz":`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 1, Arguments: `"PST"}`}}, StopReason: "tool_use"},
	}
	usage := llm.Usage{InputTokens: 1972, CachedInputTokens: 1500, OutputTokens: 89}
	data := encodeStream(t, chunks, func(e *openai.ResponsesStreamEncoder) error { return e.End("", usage) })
	goldenExt(t, "encode_responses_stream.sse", data)

	types, final, acc, err := readStream(t, data)
	if err != nil {
		t.Fatalf("openai-go stream: %v", err)
	}
	want := "response.created response.in_progress " +
		"response.output_item.added response.reasoning_summary_part.added response.reasoning_summary_text.delta response.reasoning_summary_text.delta response.reasoning_summary_text.done response.reasoning_summary_part.done response.output_item.done " +
		"response.output_item.added response.content_part.added response.output_text.delta response.output_text.delta response.output_text.done response.content_part.done response.output_item.done " +
		"response.output_item.added response.function_call_arguments.delta response.function_call_arguments.done response.output_item.done " +
		"response.output_item.added response.function_call_arguments.delta response.function_call_arguments.delta response.function_call_arguments.done response.output_item.done " +
		"response.completed"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("event types:\n%s\nwant:\n%s", got, want)
	}
	if final.Status != "completed" || final.OutputText() != "Okay, checking." || final.Usage.InputTokens != 1972 ||
		final.Usage.InputTokensDetails.CachedTokens != 1500 || final.Usage.OutputTokens != 89 || final.ID != "resp_msg_01Strm" {
		t.Errorf("final %s", final.RawJSON())
	}
	rebuilt, err := acc.ReconstructedResponse()
	if err != nil {
		t.Fatal(err)
	}
	snap := acc.Snapshot()
	if rebuilt.OutputText() != "Okay, checking." || snap.OutputText() != "Okay, checking." || len(snap.Output) != 4 {
		t.Fatalf("accumulated %q, %d items", snap.OutputText(), len(snap.Output))
	}
	for i, want := range []struct{ callID, name, args string }{{"toolu_01T1", "get_weather", `{"location":"SF"}`}, {"toolu_01L9", "get_time", `{"tz":"PST"}`}} {
		o := snap.Output[2+i]
		fc := rebuilt.Output[2+i].AsFunctionCall()
		if o.CallID != want.callID || o.Name != want.name || o.Arguments != want.args || fc.Arguments != want.args {
			t.Errorf("call %d = %+v / %+v, want %+v", i, o, fc, want)
		}
	}
	if s := rebuilt.Output[0].AsReasoning().Summary; len(s) != 1 || s[0].Text != "Need the weather." {
		t.Errorf("reasoning %+v", s)
	}
}

// TestResponsesStreamEncoderIncomplete ends a stream cut by the cap: response.incomplete
// with the reason, and the message item incomplete.
func TestResponsesStreamEncoderIncomplete(t *testing.T) {
	t.Parallel()
	data := encodeStream(t, []llm.Chunk{{Text: "The ledger"}, {Text: " keeps", StopReason: "length"}},
		func(e *openai.ResponsesStreamEncoder) error {
			return e.End("", llm.Usage{InputTokens: 50, OutputTokens: 16})
		})
	types, final, _, err := readStream(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if types[len(types)-1] != "response.incomplete" || final.Status != "incomplete" || final.IncompleteDetails.Reason != "max_output_tokens" ||
		final.Output[0].Status != "incomplete" || final.OutputText() != "The ledger keeps" {
		t.Errorf("types %v, final %s", types, final.RawJSON())
	}
}

// TestResponsesStreamEncoderFail checks that a stream cut after a tool call has started
// ends with response.failed, which the SDK's accumulator takes as the failed end it is.
func TestResponsesStreamEncoderFail(t *testing.T) {
	t.Parallel()
	data := encodeStream(t, []llm.Chunk{{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_1", Name: "f", Arguments: `{"a":`}}}},
		func(e *openai.ResponsesStreamEncoder) error { return e.Fail("", "the upstream stream was cut") })
	goldenExt(t, "encode_responses_stream_failed.sse", data)
	types, final, acc, err := readStream(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if types[len(types)-1] != "response.failed" || final.Status != "failed" || final.Error.Code != "server_error" ||
		final.Error.Message != "the upstream stream was cut" || acc.Snapshot().TerminalEvent != "response.failed" {
		t.Errorf("types %v, final %s", types, final.RawJSON())
	}
}
