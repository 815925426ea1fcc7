package emulator

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// words returns n distinct-enough tokens: "w0 w1 ...", one token each.
func words(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s%d", prefix, i)
	}
	return b.String()
}

func TestOpenAIPromptCache(t *testing.T) {
	long := words("a", 1500)
	body := func(model, system, user, extra string) string {
		return `{"model":"` + model + `","messages":[{"role":"system","content":"` + system + `"},{"role":"user","content":"` + user + `"}]` + extra + `}`
	}
	// The system message is 3 + 1500 tokens, the user one 3 + its words, priming 3: two
	// requests with the same system message share at least its 1503 tokens and the user
	// message's framing, 1506 tokens: 11 blocks of 128, 1408 tokens, are read.
	type step struct {
		after       time.Duration // since the previous step
		call        tcall
		prompt      int
		cached      int
		description string
	}
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"repeat reads the 128-token blocks", Config{}, []step{
			{0, oai(body("gpt-4o", long, "hi", "")), 1510, 0, "first: a write"},
			{time.Minute, oai(body("gpt-4o", long, "hi", "")), 1510, 1408, "same prompt"},
			{time.Minute, oai(body("gpt-4o", long, "what else", "")), 1511, 1408, "same system prompt"},
			{time.Minute, oai(body("gpt-4o", long, "hi", "")).withKey("sk-other"), 1510, 0, "another key (organization)"},
			{0, oai(body("gpt-4o-mini", long, "hi", "")), 1510, 0, "another model"},
			{0, oai(body("gpt-4o", long, "hi", `,"prompt_cache_key":"tenant-7"`)), 1510, 0, "another prompt_cache_key"},
			{0, oai(body("gpt-4o", long, "hi", `,"prompt_cache_key":"tenant-7"`)), 1510, 1408, "the same prompt_cache_key"},
			{0, oai(body("gpt-4o", long, "hi", `,"n":3`)), 1510, 1408, "n choices read once"},
		}},
		{"a shorter shared prefix", Config{}, []step{
			{0, oai(body("gpt-4o", long, "hi", "")), 1510, 0, "write"},
			{0, oai(body("gpt-4o", words("a", 1100)+" different", "hi", "")), 1111, 1024, "1100 tokens shared: 1024 read"},
			{0, oai(body("gpt-4o", words("a", 1000)+" different", "hi", "")), 1011, 0, "under 1024 tokens: never cached"},
			{0, oai(body("gpt-4o", "changed "+long, "hi", "")), 1511, 0, "the first token differs"},
		}},
		{"entries expire after their last use", Config{}, []step{
			{0, oai(body("gpt-4o", long, "hi", "")), 1510, 0, "write"},
			{4 * time.Minute, oai(body("gpt-4o", long, "hi", "")), 1510, 1408, "read at 4m, renewed"},
			{4 * time.Minute, oai(body("gpt-4o", long, "hi", "")), 1510, 1408, "read at 8m: alive thanks to the read"},
			{5*time.Minute + time.Second, oai(body("gpt-4o", long, "hi", "")), 1510, 0, "5m after the last use: gone"},
		}},
		{"a configured TTL", Config{PromptCache: PromptCache{OpenAITTL: time.Hour}}, []step{
			{0, oai(body("gpt-4o", long, "hi", "")), 1510, 0, "write"},
			{59 * time.Minute, oai(body("gpt-4o", long, "hi", "")), 1510, 1408, "read"},
		}},
		{"disabled", Config{PromptCache: PromptCache{Disabled: true}}, []step{
			{0, oai(body("gpt-4o", long, "hi", "")), 1510, 0, "write"},
			{0, oai(body("gpt-4o", long, "hi", "")), 1510, 0, "no read"},
		}},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tc.name, stream), func(t *testing.T) {
				clk := newClock()
				cfg := tc.cfg
				cfg.Now, cfg.Output = clk.Now, Output{MinTokens: 5, MaxTokens: 5}
				e := mustNew(t, cfg)
				for i, st := range tc.steps {
					clk.Advance(st.after)
					c := st.call
					if stream {
						c.body = strings.TrimSuffix(c.body, "}") + `,"stream":true,"stream_options":{"include_usage":true}}`
					}
					r := serve(e, c)
					var usage any
					if stream {
						evs := sseEvents(r.body)
						usage = decode(t, evs[len(evs)-2].data)["usage"]
					} else {
						usage = decode(t, r.body)["usage"]
					}
					prompt, cached := num(dig(usage, "prompt_tokens")), num(dig(usage, "prompt_tokens_details", "cached_tokens"))
					if prompt != st.prompt || cached != st.cached {
						t.Errorf("step %d (%s): prompt %d cached %d, want %d and %d", i, st.description, prompt, cached, st.prompt, st.cached)
					}
					bills := e.Bills()
					if b := bills[len(bills)-1].Usage; b.InputTokens != int64(prompt) || b.CachedInputTokens != int64(cached) {
						t.Errorf("step %d: bill %+v, want input %d cached %d", i, b, prompt, cached)
					}
				}
			})
		}
	}
}

// anthropicStep is one request with cache_control and what it must report.
type anthropicStep struct {
	after            time.Duration
	body             string
	key              string
	input, read, w5m int
	w1h              int
	desc             string
	status           int // 0: 200
	error            string
	noCache          bool // only check that nothing is read or written
}

func TestAnthropicPromptCache(t *testing.T) {
	doc := words("d", 2000)  // 2000 tokens
	extra := words("e", 300) // 300 tokens
	eph := `"cache_control":{"type":"ephemeral"}`
	eph1h := `"cache_control":{"type":"ephemeral","ttl":"1h"}`
	sys := func(cc string) string {
		if cc != "" {
			cc = "," + cc
		}
		return `"system":[{"type":"text","text":"Be brief."},{"type":"text","text":"` + doc + `"` + cc + `}]`
	}
	msg := func(user string) string { return `"messages":[{"role":"user","content":"` + user + `"}]` }
	req := func(model string, parts ...string) string {
		return `{"model":"` + model + `","max_tokens":50,` + strings.Join(parts, ",") + `}`
	}
	// The system blocks are 3 + 2000 tokens; the user message 3 + its words; priming 3.
	const sysTokens = 2003
	cases := []struct {
		name  string
		steps []anthropicStep
	}{
		{"write then read", []anthropicStep{
			{body: req("claude-sonnet-4-5", sys(eph), msg("hi")), input: 7, w5m: sysTokens, desc: "write"},
			{after: time.Minute, body: req("claude-sonnet-4-5", sys(eph), msg("hi")), input: 7, read: sysTokens, desc: "read"},
			{body: req("claude-sonnet-4-5", sys(eph), msg("something else")), input: 8, read: sysTokens, desc: "other question, same prefix"},
			{body: req("claude-sonnet-4-5", sys(eph), msg("hi")), key: "sk-other", input: 7, w5m: sysTokens, desc: "another key"},
			{body: req("claude-opus-4-1", sys(eph), msg("hi")), input: 7, w5m: sysTokens, desc: "another model"},
		}},
		{"TTL 5m refreshed by reads", []anthropicStep{
			{body: req("claude-sonnet-4-5", sys(eph), msg("hi")), input: 7, w5m: sysTokens, desc: "write"},
			{after: 4 * time.Minute, body: req("claude-sonnet-4-5", sys(eph), msg("hi")), input: 7, read: sysTokens, desc: "read at 4m"},
			{after: 4 * time.Minute, body: req("claude-sonnet-4-5", sys(eph), msg("hi")), input: 7, read: sysTokens, desc: "read at 8m"},
			{after: 5*time.Minute + time.Second, body: req("claude-sonnet-4-5", sys(eph), msg("hi")), input: 7, w5m: sysTokens, desc: "expired: written again"},
		}},
		{"TTL 1h", []anthropicStep{
			{body: req("claude-sonnet-4-5", sys(eph1h), msg("hi")), input: 7, w1h: sysTokens, desc: "write 1h"},
			{after: 50 * time.Minute, body: req("claude-sonnet-4-5", sys(eph1h), msg("hi")), input: 7, read: sysTokens, desc: "read at 50m"},
		}},
		{"two breakpoints, two TTLs", []anthropicStep{
			{body: req("claude-sonnet-4-5", sys(eph1h), `"messages":[{"role":"user","content":[{"type":"text","text":"`+extra+`",`+eph+`},{"type":"text","text":"hi"}]}]`),
				input: 4, w1h: sysTokens, w5m: 303, desc: "writes each segment with its TTL"},
			{body: req("claude-sonnet-4-5", sys(eph1h), `"messages":[{"role":"user","content":[{"type":"text","text":"`+extra+`",`+eph+`},{"type":"text","text":"hi"}]}]`),
				input: 4, read: sysTokens + 303, desc: "reads both"},
		}},
		{"lookback reads an earlier breakpoint", []anthropicStep{
			{body: req("claude-sonnet-4-5", sys(eph), msg("hi")), input: 7, w5m: sysTokens, desc: "write the system prompt"},
			{body: req("claude-sonnet-4-5", sys(""), `"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":[{"type":"text","text":"`+extra+`",`+eph+`}]}]`),
				input: 3, read: sysTokens, w5m: 4 + 4 + 303, desc: "a later breakpoint finds the system prompt's entry within 20 blocks"},
		}},
		{"under the model's minimum", []anthropicStep{
			{body: req("claude-haiku-4-5", sys(eph), msg("hi")), input: sysTokens + 7, desc: "Haiku 4.5 caches 4096 tokens or more"},
			{body: req("claude-haiku-4-5", sys(eph), msg("hi")), input: sysTokens + 7, desc: "so never"},
			{body: req("claude-3-5-haiku", sys(eph), msg("hi")), input: sysTokens + 7, desc: "Haiku 3.5 caches 2048 tokens or more"},
			{body: req("claude-3-5-haiku", `"system":[{"type":"text","text":"`+words("h", 2100)+`",`+eph+`}]`, msg("hi")), input: 7, w5m: 2100, desc: "2100 tokens are enough"},
		}},
		{"tools and automatic caching", []anthropicStep{
			{body: req("claude-sonnet-4-5", `"tools":[`+strings.TrimSuffix(antTimeTool, "}")+`,`+eph+`}]`, `"system":"`+doc+`"`, msg("hi")),
				desc: "a tool breakpoint under the minimum caches nothing", noCache: true},
			{body: req("claude-sonnet-4-5", `"cache_control":{"type":"ephemeral"}`, `"system":"`+doc+`"`, msg("hi")),
				input: 3, w5m: 2000 + 4, desc: "automatic caching: the breakpoint is on the last block"},
			{body: req("claude-sonnet-4-5", `"cache_control":{"type":"ephemeral"}`, `"system":"`+doc+`"`, msg("hi")),
				input: 3, read: 2000 + 4, desc: "read"},
		}},
		{"invalid breakpoints", []anthropicStep{
			{body: req("claude-sonnet-4-5", sys(eph), `"messages":[{"role":"user","content":[{"type":"text","text":"hi",`+eph1h+`}]}]`), status: 400,
				error: "messages.0.content.0.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`."},
			{body: req("claude-sonnet-4-5", sys(eph), `"messages":[{"role":"user","content":[{"type":"text","text":"a",`+eph+`},{"type":"text","text":"b",`+eph+`},{"type":"text","text":"c",`+eph+`},{"type":"text","text":"d",`+eph+`}]}]`), status: 400,
				error: "A maximum of 4 blocks with cache_control may be provided. Found 5."},
			{body: req("claude-sonnet-4-5", sys(`"cache_control":{"type":"ephemeral","ttl":"2h"}`), msg("hi")), status: 400,
				error: "system.1.cache_control.ttl: Input should be '5m' or '1h'"},
		}},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tc.name, stream), func(t *testing.T) {
				clk := newClock()
				e := mustNew(t, Config{Now: clk.Now, Output: Output{MinTokens: 5, MaxTokens: 5}})
				for i, st := range tc.steps {
					clk.Advance(st.after)
					c := ant(st.body)
					if st.key != "" {
						c = c.withKey(st.key)
					}
					if stream {
						c.body = strings.TrimSuffix(c.body, "}") + `,"stream":true}`
					}
					r := serve(e, c)
					if st.status != 0 {
						if r.status != st.status || dig(decode(t, r.body), "error", "message") != st.error {
							t.Errorf("step %d: %d %s, want %d %q", i, r.status, r.body, st.status, st.error)
						}
						continue
					}
					if r.status != 200 {
						t.Fatalf("step %d: status %d: %s", i, r.status, r.body)
					}
					var usage, final any
					if stream {
						for _, ev := range sseEvents(r.body) {
							switch ev.event {
							case "message_start":
								usage = dig(decode(t, ev.data), "message", "usage")
							case "message_delta":
								final = dig(decode(t, ev.data), "usage")
							}
						}
					} else {
						usage = decode(t, r.body)["usage"]
						final = usage
					}
					in, read, write := num(dig(usage, "input_tokens")), num(dig(usage, "cache_read_input_tokens")), num(dig(usage, "cache_creation_input_tokens"))
					w5, w1 := num(dig(usage, "cache_creation", "ephemeral_5m_input_tokens")), num(dig(usage, "cache_creation", "ephemeral_1h_input_tokens"))
					if st.noCache {
						if read != 0 || write != 0 {
							t.Errorf("step %d (%s): read %d write %d, want none", i, st.desc, read, write)
						}
						continue
					}
					if in != st.input || read != st.read || write != st.w5m+st.w1h || w5 != st.w5m || w1 != st.w1h {
						t.Errorf("step %d (%s): input %d read %d write %d (5m %d, 1h %d); want %d, %d, %d (%d, %d)",
							i, st.desc, in, read, write, w5, w1, st.input, st.read, st.w5m+st.w1h, st.w5m, st.w1h)
					}
					if num(dig(final, "input_tokens")) != in || num(dig(final, "cache_read_input_tokens")) != read || num(dig(final, "cache_creation_input_tokens")) != write {
						t.Errorf("step %d: final usage %v differs from the start's %v", i, final, usage)
					}
					bills := e.Bills()
					bill := bills[len(bills)-1]
					b := bill.Usage
					if b.InputTokens != int64(in+read+write) || b.CachedInputTokens != int64(read) || b.CacheWriteTokens != int64(write) || b.CacheWrite1hTokens != int64(w1) ||
						bill.UncachedInputTokens() != int64(in) || bill.CacheWrite5mTokens() != int64(w5) {
						t.Errorf("step %d: bill %+v, want input %d (uncached %d, cached %d, written %d, 5m %d, 1h %d)", i, b, in+read+write, in, read, write, w5, w1)
					}
				}
			})
		}
	}
}

// TestCacheBound checks that the caches keep at most MaxEntries entries.
func TestCacheBound(t *testing.T) {
	clk := newClock()
	e := mustNew(t, Config{Now: clk.Now, PromptCache: PromptCache{MaxEntries: 20}, Output: Output{MinTokens: 1, MaxTokens: 1}})
	for i := range 10 {
		serve(e, oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"`+words(fmt.Sprint("p", i), 1400)+`"}]}`))
		clk.Advance(time.Second)
		if n := len(e.cache.entries); n > 20 {
			t.Fatalf("after %d prompts: %d entries, over MaxEntries 20", i+1, n)
		}
	}
	// The most recent prompt survives eviction.
	r := serve(e, oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"`+words("p9", 1400)+`"}]}`))
	if got := num(dig(decode(t, r.body), "usage", "prompt_tokens_details", "cached_tokens")); got != 1280 {
		t.Errorf("cached_tokens = %d after eviction, want 1280 (the latest prompt kept)", got)
	}
}
