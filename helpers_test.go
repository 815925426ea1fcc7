package tollgate_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate"
	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	anthropicp "github.com/tollgate/tollgate/provider/anthropic"
	openaip "github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/retry"
)

// engineKey is the upstream key of the engine's providers; sdkKey the SDK clients' own,
// which only requests that pass through carry. The emulator bills each request to the key
// it came with.
const (
	engineKey = "sk-engine"
	sdkKey    = "sk-sdk"
)

// fixedOutput makes every emulated answer 50 tokens long, so that spend is predictable.
var fixedOutput = emulator.Output{MinTokens: 50, MaxTokens: 50}

type fixtureConfig struct {
	emu    emulator.Config
	rules  quota.Rules
	routes []fallback.Route
}

// fixture is an engine whose upstream is the emulator over real HTTP, with a ledger.
type fixture struct {
	emu      *emulator.Emulator
	upstream *httptest.Server
	eng      *engine.Engine
	ledger   *ledger.Ledger
	// arrived receives every request that reaches the emulator, when a test has made it
	// (see arrivals).
	arrived atomic.Pointer[chan *http.Request]

	mu     sync.Mutex
	events []engine.Event
}

func newFixture(t testing.TB, fc fixtureConfig) *fixture {
	t.Helper()
	f := &fixture{}
	emu, err := emulator.New(fc.emu)
	if err != nil {
		t.Fatal(err)
	}
	f.emu = emu
	f.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ch := f.arrived.Load(); ch != nil {
			*ch <- r
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(f.upstream.Close)
	op, err := openaip.New(openaip.Config{BaseURL: f.upstream.URL + "/v1", APIKey: engineKey})
	if err != nil {
		t.Fatal(err)
	}
	ap, err := anthropicp.New(anthropicp.Config{BaseURL: f.upstream.URL, APIKey: engineKey})
	if err != nil {
		t.Fatal(err)
	}
	routes, err := fallback.NewRoutes(fc.routes...)
	if err != nil {
		t.Fatal(err)
	}
	f.ledger, err = ledger.Open(context.Background(), ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.ledger.Close(context.Background()) })
	f.eng, err = engine.New(engine.Config{
		Providers: map[string]llm.Provider{"openai": op, "anthropic": ap},
		Routes:    routes, Rules: fc.rules, Ledger: f.ledger,
		// One attempt per model: a failing model falls back at once, and no test waits
		// for a backoff.
		Retry:  retry.Policy{MaxAttempts: 1},
		Logger: slog.New(slog.DiscardHandler),
		OnEvent: func(ev engine.Event) {
			f.mu.Lock()
			f.events = append(f.events, ev)
			f.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.eng.Close() })
	return f
}

// arrivals returns a channel that receives each request reaching the emulator from now
// on, before the emulator reads it.
func (f *fixture) arrivals() <-chan *http.Request {
	ch := make(chan *http.Request, 64)
	f.arrived.Store(&ch)
	return ch
}

// eventsOf returns the events of kind k so far.
func (f *fixture) eventsOf(k engine.EventKind) []engine.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.Event
	for _, ev := range f.events {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// settled fails unless every reservation of the engine is settled or released and the
// ledger has no open hold.
func (f *fixture) settled(t testing.TB) {
	t.Helper()
	if n := f.eng.Open(); n != 0 {
		t.Errorf("engine.Open() = %d, want 0", n)
	}
	ctx := context.Background()
	if err := f.ledger.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	hs, err := f.ledger.OpenHolds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 0 {
		t.Errorf("ledger.OpenHolds() = %+v, want none", hs)
	}
}

// openAIClient is an OpenAI SDK client through tollgate. Its base URL goes nowhere: every
// request that the middleware intercepts is served by the engine's providers.
func (f *fixture) openAIClient(opts ...option.RequestOption) *openai.Client {
	c := openai.NewClient(append([]option.RequestOption{option.WithBaseURL("http://sdk.invalid/v1"),
		option.WithAPIKey(sdkKey), option.WithMiddleware(tollgate.OpenAI(f.eng)), option.WithMaxRetries(0)},
		opts...)...)
	return &c
}

func (f *fixture) anthropicClient(opts ...aoption.RequestOption) *anthropic.Client {
	c := anthropic.NewClient(append([]aoption.RequestOption{aoption.WithBaseURL("http://sdk.invalid"),
		aoption.WithAPIKey(sdkKey), aoption.WithMiddleware(tollgate.Anthropic(f.eng)), aoption.WithMaxRetries(0)},
		opts...)...)
	return &c
}

func chatParams(model string, maxTokens int64) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: model, MaxTokens: openai.Int(maxTokens),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello there")}}
}

func messageParams(model string, maxTokens int64) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: maxTokens,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))}}
}

// counting is SDK middleware that counts the requests the SDK sends, retries included.
func counting(n *atomic.Int64) func(*http.Request, func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	return func(r *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		n.Add(1)
		return next(r)
	}
}
