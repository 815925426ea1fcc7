package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate/tollgate/llm"
)

// reportedUsage reads the usage an answer reports, in the bill's units.
func reportedUsage(t *testing.T, anthropic, stream bool, body string) llm.Usage {
	t.Helper()
	var u llm.Usage
	if anthropic {
		var usage any
		if stream {
			for _, ev := range sseEvents(body) {
				if ev.event == "message_delta" {
					usage = decode(t, ev.data)["usage"]
				}
			}
		} else {
			usage = decode(t, body)["usage"]
		}
		in, read, write := num(dig(usage, "input_tokens")), num(dig(usage, "cache_read_input_tokens")), num(dig(usage, "cache_creation_input_tokens"))
		u.InputTokens, u.CachedInputTokens, u.CacheWriteTokens = int64(in+read+write), int64(read), int64(write)
		u.OutputTokens, u.ReasoningTokens = int64(num(dig(usage, "output_tokens"))), int64(num(dig(usage, "output_tokens_details", "thinking_tokens")))
		if !stream {
			u.CacheWrite1hTokens = int64(num(dig(usage, "cache_creation", "ephemeral_1h_input_tokens")))
		}
		return u
	}
	var usage any
	if stream {
		for _, m := range oaiChunks(t, body) {
			if x := m["usage"]; x != nil {
				usage = x
			}
		}
	} else {
		usage = decode(t, body)["usage"]
	}
	u.InputTokens, u.CachedInputTokens = int64(num(dig(usage, "prompt_tokens"))), int64(num(dig(usage, "prompt_tokens_details", "cached_tokens")))
	u.OutputTokens, u.ReasoningTokens = int64(num(dig(usage, "completion_tokens"))), int64(num(dig(usage, "completion_tokens_details", "reasoning_tokens")))
	return u
}

// TestBillsMatchUsage checks that the bill of every completed request is the usage its
// answer reports, whatever its shape.
func TestBillsMatchUsage(t *testing.T) {
	long := words("w", 1300)
	calls := []tcall{
		oai(oaiBody),
		oai(`{"model":"gpt-4o","n":3,"max_tokens":7,"messages":[{"role":"user","content":"x"}]}`),
		oai(`{"model":"o4-mini","reasoning_effort":"high","messages":[{"role":"user","content":"x"}]}`),
		oai(`{"model":"gpt-4o","tools":[` + weatherTool + `],"tool_choice":"required","messages":[{"role":"user","content":"x"}]}`),
		oai(`{"model":"gpt-4o","messages":[{"role":"system","content":"` + long + `"},{"role":"user","content":"x"}]}`),
		oai(`{"model":"gpt-4o","messages":[{"role":"system","content":"` + long + `"},{"role":"user","content":"y"}]}`),
		ant(antBody),
		ant(`{"model":"claude-sonnet-4-5","max_tokens":3000,"thinking":{"type":"enabled","budget_tokens":2000},"tools":[` + antWeatherTool + `],"messages":[{"role":"user","content":"x"}]}`),
		ant(`{"model":"claude-sonnet-4-5","max_tokens":100,"system":[{"type":"text","text":"` + long + `","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":"x"}]}`),
		ant(`{"model":"claude-sonnet-4-5","max_tokens":100,"system":[{"type":"text","text":"` + long + `","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":"y"}]}`),
	}
	e := mustNew(t, Config{Seed: 8, Now: newClock().Now})
	seq := uint64(0)
	for i, c := range calls {
		for _, stream := range []bool{false, true} {
			seq++
			id := fmt.Sprintf("tollgate-%d-%v", i, stream)
			cc := c.with("X-Client-Request-Id", id)
			if stream {
				cc.body = strings.TrimSuffix(cc.body, "}") + `,"stream":true`
				if !c.anthropic {
					cc.body += `,"stream_options":{"include_usage":true}`
				}
				cc.body += "}"
			}
			r := serve(e, cc)
			if r.status != 200 {
				t.Fatalf("%s: %d %s", cc.body, r.status, r.body)
			}
			bills := e.BillsFor(id)
			if len(bills) != 1 {
				t.Fatalf("%s: %d bills for %s, want 1", cc.body, len(bills), id)
			}
			b := bills[0]
			want := reportedUsage(t, c.anthropic, stream, r.body)
			if stream && c.anthropic {
				want.CacheWrite1hTokens = b.Usage.CacheWrite1hTokens // message_delta has no TTL breakdown
			}
			if b.Usage != want {
				t.Errorf("request %d stream=%v: bill %+v, answer reports %+v", i, stream, b.Usage, want)
			}
			reqID, provider, key := r.header.Get("X-Request-Id"), "openai", "sk-test"
			if c.anthropic {
				reqID, provider = r.header.Get("Request-Id"), "anthropic"
			}
			if b.Seq != seq || b.RequestID != reqID || b.Key != key || b.Provider != provider || b.Stream != stream || b.End != EndComplete || b.Fault != "" ||
				b.CostMicroUSD <= 0 || !b.Time.Equal(newClock().Now()) {
				t.Errorf("request %d stream=%v: bill %+v", i, stream, b)
			}
		}
	}
	var sum llm.Usage
	var cost int64
	for _, b := range e.Bills() {
		sum = sum.Add(b.Usage)
		cost += b.CostMicroUSD
	}
	st := e.Stats().Total
	got := llm.Usage{InputTokens: st.InputTokens, CachedInputTokens: st.CachedInputTokens, CacheWriteTokens: st.CacheWriteTokens,
		CacheWrite1hTokens: st.CacheWrite1hTokens, OutputTokens: st.OutputTokens, ReasoningTokens: st.ReasoningTokens}
	if got != sum || st.CostMicroUSD != cost || st.Billed != int64(len(calls)*2) || st.Served != st.Billed {
		t.Errorf("Stats %+v, want the sum of the bills %+v, cost %d", st, sum, cost)
	}
	if sum.CachedInputTokens == 0 || sum.CacheWrite1hTokens == 0 || sum.ReasoningTokens == 0 {
		t.Errorf("the requests should read and write caches and reason: %+v", sum)
	}
}

// TestBillCost checks the list price of cache writes and reads: Anthropic writes at 1.25x
// (5 minutes) and 2x (1 hour) the input price, reads at the cached price.
func TestBillCost(t *testing.T) {
	m := resolveModels(&Config{})["claude-sonnet-4-5"] // $3 input, $0.30 read, $15 output
	for _, tc := range []struct {
		u    llm.Usage
		want int64
	}{
		{llm.Usage{InputTokens: 1_000_000}, 3_000_000},
		{llm.Usage{InputTokens: 1_000_000, CachedInputTokens: 1_000_000}, 300_000},
		{llm.Usage{InputTokens: 1_000_000, CacheWriteTokens: 1_000_000}, 3_750_000},
		{llm.Usage{InputTokens: 1_000_000, CacheWriteTokens: 1_000_000, CacheWrite1hTokens: 1_000_000}, 6_000_000},
		// 3 uncached x 3 + 3 read x 0.3 + 3 written (5m) x 3.75 + 1 written (1h) x 6 + 7 out x 15 = 132.15, rounded up once
		{llm.Usage{InputTokens: 10, CachedInputTokens: 3, CacheWriteTokens: 4, CacheWrite1hTokens: 1, OutputTokens: 7}, 133},
		{llm.Usage{OutputTokens: 1_000_000, ReasoningTokens: 500_000}, 15_000_000},
	} {
		if got := m.cost(&tc.u); got != tc.want {
			t.Errorf("cost(%+v) = %d, want %d", tc.u, got, tc.want)
		}
	}
}

func TestBillHTTP(t *testing.T) {
	srv, err := Start(t.Context(), Config{Seed: 1, BillSize: 2}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	post := func(id string) {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL()+"/v1/chat/completions", strings.NewReader(oaiBody))
		req.Header.Set("Authorization", "Bearer sk-one")
		req.Header.Set("X-Client-Request-Id", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get := func(path string, v any) {
		resp, err := http.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		post(id)
	}
	var all billResponse
	get("/emulator/bill", &all)
	if len(all.Bills) != 2 || all.Dropped != 1 || all.Bills[0].ClientRequestID != "b" || all.Bills[1].ClientRequestID != "c" {
		t.Errorf("GET /emulator/bill = %+v, want the 2 latest (b, c) and 1 dropped", all)
	}
	if diff := cmp.Diff(srv.Bills(), all.Bills, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("HTTP bills differ from Bills() (-go +http):\n%s", diff)
	}
	var one billResponse
	get("/emulator/bill?client_request_id=c", &one)
	if len(one.Bills) != 1 || one.Bills[0].ClientRequestID != "c" || one.Bills[0].Key != "sk-one" || one.Bills[0].Usage.InputTokens != 8 {
		t.Errorf("GET /emulator/bill?client_request_id=c = %+v", one)
	}
	var st Stats
	get("/emulator/stats", &st)
	if diff := cmp.Diff(srv.Stats(), st); diff != "" || st.Total.Billed != 3 {
		t.Errorf("GET /emulator/stats differs from Stats() or misses a bill (-go +http):\n%s", diff)
	}
	if got := len(mustNew(t, Config{BillSize: -1}).Bills()); got != 0 {
		t.Errorf("BillSize -1 keeps %d bills", got)
	}
	// Very long keys take more room than a bill's share: the oldest bills go early, and the
	// kept ones stay whole.
	e := mustNew(t, Config{BillSize: 3})
	long := strings.Repeat("k", 300)
	for i := range 4 {
		serve(e, oai(oaiBody).withKey(fmt.Sprint(long, i)).with("X-Client-Request-Id", fmt.Sprint("id-", i)))
	}
	bills, dropped := e.bills.list(nil)
	if len(bills) != 1 || dropped != 3 || bills[0].Key != long+"3" || bills[0].ClientRequestID != "id-3" || bills[0].Seq != 4 {
		t.Errorf("kept %d bills (%d dropped), the last %+v; want the last one whole, 3 dropped", len(bills), dropped, bills)
	}
}

// countContent counts the content events of a recorded stream: text and thinking deltas,
// and OpenAI content chunks.
func countContent(body string) int {
	n := 0
	for _, ev := range sseEvents(body) {
		if strings.Contains(ev.data, `"text_delta"`) || strings.Contains(ev.data, `"thinking_delta"`) ||
			strings.Contains(ev.data, `"delta":{"content":`) || ev.event == "response.output_text.delta" {
			n++
		}
	}
	return n
}

// TestEarlyEnds checks how a request that ends early is billed, in virtual time: the
// first token comes at 100ms, then one every 100ms; answers are 10 tokens.
func TestEarlyEnds(t *testing.T) {
	const in = 8 // "hello there"
	cases := []struct {
		name     string
		call     tcall
		leaveAt  time.Duration // 0: the client stays
		faults   Faults
		end      End
		out      int
		reason   int
		content  int // content events the client received; -1: not checked
		fault    string
		tookAtMo time.Duration // 0: not checked
	}{
		{"openai stream, client leaves", oai(streamOAI), 450 * time.Millisecond, Faults{}, EndClientGone, 4, 0, 4, "", 0},
		{"anthropic stream, client leaves", ant(streamAnt), 450 * time.Millisecond, Faults{}, EndClientGone, 4, 0, 4, "", 0},
		{"openai stream, gone before the first token", oai(streamOAI), 50 * time.Millisecond, Faults{}, EndClientGone, 0, 0, 0, "", 0},
		{"anthropic stream, gone before the first token", ant(streamAnt), 50 * time.Millisecond, Faults{}, EndClientGone, 0, 0, 0, "", 0},
		{"openai, gone before the first token", oai(oaiBody), 50 * time.Millisecond, Faults{}, EndClientGone, 0, 0, -1, "", 0},
		{"openai, gone after the first token", oai(oaiBody), 300 * time.Millisecond, Faults{}, EndClientGone, 10, 0, -1, "", 0},
		{"anthropic, gone after the first token", ant(antBody), 300 * time.Millisecond, Faults{}, EndClientGone, 10, 0, -1, "", 0},
		{"o3 stream, gone while reasoning", oai(`{"model":"o3","stream":true,"messages":[{"role":"user","content":"hello there"}]}`), 550 * time.Millisecond, Faults{}, EndClientGone, 4, 4, 0, "", 0},
		{"o3 stream, gone while answering", oai(`{"model":"o3","stream":true,"messages":[{"role":"user","content":"hello there"}]}`), 1350 * time.Millisecond, Faults{}, EndClientGone, 13, 10, 3, "", 0},
		{"openai stream cut", oai(streamOAI), 0, Faults{Cut: 1}, EndCut, 5, 0, 5, "cut", 0},
		{"anthropic stream cut", ant(streamAnt), 0, Faults{Cut: 1}, EndCut, 5, 0, 5, "cut", 0},
		{"openai cut mid-body", oai(oaiBody), 0, Faults{Cut: 1}, EndCut, 10, 0, -1, "cut", 0},
		{"openai error event", oai(streamOAI), 0, Faults{ErrorEvent: 1}, EndErrorEvent, 5, 0, 5, "error_event", 0},
		{"anthropic error event", ant(streamAnt), 0, Faults{ErrorEvent: 1}, EndErrorEvent, 5, 0, 5, "error_event", 0},
		{"openai error event before content", oai(streamOAI), 0, Faults{StartErrorEvent: 1}, EndErrorEvent, 0, 0, 0, "start_error_event", 0},
		{"anthropic error event before content", ant(streamAnt), 0, Faults{StartErrorEvent: 1}, EndErrorEvent, 0, 0, 0, "start_error_event", 0},
		{"openai silent until HangMax", oai(streamOAI), 0, Faults{Silent: 1, HangMax: time.Minute}, EndCut, 0, 0, 0, "silent", time.Minute},
		{"anthropic silent until the client leaves", ant(streamAnt), 3 * time.Second, Faults{Silent: 1}, EndClientGone, 0, 0, 0, "silent", 3 * time.Second},
		{"openai silent, not streamed", oai(oaiBody), 3 * time.Second, Faults{Silent: 1}, EndClientGone, 0, 0, -1, "silent", 3 * time.Second},
		{"openai stall", oai(streamOAI), 0, Faults{Stall: 1, StallFor: 20 * time.Second}, EndComplete, 10, 0, 10, "stall", 21100 * time.Millisecond},
		{"anthropic stall, client leaves", ant(streamAnt), 10 * time.Second, Faults{Stall: 1, StallFor: 20 * time.Second}, EndClientGone, 5, 0, 5, "stall", 10 * time.Second},
		{"openai stall, not streamed", oai(oaiBody), 0, Faults{Stall: 1, StallFor: 20 * time.Second}, EndComplete, 10, 0, -1, "stall", 21100 * time.Millisecond},
		{"responses stream, client leaves", respCall(streamResp), 450 * time.Millisecond, Faults{}, EndClientGone, 4, 0, 4, "", 0},
		{"responses stream, gone before the first token", respCall(streamResp), 50 * time.Millisecond, Faults{}, EndClientGone, 0, 0, 0, "", 0},
		{"responses, gone after the first token", respCall(`{"model":"gpt-4o","input":"hello there"}`), 300 * time.Millisecond, Faults{}, EndClientGone, 10, 0, -1, "", 0},
		{"o3 responses stream, gone while reasoning", respCall(`{"model":"o3","stream":true,"input":"hello there"}`), 550 * time.Millisecond, Faults{}, EndClientGone, 4, 4, 0, "", 0},
		{"o3 responses stream, gone while answering", respCall(`{"model":"o3","stream":true,"input":"hello there"}`), 1350 * time.Millisecond, Faults{}, EndClientGone, 13, 10, 3, "", 0},
		{"responses stream cut", respCall(streamResp), 0, Faults{Cut: 1}, EndCut, 5, 0, 5, "cut", 0},
		{"responses error event", respCall(streamResp), 0, Faults{ErrorEvent: 1}, EndErrorEvent, 5, 0, 5, "error_event", 0},
		{"responses error event before content", respCall(streamResp), 0, Faults{StartErrorEvent: 1}, EndErrorEvent, 0, 0, 0, "start_error_event", 0},
		{"responses stall", respCall(streamResp), 0, Faults{Stall: 1, StallFor: 20 * time.Second}, EndComplete, 10, 0, 10, "stall", 21100 * time.Millisecond},
		{"responses silent, not streamed", respCall(`{"model":"gpt-4o","input":"hello there"}`), 3 * time.Second, Faults{Silent: 1}, EndClientGone, 0, 0, -1, "silent", 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := mustNew(t, Config{Seed: 3, Faults: tc.faults, Output: Output{MinTokens: 10, MaxTokens: 10},
					Latency: Latency{FirstToken: 100 * time.Millisecond, TokensPerSecond: 10}})
				ctx := t.Context()
				if tc.leaveAt > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.leaveAt)
					defer cancel()
				}
				start := time.Now()
				r := serveCtx(ctx, e, tc.call)
				if tc.tookAtMo > 0 && time.Since(start) != tc.tookAtMo {
					t.Errorf("took %v, want %v", time.Since(start), tc.tookAtMo)
				}
				bills := e.Bills()
				if len(bills) != 1 {
					t.Fatalf("%d bills, want 1; response %d %s", len(bills), r.status, r.body)
				}
				b := bills[0]
				if b.End != tc.end || b.Usage.InputTokens != in || b.Usage.OutputTokens != int64(tc.out) || b.Usage.ReasoningTokens != int64(tc.reason) || b.Fault != tc.fault {
					t.Errorf("bill: end %s, usage %+v, fault %q; want %s, input %d output %d reasoning %d, fault %q",
						b.End, b.Usage, b.Fault, tc.end, in, tc.out, tc.reason, tc.fault)
				}
				if tc.content >= 0 {
					if got := countContent(r.body); got != tc.content {
						t.Errorf("the client received %d content events, want %d:\n%s", got, tc.content, r.body)
					}
				}
				st := e.Stats().Total
				if st.Billed != 1 || (st.Served == 1) != (tc.end == EndComplete) || st.OutputTokens != int64(tc.out) {
					t.Errorf("Stats: billed %d, served %d, output %d", st.Billed, st.Served, st.OutputTokens)
				}
			})
		})
	}
}

const (
	streamOAI  = `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hello there"}]}`
	streamAnt  = `{"model":"claude-sonnet-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hello there"}]}`
	streamResp = `{"model":"gpt-4o","stream":true,"input":"hello there"}`
)

// TestStartErrorEvent pins the preamble that comes before the error event: the shapes
// real outages send right after the 200.
func TestStartErrorEvent(t *testing.T) {
	e := mustNew(t, Config{Seed: 1, Now: newClock().Now})
	r := serve(e, oai(streamOAI).with("X-Emulator-Fault", "start_error_event"))
	evs := sseEvents(r.body)
	if r.status != 200 || len(evs) != 2 || !strings.Contains(evs[0].data, `"delta":{"role":"assistant","content":""}`) ||
		evs[1].data != `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}` {
		t.Errorf("openai: %d %q", r.status, r.body)
	}
	r = serve(e, ant(streamAnt).with("X-Emulator-Fault", "start_error_event"))
	var names []string
	for _, ev := range sseEvents(r.body) {
		names = append(names, ev.event)
	}
	if want := []string{"message_start", "content_block_start", "ping", "error"}; r.status != 200 || !cmp.Equal(names, want) ||
		!strings.HasSuffix(r.body, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n") {
		t.Errorf("anthropic: %d events %v, want %v:\n%s", r.status, names, want, r.body)
	}
	st := e.Stats().Total
	if st.Refused[FaultStartErrorEvent] != 2 || st.Billed != 2 || st.Served != 0 {
		t.Errorf("Stats %+v, want 2 start error events billed, none served", st)
	}
}

// TestFaultsCarryRateHeaders checks that a 5xx carries the rate-limit headers with the
// tokens remaining, as the real APIs attach them to every answer.
func TestFaultsCarryRateHeaders(t *testing.T) {
	for _, tc := range []struct {
		call   tcall
		fault  string
		status int
		header string
	}{
		{oai(oaiBody), "server_error", 500, "X-Ratelimit-Remaining-Tokens"},
		{oai(oaiBody), "unavailable", 503, "X-Ratelimit-Remaining-Tokens"},
		{oai(oaiBody), "overloaded", 503, "X-Ratelimit-Remaining-Requests"},
		{ant(antBody), "overloaded", 529, "Anthropic-Ratelimit-Input-Tokens-Remaining"},
		{ant(antBody), "server_error", 500, "Anthropic-Ratelimit-Requests-Remaining"},
	} {
		e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{RPM: 100, TPM: 10000, ITPM: 10000, OTPM: 1000}})
		r := serve(e, tc.call.with("X-Emulator-Fault", tc.fault))
		if r.status != tc.status || r.header.Get(tc.header) == "" || r.header.Get(tc.header) == "0" {
			t.Errorf("%s: %d, %s = %q; want %d with tokens remaining", tc.fault, r.status, tc.header, r.header.Get(tc.header), tc.status)
		}
		if len(e.Bills()) != 0 {
			t.Errorf("%s: a refusal got a bill", tc.fault)
		}
	}
}
