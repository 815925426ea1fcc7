package translate_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/provider/translate"
)

// TestResponsesToAnthropic translates Responses API bodies in the shapes the OpenAI Agents
// SDK, the Vercel AI SDK and Codex send, and checks the result against goldens, against
// tollgate's own Anthropic parser and against the Anthropic SDK's request type.
func TestResponsesToAnthropic(t *testing.T) {
	t.Parallel()
	for _, name := range fixtures(t, "responses") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := fixture(t, name)
			in, _, err := openai.ParseResponsesRequest(body)
			if err != nil {
				t.Fatalf("fixture is not a valid Responses request: %v", err)
			}
			got, err := translate.ResponsesToAnthropic(body, translate.Target{Model: "claude-sonnet-4-5", Stream: in.Stream})
			if err != nil {
				t.Fatalf("ResponsesToAnthropic() error %v", err)
			}
			golden(t, strings.TrimSuffix(name, ".json")+".to_anthropic.json", pretty(t, got.Body))
			out, err := anthropic.ParseRequest(got.Body)
			if err != nil {
				t.Fatalf("anthropic.ParseRequest(translation) error %v", err)
			}
			wantCap := in.MaxTokens
			if wantCap == 0 {
				wantCap = translate.DefaultMaxTokens
			}
			if out.Stream != in.Stream || out.Model != "claude-sonnet-4-5" || out.MaxTokens != wantCap {
				t.Errorf("translation stream=%v model=%q max_tokens=%d, want %v, claude-sonnet-4-5, %d", out.Stream, out.Model, out.MaxTokens, in.Stream, wantCap)
			}
			var p anthropicsdk.MessageNewParams
			if err := json.Unmarshal(got.Body, &p); err != nil {
				t.Fatalf("Anthropic SDK cannot read the translation: %v", err)
			}
			var orig struct {
				Tools []json.RawMessage `json:"tools"`
			}
			json.Unmarshal(body, &orig)
			wantTools := len(orig.Tools)
			if got.ResponseTool != "" {
				wantTools++
			}
			if len(p.Tools) != wantTools {
				t.Errorf("translation has %d tools, want %d", len(p.Tools), wantTools)
			}
			// Every call the input made is answered by a result with the same id, in the
			// user turn that follows it.
			calls, results := map[string]bool{}, map[string]bool{}
			for i, m := range p.Messages {
				for _, b := range m.Content {
					switch {
					case b.OfToolUse != nil:
						calls[b.OfToolUse.ID] = true
						if i+1 >= len(p.Messages) || p.Messages[i+1].Role != anthropicsdk.MessageParamRoleUser {
							t.Errorf("tool_use %s is not followed by a user turn", b.OfToolUse.ID)
						}
					case b.OfToolResult != nil:
						results[b.OfToolResult.ToolUseID] = true
					}
				}
			}
			for id := range calls {
				if !results[id] {
					t.Errorf("tool_use %s has no tool_result", id)
				}
			}
			if len(calls) != len(results) {
				t.Errorf("%d calls, %d results", len(calls), len(results))
			}
		})
	}
}

// TestResponsesUntranslatable checks that every Responses member with no Anthropic
// equivalent is refused by name, as an *llm.UntranslatableError, and that a caller's own
// mistake is a bad request instead.
func TestResponsesUntranslatable(t *testing.T) {
	t.Parallel()
	const in = `"model":"gpt-4.1","input":"hi"`
	fn := `"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]`
	tests := []struct {
		name, body, field string
		untranslatable    bool
	}{
		{"previous response", `{` + in + `,"previous_response_id":"resp_68b9a1c2"}`, "previous_response_id", true},
		{"conversation", `{` + in + `,"conversation":"conv_68b9a1c2"}`, "conversation", true},
		{"conversation object", `{` + in + `,"conversation":{"id":"conv_68b9a1c2"}}`, "conversation", true},
		{"stored prompt", `{` + in + `,"prompt":{"id":"pmpt_68b9","version":"2","variables":{"city":"Oslo"}}}`, "prompt", true},
		{"item reference", `{"model":"m","input":[{"type":"item_reference","id":"msg_68b9"},{"role":"user","content":"go on"}]}`, "input[0]", true},
		{"bare item reference", `{"model":"m","input":[{"id":"msg_68b9"}]}`, "input[0]", true},
		{"background", `{` + in + `,"background":true}`, "background", true},
		{"logprobs", `{` + in + `,"include":["message.output_text.logprobs"],"top_logprobs":2}`, "include[0]", true},
		{"top logprobs", `{` + in + `,"top_logprobs":5}`, "top_logprobs", true},
		{"web search tool", `{` + in + `,"tools":[{"type":"web_search"}]}`, "tools[0].type", true},
		{"custom tool", `{` + in + `,"tools":[{"type":"custom","name":"apply_patch","format":{"type":"grammar","syntax":"lark","definition":"start: /.+/"}}]}`, "tools[0].type", true},
		{"deferred tool", `{` + in + `,"tools":[{"type":"function","name":"f","parameters":{"type":"object"},"defer_loading":true}]}`, "tools[0].defer_loading", true},
		{"allowed tools", `{` + in + `,` + fn + `,"tool_choice":{"type":"allowed_tools","mode":"auto","tools":[{"type":"function","name":"f"}]}}`, "tool_choice", true},
		{"hosted tool choice", `{` + in + `,` + fn + `,"tool_choice":{"type":"file_search"}}`, "tool_choice.type", true},
		{"verbosity", `{` + in + `,"text":{"verbosity":"low"}}`, "text.verbosity", true},
		{"schema not an object", `{` + in + `,"text":{"format":{"type":"json_schema","name":"list","schema":{"type":"array"}}}}`, "text.format.schema", true},
		{"format beside a forced tool", `{` + in + `,` + fn + `,"tool_choice":"required","text":{"format":{"type":"json_object"}}}`, "text.format", true},
		{"thinking with forced tool", `{` + in + `,` + fn + `,"tool_choice":"required","reasoning":{"effort":"low"}}`, "tool_choice", true},
		{"thinking with temperature", `{` + in + `,"reasoning":{"effort":"high"},"temperature":0.2}`, "temperature", true},
		{"thinking without room", `{` + in + `,"reasoning":{"effort":"low"},"max_output_tokens":900}`, "reasoning.effort", true},
		{"reasoning of all turns", `{` + in + `,"reasoning":{"effort":"low","context":"all_turns"}}`, "reasoning.context", true},
		{"compaction", `{` + in + `,"context_management":[{"type":"compaction","compact_threshold":200000}]}`, "context_management", true},
		{"shell call item", `{"model":"m","input":[{"role":"user","content":"ls"},{"type":"local_shell_call","id":"lsh_1","call_id":"c1","action":{"type":"exec","command":["ls"]},"status":"completed"}]}`, "input[1].type", true},
		{"image file id", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-9Xb"}]}]}`, "input[0].content[0].file_id", true},
		{"audio", `{"model":"m","input":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAA=","format":"wav"}}]}]}`, "input[0].content[0]", true},
		{"text file", `{"model":"m","input":[{"role":"user","content":[{"type":"input_file","filename":"a.txt","file_data":"data:text/plain;base64,aGk="}]}]}`, "input[0].content[0].file_data", true},
		{"invalid arguments", `{"model":"m","input":[{"role":"user","content":"hi"},{"type":"function_call","call_id":"c1","name":"f","arguments":"{oops"},{"type":"function_call_output","call_id":"c1","output":"x"}]}`, "input[1].arguments", true},
		{"namespaced call", `{"model":"m","input":[{"role":"user","content":"hi"},{"type":"function_call","call_id":"c1","name":"f","arguments":"{}","namespace":"crm"},{"type":"function_call_output","call_id":"c1","output":"x"}]}`, "input[1].namespace", true},
		{"prefill", `{"model":"m","input":[{"role":"user","content":"hi"},{"role":"assistant","content":"Sure"}]}`, "input[1]", true},
		{"unknown field", `{` + in + `,"speculative_decoding":true}`, "speculative_decoding", true},

		{"no input", `{"model":"m"}`, "input", false},
		{"call without output", `{"model":"m","input":[{"role":"user","content":"hi"},{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"}]}`, "input[1]", false},
		{"output without call id", `{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`, "input[0].call_id", false},
		{"bad role", `{"model":"m","input":[{"role":"tool","content":"x"}]}`, "input[0].role", false},
		{"bad effort", `{` + in + `,"reasoning":{"effort":"huge"}}`, "reasoning.effort", false},
		{"schema without name", `{` + in + `,"text":{"format":{"type":"json_schema","schema":{"type":"object"}}}}`, "text.format.name", false},
		{"tool choice without tools", `{` + in + `,"tool_choice":"required"}`, "tool_choice", false},
		{"instructions not a string", `{` + in + `,"instructions":["x"]}`, "instructions", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := translate.ResponsesToAnthropic([]byte(tt.body), translate.Target{Model: "claude-haiku-4-5"})
			if err == nil {
				t.Fatalf("translation of %s succeeded, want an error on %s", tt.body, tt.field)
			}
			var ue *llm.UntranslatableError
			if tt.untranslatable {
				if !errors.As(err, &ue) || !errors.Is(err, llm.ErrUntranslatable) {
					t.Fatalf("error %v (%T), want an *llm.UntranslatableError", err, err)
				}
				if ue.Field != tt.field || ue.From != llm.Responses || ue.To != llm.Anthropic {
					t.Errorf("error names %q from %s to %s, want %q from responses to anthropic (%v)", ue.Field, ue.From, ue.To, tt.field, err)
				}
				return
			}
			var re *openai.RequestError
			if errors.As(err, &ue) || !errors.As(err, &re) || !errors.Is(err, openai.ErrBadRequest) {
				t.Fatalf("error %v (%T), want the caller's bad request", err, err)
			}
			if re.Field != tt.field {
				t.Errorf("error names %q, want %q (%v)", re.Field, tt.field, err)
			}
		})
	}
}

// TestResponsesCarried checks the members that are carried without a golden of their
// own: each maps onto its Anthropic counterpart, or is accepted because it changes
// nothing an Anthropic answer could differ in.
func TestResponsesCarried(t *testing.T) {
	t.Parallel()
	const in = `"model":"gpt-4.1","input":"hi"`
	tests := []struct {
		name, body, want, tool string
	}{
		{"string input", `{` + in + `}`, `"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]`, ""},
		{"temperature above 1", `{` + in + `,"temperature":1.6}`, `"temperature":1`, ""},
		{"user", `{` + in + `,"user":"u-1","safety_identifier":"s-1"}`, `"metadata":{"user_id":"u-1"}`, ""},
		{"safety identifier", `{` + in + `,"safety_identifier":"s-1"}`, `"metadata":{"user_id":"s-1"}`, ""},
		{"named tool", `{` + in + `,"tools":[{"type":"function","name":"f","parameters":null}],"tool_choice":{"type":"function","name":"f"},"parallel_tool_calls":false}`,
			`"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true}`, ""},
		{"json object", `{` + in + `,"text":{"format":{"type":"json_object"}}}`, `"tool_choice":{"type":"tool","name":"json_response"}`, "json_response"},
		{"thinking carries a schema natively", `{` + in + `,"reasoning":{"effort":"low","summary":"detailed"},"text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object"}}}}`,
			`"thinking":{"type":"enabled","budget_tokens":1024},"output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}}`, ""},
		{"max effort", `{` + in + `,"reasoning":{"effort":"max"},"max_output_tokens":32000}`, `"thinking":{"type":"enabled","budget_tokens":16384}`, ""},
		{"no effort", `{` + in + `,"reasoning":{"effort":"minimal"}}`, `"max_tokens":4096,"messages"`, ""},
		{"ignored", `{` + in + `,"store":true,"metadata":{"a":"b"},"prompt_cache_key":"k","prompt_cache_retention":"24h","max_tool_calls":3,"truncation":"auto","include":["reasoning.encrypted_content"],"background":false,"previous_response_id":null,"service_tier":"flex"}`,
			`{"model":"claude-haiku-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`, ""},
		{"tool results with an image", `{"model":"m","input":[{"role":"user","content":"look"},{"type":"function_call","call_id":"call.1","name":"shot","arguments":""},{"type":"function_call_output","call_id":"call.1","output":[{"type":"input_text","text":"here"},{"type":"input_image","image_url":"https://x.example/a.png"}]}]}`,
			`{"type":"tool_result","tool_use_id":"call_1","content":[{"type":"text","text":"here"},{"type":"image","source":{"type":"url","url":"https://x.example/a.png"}}]}`, ""},
		{"reasoning items dropped", `{"model":"m","input":[{"role":"user","content":"a"},{"type":"reasoning","id":"rs_1","summary":[]},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`,
			`"messages":[{"role":"user","content":[{"type":"text","text":"a"}]},{"role":"assistant","content":[{"type":"text","text":"b"}]},{"role":"user","content":[{"type":"text","text":"c"}]}]`, ""},
		{"file url", `{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_url":"https://x.example/r.pdf","filename":"r.pdf"}]}]}`,
			`{"type":"document","source":{"type":"url","url":"https://x.example/r.pdf"},"title":"r.pdf"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := translate.ResponsesToAnthropic([]byte(tt.body), translate.Target{Model: "claude-haiku-4-5"})
			if err != nil {
				t.Fatalf("ResponsesToAnthropic(%s) error %v", tt.body, err)
			}
			if !strings.Contains(string(got.Body), tt.want) || got.ResponseTool != tt.tool {
				t.Errorf("ResponsesToAnthropic(%s) = %s (response tool %q), want %s (%q)", tt.body, got.Body, got.ResponseTool, tt.want, tt.tool)
			}
		})
	}
}

func FuzzResponsesToAnthropic(f *testing.F) {
	for _, name := range fixtures(f, "responses") {
		f.Add(fixture(f, name))
	}
	f.Add([]byte(`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"x"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := translate.ResponsesToAnthropic(body, translate.Target{Model: "claude-haiku-4-5", MaxTokens: 2000})
		if err != nil {
			var ue *llm.UntranslatableError
			if !errors.As(err, &ue) && !errors.Is(err, openai.ErrBadRequest) {
				t.Fatalf("error %v (%T) is neither untranslatable nor a bad request", err, err)
			}
			return
		}
		if _, err := anthropic.ParseRequest(got.Body); err != nil {
			t.Fatalf("translation %s does not parse: %v", got.Body, err)
		}
	})
}
