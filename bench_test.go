package tollgate_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/gateway"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/llm"
	openaip "github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/quota"
)

// stubAnswer is a chat completion as OpenAI sends it, with its usage.
const stubAnswer = `{"id":"chatcmpl-bench","object":"chat.completion","created":1764460800,"model":"gpt-4o-mini-2024-07-18",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Fine, thank you.","refusal":null},` +
	`"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":5,"total_tokens":19}}`

// stub is a zero-latency upstream in the process: what is measured is tollgate's own work.
type stub struct{}

func (stub) Name() string { return "openai" }

func (stub) Do(context.Context, llm.Call) (*llm.Response, error) {
	return openaip.ParseResponse([]byte(stubAnswer))
}

// BenchmarkMiddleware measures one non-streaming chat completion of the OpenAI SDK over a
// zero-latency upstream, with a session budget: through the middleware in-process, and
// through the gateway on a loopback port; "engine" is the engine's own share (parse and
// Do, without the SDK), and "sdk" the SDK's own (a middleware that returns the answer at
// once). middleware minus engine minus sdk is what the middleware adds: reading the
// SDK's body, rendering the answer, and the response that carries it.
func BenchmarkMiddleware(b *testing.B) {
	newEngine := func(b *testing.B) *engine.Engine {
		eng, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": stub{}},
			Rules: quota.Rules{{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD,
				Limit: 1 << 62, Window: quota.Forever()}},
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = eng.Close() })
		return eng
	}
	params := chatParams("gpt-4o-mini", 50)
	sdk := func(b *testing.B, c openai.Client, ctx context.Context) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Chat.Completions.New(ctx, params); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.Run("engine", func(b *testing.B) {
		eng := newEngine(b)
		body := []byte(`{"model":"gpt-4o-mini","max_tokens":50,"messages":[{"role":"user","content":"hello there"}]}`)
		b.ReportAllocs()
		for b.Loop() {
			req, err := openaip.ParseRequest(body)
			if err != nil {
				b.Fatal(err)
			}
			req.Identity.Session = "bench"
			if _, err := eng.Do(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk", func(b *testing.B) {
		canned := func(r *http.Request, _ option.MiddlewareNext) (*http.Response, error) {
			_, _ = io.Copy(io.Discard, r.Body)
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(stubAnswer)), Request: r}, nil
		}
		c := openai.NewClient(option.WithMiddleware(canned), option.WithMaxRetries(0), option.WithAPIKey(sdkKey))
		sdk(b, c, context.Background())
	})
	b.Run("middleware", func(b *testing.B) {
		c := openai.NewClient(option.WithMiddleware(tollgate.OpenAI(newEngine(b))), option.WithMaxRetries(0),
			option.WithAPIKey(sdkKey))
		sdk(b, c, tollgate.WithSession(context.Background(), "bench"))
	})
	b.Run("gateway", func(b *testing.B) {
		reg, err := keys.Open(context.Background(), keys.Config{Static: []keys.Key{
			{ID: "bench", Tenant: "bench", Hash: keys.HashSecret(sdkKey)}}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { reg.Close() })
		g, err := gateway.New(gateway.Config{Engine: newEngine(b), Logger: slog.New(slog.DiscardHandler), Keys: reg})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(g)
		b.Cleanup(srv.Close)
		c := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey(sdkKey), option.WithMaxRetries(0),
			option.WithHeader(gateway.HeaderSessionID, "bench"))
		sdk(b, c, context.Background())
	})
}
