package emulator

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOpenAIChoices(t *testing.T) {
	cases := []struct {
		name   string
		n      int
		max    int // 0: no max_tokens
		stream bool
	}{
		{"one", 1, 0, false},
		{"three", 3, 0, false},
		{"three capped", 3, 12, false},
		{"three streamed", 3, 0, true},
		{"five streamed capped", 5, 12, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustNew(t, Config{Seed: 5, Now: newClock().Now, Output: Output{MinTokens: 5, MaxTokens: 20}})
			body := fmt.Sprintf(`{"model":"gpt-4o","n":%d,"messages":[{"role":"user","content":"hello there"}]`, tc.n)
			if tc.max > 0 {
				body += fmt.Sprintf(`,"max_tokens":%d`, tc.max)
			}
			if tc.stream {
				body += `,"stream":true,"stream_options":{"include_usage":true}`
			}
			r := serve(e, oai(body+"}"))
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			texts := make([]string, tc.n)
			finishes := make([]string, tc.n)
			var usage any
			interleaved := false
			if tc.stream {
				last, roles := -1, 0
				for _, m := range oaiChunks(t, r.body) {
					if u := m["usage"]; u != nil {
						usage = u
					}
					for _, ch := range m["choices"].([]any) {
						i := num(dig(ch, "index"))
						if i < last {
							interleaved = true
						}
						last = i
						if dig(ch, "delta", "role") == "assistant" {
							roles++
						}
						s, _ := dig(ch, "delta", "content").(string)
						texts[i] += s
						if f, ok := dig(ch, "finish_reason").(string); ok {
							finishes[i] = f
						}
					}
				}
				if roles != tc.n {
					t.Errorf("%d role chunks, want one per choice (%d)", roles, tc.n)
				}
				if tc.n > 1 && !interleaved {
					t.Error("the chunks of the choices do not interleave")
				}
			} else {
				m := decode(t, r.body)
				usage = m["usage"]
				for i, ch := range m["choices"].([]any) {
					if num(dig(ch, "index")) != i {
						t.Errorf("choice %d has index %v", i, dig(ch, "index"))
					}
					texts[i] = dig(ch, "message", "content").(string)
					finishes[i] = dig(ch, "finish_reason").(string)
				}
			}
			sum, distinct := 0, map[string]bool{}
			for i := range tc.n {
				n := CountTokens(texts[i])
				sum += n
				distinct[texts[i]] = true
				capped := tc.max > 0 && n == tc.max
				if tc.max > 0 && n > tc.max || (finishes[i] == "length") != capped || finishes[i] == "" {
					t.Errorf("choice %d: %d tokens, finish %q, max_tokens %d", i, n, finishes[i], tc.max)
				}
			}
			if got := num(dig(usage, "completion_tokens")); got != sum {
				t.Errorf("completion_tokens = %d, want the sum over choices %d", got, sum)
			}
			if got := num(dig(usage, "prompt_tokens")); got != 8 {
				t.Errorf("prompt_tokens = %d, want 8 (counted once, whatever n)", got)
			}
			if tc.n > 1 && len(distinct) < 2 {
				t.Errorf("the %d choices are the same answer %q", tc.n, texts[0])
			}
			b := e.Bills()
			if len(b) != 1 || b[0].Usage.OutputTokens != int64(sum) || b[0].Usage.InputTokens != 8 {
				t.Errorf("bill %+v, want input 8 output %d", b, sum)
			}
		})
	}
}

func TestOpenAIChoicesValidation(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want map[string]any
	}{
		{129, oaiErr("Invalid 'n': integer above maximum value. Expected a value <= 128, but got 129 instead.", "invalid_request_error", "n", "integer_above_max_value")},
		{0, oaiErr("Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.", "invalid_request_error", "n", "integer_below_min_value")},
		{128, nil},
	} {
		e := mustNew(t, Config{Output: Output{MinTokens: 1, MaxTokens: 1}})
		r := serve(e, oai(fmt.Sprintf(`{"model":"gpt-4o","n":%d,"messages":[{"role":"user","content":"x"}]}`, tc.n)))
		if tc.want == nil {
			if r.status != 200 || len(decode(t, r.body)["choices"].([]any)) != tc.n {
				t.Errorf("n=%d: %d %s, want %d choices", tc.n, r.status, r.body, tc.n)
			}
			continue
		}
		if r.status != 400 {
			t.Fatalf("n=%d: status %d, want 400", tc.n, r.status)
		}
		if diff := cmp.Diff(tc.want, decode(t, r.body)); diff != "" {
			t.Errorf("n=%d: body (-want +got):\n%s", tc.n, diff)
		}
	}
}

// TestChoicesRateLimit checks that OpenAI's token limit counts n times the output cap.
func TestChoicesRateLimit(t *testing.T) {
	e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{TPM: 1000}})
	r := serve(e, oai(`{"model":"gpt-4o","n":4,"max_tokens":100,"messages":[{"role":"user","content":"hello there"}]}`))
	if got := r.header.Get("X-Ratelimit-Remaining-Tokens"); got != "592" { // 1000 - 8 - 4x100
		t.Errorf("remaining tokens = %s, want 592", got)
	}
	r = serve(e, oai(`{"model":"gpt-4o","n":6,"max_tokens":100,"messages":[{"role":"user","content":"hello there"}]}`))
	if r.status != 429 || !strings.Contains(r.body, "Requested 608.") {
		t.Errorf("second: %d %s, want 429 requesting 608 (8 + 6x100)", r.status, r.body)
	}
}

func TestReasoning(t *testing.T) {
	cases := []struct {
		name, model, extra string
		models             map[string]Model
		reasoning, out     int // -1: not checked
		finish             string
	}{
		{"o3 medium", "o3", ``, nil, 10, 20, "stop"},
		{"o3 high", "o3", `,"reasoning_effort":"high"`, nil, 20, 30, "stop"},
		{"o3 low", "o3", `,"reasoning_effort":"low"`, nil, 5, 15, "stop"},
		{"gpt-5-mini minimal", "gpt-5-mini", `,"reasoning_effort":"minimal"`, nil, 2, 12, "stop"},
		{"gpt-5 none", "gpt-5", `,"reasoning_effort":"none"`, nil, 0, 10, "stop"},
		{"cap inside the reasoning", "o3", `,"max_completion_tokens":7`, nil, 7, 7, "length"},
		{"cap inside the answer", "o3", `,"max_completion_tokens":14`, nil, 10, 14, "length"},
		{"gpt-4o does not reason", "gpt-4o", ``, nil, 0, 10, "stop"},
		{"a custom reasoning model", "my-thinker", ``, map[string]Model{"my-thinker": {Provider: "openai", Reasoning: new(true)}}, 10, 20, "stop"},
		{"o3 told not to reason", "o3", ``, map[string]Model{"o3": {Reasoning: new(false)}}, 0, 10, "stop"},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tc.name, stream), func(t *testing.T) {
				e := mustNew(t, Config{Seed: 2, Now: newClock().Now, Output: Output{MinTokens: 10, MaxTokens: 10}, Models: tc.models})
				body := `{"model":"` + tc.model + `","messages":[{"role":"user","content":"x"}]` + tc.extra
				if stream {
					body += `,"stream":true,"stream_options":{"include_usage":true}`
				}
				r := serve(e, oai(body+"}"))
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				var usage any
				var text, finish string
				if stream {
					for _, m := range oaiChunks(t, r.body) {
						if u := m["usage"]; u != nil {
							usage = u
						}
						if s, ok := dig(m, "choices", 0, "delta", "content").(string); ok {
							text += s
						}
						if f, ok := dig(m, "choices", 0, "finish_reason").(string); ok {
							finish = f
						}
					}
				} else {
					m := decode(t, r.body)
					usage, text, finish = m["usage"], dig(m, "choices", 0, "message", "content").(string), dig(m, "choices", 0, "finish_reason").(string)
				}
				reasoning, out := num(dig(usage, "completion_tokens_details", "reasoning_tokens")), num(dig(usage, "completion_tokens"))
				if reasoning != tc.reasoning || out != tc.out || finish != tc.finish || out-reasoning != CountTokens(text) {
					t.Errorf("reasoning %d, completion %d, finish %q, text of %d tokens; want %d, %d, %q, completion minus reasoning",
						reasoning, out, finish, CountTokens(text), tc.reasoning, tc.out, tc.finish)
				}
				b := e.Bills()[0]
				if b.Usage.ReasoningTokens != int64(reasoning) || b.Usage.OutputTokens != int64(out) {
					t.Errorf("bill %+v, want reasoning %d of output %d", b.Usage, reasoning, out)
				}
			})
		}
	}
	r := serve(mustNew(t, Config{}), oai(`{"model":"o3","reasoning_effort":"extreme","messages":[{"role":"user","content":"x"}]}`))
	if want := oaiErr("Invalid value: 'extreme'. Supported values are: 'minimal', 'low', 'medium', and 'high'.", "invalid_request_error", "reasoning_effort", "invalid_value"); r.status != 400 || !cmp.Equal(decode(t, r.body), want) {
		t.Errorf("bad effort: %d %s", r.status, r.body)
	}
}

const (
	weatherTool = `{"type":"function","function":{"name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["location","unit"]}}}`
	timeTool    = `{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"type":"string"},"exact":{"type":"boolean"}},"required":["tz"]}}}`
	searchTool  = `{"type":"function","function":{"name":"search","parameters":{"type":"object","properties":{"query":{"type":"string"},"tags":{"type":"array","items":{"type":"string"},"minItems":1}},"required":["query","tags"]}}}`

	antWeatherTool = `{"name":"get_weather","description":"Get the weather","input_schema":{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location","unit"]}}`
	antTimeTool    = `{"name":"get_time","input_schema":{"type":"object","properties":{"tz":{"type":"string"}},"required":["tz"]}}`
)

// checkArgs checks that arguments fit the test tools' schemas.
func checkArgs(t *testing.T, name, args string) {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		t.Errorf("%s arguments %q are not a JSON object: %v", name, args, err)
		return
	}
	switch name {
	case "get_weather":
		if u := v["unit"]; u != "celsius" && u != "fahrenheit" {
			t.Errorf("get_weather unit %v, want an enum value", u)
		}
		if _, ok := v["location"].(string); !ok {
			t.Errorf("get_weather without a location: %s", args)
		}
		if d, ok := v["days"]; ok && (num(d) < 1 || num(d) > 7) {
			t.Errorf("get_weather days %v, want 1 to 7", d)
		}
	case "get_time":
		if _, ok := v["tz"].(string); !ok {
			t.Errorf("get_time without tz: %s", args)
		}
	case "search":
		if tags, ok := v["tags"].([]any); !ok || len(tags) < 1 {
			t.Errorf("search tags %v, want at least one", v["tags"])
		}
	default:
		t.Errorf("call to %q, not a tool of the request", name)
	}
}

func TestOpenAIToolCalls(t *testing.T) {
	tools := `"tools":[` + weatherTool + `,` + timeTool + `,` + searchTool + `]`
	cases := []struct {
		name, extra string
		// calls: -1 never, 0 sometimes, 1 always; max is the most calls in one answer
		calls, max int
		only       string
	}{
		{"auto", ``, 0, 3, ""},
		{"required", `,"tool_choice":"required"`, 1, 3, ""},
		{"required, no parallel calls", `,"tool_choice":"required","parallel_tool_calls":false`, 1, 1, ""},
		{"named", `,"tool_choice":{"type":"function","function":{"name":"get_time"}}`, 1, 1, "get_time"},
		{"none", `,"tool_choice":"none"`, -1, 0, ""},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tc.name, stream), func(t *testing.T) {
				e := mustNew(t, Config{Seed: 11, Now: newClock().Now, Output: Output{MinTokens: 3, MaxTokens: 9}})
				sawCall, sawText, sawParallel := false, false, false
				for range 40 {
					body := `{"model":"gpt-4o",` + tools + tc.extra + `,"messages":[{"role":"user","content":"x"}]`
					if stream {
						body += `,"stream":true,"stream_options":{"include_usage":true}`
					}
					r := serve(e, oai(body+"}"))
					if r.status != 200 {
						t.Fatalf("status %d: %s", r.status, r.body)
					}
					type callT struct{ id, name, args string }
					var calls []callT
					var content any
					var finish string
					var usage any
					if stream {
						for _, m := range oaiChunks(t, r.body) {
							if u := m["usage"]; u != nil {
								usage = u
							}
							d := dig(m, "choices", 0, "delta")
							if s, ok := dig(d, "content").(string); ok {
								prev, _ := content.(string)
								content = prev + s
							}
							for _, tcall := range func() []any { a, _ := dig(d, "tool_calls").([]any); return a }() {
								i := num(dig(tcall, "index"))
								if i == len(calls) {
									calls = append(calls, callT{id: dig(tcall, "id").(string), name: dig(tcall, "function", "name").(string)})
									if dig(tcall, "type") != "function" {
										t.Errorf("first delta of call %d without type function: %v", i, tcall)
									}
								}
								calls[i].args += dig(tcall, "function", "arguments").(string)
							}
							if f, ok := dig(m, "choices", 0, "finish_reason").(string); ok {
								finish = f
							}
						}
					} else {
						m := decode(t, r.body)
						usage, finish = m["usage"], dig(m, "choices", 0, "finish_reason").(string)
						content = dig(m, "choices", 0, "message", "content")
						for _, tcall := range func() []any { a, _ := dig(m, "choices", 0, "message", "tool_calls").([]any); return a }() {
							calls = append(calls, callT{id: dig(tcall, "id").(string), name: dig(tcall, "function", "name").(string),
								args: dig(tcall, "function", "arguments").(string)})
						}
					}
					out := 0
					if s, ok := content.(string); ok {
						out = CountTokens(s)
					}
					for _, c := range calls {
						if !strings.HasPrefix(c.id, "call_") || len(c.id) != 29 {
							t.Errorf("call id %q, want call_ and 24 characters", c.id)
						}
						if tc.only != "" && c.name != tc.only {
							t.Errorf("called %s, want only %s", c.name, tc.only)
						}
						checkArgs(t, c.name, c.args)
						out += CountTokens(c.name) + CountTokens(c.args)
					}
					if got := num(dig(usage, "completion_tokens")); got != out {
						t.Errorf("completion_tokens %d, want the content and the calls' names and arguments: %d", got, out)
					}
					if len(calls) > 0 {
						sawCall, sawParallel = true, sawParallel || len(calls) > 1
						if finish != "tool_calls" || len(calls) > tc.max || !stream && content != nil {
							t.Errorf("%d calls, finish %q, content %v: want tool_calls, at most %d, content null", len(calls), finish, content, tc.max)
						}
					} else {
						sawText = true
						if finish != "stop" {
							t.Errorf("text answer with finish %q", finish)
						}
					}
				}
				if tc.calls >= 0 && !sawCall || tc.calls <= 0 && !sawText || tc.max > 1 && !sawParallel {
					t.Errorf("over 40 answers: calls %v, text %v, parallel calls %v", sawCall, sawText, sawParallel)
				}
			})
		}
	}
}

// TestToolCallCap checks an output cap that falls inside a call: OpenAI sends the call's
// start, Anthropic ends in text; both bill exactly the cap.
func TestToolCallCap(t *testing.T) {
	for cap := 1; cap <= 14; cap++ {
		e := mustNew(t, Config{Seed: 3, Now: newClock().Now})
		r := serve(e, oai(fmt.Sprintf(`{"model":"gpt-4o","tools":[%s],"tool_choice":"required","max_tokens":%d,"messages":[{"role":"user","content":"x"}]}`, weatherTool, cap)))
		m := decode(t, r.body)
		out := num(dig(m, "usage", "completion_tokens"))
		finish := dig(m, "choices", 0, "finish_reason")
		full := CountTokens("get_weather") + CountTokens(fmt.Sprint(dig(m, "choices", 0, "message", "tool_calls", 0, "function", "arguments")))
		if out > cap || finish == "length" && out != cap || finish == "tool_calls" && out != full {
			t.Errorf("openai max_tokens %d: %d tokens, finish %v: %s", cap, out, finish, r.body)
		}
		r = serve(e, ant(fmt.Sprintf(`{"model":"claude-sonnet-4-5","tools":[%s],"tool_choice":{"type":"any"},"max_tokens":%d,"messages":[{"role":"user","content":"x"}]}`, antWeatherTool, cap)))
		m = decode(t, r.body)
		out, stop := num(dig(m, "usage", "output_tokens")), dig(m, "stop_reason")
		if out > cap || stop == "max_tokens" && (out != cap || dig(m, "content", 0, "type") != "text") || stop == "tool_use" && dig(m, "content", 0, "type") != "tool_use" {
			t.Errorf("anthropic max_tokens %d: %d tokens, stop %v: %s", cap, out, stop, r.body)
		}
	}
}

func TestAnthropicToolUse(t *testing.T) {
	tools := `"tools":[` + antWeatherTool + `,` + antTimeTool + `]`
	cases := []struct {
		name, extra string
		calls, max  int // calls: -1 never, 0 sometimes, 1 always
		overhead    int // the tool-use system prompt
		only        string
	}{
		{"auto", ``, 0, 2, 346, ""},
		{"any", `,"tool_choice":{"type":"any"}`, 1, 2, 313, ""},
		{"any, one call", `,"tool_choice":{"type":"any","disable_parallel_tool_use":true}`, 1, 1, 313, ""},
		{"tool", `,"tool_choice":{"type":"tool","name":"get_time"}`, 1, 1, 313, "get_time"},
		{"none", `,"tool_choice":{"type":"none"}`, -1, 0, 346, ""},
	}
	base := serve(mustNew(t, Config{}), ant(`{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"x"}]}`))
	baseInput := num(dig(decode(t, base.body), "usage", "input_tokens"))
	toolTokens := 0
	for _, raw := range []string{antWeatherTool, antTimeTool} {
		var w wireTool
		_ = json.Unmarshal([]byte(raw), &w)
		toolTokens += w.tool().tokens
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tc.name, stream), func(t *testing.T) {
				e := mustNew(t, Config{Seed: 13, Now: newClock().Now, Output: Output{MinTokens: 3, MaxTokens: 9}})
				sawCall, sawText, sawParallel := false, false, false
				for range 40 {
					body := `{"model":"claude-sonnet-4-5","max_tokens":500,` + tools + tc.extra + `,"messages":[{"role":"user","content":"x"}]`
					if stream {
						body += `,"stream":true`
					}
					r := serve(e, ant(body+"}"))
					if r.status != 200 {
						t.Fatalf("status %d: %s", r.status, r.body)
					}
					type block struct{ typ, id, name, text, input string }
					var blocks []block
					var stop string
					var input, output int
					if stream {
						for _, ev := range sseEvents(r.body) {
							m := decode(t, ev.data)
							switch ev.event {
							case "message_start":
								input = num(dig(m, "message", "usage", "input_tokens"))
							case "content_block_start":
								cb := dig(m, "content_block")
								b := block{typ: dig(cb, "type").(string)}
								if b.typ == "tool_use" {
									b.id, b.name = dig(cb, "id").(string), dig(cb, "name").(string)
									if in, _ := json.Marshal(dig(cb, "input")); string(in) != "{}" {
										t.Errorf("tool_use block starts with input %s, want {}", in)
									}
								}
								blocks = append(blocks, b)
							case "content_block_delta":
								b := &blocks[num(dig(m, "index"))]
								switch dig(m, "delta", "type") {
								case "text_delta":
									b.text += dig(m, "delta", "text").(string)
								case "input_json_delta":
									b.input += dig(m, "delta", "partial_json").(string)
								}
							case "message_delta":
								stop, output = dig(m, "delta", "stop_reason").(string), num(dig(m, "usage", "output_tokens"))
							}
						}
					} else {
						m := decode(t, r.body)
						stop, input, output = dig(m, "stop_reason").(string), num(dig(m, "usage", "input_tokens")), num(dig(m, "usage", "output_tokens"))
						for _, cb := range dig(m, "content").([]any) {
							b := block{typ: dig(cb, "type").(string)}
							if b.typ == "tool_use" {
								in, _ := json.Marshal(dig(cb, "input"))
								b.id, b.name, b.input = dig(cb, "id").(string), dig(cb, "name").(string), string(in)
							} else {
								b.text = dig(cb, "text").(string)
							}
							blocks = append(blocks, b)
						}
					}
					if want := baseInput + toolTokens + tc.overhead; input != want {
						t.Errorf("input_tokens %d, want %d + tools %d + tool-use system prompt %d", input, baseInput, toolTokens, tc.overhead)
					}
					out, calls := 0, 0
					for _, b := range blocks {
						switch b.typ {
						case "text":
							out += CountTokens(b.text)
						case "tool_use":
							calls++
							if !strings.HasPrefix(b.id, "toolu_01") || len(b.id) != 30 {
								t.Errorf("tool_use id %q, want toolu_01 and 22 characters", b.id)
							}
							if tc.only != "" && b.name != tc.only {
								t.Errorf("called %s, want only %s", b.name, tc.only)
							}
							checkArgs(t, b.name, b.input)
							out += CountTokens(b.name) + CountTokens(b.input)
						}
					}
					if output != out {
						t.Errorf("output_tokens %d, want text and calls: %d", output, out)
					}
					if calls > 0 {
						sawCall, sawParallel = true, sawParallel || calls > 1
						if stop != "tool_use" || calls > tc.max || tc.calls == 1 && blocks[0].typ != "tool_use" {
							t.Errorf("%d calls, stop %q, blocks %v: want tool_use, at most %d, no text before a forced call", calls, stop, blocks, tc.max)
						}
					} else {
						sawText = true
					}
				}
				if tc.calls >= 0 && !sawCall || tc.calls <= 0 && !sawText || tc.max > 1 && !sawParallel {
					t.Errorf("over 40 answers: calls %v, text %v, parallel calls %v", sawCall, sawText, sawParallel)
				}
			})
		}
	}
}

// TestToolHistory checks that the tool calls and results of earlier turns are input.
func TestToolHistory(t *testing.T) {
	e := mustNew(t, Config{Output: Output{MinTokens: 1, MaxTokens: 1}})
	args := `{"location":"Paris","unit":"celsius"}`
	r := serve(e, oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"},`+
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":`+quote(args)+`}}]},`+
		`{"role":"tool","tool_call_id":"call_1","content":"sunny and warm"}]}`))
	// priming 3 + per message 3x3 + "weather?" 2 + name and arguments + "sunny and warm" 3
	want := 3 + 9 + 2 + CountTokens("get_weather") + CountTokens(args) + 3
	if got := num(dig(decode(t, r.body), "usage", "prompt_tokens")); got != want {
		t.Errorf("openai prompt_tokens = %d, want %d", got, want)
	}
	r = serve(e, ant(`{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"weather?"},`+
		`{"role":"assistant","content":[{"type":"thinking","thinking":"let me see","signature":"x"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":`+args+`}]},`+
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny and warm"}]}]}]}`))
	// thinking of an earlier turn counts nothing
	if got := num(dig(decode(t, r.body), "usage", "input_tokens")); got != want {
		t.Errorf("anthropic input_tokens = %d, want %d", got, want)
	}
}

func TestThinking(t *testing.T) {
	for _, stream := range []bool{false, true} {
		for _, tc := range []struct {
			name      string
			budget    int
			maxTokens int
			finish    string
		}{
			{"within budget", 2000, 4000, "end_turn"},
			{"budget caps it", 1024, 4000, "end_turn"},
			{"max_tokens inside the thinking", 1024, 1030, "max_tokens"},
		} {
			t.Run(fmt.Sprintf("%s stream=%v", tc.name, stream), func(t *testing.T) {
				e := mustNew(t, Config{Seed: 4, Now: newClock().Now, Output: Output{MinTokens: 1500, MaxTokens: 1500}})
				body := fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":%d,"thinking":{"type":"enabled","budget_tokens":%d},"messages":[{"role":"user","content":"x"}]`, tc.maxTokens, tc.budget)
				if stream {
					body += `,"stream":true`
				}
				r := serve(e, ant(body+"}"))
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				var thinking, signature, text, stop string
				var out, details int
				if stream {
					for _, ev := range sseEvents(r.body) {
						m := decode(t, ev.data)
						switch dig(m, "delta", "type") {
						case "thinking_delta":
							thinking += dig(m, "delta", "thinking").(string)
						case "signature_delta":
							signature += dig(m, "delta", "signature").(string)
						case "text_delta":
							text += dig(m, "delta", "text").(string)
						}
						if ev.event == "message_delta" {
							stop, out, details = dig(m, "delta", "stop_reason").(string), num(dig(m, "usage", "output_tokens")),
								num(dig(m, "usage", "output_tokens_details", "thinking_tokens"))
						}
					}
				} else {
					m := decode(t, r.body)
					stop, out, details = dig(m, "stop_reason").(string), num(dig(m, "usage", "output_tokens")), num(dig(m, "usage", "output_tokens_details", "thinking_tokens"))
					thinking, signature = dig(m, "content", 0, "thinking").(string), dig(m, "content", 0, "signature").(string)
					if s, ok := dig(m, "content", 1, "text").(string); ok {
						text = s
					}
				}
				tk := CountTokens(thinking)
				if tk == 0 || tk > tc.budget || signature == "" || details != tk || out != tk+CountTokens(text) || stop != tc.finish || out > tc.maxTokens {
					t.Errorf("thinking %d tokens (budget %d), signature %q, details %d, output %d, text %d, stop %q (want %q)",
						tk, tc.budget, signature, details, out, CountTokens(text), stop, tc.finish)
				}
				if b := e.Bills()[0].Usage; b.ReasoningTokens != int64(tk) || b.OutputTokens != int64(out) {
					t.Errorf("bill %+v, want thinking %d of output %d", b, tk, out)
				}
			})
		}
	}
	for _, tc := range []struct{ body, want string }{
		{`"max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024}`, "`max_tokens` must be greater than `thinking.budget_tokens`."},
		{`"max_tokens":4000,"thinking":{"type":"enabled","budget_tokens":1000}`, "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		{`"max_tokens":4000,"thinking":{"type":"enabled","budget_tokens":1024},"tools":[` + antTimeTool + `],"tool_choice":{"type":"any"}`, "Thinking may not be enabled when tool_choice forces tool use."},
	} {
		r := serve(mustNew(t, Config{}), ant(`{"model":"claude-sonnet-4-5",`+tc.body+`,"messages":[{"role":"user","content":"x"}]}`))
		if r.status != 400 || dig(decode(t, r.body), "error", "message") != tc.want {
			t.Errorf("%s: %d %s, want 400 %q", tc.body, r.status, r.body, tc.want)
		}
	}
}
