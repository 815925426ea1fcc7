package translate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	openaisdk "github.com/openai/openai-go/v3"
	openaiopt "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
)

var respParams = responses.ResponseNewParams{Model: "route", Input: responses.ResponseNewParamsInputUnion{OfString: openaisdk.String("hi")}}

func responsesClient(t *testing.T, ctype string, body []byte) *openaisdk.Client {
	srv, _ := serve(t, ctype, string(body))
	c := openaisdk.NewClient(openaiopt.WithBaseURL(srv.URL+"/v1"), openaiopt.WithAPIKey("k"), openaiopt.WithMaxRetries(0))
	return &c
}

// TestAnswerToResponses encodes a Claude answer with thinking and tool calls for a
// Responses caller and reads it back with openai-go's responses client.
func TestAnswerToResponses(t *testing.T) {
	t.Parallel()
	resp, err := anthropic.ParseResponse([]byte(anthropicToolMessage))
	if err != nil {
		t.Fatal(err)
	}
	resp.Created = created
	body := openai.EncodeResponsesResponse(resp, "claude-sonnet-4-5")
	golden(t, "answer_to_responses.json", pretty(t, body))

	got, err := responsesClient(t, "application/json", body).Responses.New(context.Background(), respParams)
	if err != nil {
		t.Fatalf("openai-go: %v", err)
	}
	if got.ID != "resp_msg_01Aq9w938a90dw8q" || got.Status != "completed" || got.OutputText() != "I'll check both cities." || len(got.Output) != 4 {
		t.Fatalf("id %q status %q text %q, %d items", got.ID, got.Status, got.OutputText(), len(got.Output))
	}
	if s := got.Output[0].AsReasoning().Summary; len(s) != 1 || s[0].Text != "Two cities, two calls." {
		t.Errorf("reasoning %+v", s)
	}
	for i, want := range []struct{ id, args string }{
		{"toolu_01A09q90qw90lq917835lq9", `{"city":"Paris","unit":"celsius"}`},
		{"toolu_01B18r81rx81mr826724mr8", `{"city":"Oslo"}`},
	} {
		fc := got.Output[2+i].AsFunctionCall()
		if fc.CallID != want.id || fc.Name != "get_weather" {
			t.Errorf("call %d = %s %s", i, fc.CallID, fc.Name)
		}
		sameJSON(t, "arguments", fc.Arguments, want.args)
	}
	u := got.Usage
	if u.InputTokens != 412+1024+2048 || u.InputTokensDetails.CachedTokens != 2048 || u.OutputTokens != 96 || u.TotalTokens != 412+1024+2048+96 {
		t.Errorf("usage %+v, want every prompt token counted and the reads as cached", u)
	}
}

// TestStreamToResponses streams a Claude answer with thinking, text and two tool calls
// through the anthropic provider for a Responses caller whose request is translated on
// the way, re-encodes it as Responses events, and reads it with openai-go's streaming
// client and its accumulator.
func TestStreamToResponses(t *testing.T) {
	t.Parallel()
	up, rec := serve(t, "text/event-stream", anthropicToolStream)
	p, err := anthropic.New(anthropic.Config{BaseURL: up.URL})
	if err != nil {
		t.Fatal(err)
	}
	req, _, err := openai.ParseResponsesRequest([]byte(`{"model":"route","stream":true,"input":"Weather and time in SF?","reasoning":{"effort":"low"},` +
		`"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}},{"type":"function","name":"get_time","parameters":{"type":"object"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Do(context.Background(), llm.Call{Request: req, Model: "claude-sonnet-4-5", MaxTokens: 3000})
	if err != nil {
		t.Fatalf("Do() error %v", err)
	}
	defer resp.Stream.Close()
	if !bytes.Contains(rec.request(), []byte(`"tools":[{"name":"get_weather"`)) || !bytes.Contains(rec.request(), []byte(`"thinking":{"type":"enabled","budget_tokens":1024}`)) {
		t.Errorf("upstream got %s, want the caller's tools and reasoning translated", rec.request())
	}
	var buf bytes.Buffer
	enc := openai.NewResponsesStreamEncoder(&buf)
	enc.ID, enc.Created = "msg_tgstream", created
	relay(t, resp.Stream, func() error { return enc.Start("claude-sonnet-4-5") }, enc.Chunk,
		func(u llm.Usage) error { return enc.End("", u) })
	golden(t, "stream_to_responses.sse", buf.Bytes())

	s := responsesClient(t, "text/event-stream", buf.Bytes()).Responses.NewStreaming(context.Background(), respParams)
	var acc responses.ResponseAccumulator
	var final responses.Response
	for s.Next() {
		ev := s.Current()
		var server responses.ResponsesServerEventUnion
		if err := json.Unmarshal([]byte(ev.RawJSON()), &server); err != nil {
			t.Fatal(err)
		}
		if err := acc.AddEvent(server); err != nil {
			t.Fatalf("the SDK's accumulator refused %s: %v", ev.Type, err)
		}
		if ev.Type == "response.completed" {
			final = ev.Response
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("openai-go stream: %v", err)
	}
	rebuilt, err := acc.ReconstructedResponse()
	if err != nil {
		t.Fatal(err)
	}
	if rebuilt.OutputText() != "Okay, let's check the weather." || final.OutputText() != rebuilt.OutputText() || len(rebuilt.Output) != 4 {
		t.Fatalf("text %q, %d items", rebuilt.OutputText(), len(rebuilt.Output))
	}
	if s := rebuilt.Output[0].AsReasoning().Summary; len(s) != 1 || s[0].Text != "Need the weather." {
		t.Errorf("reasoning %+v", s)
	}
	for i, want := range []struct{ id, name, args string }{
		{"toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", `{"location":"San Francisco, CA"}`},
		{"toolu_01Lm9kQ7nR2sT4vW6xY8zA1b", "get_time", `{"tz":"America/Los_Angeles"}`},
	} {
		fc := rebuilt.Output[2+i].AsFunctionCall()
		if fc.CallID != want.id || fc.Name != want.name {
			t.Errorf("call %d = %s %s", i, fc.CallID, fc.Name)
		}
		sameJSON(t, "arguments", fc.Arguments, want.args)
	}
	if u := final.Usage; u.InputTokens != 472+1500 || u.InputTokensDetails.CachedTokens != 1500 || u.OutputTokens != 89 {
		t.Errorf("usage %+v", u)
	}
}

// TestResponsesFormatRoundTrip sends a Responses text.format json_schema request to a
// Claude model by the tool-forcing pattern and checks that the caller gets its JSON as
// the output text of a completed response, streamed and not.
func TestResponsesFormatRoundTrip(t *testing.T) {
	t.Parallel()
	caller := []byte(`{"model":"route","input":"Alice and Bob go to the science fair on Friday.",` +
		`"text":{"format":{"type":"json_schema","name":"calendar_event","strict":true,"schema":{"type":"object","properties":{"name":{"type":"string"},"date":{"type":"string"},"participants":{"type":"array","items":{"type":"string"}}},"required":["name","date","participants"],"additionalProperties":false}}}}`)
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
		t.Run(map[bool]string{false: "whole", true: "streamed"}[streamed], func(t *testing.T) {
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
			req, _, err := openai.ParseResponsesRequest(caller)
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
			var got *responses.Response
			if streamed {
				var buf bytes.Buffer
				enc := openai.NewResponsesStreamEncoder(&buf)
				relay(t, resp.Stream, func() error { return enc.Start("claude-sonnet-4-5") }, enc.Chunk,
					func(u llm.Usage) error { return enc.End("", u) })
				resp.Stream.Close()
				s := responsesClient(t, "text/event-stream", buf.Bytes()).Responses.NewStreaming(context.Background(), respParams)
				for s.Next() {
					if ev := s.Current(); ev.Type == "response.completed" {
						r := ev.Response
						got = &r
					}
				}
				if err := s.Err(); err != nil || got == nil {
					t.Fatalf("stream: %v, completed %v", err, got != nil)
				}
			} else {
				got, err = responsesClient(t, "application/json", openai.EncodeResponsesResponse(resp, "claude-sonnet-4-5")).Responses.New(context.Background(), respParams)
				if err != nil {
					t.Fatal(err)
				}
			}
			sameJSON(t, "output text", got.OutputText(), calendarArgs)
			for _, it := range got.Output {
				if it.Type == "function_call" {
					t.Errorf("the response tool's call reached the caller as a function call")
				}
			}
			if got.Status != "completed" {
				t.Errorf("status %q, want completed", got.Status)
			}
		})
	}
}

// TestResponsesFailAfterContent checks that a stream cut after its text has started ends
// with response.failed, which openai-go reports, not as a completed answer.
func TestResponsesFailAfterContent(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	enc := openai.NewResponsesStreamEncoder(&buf)
	enc.Start("claude-haiku-4-5")
	enc.Chunk(llm.Chunk{Text: "The ledger"})
	enc.Fail("server_error", "the upstream stream was cut")
	s := responsesClient(t, "text/event-stream", buf.Bytes()).Responses.NewStreaming(context.Background(), respParams)
	var last responses.ResponseStreamEventUnion
	for s.Next() {
		last = s.Current()
	}
	if s.Err() != nil || last.Type != "response.failed" || last.Response.Error.Message != "the upstream stream was cut" ||
		!strings.Contains(last.RawJSON(), `"status":"failed"`) {
		t.Errorf("last event %s (%v), want response.failed with the message", last.RawJSON(), s.Err())
	}
}
