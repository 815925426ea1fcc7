package emulator

import (
	"strings"
	"testing"
)

func countCall(body string) tcall {
	c := ant(body)
	c.path = "/v1/messages/count_tokens"
	return c
}

// TestCountTokens checks that count_tokens answers the input that /v1/messages bills for
// the same request, whatever it holds.
func TestCountTokens(t *testing.T) {
	long := strings.Repeat("ledger ", 1100)
	bodies := []struct {
		name string
		body string // without max_tokens
	}{
		{"plain", `"messages":[{"role":"user","content":"hello there"}]`},
		{"system blocks", `"system":[{"type":"text","text":"be brief"},{"type":"text","text":"and kind"}],"messages":[{"role":"user","content":"hi"}]`},
		{"tools auto", `"tools":[` + antWeatherTool + `],"messages":[{"role":"user","content":"weather?"}]`},
		{"tools any", `"tools":[` + antWeatherTool + `],"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"weather?"}]`},
		{"image", `"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + pngHeader(800, 600) + `"}},{"type":"text","text":"what is it"}]}]`},
		{"tool round trip", `"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"thinking","thinking":"let me see","signature":"x"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"location":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"}]}]`},
		{"cached prefix counts whole", `"system":[{"type":"text","text":"` + long + `","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]`},
	}
	e := mustNew(t, Config{Now: newClock().Now})
	for _, tc := range bodies {
		t.Run(tc.name, func(t *testing.T) {
			r := serve(e, countCall(`{"model":"claude-sonnet-4-5",`+tc.body+`}`))
			if r.status != 200 {
				t.Fatalf("count_tokens: %d %s", r.status, r.body)
			}
			got := num(decode(t, r.body)["input_tokens"])
			m := serve(e, ant(`{"model":"claude-sonnet-4-5","max_tokens":20,`+tc.body+`}`))
			if m.status != 200 {
				t.Fatalf("messages: %d %s", m.status, m.body)
			}
			if u := reportedUsage(t, true, false, m.body); int64(got) != u.InputTokens {
				t.Errorf("count_tokens = %d, /v1/messages bills %d input tokens", got, u.InputTokens)
			}
		})
	}
	st := e.Stats()
	if c := st.Models["claude-sonnet-4-5"]; c.CountTokens != int64(len(bodies)) || c.Requests != int64(len(bodies)) || c.Billed != int64(len(bodies)) {
		t.Errorf("stats: count_tokens %d, requests %d, billed %d; want %d each (count_tokens neither a request nor billed)",
			c.CountTokens, c.Requests, c.Billed, len(bodies))
	}
}

func TestCountTokensErrors(t *testing.T) {
	cases := []struct {
		name   string
		call   tcall
		status int
		want   map[string]any
	}{
		{"no key", countCall(`{"model":"claude-sonnet-4-5","messages":[]}`).withKey("-"), 401, antErr("authentication_error", "x-api-key header is required")},
		{"no model", countCall(`{"messages":[]}`), 400, antErr("invalid_request_error", "model: Field required")},
		{"no messages", countCall(`{"model":"claude-sonnet-4-5"}`), 400, antErr("invalid_request_error", "messages: Field required")},
		{"unknown model", countCall(`{"model":"claude-9","messages":[]}`), 404, antErr("not_found_error", "model: claude-9")},
		{"openai model", countCall(`{"model":"gpt-4o","messages":[]}`), 404, antErr("not_found_error", "model: gpt-4o")},
		{"thinking without max_tokens", countCall(`{"model":"claude-sonnet-4-5","thinking":{"type":"enabled","budget_tokens":2048},"messages":[{"role":"user","content":"x"}]}`), 200, map[string]any{"input_tokens": 7.0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustNew(t, Config{})
			r := serve(e, tc.call)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := pick(decode(t, r.body), tc.want); !cmpEqual(got, tc.want) {
				t.Errorf("body %s, want %v", r.body, tc.want)
			}
			if st := e.Stats().Total; st.Requests != 0 || len(st.Refused) != 0 {
				t.Errorf("stats %+v: count_tokens errors are not generation refusals", st)
			}
		})
	}
}

// TestCountTokensLimit checks that count_tokens has its own request limit, apart from the
// messages' RPM.
func TestCountTokensLimit(t *testing.T) {
	e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{RPM: 1, CountTokensRPM: 2}})
	body := `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`
	serve(e, ant(antBody))
	if r := serve(e, ant(antBody)); r.status != 429 {
		t.Fatalf("second message: %d, want 429", r.status)
	}
	for i, want := range []int{200, 200, 429} {
		r := serve(e, countCall(body))
		if r.status != want {
			t.Fatalf("count %d: %d %s, want %d", i, r.status, r.body, want)
		}
		if got := r.header.Get("Anthropic-Ratelimit-Requests-Limit"); got != "2" {
			t.Errorf("count %d: requests limit header %q, want 2 (the count_tokens limit)", i, got)
		}
		if want == 429 && (r.header.Get("Retry-After") != "30" || !strings.Contains(r.body, "rate_limit_error")) {
			t.Errorf("count 429: retry-after %q body %s", r.header.Get("Retry-After"), r.body)
		}
	}
	c := e.Stats().Models["claude-sonnet-4-5"]
	if c.Refused[RefusedCountTokens] != 1 || c.RateLimited != 1 || c.Capacity.CountTokens.Used != 2 || c.Capacity.Requests.Used != 1 {
		t.Errorf("stats: refused %v, rate limited %d, capacity %+v", c.Refused, c.RateLimited, c.Capacity)
	}
}
