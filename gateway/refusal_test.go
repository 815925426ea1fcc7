package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	anprovider "github.com/tollgate/tollgate/provider/anthropic"
	oaprovider "github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/quota"
)

// spentBudget is a lifetime budget of one micro-dollar per tenant: every request is
// refused, and the message names no reset time, so that golden files hold still.
var spentBudget = quota.Rules{{Name: "tenant-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD,
	Limit: 1, Window: quota.Forever()}}

// TestSDKBudgetStatus: a budget refusal reaches each official SDK at its default retry
// settings as one request, with OpenAI's insufficient_quota code (Anthropic's
// billing_error), at the configured status.
func TestSDKBudgetStatus(t *testing.T) {
	for _, status := range []int{0, 402} {
		want := map[int]int{0: 429, 402: 402}[status]
		t.Run(fmt.Sprint(want), func(t *testing.T) {
			e := newEnv(t, envConfig{rules: spentBudget, gateway: func(c *Config) { c.BudgetStatus = status }})
			before := e.requests.Load()
			var hr *http.Response
			oc := openAIClient(e, secretAlice)
			_, err := oc.Chat.Completions.New(t.Context(), chatParams("gpt-4o-mini", 100), option.WithResponseInto(&hr))
			var oe *openai.Error
			if !errors.As(err, &oe) || oe.StatusCode != want || oe.Type != "insufficient_quota" || oe.Code != "insufficient_quota" {
				t.Fatalf("openai err = %v (%+v), want *openai.Error %d insufficient_quota", err, oe, want)
			}
			h := oe.Response.Header
			if h.Get("X-Should-Retry") != "false" || h.Get(HeaderErrorSource) != "tollgate" || !strings.Contains(oe.Message, "tenant-usd") {
				t.Errorf("headers %v, message %q: want x-should-retry false, source tollgate, the budget named", h, oe.Message)
			}
			ac := anthropicClient(e, secretAlice)
			_, err = ac.Messages.New(t.Context(), messageParams("claude-haiku-4-5", 100))
			var ae *anthropic.Error
			if !errors.As(err, &ae) || ae.StatusCode != want || ae.Type() != "billing_error" {
				t.Fatalf("anthropic err = %v, want *anthropic.Error %d billing_error", err, want)
			}
			if got := e.requests.Load() - before; got != 2 {
				t.Errorf("the SDKs sent %d requests for two budget refusals, want 2 (no retry)", got)
			}
		})
	}
}

// TestRefusalGoldens pins the bodies and headers of tollgate's own refusals in both
// formats.
func TestRefusalGoldens(t *testing.T) {
	alice := []string{"Authorization", "Bearer " + secretAlice}
	aliceAn := []string{"X-Api-Key", secretAlice, "Anthropic-Version", "2023-06-01"}
	budget := newEnv(t, envConfig{rules: spentBudget})
	budget402 := newEnv(t, envConfig{rules: spentBudget, gateway: func(c *Config) { c.BudgetStatus = 402 }})
	session, _, _ := stubEnv(t, requireSession(t))
	tests := []struct {
		name   string
		e      *env
		path   string
		body   string
		hdr    []string
		status int
	}{
		{"openai_budget", budget, "/v1/chat/completions", okChat, alice, 429},
		{"anthropic_budget", budget, "/v1/messages", okMessages, aliceAn, 429},
		{"openai_budget-402", budget402, "/v1/chat/completions", okChat, alice, 402},
		{"anthropic_budget-402", budget402, "/v1/messages", okMessages, aliceAn, 402},
		{"openai_require-session", session, "/v1/chat/completions", okChat, alice, 400},
		{"anthropic_require-session", session, "/v1/messages", okMessages, aliceAn, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.e.do(t, http.MethodPost, tt.path, tt.body, tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			id := resp.Header.Get(HeaderRequestID)
			if id == "" {
				t.Error("no request id on a refusal")
			}
			// Anthropic's SDKs read request-id; OpenAI's x-request-id only.
			want := ""
			if strings.HasPrefix(tt.name, "anthropic") {
				want = id
			}
			if got := resp.Header.Get(HeaderAnthropicRequestID); got != want {
				t.Errorf("Request-Id = %q, want %q (X-Request-Id %q)", got, want, id)
			}
			golden(t, "errors/"+tt.name+".txt", transcript(resp, body))
		})
	}
}

// TestRequireSession: a key that requires a session refuses a request without one, and
// serves it with X-Session-Id or the body's own hint, through each SDK.
func TestRequireSession(t *testing.T) {
	e := newEnv(t, envConfig{gateway: requireSession(t)})
	ctx := t.Context()
	oc := openAIClient(e, secretAlice)
	_, err := oc.Chat.Completions.New(ctx, chatParams("gpt-4o-mini", 20))
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 400 || !strings.Contains(oe.Message, "requires a session id") {
		t.Errorf("no session: err = %v, want 400 saying a session id is required", err)
	}
	if _, err := oc.Chat.Completions.New(ctx, chatParams("gpt-4o-mini", 20), option.WithHeader(HeaderSessionID, "run-1")); err != nil {
		t.Errorf("with X-Session-Id: %v", err)
	}
	p := chatParams("gpt-4o-mini", 20)
	p.User = openai.String("run-2")
	if _, err := oc.Chat.Completions.New(ctx, p); err != nil {
		t.Errorf("with user: %v", err)
	}
	ac := anthropicClient(e, secretAlice)
	_, err = ac.Messages.New(ctx, messageParams("claude-haiku-4-5", 20))
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Type() != "invalid_request_error" {
		t.Errorf("no session: err = %v, want 400 invalid_request_error", err)
	}
	mp := messageParams("claude-haiku-4-5", 20)
	mp.Metadata = anthropic.MetadataParam{UserID: anthropic.String("run-3")}
	if _, err := ac.Messages.New(ctx, mp); err != nil {
		t.Errorf("with metadata.user_id: %v", err)
	}
}

// TestAllCoolingDown: once every model of a route is cooling down, the answer is
// tollgate's (no upstream was called), in each format.
func TestAllCoolingDown(t *testing.T) {
	oa := &stub{name: "openai", format: llm.OpenAI,
		err: &llm.Error{Kind: llm.KindOverloaded, Provider: "openai", Status: 503, Message: "overloaded"}}
	e := newEnv(t, envConfig{providers: map[string]llm.Provider{"openai": oa},
		routes: []fallback.Route{{Name: "pair", Steps: []fallback.Step{{Model: "gpt-4o"}, {Model: "gpt-4o-mini"}}}}})
	chat := `{"model":"pair","messages":[{"role":"user","content":"hi"}]}`
	alice := []string{"Authorization", "Bearer " + secretAlice}
	var resp *http.Response
	var body []byte
	for i := range 10 {
		resp, body = e.do(t, http.MethodPost, "/v1/chat/completions", chat, alice...)
		if resp.Header.Get(HeaderErrorSource) == "tollgate" {
			break
		}
		if resp.StatusCode != 503 || resp.Header.Get(HeaderErrorSource) != "upstream" {
			t.Fatalf("request %d = %d source %q, want the upstream's 503 until the breakers open", i, resp.StatusCode,
				resp.Header.Get(HeaderErrorSource))
		}
	}
	calls := len(oa.calls)
	// The answer says when the first breaker half-opens: at most the breaker's 30s
	// cooldown from now.
	waits := func(resp *http.Response) {
		t.Helper()
		ra, err1 := strconv.Atoi(resp.Header.Get("Retry-After"))
		ms, err2 := strconv.Atoi(resp.Header.Get("Retry-After-Ms"))
		if err1 != nil || err2 != nil || ra < 1 || ra > 30 || ms < 1 || ms > 30_000 {
			t.Errorf("Retry-After %q, Retry-After-Ms %q; want when the first breaker half-opens, within 30s",
				resp.Header.Get("Retry-After"), resp.Header.Get("Retry-After-Ms"))
		}
	}
	waits(resp)
	golden(t, "errors/openai_cooldown.txt", untilFree(transcript(resp, body)))
	resp, body = e.do(t, http.MethodPost, "/v1/messages", `{"model":"pair","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
		"X-Api-Key", secretAlice)
	waits(resp)
	golden(t, "errors/anthropic_cooldown.txt", untilFree(transcript(resp, body)))
	if len(oa.calls) != calls {
		t.Errorf("the upstream was called %d more times while every model cooled down", len(oa.calls)-calls)
	}
}

// untilFree replaces in a transcript the wait until a breaker half-opens, which the clock
// decides, by a placeholder.
func untilFree(b []byte) []byte {
	return regexp.MustCompile(`Retry-After(-Ms)?: [0-9]+|half-opens in [0-9.]+[mµn]?s`).ReplaceAllFunc(b, func(m []byte) []byte {
		i := bytes.LastIndexAny(m, " ")
		return append(m[:i+1:i+1], "<wait>"...)
	})
}

// TestContextWindowIsTollgates: a prompt larger than every model's context window is
// refused by tollgate itself, before any upstream call, and says so.
func TestContextWindowIsTollgates(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := openAIClient(e, secretAlice)
	huge := strings.Repeat("lorem ipsum dolor sit amet ", 40_000)
	p := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", MaxTokens: openai.Int(10),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(huge)}}
	_, err := c.Chat.Completions.New(t.Context(), p)
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 400 || oe.Code != "context_length_exceeded" {
		t.Fatalf("err = %v, want *openai.Error 400 context_length_exceeded", err)
	}
	if got := oe.Response.Header.Get(HeaderErrorSource); got != "tollgate" {
		t.Errorf("%s = %q, want tollgate", HeaderErrorSource, got)
	}
	if n := e.emu.Stats().Total.Requests; n != 0 {
		t.Errorf("the upstream got %d requests, want none", n)
	}
}

// TestClassifyResult: what Do's error becomes given the chain in its Result.
func TestClassifyResult(t *testing.T) {
	day := quota.Quota{Name: "tenant-usd", Key: "k", Unit: quota.MicroUSD, Limit: 5_000_000, Window: quota.Daily(nil)}
	budget := quota.NewRefusal(day, quota.ErrBudget, 5_000_000, 20_000, time.Hour, time.Now().Add(time.Hour))
	skipCool := fallback.Attempt{Model: "gpt-4o-mini", Provider: "openai", Result: fallback.Skipped, Why: fallback.WhyCooldown}
	tests := []struct {
		name       string
		err        error
		attempts   []fallback.Attempt
		status     int
		source     string
		final      bool
		code       string
		retryAfter time.Duration
	}{
		// The engine decides that the budget's final refusal wins over a later cooldown.
		{"budget refusal before a cooling step", budget, []fallback.Attempt{
			{Model: "gpt-4o", Provider: "openai", Result: fallback.Skipped, Why: fallback.WhyBudget, Err: budget}, skipCool},
			429, "tollgate", true, "insufficient_quota", time.Hour},
		{"every step cooling", &engine.CooldownError{Deployments: []string{"openai/gpt-4o", "openai/gpt-4o-mini"},
			RetryAfter: 7 * time.Second}, []fallback.Attempt{
			{Model: "gpt-4o", Provider: "openai", Result: fallback.Skipped, Why: fallback.WhyCooldown}, skipCool},
			503, "tollgate", false, "models_cooling_down", 7 * time.Second},
		{"hold not journaled", fmt.Errorf("%w: %w", engine.ErrHold, context.DeadlineExceeded), []fallback.Attempt{
			{Model: "gpt-4o", Provider: "openai", Result: fallback.Failed, Why: fallback.WhyHold}},
			503, "tollgate", false, "unavailable", time.Second},
		{"every step cannot carry the request", &llm.UntranslatableError{From: llm.Anthropic, To: llm.OpenAI,
			Field: "messages[1].content[0]", Reason: "a server tool result"}, []fallback.Attempt{
			{Model: "gpt-4o", Provider: "openai", Result: fallback.Skipped, Why: fallback.WhyUntranslatable}},
			400, "tollgate", false, "unsupported_request", 0},
		{"no step can serve the endpoint", &llm.UnsupportedError{Provider: "anthropic", Format: llm.Embeddings,
			Reason: "Anthropic has no embeddings API"}, []fallback.Attempt{
			{Model: "claude-haiku-4-5", Provider: "anthropic", Result: fallback.Skipped, Why: fallback.WhyUnsupported}},
			400, "tollgate", false, "unsupported_request", 0},
		{"an upstream failed after a cooling step", &llm.Error{Kind: llm.KindServer, Provider: "openai", Status: 500}, []fallback.Attempt{
			skipCool, {Model: "gpt-4o", Provider: "openai", Result: fallback.Failed, Why: fallback.WhyUpstream}},
			502, "upstream", false, "", 0},
		{"no step reached an upstream", &llm.Error{Kind: llm.KindOverloaded, Provider: "openai", Message: "in cooldown"}, []fallback.Attempt{
			{Model: "gpt-4o", Provider: "openai", Result: fallback.Skipped, Why: fallback.WhyContextWindow}, skipCool},
			503, "tollgate", false, "overloaded", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := classifyResult(tt.err, &engine.Result{Outcome: fallback.Outcome{Attempts: tt.attempts}})
			if e.status != tt.status || e.source() != tt.source || e.final != tt.final || e.oaCode != tt.code {
				t.Errorf("= %d %s final %v code %s, want %d %s %v %s", e.status, e.source(), e.final, e.oaCode,
					tt.status, tt.source, tt.final, tt.code)
			}
			if tt.retryAfter != 0 && (e.retryAfter <= 0 || e.retryAfter > tt.retryAfter) {
				t.Errorf("retry after %v, want (0, %v]", e.retryAfter, tt.retryAfter)
			}
			if tt.retryAfter == 0 && e.retryAfter != 0 {
				t.Errorf("retry after %v, want none", e.retryAfter)
			}
		})
	}
}

// TestSlowBody: a body that does not arrive within the server's ReadTimeout gets 408 in
// the caller's format, not a 503 that invites the same upload again.
func TestSlowBody(t *testing.T) {
	e, _, _ := stubEnv(t, func(c *Config) { c.ReadTimeout = 200 * time.Millisecond })
	url, _, _ := serve(t, e)
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The headers promise 100 bytes; 10 arrive, then nothing until the server gives up.
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":", secretAlice)
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	var v struct {
		Error struct{ Type, Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || v.Error.Code != "request_timeout" || resp.Header.Get("Retry-After") != "" {
		t.Errorf("= %d %+v Retry-After %q, want 408 request_timeout without Retry-After", resp.StatusCode, v.Error, resp.Header.Get("Retry-After"))
	}
}

// TestUpstreamFieldsRedacted: an upstream that echoes tollgate's provider key in every
// field of its error body (message, type, param, code) reaches neither the caller nor the
// log with the key.
func TestUpstreamFieldsRedacted(t *testing.T) {
	echo := func(status int, format llm.Format) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if format == llm.Anthropic {
				key = r.Header.Get("X-Api-Key")
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			if format == llm.Anthropic {
				fmt.Fprintf(w, `{"type":"error","error":{"type":"invalid_request_error %[1]s","message":"bad key %[1]s"}}`, key)
				return
			}
			fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %[1]s","type":"invalid_request_error %[1]s","param":"%[1]s","code":"bad_key_%[1]s"}}`, key)
		}
	}
	for _, status := range []int{400, 429, 500} {
		oaUp := httptest.NewServer(echo(status, llm.OpenAI))
		anUp := httptest.NewServer(echo(status, llm.Anthropic))
		t.Cleanup(oaUp.Close)
		t.Cleanup(anUp.Close)
		op, err := oaprovider.New(oaprovider.Config{BaseURL: oaUp.URL + "/v1", APIKey: upstreamSecret})
		if err != nil {
			t.Fatal(err)
		}
		ap, err := anprovider.New(anprovider.Config{BaseURL: anUp.URL, APIKey: upstreamSecret})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, envConfig{providers: map[string]llm.Provider{"openai": op, "anthropic": ap}})
		for _, path := range []string{"/v1/chat/completions", "/v1/messages"} {
			body := okChat
			if path == "/v1/messages" {
				body = okMessages
			}
			resp, b := e.do(t, http.MethodPost, path, body, "Authorization", "Bearer "+secretAlice)
			if resp.StatusCode < 400 {
				t.Fatalf("%d %s: status %d", status, path, resp.StatusCode)
			}
			noLeak(t, fmt.Sprintf("%d %s answer", status, path), string(b)+fmt.Sprint(resp.Header))
		}
		noLeak(t, "log", e.logs.String())
	}
}
