package engine_test

import (
	"context"
	"testing"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

type noop struct{ resp llm.Response }

func (n *noop) Name() string { return "openai" }
func (n *noop) Do(ctx context.Context, call llm.Call) (*llm.Response, error) {
	r := n.resp
	return &r, nil
}

// BenchmarkDo is the engine's own cost per request: route, estimate, plan, five quotas
// reserved and settled through the queue, events off, a no-op upstream.
func BenchmarkDo(b *testing.B) {
	rules := quota.Rules{
		{Name: "rpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()},
		{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 1 << 50, Window: quota.PerMinute()},
		{Name: "conc", Unit: quota.Concurrent, Limit: 1 << 20, Window: quota.Leased()},
		{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 62, Window: quota.Forever()},
		{Name: "daily-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 62, Window: quota.Daily(nil)},
	}
	up := &noop{resp: llm.Response{Model: "gpt-4o", Text: "ok", Usage: llm.Usage{InputTokens: 1000, OutputTokens: 20}}}
	e, err := engine.New(engine.Config{Providers: map[string]llm.Provider{"openai": up}, Rules: rules})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	req := request("gpt-4o", 100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Do(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
