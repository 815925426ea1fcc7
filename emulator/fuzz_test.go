package emulator

import "testing"

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
		if r.model == "" || r.prompt < tokensPerPrompt || (r.hasMax && r.maxTokens < 1) || (r.includeUsage && !r.stream) {
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

// FuzzHandler drives whole requests through the handler: any body gets a well-formed
// answer or error, never a panic.
func FuzzHandler(f *testing.F) {
	f.Add(false, []byte(oaiBody))
	f.Add(true, []byte(antBody))
	f.Add(false, []byte(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}],"max_tokens":1}`))
	e := mustNew(f, Config{Limits: Limits{RPM: 1000000, TPM: 100000000, ITPM: 1000000, OTPM: 1000000}})
	f.Fuzz(func(t *testing.T, anthropic bool, body []byte) {
		c := tcall{anthropic: anthropic, body: string(body)}
		if r := serve(e, c); r.status == 0 || r.body == "" {
			t.Errorf("empty response to %q", body)
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
