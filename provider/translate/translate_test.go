package translate_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	openaisdk "github.com/openai/openai-go/v3"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/provider/translate"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with testdata/golden/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
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

func pretty(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return append(out.Bytes(), '\n')
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtures(t testing.TB, prefix string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", prefix+"_*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no %s fixtures: %v", prefix, err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

// TestToAnthropic translates real OpenAI request bodies (in the shapes LangChain, the
// OpenAI SDKs and the cookbook send) and checks the result against goldens, against
// tollgate's own Anthropic parser and against the Anthropic SDK's request type.
func TestToAnthropic(t *testing.T) {
	t.Parallel()
	for _, name := range fixtures(t, "openai") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := fixture(t, name)
			in, err := openai.ParseRequest(body)
			if err != nil {
				t.Fatalf("fixture is not a valid OpenAI request: %v", err)
			}
			got, err := translate.ToAnthropic(body, translate.Target{Model: "claude-sonnet-4-5", Stream: in.Stream})
			if err != nil {
				t.Fatalf("ToAnthropic() error %v", err)
			}
			golden(t, strings.TrimSuffix(name, ".json")+".to_anthropic.json", pretty(t, got.Body))
			out, err := anthropic.ParseRequest(got.Body)
			if err != nil {
				t.Fatalf("anthropic.ParseRequest(translation) error %v", err)
			}
			if out.Stream != in.Stream || out.Model != "claude-sonnet-4-5" {
				t.Errorf("translation stream=%v model=%q, want %v and claude-sonnet-4-5", out.Stream, out.Model, in.Stream)
			}
			var p anthropicsdk.MessageNewParams
			if err := json.Unmarshal(got.Body, &p); err != nil {
				t.Fatalf("Anthropic SDK cannot read the translation: %v", err)
			}
			var orig struct {
				Tools     []json.RawMessage `json:"tools"`
				Functions []json.RawMessage `json:"functions"`
			}
			json.Unmarshal(body, &orig)
			wantTools := len(orig.Tools) + len(orig.Functions)
			if got.ResponseTool != "" {
				wantTools++
			}
			if len(p.Tools) != wantTools {
				t.Errorf("translation has %d tools, want %d", len(p.Tools), wantTools)
			}
		})
	}
}

// TestToOpenAI is TestToAnthropic the other way.
func TestToOpenAI(t *testing.T) {
	t.Parallel()
	for _, name := range fixtures(t, "anthropic") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := fixture(t, name)
			in, err := anthropic.ParseRequest(body)
			if err != nil {
				t.Fatalf("fixture is not a valid Anthropic request: %v", err)
			}
			got, err := translate.ToOpenAI(body, translate.Target{Model: "gpt-4o", Stream: in.Stream})
			if err != nil {
				t.Fatalf("ToOpenAI() error %v", err)
			}
			if got.ResponseTool != "" {
				t.Errorf("ResponseTool = %q, want none to OpenAI", got.ResponseTool)
			}
			golden(t, strings.TrimSuffix(name, ".json")+".to_openai.json", pretty(t, got.Body))
			out, err := openai.ParseRequest(got.Body)
			if err != nil {
				t.Fatalf("openai.ParseRequest(translation) error %v", err)
			}
			if out.Stream != in.Stream || out.MaxTokens != in.MaxTokens {
				t.Errorf("translation stream=%v max=%d, want %v and %d", out.Stream, out.MaxTokens, in.Stream, in.MaxTokens)
			}
			if in.Stream && !openai.IncludeUsage(got.Body) {
				t.Errorf("a streamed translation does not ask for include_usage: it could not be metered")
			}
			var p openaisdk.ChatCompletionNewParams
			if err := json.Unmarshal(got.Body, &p); err != nil {
				t.Fatalf("OpenAI SDK cannot read the translation: %v", err)
			}
			var orig struct {
				Tools []json.RawMessage `json:"tools"`
			}
			json.Unmarshal(body, &orig)
			if len(p.Tools) != len(orig.Tools) {
				t.Errorf("translation has %d tools, want %d", len(p.Tools), len(orig.Tools))
			}
		})
	}
}

// TestFixedPoint checks that what one translation writes, the next round trip keeps: for
// an OpenAI body X, ToAnthropic(ToOpenAI(ToAnthropic(X))) equals ToAnthropic(X), and the
// other way. Nothing that crossed once is lost by crossing again.
func TestFixedPoint(t *testing.T) {
	t.Parallel()
	for _, name := range append(fixtures(t, "openai"), fixtures(t, "anthropic")...) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fixedPoint(t, fixture(t, name), strings.HasPrefix(name, "openai"))
		})
	}
}

func fixedPoint(t *testing.T, body []byte, fromOpenAI bool) {
	t.Helper()
	there, back := translate.ToAnthropic, translate.ToOpenAI
	if !fromOpenAI {
		there, back = back, there
	}
	// A cap that clamps no thinking budget: the budget below the cap is the one mapping
	// that a cap changes.
	target := translate.Target{Model: "m", MaxTokens: 20000}
	first, err := there(body, target)
	if err != nil {
		t.Fatalf("first translation: %v", err)
	}
	returned, err := back(first.Body, target)
	if err != nil {
		t.Fatalf("translation back of %s: %v", first.Body, err)
	}
	again, err := there(returned.Body, target)
	if err != nil {
		t.Fatalf("second translation of %s: %v", returned.Body, err)
	}
	if !bytes.Equal(first.Body, again.Body) {
		t.Errorf("a round trip changed the translation:\nfirst: %s\nvia:   %s\nagain: %s", first.Body, returned.Body, again.Body)
	}
}

// TestUntranslatable checks that every field with no equivalent is refused by name, as an
// *llm.UntranslatableError, and that a caller's own mistake is a bad request instead.
func TestUntranslatable(t *testing.T) {
	t.Parallel()
	const oaMsgs = `"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]`
	const anMsgs = `"model":"claude-haiku-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]`
	oaTool := `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`
	tests := []struct {
		name       string
		toOpenAI   bool
		body       string
		field      string // "" for a bad request
		untranslat bool
	}{
		{"n", false, `{` + oaMsgs + `,"n":3}`, "n", true},
		{"logprobs", false, `{` + oaMsgs + `,"logprobs":true}`, "logprobs", true},
		{"top_logprobs", false, `{` + oaMsgs + `,"top_logprobs":2}`, "top_logprobs", true},
		{"seed", false, `{` + oaMsgs + `,"seed":42}`, "seed", true},
		{"frequency penalty", false, `{` + oaMsgs + `,"frequency_penalty":0.5}`, "frequency_penalty", true},
		{"presence penalty", false, `{` + oaMsgs + `,"presence_penalty":-1}`, "presence_penalty", true},
		{"logit bias", false, `{` + oaMsgs + `,"logit_bias":{"50256":-100}}`, "logit_bias", true},
		{"audio output", false, `{` + oaMsgs + `,"modalities":["text","audio"],"audio":{"voice":"alloy","format":"wav"}}`, "modalities", true},
		{"verbosity", false, `{` + oaMsgs + `,"verbosity":"low"}`, "verbosity", true},
		{"web search", false, `{` + oaMsgs + `,"web_search_options":{}}`, "web_search_options", true},
		{"unknown field", false, `{` + oaMsgs + `,"chat_template_kwargs":{"enable_thinking":false}}`, "chat_template_kwargs", true},
		{"custom tool", false, `{` + oaMsgs + `,"tools":[{"type":"custom","custom":{"name":"grammar"}}]}`, "tools[0].type", true},
		{"allowed tools", false, `{` + oaMsgs + `,` + oaTool + `,"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}}`, "tool_choice", true},
		{"audio input", false, `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAA=","format":"wav"}}]}]}`, "messages[0].content[0]", true},
		{"file id", false, `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, "messages[0].content[0].file.file_id", true},
		{"tiff image", false, `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,AAAA"}}]}]}`, "messages[0].content[0].image_url.url", true},
		{"invalid arguments", false, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]},{"role":"tool","tool_call_id":"c","content":"x"}]}`, "messages[1].tool_calls[0].function.arguments", true},
		{"prefill", false, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"Sure"}]}`, "messages[1]", true},
		{"schema not an object", false, `{` + oaMsgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"list","schema":{"type":"array"}}}}`, "response_format.json_schema.schema", true},
		{"response format with forced tool", false, `{` + oaMsgs + `,` + oaTool + `,"tool_choice":"required","response_format":{"type":"json_object"}}`, "response_format", true},
		{"response format named like a tool", false, `{` + oaMsgs + `,` + oaTool + `,"response_format":{"type":"json_schema","json_schema":{"name":"f","schema":{"type":"object"}}}}`, "response_format", true},
		{"thinking with forced tool", false, `{` + oaMsgs + `,` + oaTool + `,"tool_choice":"required","reasoning_effort":"low"}`, "tool_choice", true},
		{"thinking with temperature", false, `{` + oaMsgs + `,"reasoning_effort":"medium","temperature":0.2}`, "temperature", true},
		{"thinking without room", false, `{` + oaMsgs + `,"reasoning_effort":"low","max_completion_tokens":1000}`, "reasoning_effort", true},
		{"unknown message field", false, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi","cache_hint":true}]}`, "messages[0].cache_hint", true},

		{"top_k", true, `{` + anMsgs + `,"top_k":40}`, "top_k", true},
		{"server tool", true, `{` + anMsgs + `,"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3}]}`, "tools[0].type", true},
		{"input examples", true, `{` + anMsgs + `,"tools":[{"name":"f","input_schema":{"type":"object"},"input_examples":[{}]}]}`, "tools[0].input_examples", true},
		{"too many stops", true, `{` + anMsgs + `,"stop_sequences":["a","b","c","d","e"]}`, "stop_sequences", true},
		{"inference geo", true, `{` + anMsgs + `,"inference_geo":"eu"}`, "inference_geo", true},
		{"container", true, `{` + anMsgs + `,"container":"container_011CN"}`, "container", true},
		{"mcp servers", true, `{` + anMsgs + `,"mcp_servers":[{"type":"url","url":"https://mcp.example.com/sse","name":"x"}]}`, "mcp_servers", true},
		{"image in tool result", true, `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"image","source":{"type":"url","url":"https://x.example/a.png"}}]}]}]}`, "messages[2].content[0].content[0]", true},
		{"file image", true, `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_011"}}]}]}`, "messages[0].content[0].source.type", true},
		{"cited document", true, `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"},"citations":{"enabled":true}}]}]}`, "messages[0].content[0].citations", true},
		{"search result", true, `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":[{"type":"search_result","source":"https://x.example","title":"t","content":[{"type":"text","text":"x"}]}]}]}`, "messages[0].content[0].type", true},
		{"prefill to openai", true, `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"{"}]}`, "messages[1]", true},
		{"unknown field to openai", true, `{` + anMsgs + `,"betas":["x"]}`, "betas", true},

		{"bad temperature type", false, `{` + oaMsgs + `,"temperature":"hot"}`, "temperature", false},
		{"bad reasoning effort", false, `{` + oaMsgs + `,"reasoning_effort":"huge"}`, "reasoning_effort", false},
		{"tool message without id", false, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"},{"role":"tool","content":"x"}]}`, "messages[1].tool_call_id", false},
		{"no max_tokens", true, `{"model":"c","messages":[{"role":"user","content":"hi"}]}`, "max_tokens", false},
		{"bad tool choice", true, `{` + anMsgs + `,"tool_choice":{"type":"sometimes"}}`, "tool_choice.type", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			translateFn := translate.ToAnthropic
			if tt.toOpenAI {
				translateFn = translate.ToOpenAI
			}
			_, err := translateFn([]byte(tt.body), translate.Target{Model: "m"})
			if err == nil {
				t.Fatalf("translation of %s succeeded, want an error on %s", tt.body, tt.field)
			}
			var ue *llm.UntranslatableError
			if tt.untranslat {
				if !errors.As(err, &ue) || !errors.Is(err, llm.ErrUntranslatable) {
					t.Fatalf("error %v (%T), want an *llm.UntranslatableError", err, err)
				}
				if ue.Field != tt.field {
					t.Errorf("error names %q, want %q (%v)", ue.Field, tt.field, err)
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

// TestResponseTool checks the tool-forcing pattern that carries response_format to
// Anthropic: forced when the caller has no tools, "any" beside its own tools.
func TestResponseTool(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, tool, choice string
	}{
		{"json schema", string(fixture(t, "openai_json_schema.json")), "calendar_event", `{"type":"tool","name":"calendar_event"}`},
		{"json object", `{"model":"g","messages":[{"role":"user","content":"JSON please"}],"response_format":{"type":"json_object"}}`, "json_response", `{"type":"tool","name":"json_response"}`},
		{"beside tools", `{"model":"g","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"parallel_tool_calls":false,"response_format":{"type":"json_object"}}`,
			"json_response", `{"type":"any","disable_parallel_tool_use":true}`},
		{"text", `{"model":"g","messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"}}`, "", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := translate.ToAnthropic([]byte(tt.body), translate.Target{})
			if err != nil {
				t.Fatal(err)
			}
			var b struct {
				ToolChoice json.RawMessage `json:"tool_choice"`
			}
			json.Unmarshal(got.Body, &b)
			if got.ResponseTool != tt.tool || string(b.ToolChoice) != tt.choice {
				t.Errorf("ResponseTool = %q, tool_choice = %s; want %q, %s", got.ResponseTool, b.ToolChoice, tt.tool, tt.choice)
			}
		})
	}
}

// TestTarget checks what the call decides over the caller's body.
func TestTarget(t *testing.T) {
	t.Parallel()
	oa := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":50,"stream":true}`)
	tests := []struct {
		name   string
		target translate.Target
		want   string
	}{
		{"caller's cap and model", translate.Target{}, `"model":"gpt-4o","max_tokens":50`},
		{"target's", translate.Target{Model: "claude-haiku-4-5", MaxTokens: 20, Stream: true}, `"model":"claude-haiku-4-5","max_tokens":20`},
	}
	for _, tt := range tests {
		got, err := translate.ToAnthropic(oa, tt.target)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(got.Body, []byte(tt.want)) || bytes.Contains(got.Body, []byte(`"stream"`)) != tt.target.Stream {
			t.Errorf("%s: ToAnthropic() = %s, want %s and stream %v", tt.name, got.Body, tt.want, tt.target.Stream)
		}
	}
	none, err := translate.ToAnthropic([]byte(`{"model":"g","messages":[{"role":"user","content":"hi"}]}`), translate.Target{})
	if err != nil || !bytes.Contains(none.Body, []byte(`"max_tokens":4096`)) {
		t.Errorf("no cap anywhere: %s, %v; want max_tokens %d", none.Body, err, translate.DefaultMaxTokens)
	}
}

func FuzzToAnthropic(f *testing.F) {
	for _, name := range fixtures(f, "openai") {
		f.Add(fixture(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := translate.ToAnthropic(body, translate.Target{Model: "claude-haiku-4-5", MaxTokens: 2000})
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

func FuzzToOpenAI(f *testing.F) {
	for _, name := range fixtures(f, "anthropic") {
		f.Add(fixture(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := translate.ToOpenAI(body, translate.Target{Model: "gpt-4o", MaxTokens: 2000})
		if err != nil {
			var ue *llm.UntranslatableError
			if !errors.As(err, &ue) && !errors.Is(err, openai.ErrBadRequest) {
				t.Fatalf("error %v (%T) is neither untranslatable nor a bad request", err, err)
			}
			return
		}
		if _, err := openai.ParseRequest(got.Body); err != nil {
			t.Fatalf("translation %s does not parse: %v", got.Body, err)
		}
	})
}
