package emulator_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/tollgate/tollgate/emulator"
)

// An emulator with a limit of 2 requests per minute: the third request is refused with
// OpenAI's 429, and the counters say so.
func Example() {
	srv, err := emulator.Start(context.Background(), emulator.Config{Limits: emulator.Limits{RPM: 2}}, "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	for range 3 {
		req, _ := http.NewRequest("POST", srv.URL()+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}],"max_tokens":50}`))
		req.Header.Set("Authorization", "Bearer sk-anything")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("x-ratelimit-remaining-requests"))
	}
	st := srv.Stats().Models["gpt-4o"]
	fmt.Println("served", st.Served, "refused", st.Refused[emulator.RefusedRPM])
	// Output:
	// 200 1
	// 200 0
	// 429 0
	// served 2 refused 1
}

// A request's bill, found by the id its caller sent in X-Client-Request-Id: two choices of
// 12 tokens each, billed with the 7 prompt tokens at gpt-4o's list price.
func ExampleEmulator_BillsFor() {
	e, err := emulator.New(emulator.Config{Output: emulator.Output{MinTokens: 12, MaxTokens: 12}})
	if err != nil {
		panic(err)
	}
	req := httptest.NewRequest("POST", "/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o","n":2,"messages":[{"role":"user","content":"Hello"}]}`))
	req.Header.Set("Authorization", "Bearer sk-anything")
	req.Header.Set("X-Client-Request-Id", "tollgate-42")
	e.ServeHTTP(httptest.NewRecorder(), req)

	b := e.BillsFor("tollgate-42")[0]
	fmt.Println(b.End, b.Model, b.Usage.InputTokens, b.Usage.OutputTokens, b.CostMicroUSD)
	// Output:
	// complete gpt-4o 7 24 258
}

// A hidden limit of 2 requests per minute, lowered to 1 while the emulator runs: the
// client sees 429s without rate-limit headers, and the stats say how much of the capacity
// it used and how many of its calls were refused.
func ExampleEmulator_SetLimits() {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	e, err := emulator.New(emulator.Config{Now: func() time.Time { return now },
		Limits: emulator.Limits{RPM: 2, Hidden: true}})
	if err != nil {
		panic(err)
	}
	call := func() int {
		req := httptest.NewRequest("POST", "/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}`))
		req.Header.Set("Authorization", "Bearer sk-anything")
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		return w.Code
	}
	fmt.Println(call(), call(), call())
	if err := e.SetLimits("gpt-4o", emulator.Limits{RPM: 1, Hidden: true}); err != nil {
		panic(err)
	}
	now = now.Add(time.Minute)
	fmt.Println(call(), call())
	st := e.Stats().Models["gpt-4o"]
	fmt.Printf("refused %d of %d; capacity used %.0f of %.0f requests\n",
		st.RateLimited, st.Requests, st.Capacity.Requests.Used, st.Capacity.Requests.Offered)
	// Output:
	// 200 200 429
	// 200 429
	// refused 2 of 5; capacity used 3 of 3 requests
}
