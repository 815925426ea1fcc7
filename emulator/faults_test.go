package emulator

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestFaultRates(t *testing.T) {
	const n = 10000
	rates := Faults{ServerError: 0.05, BadGateway: 0.02, Overloaded: 0.03, Drop: 0.01, Cut: 0.02, Quota: 0.01}
	want := map[Reason]float64{FaultServerError: 0.05, FaultBadGateway: 0.02, FaultOverloaded: 0.03,
		FaultDrop: 0.01, FaultCut: 0.02, FaultQuota: 0.01}
	for _, anth := range []bool{false, true} {
		e := mustNew(t, Config{Seed: 1, Faults: rates})
		c := oai(oaiBody)
		if anth {
			c = ant(antBody)
		}
		aborted := 0
		for range n {
			if r := serve(e, c); r.aborted {
				aborted++
			}
		}
		st := e.Stats().Total
		for reason, p := range want {
			got := st.Refused[reason]
			// 4.5 standard deviations of a binomial: the seed fixes the outcome, the bound
			// says the draw is fair.
			tol := 4.5 * math.Sqrt(n*p*(1-p))
			if math.Abs(float64(got)-n*p) > tol {
				t.Errorf("anthropic=%v: %s = %d of %d, want %v ± %.0f", anth, reason, got, n, n*p, tol)
			}
		}
		if got := st.Refused[FaultDrop] + st.Refused[FaultCut]; int64(aborted) != got {
			t.Errorf("anthropic=%v: %d aborted connections, want drop+cut = %d", anth, aborted, got)
		}
		var refused int64
		for _, v := range st.Refused {
			refused += v
		}
		if st.Served+refused != n || st.Requests != n {
			t.Errorf("anthropic=%v: served %d + refused %d, requests %d, want %d", anth, st.Served, refused, st.Requests, n)
		}
	}
}

func TestSeedDeterminism(t *testing.T) {
	run := func(seed uint64) string {
		e := mustNew(t, Config{Seed: seed, Now: newClock().Now, Faults: Faults{ServerError: 0.2, Overloaded: 0.2}})
		var b strings.Builder
		for i := range 50 {
			c := oai(oaiBody)
			if i%2 == 1 {
				c = ant(antBody)
			}
			r := serve(e, c)
			b.WriteString(r.body)
		}
		return b.String()
	}
	if a, b := run(3), run(3); a != b {
		t.Error("two runs with seed 3 differ")
	}
	if a, b := run(3), run(4); a == b {
		t.Error("runs with seeds 3 and 4 are identical")
	}
}

func TestAnswerLengthAndUsage(t *testing.T) {
	e := mustNew(t, Config{Output: Output{MinTokens: 20, MaxTokens: 200}})
	for i := range 200 {
		r := serve(e, oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"max_tokens":100}`))
		m := decode(t, r.body)
		text := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
		finish := m["choices"].([]any)[0].(map[string]any)["finish_reason"].(string)
		out := int(m["usage"].(map[string]any)["completion_tokens"].(float64))
		if CountTokens(text) != out || out < 20 || out > 100 || (finish == "length") != (out == 100) {
			t.Fatalf("request %d: %d tokens, finish %q, text has %d", i, out, finish, CountTokens(text))
		}
	}
}

// TestLatency checks the latency model in a synctest bubble, where time is virtual.
func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := mustNew(t, Config{Output: Output{MinTokens: 10, MaxTokens: 10},
			Latency: Latency{FirstToken: 500 * time.Millisecond, TokensPerSecond: 20}})
		for _, c := range []tcall{oai(oaiBody), ant(antBody),
			oai(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`),
			ant(`{"model":"claude-sonnet-4-5","stream":true,"max_tokens":50,"messages":[]}`)} {
			start := time.Now()
			if r := serve(e, c); r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			if got, want := time.Since(start), 500*time.Millisecond+10*50*time.Millisecond; got != want {
				t.Errorf("%s: took %v, want %v", c.body, got, want)
			}
		}
	})
}

func TestHang(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := mustNew(t, Config{Faults: Faults{Hang: 1, HangMax: time.Minute}})
		start := time.Now()
		if r := serve(e, oai(oaiBody)); !r.aborted {
			t.Errorf("hang ended with %d, want a dropped connection", r.status)
		}
		if got := time.Since(start); got != time.Minute {
			t.Errorf("hang lasted %v, want HangMax 1m", got)
		}
		// Without HangMax, a hang lasts until the client goes away.
		e = mustNew(t, Config{Faults: Faults{Hang: 1}})
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		start = time.Now()
		func() {
			defer func() { _ = recover() }()
			e.ServeHTTP(httptest.NewRecorder(), oai(oaiBody).request().WithContext(ctx))
		}()
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("hang without max lasted %v, want until the client left (3s)", got)
		}
	})
}

// TestFaultsOverHTTP checks that dropped and cut connections look like it to a client.
func TestFaultsOverHTTP(t *testing.T) {
	srv, err := Start(t.Context(), Config{}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, tc := range []struct {
		fault, body string
	}{
		{"drop", oaiBody},
		{"cut", oaiBody},
		{"cut", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL()+"/v1/chat/completions", strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set("X-Emulator-Fault", tc.fault)
		resp, err := http.DefaultClient.Do(req)
		if tc.fault == "drop" && err == nil {
			t.Errorf("drop: got a %d response, want the connection closed before any status line", resp.StatusCode)
		}
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Errorf("%s %s: no error, want a broken connection", tc.fault, tc.body)
		}
	}
}
