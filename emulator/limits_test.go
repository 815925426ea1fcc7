package emulator

import (
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
		e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{OTPM: 100}, Output: Output{MinTokens: 10, MaxTokens: 10}})
		if r := serve(e, ant(antBody)); r.header.Get("Anthropic-Ratelimit-Output-Tokens-Remaining") != "50" {
			t.Fatalf("first remaining = %q, want 50", r.header.Get("Anthropic-Ratelimit-Output-Tokens-Remaining"))
		}
		// 40 of the 50 reserved came back.
		if r := serve(e, ant(antBody)); r.header.Get("Anthropic-Ratelimit-Output-Tokens-Remaining") != "40" {
			t.Errorf("second remaining = %q, want 40", r.header.Get("Anthropic-Ratelimit-Output-Tokens-Remaining"))
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
