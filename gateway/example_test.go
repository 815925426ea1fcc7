package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/gateway"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/metrics"
)

// echo is a stand-in upstream that answers every call with the same text.
type echo struct{}

func (echo) Name() string { return "openai" }

func (echo) Do(ctx context.Context, call llm.Call) (*llm.Response, error) {
	return &llm.Response{Format: llm.OpenAI, Model: call.Model, ID: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
		Created: time.Unix(1741569952, 0), Text: "Hello!", StopReason: "stop",
		Usage: llm.Usage{InputTokens: 9, OutputTokens: 2}}, nil
}

// Example serves the OpenAI wire format over an engine; an agent's SDK would use
// srv.URL+"/v1" as its base URL and its virtual key as its API key.
func Example() {
	metrics, err := metrics.New(metrics.Config{Tenants: []string{"acme"}})
	if err != nil {
		panic(err)
	}
	eng, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": echo{}}, OnEvent: metrics.Observe})
	if err != nil {
		panic(err)
	}
	defer eng.Close()
	// The keys of a configuration file; with a keys.Config.Store (the ledger), keys are
	// also created and revoked at run time.
	reg, err := keys.Open(context.Background(), keys.Config{Static: []keys.Key{
		{ID: "agent-1", Tenant: "acme", Hash: keys.HashSecret("tg-secret")}}})
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	gw, err := gateway.New(gateway.Config{Engine: eng, Metrics: metrics, Keys: reg})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(gw) // in production: gw.ListenAndServe(ctx, ":8080")
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`))
	req.Header.Set("Authorization", "Bearer tg-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, resp.Header.Get(gateway.HeaderModel))
	fmt.Println(string(body))
	// Output:
	// 200 OK gpt-4o-mini
	// {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}
}
