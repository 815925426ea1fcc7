package gateway

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// BenchmarkOverhead measures what the gateway adds to one non-streaming call: the same
// request sent straight to a zero-latency emulator, then through the gateway (auth, parse,
// engine, OpenAI adapter, headers) to that emulator, without and with a typical set of
// quotas (a key rate, a tenant budget, a session budget). Each uses a keep-alive client.
// The overhead per request is gateway minus direct.
func BenchmarkOverhead(b *testing.B) {
	quotas := quota.Rules{
		{Name: "key-rpm", Scope: quota.Labels{Key: quota.Each}, Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()},
		{Name: "tenant-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 50, Window: quota.Daily(nil)},
		{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 50, Window: quota.Forever()},
	}
	emu := emulator.Config{Output: emulator.Output{MinTokens: 20, MaxTokens: 20}}
	body := `{"model":"gpt-4o-mini","max_tokens":50,"messages":[{"role":"user","content":"hello there, how are you"}]}`

	run := func(b *testing.B, url string, hdr http.Header) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		defer client.CloseIdleConnections()
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
			req.Header = hdr.Clone()
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	}

	b.Run("direct", func(b *testing.B) {
		e := newEnv(b, envConfig{emu: emu})
		run(b, e.emu.URL()+"/v1/chat/completions", http.Header{"Authorization": {"Bearer sk-direct"}})
	})
	b.Run("gateway", func(b *testing.B) {
		e := newEnv(b, envConfig{emu: emu})
		run(b, e.srv.URL+"/v1/chat/completions", http.Header{"Authorization": {"Bearer " + secretAlice}})
	})
	b.Run("gateway+quotas", func(b *testing.B) {
		e := newEnv(b, envConfig{emu: emu, rules: quotas})
		run(b, e.srv.URL+"/v1/chat/completions", http.Header{"Authorization": {"Bearer " + secretAlice},
			"X-Session-Id": {"bench"}})
	})
}

// fiveQuotas are the quotas of bench/load: request and token rates per model, a global
// concurrency lease, a session budget and a daily tenant budget, none of which binds.
var fiveQuotas = quota.Rules{
	{Name: "rpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()},
	{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 1 << 50, Window: quota.PerMinute()},
	{Name: "concurrency", Unit: quota.Concurrent, Limit: 1 << 20, Window: quota.Leased()},
	{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 62, Window: quota.Forever()},
	{Name: "daily-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 62, Window: quota.Daily(time.UTC)},
}

// BenchmarkHandler measures the gateway and engine alone: a request served in-process by
// ServeHTTP over a stub upstream, without network, without and with the five quotas of
// bench/load, and with an access log line per request. cpu-ns/op is the process's CPU
// time (user and system, GC included) per request, which contention with other work on
// the machine disturbs less than ns/op.
func BenchmarkHandler(b *testing.B) {
	for _, bc := range []struct {
		name  string
		rules quota.Rules
		log   slog.Handler
	}{
		{"plain", nil, slog.DiscardHandler},
		{"quotas", fiveQuotas, slog.DiscardHandler},
		// The access log's cost: a JSON line per request.
		{"quotas+accesslog", fiveQuotas, slog.NewJSONHandler(io.Discard, nil)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			oa := &stub{name: "openai", format: llm.OpenAI}
			e := newEnv(b, envConfig{providers: map[string]llm.Provider{"openai": oa}, rules: bc.rules,
				gateway: func(c *Config) { c.Logger = slog.New(bc.log) }})
			body := []byte(`{"model":"gpt-4o-mini","max_tokens":50,"messages":[{"role":"user","content":"hello there, how are you"}]}`)
			hdr := http.Header{"Authorization": {"Bearer " + secretAlice}, "X-Session-Id": {"bench"}}
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				oa.mu.Lock()
				oa.calls = oa.calls[:0]
				oa.mu.Unlock()
				req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
				req.Header = hdr
				w := httptest.NewRecorder()
				e.gw.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
