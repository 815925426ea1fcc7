package emulator

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// The parsers must never panic, and whatever they accept must be usable: a model, a
// non-negative prompt count and a positive cap when one is set.
func FuzzParseOpenAI(f *testing.F) {
	for _, s := range []string{oaiBody, `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"x","messages":[{"content":null}],"max_completion_tokens":0}`, `{`, `[]`, `{"messages":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseOpenAI(body)
		if err != nil {
			return
		}
		if r.model == "" || r.prompt < tokensPerPrompt || (r.hasMax && r.maxTokens < 1) || (r.includeUsage && !r.stream) || r.n < 1 || r.n > maxChoices {
			t.Errorf("parseOpenAI(%q) = %+v", body, r)
		}
	})
}

func FuzzParseAnthropic(f *testing.F) {
	for _, s := range []string{antBody, `{"model":"claude-sonnet-4-5","max_tokens":1,"system":[{"type":"text","text":"be brief"}],"messages":[]}`,
		`{"model":"m","max_tokens":-1,"messages":[]}`, `{"model":"m","max_tokens":1}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseAnthropic(body)
		if err != nil {
			return
		}
		if r.model == "" || r.prompt < tokensPerPrompt || !r.hasMax || r.maxTokens < 1 {
			t.Errorf("parseAnthropic(%q) = %+v", body, r)
		}
	})
}

// FuzzParseResponses checks the Responses API's parser: whatever it accepts has a model,
// a prompt that counts its items, a cap of at least 16 when one is set.
func FuzzParseResponses(f *testing.F) {
	for _, s := range []string{`{"model":"gpt-4o","input":"hi"}`,
		`{"model":"o3","instructions":[{"role":"developer","content":"be brief"}],"input":[{"role":"user","content":[{"type":"input_text","text":"x"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"ok"}]},{"type":"reasoning","summary":[]}],"max_output_tokens":16,"reasoning":{"effort":"xhigh"},"tools":[` + respTool + `,{"type":"web_search"}],"tool_choice":{"type":"function","name":"get_weather"},"text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object"}}},"store":false,"previous_response_id":"resp_1","include":["reasoning.encrypted_content"],"metadata":{"k":"v"}}`,
		`{"model":"m","previous_response_id":"resp_1"}`, `{"model":"m","input":[{"content":"x"}]}`, `{"model":"m","input":7}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, x, err := parseResponses(body)
		if err != nil {
			return
		}
		items := 0
		for _, it := range x.items {
			items += it.tokens
		}
		if r.model == "" || r.prompt < tokensPerPrompt+items || (r.hasMax && r.maxTokens < 16) || r.n != 1 ||
			len(x.items) == 0 && x.prevID == "" {
			t.Errorf("parseResponses(%q) = %+v, %+v", body, r, x)
		}
		for _, s := range []string{x.echoInstructions, x.echoTools, x.echoChoice, x.echoFormat, x.echoMetadata} {
			if s != "" && (!json.Valid([]byte(s)) || strings.ContainsAny(s, "\n\r")) {
				t.Errorf("echoed %q: not one line of JSON", s)
			}
		}
	})
}

// FuzzParseEmbedding checks the embeddings parser: whatever it accepts has a model and
// between 1 and 2048 non-empty inputs whose tokens add up.
func FuzzParseEmbedding(f *testing.F) {
	for _, s := range []string{`{"model":"text-embedding-3-small","input":"hi"}`, `{"model":"m","input":["a","b"],"dimensions":8,"encoding_format":"base64"}`,
		`{"model":"m","input":[1,2,3]}`, `{"model":"m","input":[[1],[2,3]]}`, `{"model":"m","input":["a",[1]]}`, `{"model":"m","input":""}`, `{"model":"m","dimensions":0,"input":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseEmbedding(body)
		if err != nil {
			return
		}
		sum := 0
		for _, in := range r.inputs {
			if in.n < 1 {
				t.Errorf("parseEmbedding(%q): an empty input", body)
			}
			sum += in.n
		}
		if r.model == "" || len(r.inputs) < 1 || len(r.inputs) > maxEmbeddingInputs || sum != r.tokens || r.dims < 0 {
			t.Errorf("parseEmbedding(%q) = %+v", body, r)
		}
	})
}

// FuzzHandler drives whole requests through the handler, on every endpoint: any body gets
// a well-formed answer or error, never a panic.
func FuzzHandler(f *testing.F) {
	f.Add(false, []byte(oaiBody))
	f.Add(true, []byte(antBody))
	f.Add(false, []byte(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}],"max_tokens":1}`))
	f.Add(false, []byte(`{"model":"o3","n":3,"stream":true,"tools":[`+weatherTool+`],"tool_choice":"required","messages":[{"role":"user","content":"x"}],"max_completion_tokens":9}`))
	f.Add(false, []byte(`{"model":"gpt-4o","messages":[{"role":"assistant","content":null,"tool_calls":[{"function":{"name":"f","arguments":"{}"}}]},{"role":"tool","content":"ok"}]}`))
	f.Add(true, []byte(`{"model":"claude-sonnet-4-5","max_tokens":3000,"stream":true,"thinking":{"type":"enabled","budget_tokens":1024},"tools":[`+antWeatherTool+`],"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]}`))
	f.Add(true, []byte(`{"model":"claude-sonnet-4-5","max_tokens":5,"cache_control":{"type":"ephemeral"},"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[]}`))
	f.Add(false, []byte(`{"path":"/v1/responses","model":"o3","stream":true,"input":[{"role":"user","content":"x"}],"tools":[`+respTool+`],"max_output_tokens":20}`))
	f.Add(false, []byte(`{"path":"/v1/responses","model":"gpt-4o","input":"x","text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}}}`))
	f.Add(false, []byte(`{"path":"/v1/embeddings","model":"text-embedding-3-small","input":["x","y"],"dimensions":4,"encoding_format":"base64"}`))
	f.Add(true, []byte(`{"path":"/v1/messages/count_tokens","model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}],"tools":[`+antWeatherTool+`]}`))
	e := mustNew(f, Config{Limits: Limits{RPM: 1000000, TPM: 100000000, ITPM: 1000000, OTPM: 1000000, CountTokensRPM: 1000000}})
	f.Fuzz(func(t *testing.T, anthropic bool, body []byte) {
		c := tcall{anthropic: anthropic, body: string(body)}
		// A body may name its endpoint, so that one corpus covers them all.
		var route struct {
			Path string `json:"path"`
		}
		if json.Unmarshal(body, &route) == nil {
			switch route.Path {
			case "/v1/responses", "/v1/embeddings", "/v1/messages/count_tokens":
				c.path = route.Path
			}
		}
		if r := serve(e, c); r.status == 0 || r.body == "" {
			t.Errorf("empty response to %q", body)
		}
	})
}

// The arguments generated from a client's JSON schema are always a JSON object whose
// streamed fragments add up to its tokens, whatever the schema.
func FuzzToolArgs(f *testing.F) {
	for _, s := range []string{`{"type":"object","properties":{"a":{"type":"string"},"b":{"enum":[1,"x",null]}},"required":["a"]}`,
		`{"type":["null","array"],"items":{"anyOf":[{"type":"integer","minimum":5,"maximum":3},{"const":{"k":[1,2]}}]},"minItems":2,"maxItems":1}`,
		`{"properties":{"d":{"type":"string","format":"date-time"},"n":{"type":"object","properties":{"x":{"$ref":"#/x"}}}}}`,
		`[]`, `true`, `{"type":"number","minimum":1e300}`} {
		f.Add([]byte(s))
	}
	e := mustNew(f, Config{})
	f.Fuzz(func(t *testing.T, schema []byte) {
		c := e.begin(httptest.NewRequest("POST", "/", nil), "req_", 4)
		c.req.tools = []tool{{name: "f", schema: schema}}
		k := c.makeCall("call_", 24, "f", schema)
		var v map[string]any
		if err := json.Unmarshal([]byte(k.args), &v); err != nil {
			t.Fatalf("arguments %q for schema %q: %v", k.args, schema, err)
		}
		sum := CountTokens("f")
		for _, frag := range fragments(k.args, 3) {
			sum += CountTokens(frag)
		}
		if sum != k.tokens {
			t.Errorf("fragments of %q count %d tokens, the call %d", k.args, sum, k.tokens)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("seed: 3\nlimits: {rpm: 10, tpm: 1000}\nfaults: {server_error: 0.1, hang_max: 2s}\n"))
	f.Add([]byte(`{"models":{"m":{"provider":"openai","limits":{"rpm":1}}},"latency":{"first_token":"100ms"}}`))
	f.Add([]byte("faults: {server_error: 2}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Errorf("ParseConfig accepted a config that Validate refuses: %v", err)
		}
		if _, err := New(c); err != nil {
			t.Errorf("New(ParseConfig(%q)): %v", data, err)
		}
	})
}
