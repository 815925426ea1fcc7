package emulator

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func respCall(body string) tcall { return tcall{body: body, path: "/v1/responses"} }

// respEvents decodes a Responses stream: each event's data, whose type must be its name,
// in order, with sequence numbers from 0.
func respEvents(t *testing.T, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i, ev := range sseEvents(body) {
		m := decode(t, ev.data)
		if m["type"] != ev.event || num(m["sequence_number"]) != i {
			t.Fatalf("event %d: name %q, data type %v, sequence %v", i, ev.event, m["type"], m["sequence_number"])
		}
		out = append(out, m)
	}
	return out
}

// respShape summarizes a response object: its status, its items' types and statuses.
func respShape(resp any) string {
	var parts []string
	for _, it := range dig(resp, "output").([]any) {
		s := dig(it, "type").(string)
		if st, ok := dig(it, "status").(string); ok {
			s += ":" + st
		}
		parts = append(parts, s)
	}
	return dig(resp, "status").(string) + " [" + strings.Join(parts, " ") + "]"
}

// respUsage checks a response's usage against its output: output tokens are the
// reasoning, the message's text and the calls' names and arguments.
func respUsage(t *testing.T, resp any) (in, cached, out, reasoning int) {
	t.Helper()
	u := dig(resp, "usage")
	in, cached = num(dig(u, "input_tokens")), num(dig(u, "input_tokens_details", "cached_tokens"))
	out, reasoning = num(dig(u, "output_tokens")), num(dig(u, "output_tokens_details", "reasoning_tokens"))
	visible := 0
	for _, it := range dig(resp, "output").([]any) {
		switch dig(it, "type") {
		case "message":
			visible += CountTokens(dig(it, "content", 0, "text").(string))
		case "function_call":
			visible += CountTokens(dig(it, "name").(string)) + CountTokens(dig(it, "arguments").(string))
		}
	}
	if out != reasoning+visible || num(dig(u, "total_tokens")) != in+out {
		t.Errorf("usage %v: output %d, want reasoning %d + visible %d", u, out, reasoning, visible)
	}
	return in, cached, out, reasoning
}

const respTool = `{"type":"function","name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}`

// TestResponsesShapes checks the response object and its stream for each kind of answer:
// the same items, statuses and usage, streamed or not, and a bill equal to the usage.
func TestResponsesShapes(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		shape string
	}{
		{"text", `{"model":"gpt-4o","input":"hi"}`, "completed [message:completed]"},
		{"reasoning", `{"model":"o4-mini","input":"hi","reasoning":{"effort":"low"}}`, "completed [reasoning message:completed]"},
		{"tool call", `{"model":"gpt-4o","input":"weather?","tools":[` + respTool + `],"tool_choice":"required"}`, "completed [function_call:completed]"},
		{"named tool", `{"model":"gpt-4o","input":"weather?","tools":[` + respTool + `],"tool_choice":{"type":"function","name":"get_weather"}}`, "completed [function_call:completed]"},
		{"no parallel calls", `{"model":"gpt-4o","input":"weather?","parallel_tool_calls":false,"tools":[` + respTool + `,` + strings.Replace(respTool, "get_weather", "get_time", 1) + `],"tool_choice":"required"}`,
			"completed [function_call:completed]"},
		{"tools none", `{"model":"gpt-4o","input":"weather?","tools":[` + respTool + `],"tool_choice":"none"}`, "completed [message:completed]"},
		{"capped text", `{"model":"gpt-4o","input":"hi","max_output_tokens":16}`, "incomplete [message:incomplete]"},
		{"capped in reasoning", `{"model":"o3","input":"hi","max_output_tokens":16,"reasoning":{"effort":"high"}}`, "incomplete [reasoning]"},
		{"capped in a call", `{"model":"gpt-4o","input":"weather?","max_output_tokens":16,"tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"},"c":{"type":"string"},"d":{"type":"string"},"e":{"type":"string"}},"required":["a","b","c","d","e"]}}],"tool_choice":"required"}`,
			"incomplete [function_call:incomplete]"},
		{"json schema", `{"model":"gpt-4o","input":"hi","text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}}`, "completed [message:completed]"},
		{"encrypted reasoning", `{"model":"o3","input":"hi","include":["reasoning.encrypted_content"]}`, "completed [reasoning message:completed]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				e := mustNew(t, Config{Seed: 8, Now: newClock().Now, Output: Output{MinTokens: 30, MaxTokens: 40}})
				body := tc.body
				if stream {
					body = strings.Replace(body, `{"model"`, `{"stream":true,"model"`, 1)
				}
				r := serve(e, respCall(body).with("X-Client-Request-Id", "r"))
				if r.status != 200 {
					t.Fatalf("stream=%v: %d %s", stream, r.status, r.body)
				}
				var resp any
				if stream {
					evs := respEvents(t, r.body)
					last := evs[len(evs)-1]
					if want := "response." + strings.Fields(tc.shape)[0]; last["type"] != want {
						t.Errorf("last event %v, want %s", last["type"], want)
					}
					resp = last["response"]
					checkRespStream(t, evs, resp)
				} else {
					resp = decode(t, r.body)
				}
				if got := respShape(resp); got != tc.shape {
					t.Errorf("stream=%v: shape %s, want %s", stream, got, tc.shape)
				}
				in, cached, out, reasoning := respUsage(t, resp)
				b := e.BillsFor("r")
				if len(b) != 1 || b[0].Usage.InputTokens != int64(in) || b[0].Usage.CachedInputTokens != int64(cached) ||
					b[0].Usage.OutputTokens != int64(out) || b[0].Usage.ReasoningTokens != int64(reasoning) || b[0].End != EndComplete || b[0].Stream != stream {
					t.Errorf("stream=%v: bill %+v, usage in %d cached %d out %d reasoning %d", stream, b, in, cached, out, reasoning)
				}
				if strings.Contains(tc.name, "capped") && out != 16 {
					t.Errorf("capped output %d, want 16", out)
				}
				if strings.Contains(tc.name, "json") {
					txt := dig(resp, "output", 0, "content", 0, "text").(string)
					if m := decode(t, txt); m["city"] == nil {
						t.Errorf("structured text %q", txt)
					}
				}
				if strings.Contains(tc.name, "encrypted") && !strings.HasPrefix(dig(resp, "output", 0, "encrypted_content").(string), "gAAAAA") {
					t.Errorf("reasoning item %v", dig(resp, "output", 0))
				}
			}
		})
	}
}

// checkRespStream checks that a stream's events add up to its final response: each item
// added then done at its index, the text deltas join to the text, the argument deltas to
// the arguments.
func checkRespStream(t *testing.T, evs []map[string]any, final any) {
	t.Helper()
	items := dig(final, "output").([]any)
	text, args := map[int]string{}, map[int]string{}
	added, done := map[int]bool{}, map[int]bool{}
	for _, ev := range evs[2 : len(evs)-1] {
		i := num(ev["output_index"])
		switch ev["type"] {
		case "response.output_item.added":
			if added[i] || i > 0 && !done[i-1] {
				t.Errorf("item %d added twice or before %d was done", i, i-1)
			}
			added[i] = true
		case "response.output_item.done":
			if !cmp.Equal(ev["item"], items[i]) {
				t.Errorf("item %d done as %v, final %v", i, ev["item"], items[i])
			}
			done[i] = true
		case "response.output_text.delta":
			text[i] += ev["delta"].(string)
		case "response.output_text.done":
			if ev["text"] != text[i] {
				t.Errorf("text done %q, deltas %q", ev["text"], text[i])
			}
		case "response.function_call_arguments.delta":
			args[i] += ev["delta"].(string)
		case "response.function_call_arguments.done":
			if ev["arguments"] != args[i] || ev["arguments"] != dig(items[i], "arguments") {
				t.Errorf("arguments done %q, deltas %q", ev["arguments"], args[i])
			}
		}
	}
	if len(done) != len(items) {
		t.Errorf("%d items done, %d in the response", len(done), len(items))
	}
	for i, it := range items {
		if dig(it, "type") == "message" && dig(it, "content", 0, "text") != text[i] {
			t.Errorf("message %q, deltas %q", dig(it, "content", 0, "text"), text[i])
		}
	}
	for _, ev := range evs[:2] {
		if dig(ev, "response", "status") != "in_progress" || len(dig(ev, "response", "output").([]any)) != 0 || dig(ev, "response", "usage") != nil {
			t.Errorf("%v: response %v", ev["type"], ev["response"])
		}
	}
}

// TestResponsesConversation checks previous_response_id: the follow-up is billed the
// stored conversation as input and reads its prefix from the prompt cache, exactly as if
// the client had sent the conversation itself; other keys, unstored responses and evicted
// ones are not found.
func TestResponsesConversation(t *testing.T) {
	e := mustNew(t, Config{Seed: 4, Now: newClock().Now, Output: Output{MinTokens: 10, MaxTokens: 10}})
	instr := strings.Repeat("quota ", 1100) // 1100 tokens
	first := decode(t, serve(e, respCall(`{"model":"gpt-4o","instructions":"`+instr+`","input":"hello there"}`)).body)
	p1, c1, _, _ := respUsage(t, first)
	answer := dig(first, "output", 0, "content", 0, "text").(string)
	// 3 priming, 3+1100 instructions, 3+2 input.
	if p1 != 3+1103+5 || c1 != 0 {
		t.Fatalf("first: input %d cached %d, want %d and 0", p1, c1, 3+1103+5)
	}
	follow := `{"model":"gpt-4o","instructions":"` + instr + `","previous_response_id":"` + first["id"].(string) + `","input":"and then"}`
	second := decode(t, serve(e, respCall(follow)).body)
	p2, c2, _, _ := respUsage(t, second)
	// The conversation: the first input, the answer (3 + 10 tokens), then the new input.
	if want := p1 + 13 + 5; p2 != want {
		t.Errorf("follow-up input %d, want %d", p2, want)
	}
	if want := (p1 - 3) / 128 * 128; c2 != want {
		t.Errorf("follow-up cached %d, want %d (the first prompt's 128-token prefixes)", c2, want)
	}
	if second["previous_response_id"] != first["id"] {
		t.Errorf("previous_response_id %v", second["previous_response_id"])
	}

	// The same conversation sent by hand is the same prompt, and reads the same cache.
	manual := `{"model":"gpt-4o","instructions":"` + instr + `","input":[{"role":"user","content":"hello there"},` +
		`{"type":"message","role":"assistant","content":[{"type":"output_text","text":"` + answer + `"}]},{"role":"user","content":[{"type":"input_text","text":"and then"}]}]}`
	p3, c3, _, _ := respUsage(t, decode(t, serve(e, respCall(manual)).body))
	if p3 != p2 || c3 != (p2-3)/128*128 {
		t.Errorf("by hand: input %d cached %d, want %d and %d (the follow-up's prompt, cached whole)", p3, c3, p2, (p2-3)/128*128)
	}

	// Other instructions: a new prefix from the first token, but a chain under them caches.
	other := strings.Replace(follow, `"instructions":"quota`, `"instructions":"ledger`, 1)
	r4 := decode(t, serve(e, respCall(other)).body)
	p4, c4, _, _ := respUsage(t, r4)
	if p4 != p2 || c4 != 0 {
		t.Errorf("other instructions: input %d cached %d, want %d and 0", p4, c4, p2)
	}
	chained := strings.Replace(other, first["id"].(string), r4["id"].(string), 1)
	_, c5, _, _ := respUsage(t, decode(t, serve(e, respCall(chained)).body))
	if c5 != (p4-3)/128*128 {
		t.Errorf("chained under the other instructions: cached %d, want %d", c5, (p4-3)/128*128)
	}

	notFound := func(r tresponse, id string) {
		t.Helper()
		want := oaiErr("Previous response with id '"+id+"' not found.", "invalid_request_error", "previous_response_id", "previous_response_not_found")
		if r.status != 400 || !cmp.Equal(decode(t, r.body), want) {
			t.Errorf("got %d %s, want 400 %v", r.status, r.body, want)
		}
	}
	id := first["id"].(string)
	notFound(serve(e, respCall(`{"model":"gpt-4o","previous_response_id":"`+id+`","input":"x"}`).withKey("sk-other")), id)
	unstored := decode(t, serve(e, respCall(`{"model":"gpt-4o","store":false,"input":"x"}`)).body)
	if unstored["store"] != false {
		t.Errorf("store echoed %v", unstored["store"])
	}
	uid := unstored["id"].(string)
	notFound(serve(e, respCall(`{"model":"gpt-4o","previous_response_id":"`+uid+`","input":"x"}`)), uid)

	small := mustNew(t, Config{StoredResponses: 2})
	var ids []string
	for range 3 {
		ids = append(ids, decode(t, serve(small, respCall(`{"model":"gpt-4o","input":"x"}`)).body)["id"].(string))
	}
	notFound(serve(small, respCall(`{"model":"gpt-4o","previous_response_id":"`+ids[0]+`","input":"x"}`)), ids[0])
	if r := serve(small, respCall(`{"model":"gpt-4o","previous_response_id":"`+ids[1]+`","input":"x"}`)); r.status != 200 {
		t.Errorf("the second of three, kept: %d %s", r.status, r.body)
	}
	none := mustNew(t, Config{StoredResponses: -1})
	nid := decode(t, serve(none, respCall(`{"model":"gpt-4o","input":"x"}`)).body)["id"].(string)
	notFound(serve(none, respCall(`{"model":"gpt-4o","previous_response_id":"`+nid+`","input":"x"}`)), nid)
}

// TestResponsesToolRoundTrip checks the rules on function calls and their outputs.
func TestResponsesToolRoundTrip(t *testing.T) {
	e := mustNew(t, Config{Seed: 2, Now: newClock().Now})
	first := decode(t, serve(e, respCall(`{"model":"gpt-4o","input":"weather?","tools":[`+respTool+`],"tool_choice":"required"}`)).body)
	id := first["id"].(string)
	call := dig(first, "output", 0, "call_id").(string)
	cases := []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"answered", `{"model":"gpt-4o","previous_response_id":"` + id + `","input":[{"type":"function_call_output","call_id":"` + call + `","output":"sunny"}]}`, 200, ""},
		{"unanswered", `{"model":"gpt-4o","previous_response_id":"` + id + `","input":"and tomorrow?"}`, 400, "No tool output found for function call " + call + "."},
		{"unknown call", `{"model":"gpt-4o","previous_response_id":"` + id + `","input":[{"type":"function_call_output","call_id":"` + call + `","output":"sunny"},{"type":"function_call_output","call_id":"call_nope","output":"x"}]}`, 400,
			"No tool call found for function call output with call_id call_nope."},
		{"output without any call", `{"model":"gpt-4o","input":[{"type":"function_call_output","call_id":"call_1","output":"x"}]}`, 400,
			"No tool call found for function call output with call_id call_1."},
		{"call and output by hand", `{"model":"gpt-4o","input":[{"role":"user","content":"weather?"},{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"location\":\"Paris\"}"},{"type":"function_call_output","call_id":"call_1","output":"sunny"},{"type":"reasoning","id":"rs_1","summary":[]}]}`, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := serve(e, respCall(tc.body))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.msg != "" {
				if want := oaiErr(tc.msg, "invalid_request_error", "input", nil); !cmp.Equal(decode(t, r.body), want) {
					t.Errorf("body %s, want %v", r.body, want)
				}
			}
		})
	}
	// The input counts the call and its output: 3 priming, 3+2 (user), 3+3+9 (call:
	// get_weather is 3 tokens, {"location":"Paris"} 9), 3+1 (output), the reasoning item
	// nothing.
	r := decode(t, serve(e, respCall(cases[4].body)).body)
	if in, _, _, _ := respUsage(t, r); in != 3+5+15+4 {
		t.Errorf("input tokens %d, want %d", in, 3+5+15+4)
	}
}

func TestResponsesErrors(t *testing.T) {
	long := strings.Repeat("w ", 130000)
	cases := []struct {
		name   string
		body   string
		status int
		want   map[string]any
	}{
		{"no model", `{"input":"x"}`, 400, oaiErr("Missing required parameter: 'model'.", "invalid_request_error", "model", "missing_required_parameter")},
		{"no input", `{"model":"gpt-4o"}`, 400, oaiErr("Missing required parameter: 'input'.", "invalid_request_error", "input", "missing_required_parameter")},
		{"bad input", `{"model":"gpt-4o","input":7}`, 400, map[string]any{"error": map[string]any{"param": "input"}}},
		{"message without role", `{"model":"gpt-4o","input":[{"content":"x"}]}`, 400,
			oaiErr("Missing required parameter: 'input[0].role'.", "invalid_request_error", "input[0].role", "missing_required_parameter")},
		{"max_output_tokens below 16", `{"model":"gpt-4o","input":"x","max_output_tokens":5}`, 400,
			oaiErr("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 5 instead.", "invalid_request_error", "max_output_tokens", "integer_below_min_value")},
		{"max_output_tokens above the model's", `{"model":"gpt-4o","input":"x","max_output_tokens":100000}`, 400,
			oaiErr("Invalid 'max_output_tokens': integer above maximum value. Expected a value <= 16384, but got 100000 instead.", "invalid_request_error", "max_output_tokens", "integer_above_max_value")},
		{"reasoning on gpt-4o", `{"model":"gpt-4o","input":"x","reasoning":{"effort":"low"}}`, 400,
			oaiErr("Unsupported parameter: 'reasoning.effort' is not supported with this model.", "invalid_request_error", "reasoning.effort", "unsupported_parameter")},
		{"bad effort", `{"model":"o3","input":"x","reasoning":{"effort":"max"}}`, 400, map[string]any{"error": map[string]any{"param": "reasoning.effort", "code": "invalid_value"}}},
		{"bad tool choice", `{"model":"gpt-4o","input":"x","tools":[` + respTool + `],"tool_choice":"always"}`, 400, map[string]any{"error": map[string]any{"param": "tool_choice", "code": "invalid_value"}}},
		{"schema without name", `{"model":"gpt-4o","input":"x","text":{"format":{"type":"json_schema","schema":{}}}}`, 400,
			oaiErr("Missing required parameter: 'text.format.name'.", "invalid_request_error", "text.format.name", "missing_required_parameter")},
		{"unknown model", `{"model":"gpt-9","input":"x"}`, 400, oaiErr("The requested model 'gpt-9' does not exist.", "invalid_request_error", "model", "model_not_found")},
		{"embedding model", `{"model":"text-embedding-3-small","input":"x"}`, 404,
			oaiErr("This is not a chat model and thus not supported in the v1/responses endpoint. Did you mean to use v1/completions?", "invalid_request_error", "model", nil)},
		{"input beyond the window", `{"model":"gpt-4o","input":"` + long + `"}`, 400,
			oaiErr("Your input exceeds the context window of this model. Please adjust your input and try again.", "invalid_request_error", "input", "context_length_exceeded")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustNew(t, Config{})
			r := serve(e, respCall(tc.body))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %.300s", r.status, tc.status, r.body)
			}
			if got := pick(decode(t, r.body), tc.want); !cmp.Equal(got, tc.want) {
				t.Errorf("body %.300s, want %v", r.body, tc.want)
			}
			if len(e.Bills()) != 0 {
				t.Error("a refusal was billed")
			}
		})
	}
}

// TestResponsesWindow checks that an answer stops where the context window is full,
// incomplete, as with max_output_tokens.
func TestResponsesWindow(t *testing.T) {
	e := mustNew(t, Config{Models: map[string]Model{"gpt-4o": {ContextWindow: 60, MaxOutput: 100}}, Output: Output{MinTokens: 100, MaxTokens: 100}})
	r := decode(t, serve(e, respCall(`{"model":"gpt-4o","input":"`+strings.Repeat("w ", 40)+`"}`)).body)
	in, _, out, _ := respUsage(t, r)
	if r["status"] != "incomplete" || in+out != 60 {
		t.Errorf("status %v, input %d + output %d, want incomplete and 60", r["status"], in, out)
	}
}

// TestResponsesLimitsAndFaults checks that the Responses API shares chat's limits, faults
// and early-end bills.
func TestResponsesLimitsAndFaults(t *testing.T) {
	e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{TPM: 100}})
	body := `{"model":"gpt-4o","input":"hello there","max_output_tokens":50}`
	if r := serve(e, respCall(body)); r.status != 200 || r.header.Get("X-Ratelimit-Remaining-Tokens") != "42" {
		t.Fatalf("first: %d, remaining %q; want 200 and 42 (8 input + 50 cap)", r.status, r.header.Get("X-Ratelimit-Remaining-Tokens"))
	}
	if r := serve(e, respCall(body)); r.status != 429 || !strings.Contains(r.body, "Limit 100, Used 58, Requested 58") {
		t.Errorf("second: %d %s", r.status, r.body)
	}

	for _, tc := range []struct {
		fault, last string
		end         End
	}{
		{"error_event", "response.failed", EndErrorEvent},
		{"start_error_event", "error", EndErrorEvent},
	} {
		e := mustNew(t, Config{Seed: 5, Output: Output{MinTokens: 20, MaxTokens: 20}})
		r := serve(e, respCall(`{"model":"gpt-4o","stream":true,"input":"hi"}`).with("X-Emulator-Fault", tc.fault).with("X-Client-Request-Id", "f"))
		evs := respEvents(t, r.body)
		last, sent := evs[len(evs)-1], ""
		for _, ev := range evs {
			if ev["type"] == "response.output_text.delta" {
				sent += ev["delta"].(string)
			}
		}
		b := e.BillsFor("f")
		if last["type"] != tc.last || len(b) != 1 || b[0].End != tc.end || b[0].Usage.OutputTokens != int64(CountTokens(sent)) || b[0].Fault != tc.fault {
			t.Errorf("%s: last event %v, bill %+v, output sent %d tokens", tc.fault, last, b, CountTokens(sent))
		}
		if tc.fault == "error_event" && (dig(last, "response", "status") != "failed" || dig(last, "response", "error", "code") != "server_error" || sent == "") {
			t.Errorf("error_event: %v", last)
		}
		if tc.fault == "start_error_event" && (sent != "" || last["code"] != "server_error") {
			t.Errorf("start_error_event: %q sent, %v", sent, last)
		}
	}
	e = mustNew(t, Config{Seed: 5})
	if r := serve(e, respCall(`{"model":"gpt-4o","input":"hi"}`).with("X-Emulator-Fault", "overloaded")); r.status != 503 {
		t.Errorf("overloaded: %d", r.status)
	}
	r := serve(e, respCall(`{"model":"gpt-4o","input":"hi"}`).with("X-Emulator-Fault", "cut").with("X-Client-Request-Id", "cut"))
	if b := e.BillsFor("cut"); !r.aborted || len(b) != 1 || b[0].End != EndCut || b[0].Usage.OutputTokens == 0 {
		t.Errorf("cut: aborted %v, bill %+v", r.aborted, b)
	}
}

// TestResponsesParallelCalls checks that parallel_tool_calls lets an answer call several
// tools, and that false keeps it to one.
func TestResponsesParallelCalls(t *testing.T) {
	tools := respTool + `,` + strings.Replace(respTool, "get_weather", "get_time", 1) + `,` + strings.Replace(respTool, "get_weather", "get_tide", 1)
	for _, parallel := range []bool{true, false} {
		e := mustNew(t, Config{Seed: 1})
		most := 0
		for range 20 {
			r := decode(t, serve(e, respCall(fmt.Sprintf(`{"model":"gpt-4o","input":"x","parallel_tool_calls":%v,"tools":[%s],"tool_choice":"required"}`, parallel, tools))).body)
			names := map[any]bool{}
			for _, it := range r["output"].([]any) {
				names[dig(it, "name")] = true
			}
			if len(names) != len(r["output"].([]any)) {
				t.Errorf("a tool called twice in one answer: %v", r["output"])
			}
			most = max(most, len(names))
		}
		if parallel && most < 2 || !parallel && most != 1 {
			t.Errorf("parallel_tool_calls %v: at most %d calls in 20 answers", parallel, most)
		}
	}
}

// TestResponsesDeterminism checks that a seed fixes every id and word.
func TestResponsesDeterminism(t *testing.T) {
	run := func(seed uint64) string {
		e := mustNew(t, Config{Seed: seed, Now: newClock().Now})
		var b strings.Builder
		for i := range 4 {
			b.WriteString(serve(e, respCall(fmt.Sprintf(`{"model":"o4-mini","stream":%v,"input":"hi","tools":[%s]}`, i%2 == 0, respTool))).body)
		}
		return b.String()
	}
	if run(1) != run(1) || run(1) == run(2) {
		t.Error("the seed does not fix the responses")
	}
}
