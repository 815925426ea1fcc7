package gateway

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate/emulator"
)

// TestAccessLog: each request gets one JSON line naming it by the id its answer carries,
// with who asked, what served, and (for a stream, once it ended) its tokens and cost; with
// sampling, only some answered requests are logged but every refusal is.
func TestAccessLog(t *testing.T) {
	logs := &syncBuffer{}
	e := newEnv(t, envConfig{emu: emulator.Config{Seed: 1, Output: fixedOutput},
		gateway: func(c *Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		}})
	c := openAIClient(e, secretAlice, option.WithHeader(HeaderSessionID, "run-7"), option.WithHeader(HeaderAgentID, "planner"))
	var hr *http.Response
	params := chatParams("gpt-4o-mini", 100)
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := c.Chat.Completions.NewStreaming(t.Context(), params, option.WithResponseInto(&hr))
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	// The SDK stops reading at [DONE], which the handler writes before it returns and logs
	// the request: closing the server waits for the handler.
	e.srv.Close()
	type line struct {
		Msg, Level, RequestID, Tenant, Key, Session, Agent, Route, Model, Provider, Outcome string
		Status                                                                              int
		InputTokens, OutputTokens, MicroUSD                                                 int64
		QueueWait, Latency                                                                  *int64
	}
	var got []line
	for l := range strings.Lines(logs.String()) {
		var raw map[string]any
		if err := json.Unmarshal([]byte(l), &raw); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		// Field names in the log are snake case.
		b, _ := json.Marshal(map[string]any{"Msg": raw["msg"], "Level": raw["level"], "RequestID": raw["request_id"],
			"Tenant": raw["tenant"], "Key": raw["key"], "Session": raw["session"], "Agent": raw["agent"], "Route": raw["route"],
			"Model": raw["model"], "Provider": raw["provider"], "Outcome": raw["outcome"], "Status": raw["status"],
			"InputTokens": raw["input_tokens"], "OutputTokens": raw["output_tokens"], "MicroUSD": raw["micro_usd"],
			"QueueWait": raw["queue_wait"], "Latency": raw["latency"]})
		var v line
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if len(got) != 1 {
		t.Fatalf("%d lines for one request:\n%s", len(got), logs)
	}
	l := got[0]
	if l.Msg != "request" || l.Level != "INFO" || l.RequestID != hr.Header.Get(HeaderRequestID) || l.Tenant != "acme" ||
		l.Key != "alice" || l.Session != "run-7" || l.Agent != "planner" || l.Route != "gpt-4o-mini" ||
		!strings.HasPrefix(l.Model, "gpt-4o-mini") || l.Provider != "openai" || l.Outcome != "ok" || l.Status != 200 {
		t.Errorf("line %+v does not describe the request (id %s)", l, hr.Header.Get(HeaderRequestID))
	}
	if l.OutputTokens != 50 || l.InputTokens == 0 || l.MicroUSD == 0 || l.QueueWait == nil || l.Latency == nil {
		t.Errorf("line %+v: want the stream's settled 50 output tokens, its input and cost, queue wait and latency", l)
	}
}

// TestAccessLogSample: one answered request in every 1/AccessLogSample is logged; every
// refusal kind is, once per interval.
func TestAccessLogSample(t *testing.T) {
	logs := &syncBuffer{}
	e, _, _ := stubEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.AccessLogSample = 0.25
	})
	for range 8 {
		if resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", okChat, "Authorization", "Bearer "+secretAlice); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
	e.do(t, http.MethodPost, "/v1/chat/completions", okChat)
	var ok, refused int
	for l := range strings.Lines(logs.String()) {
		switch {
		case strings.Contains(l, `"outcome":"ok"`):
			ok++
		case strings.Contains(l, `"outcome":"unauthorized"`):
			refused++
		}
	}
	if ok != 2 || refused != 1 {
		t.Errorf("8 answers and a refusal at sample 0.25 wrote %d and %d lines, want 2 and 1:\n%s", ok, refused, logs)
	}
}
