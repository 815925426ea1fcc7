package cache_test

import (
	"fmt"
	"time"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/llm"
)

func Example() {
	c := cache.New(cache.Config{TTL: 10 * time.Minute, StaleFor: time.Hour})
	req := &llm.Request{
		Format:   llm.OpenAI,
		Body:     []byte(`{"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"2+2?"}],"temperature":0}`),
		Messages: []llm.Message{{Role: "user", Content: "2+2?"}},
	}
	k, err := cache.NewKey("gpt-4o", req)
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	resp := &llm.Response{Format: llm.OpenAI, Model: "gpt-4o-2024-08-06", Text: "4",
		Body: []byte(`{"choices":[{"message":{"role":"assistant","content":"4"}}]}`)}
	if err := c.Put(k, resp, now); err != nil {
		fmt.Println(err)
		return
	}
	for _, after := range []time.Duration{time.Minute, 30 * time.Minute, 2 * time.Hour} {
		e, fresh, ok := c.Get(k, now.Add(after))
		fmt.Printf("after %v: ok=%v fresh=%v text=%q cached=%v\n", after, ok, fresh, e.Response.Text, e.Response.Cached)
	}
	s := c.Stats()
	fmt.Printf("hits=%d stale=%d misses=%d\n", s.Hits, s.StaleHits, s.Misses)
	// Output:
	// after 1m0s: ok=true fresh=true text="4" cached=true
	// after 30m0s: ok=true fresh=false text="4" cached=true
	// after 2h0m0s: ok=false fresh=false text="" cached=false
	// hits=1 stale=1 misses=1
}
