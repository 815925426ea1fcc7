package tollgate_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate"
	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/gateway"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// Routes that make one format's client be served by the other format's model.
var crossRoutes = []fallback.Route{
	{Name: "to-claude", Steps: []fallback.Step{{Model: "claude-haiku-4-5"}}},
	{Name: "to-gpt", Steps: []fallback.Step{{Model: "gpt-4o-mini"}}},
}

// sessionBudget is a budget per session, large enough for every test that is not about it.
var sessionBudget = quota.Rules{{Name: "session-usd", Scope: quota.Labels{Session: quota.Each},
	Unit: quota.MicroUSD, Limit: 1_000_000, Window: quota.Forever()}}

// answer is what a test checks of an answer, whichever SDK parsed it.
type answer struct {
	model, stop, text string
	output            int64
	header            http.Header
}

// call is one SDK call through the middleware, streamed or not.
type call struct {
	name   string
	stream bool
	do     func(ctx context.Context, f *fixture) (answer, error)
}

func openAICall(model string, stream bool) func(context.Context, *fixture) (answer, error) {
	return func(ctx context.Context, f *fixture) (answer, error) {
		c := f.openAIClient()
		var hr *http.Response
		if !stream {
			resp, err := c.Chat.Completions.New(ctx, chatParams(model, 100), option.WithResponseInto(&hr))
			if err != nil {
				return answer{}, err
			}
			return answer{model: resp.Model, stop: resp.Choices[0].FinishReason, text: resp.Choices[0].Message.Content,
				output: resp.Usage.CompletionTokens, header: hr.Header}, nil
		}
		params := chatParams(model, 100)
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		s := c.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&hr))
		defer s.Close()
		var acc openai.ChatCompletionAccumulator
		for s.Next() {
			acc.AddChunk(s.Current())
		}
		if err := s.Err(); err != nil {
			return answer{}, err
		}
		if len(acc.Choices) == 0 {
			return answer{}, errors.New("no choices streamed")
		}
		if err := s.Close(); err != nil {
			return answer{}, err
		}
		return answer{model: acc.Model, stop: acc.Choices[0].FinishReason, text: acc.Choices[0].Message.Content,
			output: acc.Usage.CompletionTokens, header: hr.Header}, nil
	}
}

func anthropicCall(model string, stream bool) func(context.Context, *fixture) (answer, error) {
	return func(ctx context.Context, f *fixture) (answer, error) {
		c := f.anthropicClient()
		var hr *http.Response
		var msg anthropic.Message
		if !stream {
			m, err := c.Messages.New(ctx, messageParams(model, 100), aoption.WithResponseInto(&hr))
			if err != nil {
				return answer{}, err
			}
			msg = *m
		} else {
			s := c.Messages.NewStreaming(ctx, messageParams(model, 100), aoption.WithResponseInto(&hr))
			defer s.Close()
			for s.Next() {
				if err := msg.Accumulate(s.Current()); err != nil {
					return answer{}, err
				}
			}
			if err := s.Err(); err != nil {
				return answer{}, err
			}
			if err := s.Close(); err != nil {
				return answer{}, err
			}
		}
		var text string
		for _, b := range msg.Content {
			text += b.Text
		}
		return answer{model: string(msg.Model), stop: string(msg.StopReason), text: text,
			output: msg.Usage.OutputTokens, header: hr.Header}, nil
	}
}

// calls are the four ways through the middleware: each SDK served by a model of its own
// format and, translated, by one of the other's.
func calls(stream bool) []call {
	return []call{
		{"openai", stream, openAICall("gpt-4o-mini", stream)},
		{"anthropic", stream, anthropicCall("claude-haiku-4-5", stream)},
		{"openai served by claude", stream, openAICall("to-claude", stream)},
		{"anthropic served by gpt", stream, anthropicCall("to-gpt", stream)},
	}
}

// wantStop is the stop reason of a complete answer in each SDK's vocabulary.
func wantStop(name string) string {
	if strings.HasPrefix(name, "anthropic") {
		return "end_turn"
	}
	return "stop"
}

func TestAnswers(t *testing.T) {
	for _, stream := range []bool{false, true} {
		for _, c := range calls(stream) {
			name := c.name
			if stream {
				name += " streamed"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, fixtureConfig{emu: emulator.Config{Seed: 1, Output: fixedOutput},
					rules: sessionBudget, routes: crossRoutes})
				ctx := tollgate.WithSession(t.Context(), "run-42")
				got, err := c.do(ctx, f)
				if err != nil {
					t.Fatalf("call: %v", err)
				}
				served := "gpt-4o-mini"
				if strings.Contains(c.name, "claude") || c.name == "anthropic" {
					served = "claude-haiku-4-5"
				}
				if got.model != served || got.stop != wantStop(c.name) || got.output != 50 || got.text == "" {
					t.Errorf("answer = model %q, stop %q, output %d, text %q; want %s, %s, 50 tokens and some text",
						got.model, got.stop, got.output, got.text, served, wantStop(c.name))
				}
				if h := got.header.Get(gateway.HeaderModel); h != served {
					t.Errorf("%s = %q, want %q", gateway.HeaderModel, h, served)
				}
				if h := got.header.Get(gateway.HeaderBudgetRemaining); !strings.Contains(h, `quota="session-usd"`) {
					t.Errorf("%s = %q, want the session's budget: WithSession must reach the engine",
						gateway.HeaderBudgetRemaining, h)
				}
				// The engine's provider made the one upstream call, with its own key: the SDK's
				// base URL and key were not used.
				bills := f.emu.Bills()
				if len(bills) != 1 || bills[0].Key != engineKey || bills[0].Stream != stream ||
					bills[0].End != emulator.EndComplete {
					t.Errorf("bills %+v, want one complete bill to %s", bills, engineKey)
				}
				// The answer names the request by its id in the ledger.
				id := got.header.Get(gateway.HeaderRequestID)
				if err := f.ledger.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				recs, err := f.ledger.Request(ctx, id)
				if err != nil || len(recs) != 1 || recs[0].Session != "run-42" || recs[0].Model != served {
					t.Errorf("ledger.Request(%q) = %+v, %v; want the call of session run-42 served by %s", id, recs, err, served)
				}
				if got := f.emu.Stats().Total.Requests; got != 1 {
					t.Errorf("the emulator got %d requests, want 1", got)
				}
				f.settled(t)
			})
		}
	}
}

// TestIdentity checks that the identity set on the context reaches the engine, and that
// a call without a session takes the body's user as the gateway does.
func TestIdentity(t *testing.T) {
	f := newFixture(t, fixtureConfig{emu: emulator.Config{Seed: 1, Output: fixedOutput}})
	ctx := tollgate.WithPriority(tollgate.WithAgent(tollgate.WithSession(tollgate.WithTenant(t.Context(), "acme"),
		"run-42"), "researcher"), 2)
	if _, err := f.openAIClient().Chat.Completions.New(ctx, chatParams("gpt-4o-mini", 100)); err != nil {
		t.Fatal(err)
	}
	params := messageParams("claude-haiku-4-5", 100)
	params.Metadata = anthropic.MetadataParam{UserID: anthropic.String("user-7")}
	if _, err := f.anthropicClient().Messages.New(tollgate.WithTenant(t.Context(), "beta"), params); err != nil {
		t.Fatal(err)
	}
	adm := f.eventsOf(engine.Admitted)
	if len(adm) != 2 {
		t.Fatalf("%d admitted events, want 2", len(adm))
	}
	want := []struct {
		tenant, agent, session string
		priority               int
	}{{"acme", "researcher", "run-42", 2}, {"beta", "", "user-7", 0}}
	for i, w := range want {
		id := adm[i].Identity
		if id.Tenant != w.tenant || id.Agent != w.agent || id.Session != w.session || id.Priority != w.priority {
			t.Errorf("request %d ran as %+v, want tenant %q agent %q session %q priority %d", i, id,
				w.tenant, w.agent, w.session, w.priority)
		}
	}
	if got := tollgate.IdentityFrom(ctx); got.Tenant != "acme" || got.Session != "run-42" || got.Agent != "researcher" ||
		got.Priority != 2 {
		t.Errorf("IdentityFrom = %+v: each With must keep the others", got)
	}
}

// TestBudgetRefusal: a budget that pays for one answer refuses the second before any
// upstream call, and the SDK, at its default retry settings, does not retry the refusal.
func TestBudgetRefusal(t *testing.T) {
	// gpt-4o-mini with max_tokens 150 costs at most about 92 micro-USD, claude-haiku-4-5
	// about 760; a first answer of 50 tokens leaves less than that.
	budget := func(limit int64) quota.Rules {
		return quota.Rules{{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD,
			Limit: limit, Window: quota.Forever()}}
	}
	wantMsg := []string{"budget exhausted", "session-usd", "session=run-42", "limit $0.", "used $0."}
	check := func(t *testing.T, f *fixture, sent int64, status int, h http.Header, msg string) {
		t.Helper()
		if sent != 1 {
			t.Errorf("the SDK sent %d requests for the refusal, want 1", sent)
		}
		if got := f.emu.Stats().Total.Requests; got != 1 {
			t.Errorf("the emulator got %d requests, want 1: the refusal must come before any upstream call", got)
		}
		if status != http.StatusTooManyRequests {
			t.Errorf("status %d, want 429", status)
		}
		for _, s := range wantMsg {
			if !strings.Contains(msg, s) {
				t.Errorf("message %q lacks %q", msg, s)
			}
		}
		if got := h.Get("X-Should-Retry"); got != "false" {
			t.Errorf("x-should-retry = %q, want false", got)
		}
		if got := h.Get(gateway.HeaderErrorSource); got != "tollgate" {
			t.Errorf("%s = %q, want tollgate", gateway.HeaderErrorSource, got)
		}
		if got := h.Get(gateway.HeaderBudgetRemaining); !strings.HasPrefix(got, "0.0") || !strings.Contains(got, `quota="session-usd"`) {
			t.Errorf("%s = %q, want what is left of session-usd", gateway.HeaderBudgetRemaining, got)
		}
		f.settled(t)
	}

	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "openai", true: "openai streamed"}[stream]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureConfig{emu: emulator.Config{Output: fixedOutput}, rules: budget(100)})
			var sent atomic.Int64
			// The SDK's default retries: the refusal itself must stop them.
			c := openai.NewClient(option.WithBaseURL("http://sdk.invalid/v1"), option.WithAPIKey(sdkKey),
				option.WithMiddleware(counting(&sent), tollgate.OpenAI(f.eng)))
			ctx := tollgate.WithSession(t.Context(), "run-42")
			if _, err := c.Chat.Completions.New(ctx, chatParams("gpt-4o-mini", 150)); err != nil {
				t.Fatalf("first call: %v", err)
			}
			sent.Store(0)
			var err error
			if stream {
				s := c.Chat.Completions.NewStreaming(ctx, chatParams("gpt-4o-mini", 150))
				for s.Next() {
				}
				err = s.Err()
				s.Close()
			} else {
				_, err = c.Chat.Completions.New(ctx, chatParams("gpt-4o-mini", 150))
			}
			var ae *openai.Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *openai.Error", err)
			}
			if ae.Type != "insufficient_quota" || ae.Code != "insufficient_quota" {
				t.Errorf("type %q code %q, want insufficient_quota", ae.Type, ae.Code)
			}
			check(t, f, sent.Load(), ae.StatusCode, ae.Response.Header, ae.Message)
		})
	}

	t.Run("anthropic", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureConfig{emu: emulator.Config{Output: fixedOutput}, rules: budget(1000)})
		var sent atomic.Int64
		c := anthropic.NewClient(aoption.WithBaseURL("http://sdk.invalid"), aoption.WithAPIKey(sdkKey),
			aoption.WithMiddleware(counting(&sent), tollgate.Anthropic(f.eng)))
		ctx := tollgate.WithSession(t.Context(), "run-42")
		if _, err := c.Messages.New(ctx, messageParams("claude-haiku-4-5", 150)); err != nil {
			t.Fatalf("first call: %v", err)
		}
		sent.Store(0)
		_, err := c.Messages.New(ctx, messageParams("claude-haiku-4-5", 150))
		var ae *anthropic.Error
		if !errors.As(err, &ae) {
			t.Fatalf("err = %v, want *anthropic.Error", err)
		}
		if ae.Type() != "billing_error" || ae.RequestID == "" {
			t.Errorf("type %q, request id %q: want billing_error and the request's id", ae.Type(), ae.RequestID)
		}
		check(t, f, sent.Load(), ae.StatusCode, ae.Response.Header, ae.RawJSON())
	})
}

// TestFallback: the route gpt-4o -> gpt-4o-mini, with gpt-4o overloaded, is served by
// gpt-4o-mini, for both SDKs, streamed or not, and the answer says why.
func TestFallback(t *testing.T) {
	route := []fallback.Route{{Name: "gpt-4o", Steps: []fallback.Step{{Model: "gpt-4o"}, {Model: "gpt-4o-mini"}}}}
	emu := emulator.Config{Seed: 1, Output: fixedOutput,
		Models: map[string]emulator.Model{"gpt-4o": {Faults: &emulator.Faults{Overloaded: 1}}}}
	for _, stream := range []bool{false, true} {
		for _, c := range []call{{"openai", stream, openAICall("gpt-4o", stream)},
			{"anthropic", stream, anthropicCall("gpt-4o", stream)}} {
			name := c.name
			if stream {
				name += " streamed"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, fixtureConfig{emu: emu, routes: route})
				got, err := c.do(t.Context(), f)
				if err != nil {
					t.Fatalf("call: %v", err)
				}
				if got.model != "gpt-4o-mini" || got.stop != wantStop(c.name) || got.output != 50 {
					t.Errorf("answer = model %q, stop %q, output %d; want gpt-4o-mini, %s, 50",
						got.model, got.stop, got.output, wantStop(c.name))
				}
				if h := got.header.Get(gateway.HeaderRoute); h != "gpt-4o" {
					t.Errorf("%s = %q, want gpt-4o", gateway.HeaderRoute, h)
				}
				if h := got.header.Get(gateway.HeaderFallbackReason); !strings.Contains(h, "gpt-4o") ||
					!strings.Contains(h, "overloaded") {
					t.Errorf("%s = %q, want gpt-4o overloaded", gateway.HeaderFallbackReason, h)
				}
				st := f.emu.Stats().Models
				if st["gpt-4o"].Requests != 1 || st["gpt-4o-mini"].Served != 1 {
					t.Errorf("emulator: gpt-4o got %d requests, gpt-4o-mini served %d; want 1 and 1",
						st["gpt-4o"].Requests, st["gpt-4o-mini"].Served)
				}
				f.settled(t)
			})
		}
	}
}

// TestCancel: a call whose context is cancelled, before the answer or in the middle of a
// stream, returns context.Canceled to the SDK at once, and leaves no reservation open and
// no hold in the ledger once the engine has finished the upstream calls its callers
// abandoned (Close waits for them; the provider may bill a call its caller left, so the
// engine learns what it cost before it lets the hold go). The hanging and silent upstreams
// drop the connection after HangMax, as a real one's idle timeout would.
func TestCancel(t *testing.T) {
	const hangMax = 50 * time.Millisecond
	emu := emulator.Config{Seed: 1, Output: emulator.Output{MinTokens: 500, MaxTokens: 500}, Models: map[string]emulator.Model{
		"gpt-4o":          {Faults: &emulator.Faults{Hang: 1, HangMax: hangMax}},
		"claude-sonnet-4": {Faults: &emulator.Faults{Hang: 1, HangMax: hangMax}},
		"gpt-4.1":         {Faults: &emulator.Faults{Silent: 1, HangMax: hangMax}},
		"claude-opus-4-1": {Faults: &emulator.Faults{Silent: 1, HangMax: hangMax}},
	}}
	// waiting cancels the call once its request reached the emulator.
	waiting := func(t *testing.T, f *fixture) context.Context {
		ctx, cancel := context.WithCancel(t.Context())
		arrived := f.arrivals()
		go func() {
			<-arrived
			cancel()
		}()
		return ctx
	}
	tests := []struct {
		name string
		do   func(t *testing.T, f *fixture) error
	}{
		{"openai before the answer", func(t *testing.T, f *fixture) error {
			_, err := f.openAIClient().Chat.Completions.New(waiting(t, f), chatParams("gpt-4o", 100))
			return err
		}},
		{"anthropic before the answer", func(t *testing.T, f *fixture) error {
			_, err := f.anthropicClient().Messages.New(waiting(t, f), messageParams("claude-sonnet-4", 100))
			return err
		}},
		{"openai stream before its first event", func(t *testing.T, f *fixture) error {
			s := f.openAIClient().Chat.Completions.NewStreaming(waiting(t, f), chatParams("gpt-4.1", 100))
			defer s.Close()
			for s.Next() {
			}
			return s.Err()
		}},
		{"anthropic stream before its first event", func(t *testing.T, f *fixture) error {
			s := f.anthropicClient().Messages.NewStreaming(waiting(t, f), messageParams("claude-opus-4-1", 100))
			defer s.Close()
			for s.Next() {
			}
			return s.Err()
		}},
		{"openai mid-stream", func(t *testing.T, f *fixture) error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s := f.openAIClient().Chat.Completions.NewStreaming(ctx, chatParams("gpt-4o-mini", 1000))
			defer s.Close()
			for n := 0; s.Next(); n++ {
				if n == 3 {
					cancel()
				}
			}
			return s.Err()
		}},
		{"anthropic mid-stream", func(t *testing.T, f *fixture) error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s := f.anthropicClient().Messages.NewStreaming(ctx, messageParams("claude-haiku-4-5", 1000))
			defer s.Close()
			for n := 0; s.Next(); n++ {
				if n == 3 {
					cancel()
				}
			}
			return s.Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureConfig{emu: emu, rules: sessionBudget})
			err := tt.do(t, f)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
			if err := f.eng.Close(); err != nil {
				t.Fatal(err)
			}
			f.settled(t)
		})
	}
}

// TestCloseEarly: a stream that the caller closes before its end is settled when Close
// returns, at what it cost so far.
func TestCloseEarly(t *testing.T) {
	f := newFixture(t, fixtureConfig{emu: emulator.Config{Seed: 1, Output: emulator.Output{MinTokens: 500, MaxTokens: 500}},
		rules: sessionBudget})
	ctx := tollgate.WithSession(t.Context(), "run-42")
	os := f.openAIClient().Chat.Completions.NewStreaming(ctx, chatParams("gpt-4o-mini", 1000))
	for n := 0; n < 3 && os.Next(); n++ {
	}
	if err := os.Close(); err != nil {
		t.Fatal(err)
	}
	f.settled(t)
	as := f.anthropicClient().Messages.NewStreaming(ctx, messageParams("claude-haiku-4-5", 1000))
	for n := 0; n < 5 && as.Next(); n++ {
	}
	if err := as.Close(); err != nil {
		t.Fatal(err)
	}
	f.settled(t)
	settled := f.eventsOf(engine.Settled)
	if len(settled) != 2 {
		t.Fatalf("%d settled events, want 2", len(settled))
	}
	for _, ev := range settled {
		// What an early end costs is the engine's to decide (input plus the output
		// generated); here, that it is charged, within the reservation.
		if ev.MicroUSD <= 0 || ev.Usage.OutputTokens > 1000 {
			t.Errorf("%s settled at %+v, %d micro-USD: want a charge within the reservation", ev.Model, ev.Usage, ev.MicroUSD)
		}
	}
}

// TestConcurrent runs both SDKs, streamed and not, from many goroutines over one engine.
func TestConcurrent(t *testing.T) {
	f := newFixture(t, fixtureConfig{emu: emulator.Config{Seed: 1, Output: fixedOutput}, rules: sessionBudget,
		routes: crossRoutes})
	const rounds = 4
	all := append(calls(false), calls(true)...)
	var wg sync.WaitGroup
	errs := make(chan error, rounds*len(all))
	for i := range rounds {
		for _, c := range all {
			wg.Go(func() {
				ctx := tollgate.WithSession(t.Context(), c.name+string(rune('a'+i)))
				got, err := c.do(ctx, f)
				if err == nil && (got.output != 50 || got.stop != wantStop(c.name)) {
					err = errors.New(c.name + ": incomplete answer")
				}
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := f.emu.Stats().Total.Served; got != int64(rounds*len(all)) {
		t.Errorf("the emulator served %d requests, want %d", got, rounds*len(all))
	}
	f.settled(t)
}

// TestRefusals: the SDK's errors for what tollgate refuses before any upstream call.
func TestRefusals(t *testing.T) {
	f := newFixture(t, fixtureConfig{emu: emulator.Config{Seed: 1}})
	ctx := t.Context()

	_, err := f.openAIClient().Chat.Completions.New(ctx, chatParams("no-such-model", 100))
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 404 || oe.Code != "model_not_found" || !strings.Contains(oe.Message, "no-such-model") {
		t.Errorf("unknown model: err = %v, want *openai.Error 404 model_not_found naming the model", err)
	}

	_, err = f.openAIClient().Chat.Completions.New(ctx, chatParams("gpt-4o-mini", 100), option.WithJSONSet("messages", "hello"))
	if !errors.As(err, &oe) || oe.StatusCode != 400 || oe.Type != "invalid_request_error" || !strings.Contains(oe.Message, "messages") {
		t.Errorf("bad body: err = %v, want *openai.Error 400 invalid_request_error naming messages", err)
	}

	_, err = f.anthropicClient().Messages.New(ctx, messageParams("gpt-4o-mini", 0))
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Type() != "invalid_request_error" {
		t.Errorf("max_tokens 0: err = %v, want *anthropic.Error 400 invalid_request_error", err)
	}
	if got := f.emu.Stats().Total.Requests; got != 0 {
		t.Errorf("the emulator got %d requests, want none", got)
	}
}

// TestAnthropicBeta: a beta message goes through the middleware with its anthropic-beta
// header, which reaches the Anthropic upstream.
func TestAnthropicBeta(t *testing.T) {
	f := newFixture(t, fixtureConfig{emu: emulator.Config{Seed: 1, Output: fixedOutput}})
	arrived := f.arrivals()
	msg, err := f.anthropicClient().Beta.Messages.New(t.Context(), anthropic.BetaMessageNewParams{
		Model: "claude-haiku-4-5", MaxTokens: 100, Betas: []anthropic.AnthropicBeta{"context-1m-2025-08-07"},
		Messages: []anthropic.BetaMessageParam{anthropic.NewBetaUserMessage(anthropic.NewBetaTextBlock("hello there"))}})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Usage.OutputTokens != 50 || msg.StopReason != "end_turn" {
		t.Errorf("beta message: usage %+v, stop %q", msg.Usage, msg.StopReason)
	}
	up := <-arrived
	if got := up.Header.Get("Anthropic-Beta"); got != "context-1m-2025-08-07" || up.URL.Path != "/v1/messages" {
		t.Errorf("upstream request %s with anthropic-beta %q, want /v1/messages with the caller's beta", up.URL.Path, got)
	}
	if got := f.emu.Stats().Total.Requests; got != 1 {
		t.Errorf("the emulator got %d requests, want 1", got)
	}
}

// TestPassThrough: the SDK's other endpoints go to its own base URL with its own key.
func TestPassThrough(t *testing.T) {
	f := newFixture(t, fixtureConfig{emu: emulator.Config{Seed: 1}})
	ctx := t.Context()
	oc := f.openAIClient(option.WithBaseURL(f.upstream.URL + "/v1"))
	if _, err := oc.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}}); err != nil {
		t.Fatalf("embeddings: %v", err)
	}
	ac := f.anthropicClient(aoption.WithBaseURL(f.upstream.URL))
	n, err := ac.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "claude-haiku-4-5",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))}})
	if err != nil || n.InputTokens == 0 {
		t.Fatalf("count_tokens = %+v, %v", n, err)
	}
	if _, err := oc.Chat.Completions.New(ctx, chatParams("gpt-4o-mini", 100)); err != nil {
		t.Fatalf("chat: %v", err)
	}
	keys := map[string]string{}
	for _, b := range f.emu.Bills() {
		keys[b.Model] = b.Key
	}
	if keys["text-embedding-3-small"] != sdkKey || keys["gpt-4o-mini"] != engineKey {
		t.Errorf("bills' keys = %v: want the embedding on the SDK's key, the chat on the engine's", keys)
	}
	if got := len(f.eventsOf(engine.Admitted)); got != 1 {
		t.Errorf("the engine admitted %d requests, want only the chat completion", got)
	}
}

// TestSameAsGateway: a refusal through the middleware has the status, body and headers
// that the gateway sends for it, in both formats.
func TestSameAsGateway(t *testing.T) {
	// Each budget pays for one answer of 50 tokens, not for a second's worst case.
	budget := map[string]int64{"claude-haiku-4-5": 1000, "gpt-4o-mini": 100}
	const secret = "tg-secret"
	// refusal returns the answer to the second call of a session whose budget paid for one.
	type refusal struct {
		status int
		body   string
		header http.Header
	}
	read := func(t *testing.T, err error) refusal {
		t.Helper()
		var hr *http.Response
		var oe *openai.Error
		var ae *anthropic.Error
		switch {
		case errors.As(err, &oe):
			hr = oe.Response
		case errors.As(err, &ae):
			hr = ae.Response
		default:
			t.Fatalf("err = %v, want an SDK error", err)
		}
		b, rerr := io.ReadAll(hr.Body)
		if rerr != nil {
			t.Fatal(rerr)
		}
		h := hr.Header.Clone()
		// What names this request or this connection differs by nature.
		for _, k := range []string{"Date", "Content-Length", gateway.HeaderRequestID, gateway.HeaderAnthropicRequestID} {
			h.Del(k)
		}
		return refusal{hr.StatusCode, string(b), h}
	}
	twice := func(t *testing.T, model string, do func(ctx context.Context, model string) error) refusal {
		t.Helper()
		ctx := t.Context()
		if err := do(ctx, model); err != nil {
			t.Fatalf("first call: %v", err)
		}
		return read(t, do(ctx, model))
	}
	for _, model := range []string{"claude-haiku-4-5", "gpt-4o-mini"} {
		t.Run(model, func(t *testing.T) {
			emu := emulator.Config{Seed: 1, Output: fixedOutput}
			rules := quota.Rules{{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD,
				Limit: budget[model], Window: quota.Forever()}}
			lib := newFixture(t, fixtureConfig{emu: emu, rules: rules})
			gw := newFixture(t, fixtureConfig{emu: emu, rules: rules})
			reg, err := keys.Open(context.Background(), keys.Config{Static: []keys.Key{
				{ID: "alice", Tenant: "acme", Hash: keys.HashSecret(secret)}}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { reg.Close() })
			g, err := gateway.New(gateway.Config{Engine: gw.eng, Logger: slog.New(slog.DiscardHandler), Keys: reg})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(g)
			t.Cleanup(srv.Close)
			id := llm.Identity{Key: "alice", Tenant: "acme", Session: "run-42"}

			if strings.HasPrefix(model, "claude") {
				viaGateway := anthropic.NewClient(aoption.WithBaseURL(srv.URL), aoption.WithAPIKey(secret),
					aoption.WithHeader(gateway.HeaderSessionID, "run-42"), aoption.WithMaxRetries(0))
				inProcess := lib.anthropicClient()
				want := twice(t, model, func(ctx context.Context, m string) error {
					_, err := viaGateway.Messages.New(ctx, messageParams(m, 150))
					return err
				})
				got := twice(t, model, func(ctx context.Context, m string) error {
					_, err := inProcess.Messages.New(tollgate.WithIdentity(ctx, id), messageParams(m, 150))
					return err
				})
				if diff := cmp.Diff(want, got, cmp.AllowUnexported(refusal{})); diff != "" {
					t.Errorf("middleware's refusal differs from the gateway's (-gateway +middleware):\n%s", diff)
				}
				return
			}
			viaGateway := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey(secret),
				option.WithHeader(gateway.HeaderSessionID, "run-42"), option.WithMaxRetries(0))
			inProcess := lib.openAIClient()
			want := twice(t, model, func(ctx context.Context, m string) error {
				_, err := viaGateway.Chat.Completions.New(ctx, chatParams(m, 150))
				return err
			})
			got := twice(t, model, func(ctx context.Context, m string) error {
				_, err := inProcess.Chat.Completions.New(tollgate.WithIdentity(ctx, id), chatParams(m, 150))
				return err
			})
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(refusal{})); diff != "" {
				t.Errorf("middleware's refusal differs from the gateway's (-gateway +middleware):\n%s", diff)
			}
		})
	}
}
