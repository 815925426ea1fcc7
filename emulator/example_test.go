package emulator_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

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
