package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
)

// TestAnthropicBetaForwarded: a Messages call's anthropic-beta header (a beta feature the
// caller opted into: a 1M context, interleaved thinking) reaches the Anthropic upstream, as
// it would calling Anthropic directly.
func TestAnthropicBetaForwarded(t *testing.T) {
	em, err := emulator.New(emulator.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r.Header.Clone():
		default:
		}
		em.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	ap, err := anthropic.New(anthropic.Config{BaseURL: up.URL, APIKey: upstreamSecret})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envConfig{providers: map[string]llm.Provider{"anthropic": ap}})
	c := anthropicClient(e, secretAlice)
	const beta = "context-1m-2025-08-07"
	msg, err := c.Beta.Messages.New(t.Context(), anthropicsdk.BetaMessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 64, Betas: []anthropicsdk.AnthropicBeta{beta},
		Messages: []anthropicsdk.BetaMessageParam{anthropicsdk.NewBetaUserMessage(anthropicsdk.NewBetaTextBlock("hello there"))}})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Usage.OutputTokens == 0 {
		t.Errorf("usage %+v, want output tokens", msg.Usage)
	}
	if got := (<-seen).Get("Anthropic-Beta"); got != beta {
		t.Errorf("upstream got anthropic-beta %q, want %q", got, beta)
	}
}
