package emulator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dialectCase is one error body of testdata/dialects: the request that provokes it and
// the public source of its shape.
type dialectCase struct {
	Dialect string `json:"dialect"`
	Model   string `json:"model"`
	Case    string `json:"case"`
	Status  int    `json:"status"`
	File    string `json:"file"`
	Source  string `json:"source"`

	limits *Limits
	before int // requests made first, to use up a limit
	call   tcall
}

// promptOf returns a messages value whose prompt is n tokens (one message: 3 for its
// framing and 3 for the reply's priming).
func promptOf(n int) string {
	return `"messages":[{"role":"user","content":"` + words("t", n-6) + `"}]`
}

const (
	srcVLLM       = "vllm-project/vllm: VLLMValidationError in vllm/entrypoints/openai (0.11+); body seen in vllm-project/vllm#33418"
	srcVLLMLegacy = "vllm-project/vllm v0.10: OpenAIServing._validate_input and ErrorResponse in vllm/entrypoints/openai/protocol.py"
	srcSGLang     = "sgl-project/sglang: TokenizerManager._validate_one_request; ErrorResponse {object: error} in the OpenAI server"
	srcOllama     = "ollama/ollama: llm/llama_server.go (context), server/sched.go ErrMaxQueue (busy), openai/openai.go NewError and middleware/openai.go writeError"
	srcLlamaCpp   = "ggml-org/llama.cpp: tools/server ERROR_TYPE_EXCEED_CONTEXT_SIZE and ERROR_TYPE_UNAVAILABLE (format_error_response)"
	srcLMStudio   = "LM Studio OpenAI-compatible server: the context-overflow refusal its users report (lmstudio-ai)"
	srcAzure      = "Azure OpenAI: 429 bodies from users' reports (e.g. microsoft/sample-app-aoai-chatGPT#406); context errors as OpenAI's"
	srcGroq       = "Groq: 429 and 413 rate_limit_exceeded bodies from users' reports (e.g. elizaOS/eliza#4040); console.groq.com/docs/rate-limits"
	srcDeepSeek   = "DeepSeek API: context error bodies from users' reports (e.g. FoundationAgents/OpenManus#79)"
	srcOpenAI     = "OpenAI: platform.openai.com/docs/guides/error-codes; the emulator's own OpenAI bodies"
	srcAnthropic  = "Anthropic: docs.claude.com/en/api/errors; the emulator's own Anthropic bodies"
)

var dialectCases = func() []dialectCase {
	long := func(model string) tcall {
		return oai(`{"model":"` + model + `","max_tokens":1000,` + promptOf(7800) + `}`)
	}
	tooLong := func(model string) tcall { return oai(`{"model":"` + model + `",` + promptOf(8300) + `}`) }
	small := func(model string) tcall { return oai(`{"model":"` + model + `","max_tokens":50,` + promptOf(8) + `}`) }
	overloaded := func(model string) tcall { return small(model).with("X-Emulator-Fault", "overloaded") }
	var out []dialectCase
	add := func(d, model, src string, cases ...dialectCase) {
		for _, c := range cases {
			c.Dialect, c.Model, c.Source = d, model, src
			c.File = strings.ReplaceAll(d, "-", "_") + "_" + c.Case + ".json"
			out = append(out, c)
		}
	}
	add("openai", "gpt-4o", srcOpenAI,
		dialectCase{Case: "context_length", Status: 400, call: long("gpt-4o")},
		dialectCase{Case: "prompt_too_long", Status: 400, call: tooLong("gpt-4o")},
		dialectCase{Case: "rate_limit_tokens", Status: 429, limits: &Limits{TPM: 100}, before: 1, call: small("gpt-4o")},
		dialectCase{Case: "overloaded", Status: 503, call: overloaded("gpt-4o")})
	add("azure", "gpt-4o", srcAzure,
		dialectCase{Case: "context_length", Status: 400, call: long("gpt-4o")},
		dialectCase{Case: "rate_limit_tokens", Status: 429, limits: &Limits{TPM: 100}, before: 1, call: small("gpt-4o")},
		dialectCase{Case: "rate_limit_requests", Status: 429, limits: &Limits{RPM: 1}, before: 1, call: small("gpt-4o")},
		dialectCase{Case: "overloaded", Status: 429, call: overloaded("gpt-4o")})
	add("vllm", "Qwen/Qwen3-8B", srcVLLM,
		dialectCase{Case: "context_length", Status: 400, call: long("Qwen/Qwen3-8B")},
		dialectCase{Case: "prompt_too_long", Status: 400, call: tooLong("Qwen/Qwen3-8B")})
	add("vllm-legacy", "Qwen/Qwen2.5-7B-Instruct", srcVLLMLegacy,
		dialectCase{Case: "context_length", Status: 400, call: long("Qwen/Qwen2.5-7B-Instruct")},
		dialectCase{Case: "prompt_too_long", Status: 400, call: tooLong("Qwen/Qwen2.5-7B-Instruct")})
	add("sglang", "meta-llama/Llama-3.1-8B-Instruct", srcSGLang,
		dialectCase{Case: "context_length", Status: 400, call: long("meta-llama/Llama-3.1-8B-Instruct")},
		dialectCase{Case: "prompt_too_long", Status: 400, call: tooLong("meta-llama/Llama-3.1-8B-Instruct")})
	add("ollama", "llama3.2", srcOllama,
		dialectCase{Case: "prompt_too_long", Status: 400, call: tooLong("llama3.2")},
		dialectCase{Case: "overloaded", Status: 503, call: overloaded("llama3.2")})
	add("llamacpp", "gemma-3-4b-it", srcLlamaCpp,
		dialectCase{Case: "prompt_too_long", Status: 400, call: tooLong("gemma-3-4b-it")},
		dialectCase{Case: "overloaded", Status: 503, call: overloaded("gemma-3-4b-it")})
	add("lmstudio", "qwen2.5-7b-instruct", srcLMStudio,
		dialectCase{Case: "prompt_too_long", Status: 400, call: tooLong("qwen2.5-7b-instruct")})
	add("groq", "llama-3.3-70b-versatile", srcGroq,
		dialectCase{Case: "context_length", Status: 400, call: long("llama-3.3-70b-versatile")},
		dialectCase{Case: "rate_limit_tokens", Status: 429, limits: &Limits{TPM: 100}, before: 1, call: small("llama-3.3-70b-versatile")},
		dialectCase{Case: "rate_limit_requests", Status: 429, limits: &Limits{RPM: 1}, before: 1, call: small("llama-3.3-70b-versatile")},
		dialectCase{Case: "request_too_large", Status: 413, limits: &Limits{TPM: 50}, call: small("llama-3.3-70b-versatile")})
	add("deepseek", "deepseek-chat", srcDeepSeek,
		dialectCase{Case: "context_length", Status: 400, call: long("deepseek-chat")},
		dialectCase{Case: "prompt_too_long", Status: 400, call: tooLong("deepseek-chat")})
	antLong := func(extra string) tcall {
		return ant(`{"model":"claude-sonnet-4-5",` + extra + `,` + promptOf(8300) + `}`)
	}
	add("anthropic", "claude-sonnet-4-5", srcAnthropic,
		dialectCase{Case: "prompt_too_long", Status: 400, call: antLong(`"max_tokens":10`)},
		dialectCase{Case: "context_length", Status: 400, call: ant(`{"model":"claude-sonnet-4-5","max_tokens":1000,` + promptOf(7800) + `}`)},
		dialectCase{Case: "rate_limit_tokens", Status: 429, limits: &Limits{ITPM: 10}, before: 1, call: ant(`{"model":"claude-sonnet-4-5","max_tokens":50,` + promptOf(8) + `}`)},
		dialectCase{Case: "overloaded", Status: 529, call: ant(`{"model":"claude-sonnet-4-5","max_tokens":50,`+promptOf(8)+`}`).with("X-Emulator-Fault", "overloaded")})
	return out
}()

// TestDialects pins the error bodies of each dialect in testdata/dialects, one file per
// body, listed with its status and source in index.json (which the provider packages'
// classification tests read). Run with -update to rewrite them.
func TestDialects(t *testing.T) {
	dir := filepath.Join("testdata", "dialects")
	for _, tc := range dialectCases {
		t.Run(tc.File, func(t *testing.T) {
			m := Model{Provider: "openai", Dialect: tc.Dialect, ContextWindow: 8192, MaxOutput: 4096, Limits: tc.limits}
			if tc.Dialect == "anthropic" {
				m = Model{Provider: "anthropic", ContextWindow: 8192, MaxOutput: 4096, Limits: tc.limits}
			}
			e := mustNew(t, Config{Now: newClock().Now, Organization: "org-7Xq2emulator", Models: map[string]Model{tc.Model: m}})
			for range tc.before {
				if r := serve(e, tc.call); r.status != 200 {
					t.Fatalf("setup: %d %s", r.status, r.body)
				}
			}
			r := serve(e, tc.call)
			if r.status != tc.Status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.Status, r.body)
			}
			body := r.body
			if tc.Dialect == "anthropic" {
				// The request id differs per request; pin the shape with a fixed one.
				var m map[string]any
				_ = json.Unmarshal([]byte(body), &m)
				body = strings.Replace(body, m["request_id"].(string), "req_011CEmulatorFixedRequestId", 1)
			}
			if !json.Valid([]byte(body)) {
				t.Errorf("body is not JSON: %s", body)
			}
			path := filepath.Join(dir, tc.File)
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if body != string(want) {
				t.Errorf("%s differs (run with -update after checking):\ngot:  %s\nwant: %s", path, body, want)
			}
		})
	}
	index, err := json.MarshalIndent(dialectCases, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "index.json")
	if *update {
		if err := os.WriteFile(path, append(index, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(path); err != nil || string(want) != string(index)+"\n" {
		t.Errorf("%s is stale or missing (%v): run with -update", path, err)
	}
}

// TestDialectWindow checks the servers that size the answer to the window instead of
// refusing prompt plus max_tokens: the answer stops at the window with finish "length".
func TestDialectWindow(t *testing.T) {
	for _, d := range []string{"llamacpp", "ollama", "lmstudio"} {
		e := mustNew(t, Config{Output: Output{MinTokens: 100, MaxTokens: 100},
			Models: map[string]Model{"local": {Provider: "openai", Dialect: d, ContextWindow: 1000}}})
		r := serve(e, oai(`{"model":"local","max_tokens":500,`+promptOf(960)+`}`))
		m := decode(t, r.body)
		if r.status != 200 || num(dig(m, "usage", "completion_tokens")) != 40 || dig(m, "choices", 0, "finish_reason") != "length" {
			t.Errorf("%s: %d %s, want 200 with 40 tokens (the rest of the window), finish length", d, r.status, r.body)
		}
		if r := serve(e, oai(`{"model":"local",`+promptOf(1000)+`}`)); r.status != 400 {
			t.Errorf("%s: a prompt filling the window: %d, want 400", d, r.status)
		}
	}
	// The others refuse prompt plus max_tokens over the window.
	e := mustNew(t, Config{Models: map[string]Model{"local": {Provider: "openai", Dialect: "vllm", ContextWindow: 1000}}})
	if r := serve(e, oai(`{"model":"local","max_tokens":500,`+promptOf(960)+`}`)); r.status != 400 {
		t.Errorf("vllm: %d, want 400", r.status)
	}
	if _, err := ParseConfig([]byte(`models: {x: {dialect: tgi}}`)); err == nil || !strings.Contains(err.Error(), `Dialect "tgi"`) {
		t.Errorf("unknown dialect: %v", err)
	}
	if _, err := ParseConfig([]byte(`models: {claude-x: {dialect: vllm}}`)); err == nil {
		t.Error("a dialect on an Anthropic model was accepted")
	}
}
