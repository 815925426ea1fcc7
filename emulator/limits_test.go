package emulator

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestBucketSteps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &limitState{req: newBucket(60, t0), tok: newBucket(600, t0)} // 1 request/s, 10 tokens/s
	steps := []struct {
		at        time.Duration
		tokens    float64
		refused   limitKind
		wait      time.Duration
		remaining int64 // tokens remaining after the step
	}{
		{0, 500, limitNone, 0, 100},
		{0, 200, limitTokens, 10 * time.Second, 100}, // needs 100 more at 10/s
		{5 * time.Second, 150, limitNone, 0, 0},      // 100+50 refilled
		{5 * time.Second, 1, limitTokens, 100 * time.Millisecond, 0},
		{65 * time.Second, 0, limitNone, 0, 600},     // capped at the limit, not 600+600
		{65 * time.Second, 700, limitTokens, 0, 600}, // larger than the limit: never fits
	}
	for i, st := range steps {
		d := s.admit(t0.Add(st.at), cost{tokens: st.tokens})
		if d.refused != st.refused || d.retryAfter != st.wait || d.tok.remaining != st.remaining {
			t.Errorf("step %d: admit(+%v, %v) = refused %v wait %v remaining %d, want %v %v %d",
				i, st.at, st.tokens, d.refused, d.retryAfter, d.tok.remaining, st.refused, st.wait, st.remaining)
		}
	}
}

func TestOpenAILimits(t *testing.T) {
	t.Run("rpm per key and model", func(t *testing.T) {
		clk := newClock()
		e := mustNew(t, Config{Now: clk.Now, Limits: Limits{RPM: 3}})
		for i := range 3 {
			if r := serve(e, oai(oaiBody)); r.status != 200 {
				t.Fatalf("request %d: status %d, want 200: %s", i, r.status, r.body)
			}
		}
		r := serve(e, oai(oaiBody))
		if r.status != 429 || !strings.Contains(r.body, `"type":"requests"`) || !strings.Contains(r.body, "on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.") {
			t.Errorf("4th request: %d %s, want 429 on RPM", r.status, r.body)
		}
		if r := serve(e, oai(oaiBody).withKey("sk-other")); r.status != 200 {
			t.Errorf("other key: status %d, want 200 (limits are per key)", r.status)
		}
		if r := serve(e, oai(strings.Replace(oaiBody, "gpt-4o", "gpt-4o-mini", 1))); r.status != 200 {
			t.Errorf("other model: status %d, want 200 (limits are per model)", r.status)
		}
		clk.Advance(20 * time.Second)
		if r := serve(e, oai(oaiBody)); r.status != 200 {
			t.Errorf("after 20s: status %d, want 200 (one request refilled)", r.status)
		}
		if r := serve(e, oai(oaiBody)); r.status != 429 {
			t.Errorf("after 20s, second: status %d, want 429", r.status)
		}
	})
	t.Run("tpm counts prompt plus max_tokens and refills", func(t *testing.T) {
		clk := newClock()
		e := mustNew(t, Config{Now: clk.Now, Limits: Limits{TPM: 100}})
		// "hello there" is 2 tokens + 3 per message + 3 priming = 8, plus max_tokens 50.
		if r := serve(e, oai(oaiBody)); r.status != 200 || r.header.Get("X-Ratelimit-Remaining-Tokens") != "42" {
			t.Fatalf("first: %d remaining %q, want 200 and 42", r.status, r.header.Get("X-Ratelimit-Remaining-Tokens"))
		}
		r := serve(e, oai(oaiBody))
		want := "Rate limit reached for gpt-4o in organization org-emulator on tokens per min (TPM): Limit 100, Used 58, Requested 58. Please try again in 9.6s."
		if r.status != 429 || !strings.Contains(r.body, want) {
			t.Errorf("second: %d %s, want 429 containing %q", r.status, r.body, want)
		}
		if got := r.header.Get("Retry-After-Ms"); got != "9600" {
			t.Errorf("Retry-After-Ms = %q, want 9600", got)
		}
		clk.Advance(9600 * time.Millisecond)
		if r := serve(e, oai(oaiBody)); r.status != 200 {
			t.Errorf("after 9.6s: %d, want 200", r.status)
		}
	})
	t.Run("without max_tokens the output is charged after", func(t *testing.T) {
		clk := newClock()
		e := mustNew(t, Config{Now: clk.Now, Limits: Limits{TPM: 1000}, Output: Output{MinTokens: 30, MaxTokens: 30}})
		body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hello there"}]}`
		if r := serve(e, oai(body)); r.header.Get("X-Ratelimit-Remaining-Tokens") != "992" {
			t.Fatalf("first remaining = %q, want 992", r.header.Get("X-Ratelimit-Remaining-Tokens"))
		}
		if r := serve(e, oai(body)); r.header.Get("X-Ratelimit-Remaining-Tokens") != "954" { // 992-30-8
			t.Errorf("second remaining = %q, want 954", r.header.Get("X-Ratelimit-Remaining-Tokens"))
		}
	})
	t.Run("request larger than the limit", func(t *testing.T) {
		e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{TPM: 50}})
		r := serve(e, oai(oaiBody))
		want := "Request too large for gpt-4o in organization org-emulator on tokens per min (TPM): Limit 50, Requested 58."
		if r.status != 429 || !strings.Contains(r.body, want) || r.header.Get("Retry-After") != "" {
			t.Errorf("got %d retry-after %q %s, want 429 %q without retry-after", r.status, r.header.Get("Retry-After"), r.body, want)
		}
		if got := e.Stats().Total.Refused[RefusedTooLarge]; got != 1 {
			t.Errorf("Refused[too_large] = %d, want 1", got)
		}
	})
	t.Run("per-model limits override", func(t *testing.T) {
		e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{RPM: 100},
			Models: map[string]Model{"gpt-4o": {ContextWindow: 128000, MaxOutput: 16384, Limits: &Limits{RPM: 1}}}})
		serve(e, oai(oaiBody))
		if r := serve(e, oai(oaiBody)); r.status != 429 || r.header.Get("X-Ratelimit-Limit-Requests") != "1" {
			t.Errorf("gpt-4o: %d limit %q, want 429 and 1", r.status, r.header.Get("X-Ratelimit-Limit-Requests"))
		}
		if r := serve(e, oai(strings.Replace(oaiBody, "gpt-4o", "gpt-4o-mini", 1))); r.header.Get("X-Ratelimit-Limit-Requests") != "100" {
			t.Errorf("gpt-4o-mini limit = %q, want 100", r.header.Get("X-Ratelimit-Limit-Requests"))
		}
	})
}

func TestAnthropicLimits(t *testing.T) {
	t.Run("itpm", func(t *testing.T) {
		e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{ITPM: 10}})
		if r := serve(e, ant(antBody)); r.status != 200 {
			t.Fatalf("first: %d %s", r.status, r.body)
		}
		r := serve(e, ant(antBody))
		if r.status != 429 || !strings.Contains(r.body, "of 10 input tokens per minute") {
			t.Errorf("second: %d %s, want 429 on input tokens", r.status, r.body)
		}
		if got := e.Stats().Models["claude-sonnet-4-5"].Refused[RefusedITPM]; got != 1 {
			t.Errorf("Refused[itpm] = %d, want 1", got)
		}
	})
	t.Run("otpm reserves max_tokens and refunds the rest", func(t *testing.T) {
		e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{OTPM: 10000}, Output: Output{MinTokens: 100, MaxTokens: 100}})
		body := `{"model":"claude-sonnet-4-5","max_tokens":2000,"messages":[{"role":"user","content":"hello there"}]}`
		if r := serve(e, ant(body)); r.header.Get("Anthropic-Ratelimit-Output-Tokens-Remaining") != "8000" {
			t.Fatalf("first remaining = %q, want 8000", r.header.Get("Anthropic-Ratelimit-Output-Tokens-Remaining"))
		}
		// 1900 of the 2000 reserved came back: 9900 - 2000 rounds to 8000, not 6000.
		if r := serve(e, ant(body)); r.header.Get("Anthropic-Ratelimit-Output-Tokens-Remaining") != "8000" {
			t.Errorf("second remaining = %q, want 8000", r.header.Get("Anthropic-Ratelimit-Output-Tokens-Remaining"))
		}
		if got := e.Stats().Models["claude-sonnet-4-5"].Capacity.OutputTokens.Used; got != 200 {
			t.Errorf("OTPM used = %v, want 200 (the tokens generated)", got)
		}
	})
	t.Run("rpm", func(t *testing.T) {
		e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{RPM: 1}})
		serve(e, ant(antBody))
		r := serve(e, ant(antBody))
		if r.status != 429 || r.header.Get("Retry-After") != "60" || !strings.Contains(r.body, "of 1 requests per minute") {
			t.Errorf("second: %d retry-after %q %s", r.status, r.header.Get("Retry-After"), r.body)
		}
	})
}

func TestHiddenLimits(t *testing.T) {
	for _, anth := range []bool{false, true} {
		e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{RPM: 1, TPM: 1000, ITPM: 1000, OTPM: 1000, Hidden: true}})
		c := oai(oaiBody)
		if anth {
			c = ant(antBody)
		}
		ok, refused := serve(e, c), serve(e, c)
		if ok.status != 200 || refused.status != 429 {
			t.Fatalf("anthropic=%v: statuses %d, %d, want 200, 429", anth, ok.status, refused.status)
		}
		for _, r := range []tresponse{ok, refused} {
			for k := range r.header {
				if lk := strings.ToLower(k); strings.Contains(lk, "ratelimit") {
					t.Errorf("anthropic=%v status %d: header %s present, want hidden", anth, r.status, k)
				}
			}
		}
		if refused.header.Get("Retry-After") == "" {
			t.Errorf("anthropic=%v: hidden 429 without retry-after", anth)
		}
	}
}

// TestSetLimits moves a hidden RPM limit while a client calls once a second: 120, then
// 60, then 200 per minute. Each step says what the bucket holds, so the sequence of 200s
// and 429s, and the capacity the stats report, follow from the limits alone.
func TestSetLimits(t *testing.T) {
	for _, anth := range []bool{false, true} {
		t.Run(map[bool]string{false: "openai", true: "anthropic"}[anth], func(t *testing.T) {
			clk := newClock()
			e := mustNew(t, Config{Now: clk.Now, Limits: Limits{RPM: 120, Hidden: true}})
			model, c := "gpt-4o", oai(oaiBody)
			if anth {
				model, c = "claude-sonnet-4-5", ant(antBody)
			}
			burst := func(n int) (ok, refused int) {
				for range n {
					if serve(e, c).status == 200 {
						ok++
					} else {
						refused++
					}
				}
				return ok, refused
			}
			steps := []struct {
				name     string
				set      int // new RPM before the burst; 0 keeps it
				advance  time.Duration
				burst    int
				ok       int
				offered  float64 // Capacity.Requests.Offered after the step
				used     float64
				refusals int64 // RateLimited after the step
			}{
				{"full bucket of 120", 0, 0, 130, 120, 120, 120, 10},
				{"refills 60 in 30s", 0, 30 * time.Second, 70, 60, 180, 180, 20},
				{"lowered to 60: 30s refill 30", 60, 30 * time.Second, 40, 30, 210, 210, 30},
				{"60 a minute", 0, time.Minute, 70, 60, 270, 270, 40},
				{"raised to 200: nothing held yet", 200, 0, 5, 0, 270, 270, 45},
				{"a minute later, 200", 0, time.Minute, 250, 200, 470, 470, 95},
				{"idle half a minute: offered, not used", 0, 30 * time.Second, 0, 0, 570, 470, 95},
			}
			for _, st := range steps {
				if st.set != 0 {
					if err := e.SetLimits(model, Limits{RPM: st.set, Hidden: true}); err != nil {
						t.Fatal(err)
					}
				}
				clk.Advance(st.advance)
				ok, refused := burst(st.burst)
				stats := e.Stats().Models[model]
				got := stats.Capacity.Requests
				if ok != st.ok || refused != st.burst-st.ok || got.Offered != st.offered || got.Used != st.used || stats.RateLimited != st.refusals {
					t.Errorf("%s: %d served, %d refused, offered %v used %v, rate limited %d; want %d, %d, %v, %v, %d",
						st.name, ok, refused, got.Offered, got.Used, stats.RateLimited, st.ok, st.burst-st.ok, st.offered, st.used, st.refusals)
				}
			}
			if l, _ := e.Limits(model); l.RPM != 200 {
				t.Errorf("Limits(%s).RPM = %d, want 200", model, l.RPM)
			}
		})
	}
}

func TestSetLimitsErrors(t *testing.T) {
	e := mustNew(t, Config{})
	if err := e.SetLimits("no-such-model", Limits{RPM: 1}); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("SetLimits(unknown) = %v, want ErrUnknownModel", err)
	}
	if err := e.SetLimits("gpt-4o", Limits{RPM: -1}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("SetLimits(negative) = %v, want a negative-limit error", err)
	}
	// A dated snapshot id sets its family's limits.
	if err := e.SetLimits("gpt-4o-2024-08-06", Limits{RPM: 1}); err != nil {
		t.Fatal(err)
	}
	serve(e, oai(oaiBody))
	if r := serve(e, oai(oaiBody)); r.status != 429 {
		t.Errorf("after SetLimits on a snapshot id: status %d, want 429", r.status)
	}
}

// TestLimitsEndpoint drives PUT and GET /emulator/limits/{model}.
func TestLimitsEndpoint(t *testing.T) {
	e := mustNew(t, Config{Now: newClock().Now})
	do := func(method, path, body string) (int, string) {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
		return w.Code, w.Body.String()
	}
	cases := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"GET", "/emulator/limits/gpt-4o", "", 200, `"rpm":0`},
		{"PUT", "/emulator/limits/gpt-4o", `{"rpm":1,"tpm":5000,"hide_on_429":true}`, 200, `"rpm":1,"tpm":5000,`},
		{"GET", "/emulator/limits/gpt-4o", "", 200, `"hide_on_429":true`},
		{"PUT", "/emulator/limits/gpt-4o", `{"rpm":1,"rpn":2}`, 400, `unknown field "rpn"`},
		{"PUT", "/emulator/limits/gpt-4o", `{"rpm":-5}`, 400, "negative"},
		{"PUT", "/emulator/limits/gpt-9", `{"rpm":5}`, 404, "unknown model"},
		{"GET", "/emulator/limits/gpt-9", "", 404, "unknown model"},
		{"PUT", "/emulator/limits/Qwen/Qwen3-8B", `{"rpm":5}`, 404, "unknown model"}, // ids may hold a slash
	}
	for _, tc := range cases {
		status, body := do(tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("%s %s %s = %d %s, want %d containing %q", tc.method, tc.path, tc.body, status, body, tc.status, tc.contains)
		}
	}
	serve(e, oai(oaiBody))
	if r := serve(e, oai(oaiBody)); r.status != 429 || r.header.Get("X-Ratelimit-Limit-Requests") != "" || r.header.Get("Retry-After") == "" {
		t.Errorf("after PUT: %d, limit header %q, retry-after %q; want 429 without rate-limit headers, with retry-after",
			r.status, r.header.Get("X-Ratelimit-Limit-Requests"), r.header.Get("Retry-After"))
	}
}

// TestHideHeaders checks each way of hiding the rate-limit headers, on a success and on a
// 429, for both providers: the limits are enforced all the same.
func TestHideHeaders(t *testing.T) {
	cases := []struct {
		name                        string
		lim                         Limits
		okHeaders, limited, retries bool
	}{
		{"shown", Limits{}, true, true, true},
		{"hidden", Limits{Hidden: true}, false, false, true},
		{"hide on success", Limits{HideOnSuccess: true}, false, true, true},
		{"hide on 429", Limits{HideOn429: true}, true, false, true},
		{"hide retry-after", Limits{HideRetryAfter: true}, true, true, false},
		{"hide all", Limits{Hidden: true, HideRetryAfter: true}, false, false, false},
	}
	for _, tc := range cases {
		for _, anth := range []bool{false, true} {
			lim := tc.lim
			lim.RPM, lim.TPM, lim.ITPM, lim.OTPM = 1, 100000, 100000, 100000
			e := mustNew(t, Config{Now: newClock().Now, Limits: lim})
			c, prefix := oai(oaiBody), "X-Ratelimit-"
			if anth {
				c, prefix = ant(antBody), "Anthropic-Ratelimit-"
			}
			ok, refused := serve(e, c), serve(e, c)
			if ok.status != 200 || refused.status != 429 {
				t.Fatalf("%s anthropic=%v: statuses %d, %d, want 200, 429", tc.name, anth, ok.status, refused.status)
			}
			has := func(r tresponse) bool {
				for k := range r.header {
					if strings.HasPrefix(k, prefix) {
						return true
					}
				}
				return false
			}
			retry := refused.header.Get("Retry-After") != ""
			if !anth && retry != (refused.header.Get("Retry-After-Ms") != "") {
				t.Errorf("%s: retry-after and retry-after-ms disagree", tc.name)
			}
			if has(ok) != tc.okHeaders || has(refused) != tc.limited || retry != tc.retries {
				t.Errorf("%s anthropic=%v: headers on 200 %v, on 429 %v, retry-after %v; want %v, %v, %v",
					tc.name, anth, has(ok), has(refused), retry, tc.okHeaders, tc.limited, tc.retries)
			}
		}
	}
}

// TestITPMCacheReads checks that Anthropic's cache reads do not count against ITPM.
func TestITPMCacheReads(t *testing.T) {
	e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{ITPM: 100000}})
	long := strings.Repeat("quota ledger ", 700) // 1400 tokens
	body := `{"model":"claude-sonnet-4-5","max_tokens":50,"system":[{"type":"text","text":"` + long + `","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}`
	serve(e, ant(body)) // writes the cache
	serve(e, ant(body)) // reads it
	bills := e.Bills()
	if len(bills) != 2 || bills[1].Usage.CachedInputTokens == 0 {
		t.Fatalf("bills %+v, want the second to read the cache", bills)
	}
	in := bills[0].Usage.InputTokens + bills[1].Usage.InputTokens - bills[1].Usage.CachedInputTokens
	if got := e.Stats().Models["claude-sonnet-4-5"].Capacity.InputTokens.Used; got != float64(in) {
		t.Errorf("ITPM used %v, want %d: the input of both requests but the cache read", got, in)
	}
}
