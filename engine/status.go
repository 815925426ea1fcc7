package engine

import (
	"context"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/quota"
)

// Pricing returns the price table the engine plans with: the gateway checks a request's
// max_tokens against a model's MaxOutput and lists models with it.
func (e *Engine) Pricing() *pricing.Table { return e.prices }

// QuotaStatus appends to dst the current state of every quota that applies to a request of
// id served by model (a model id as in a route; provider "" means the price table's
// provider for it), without changing any. It is one Store.Status call, and none when no
// rule applies. The gateway reports the result in its rate-limit and budget headers.
func (e *Engine) QuotaStatus(ctx context.Context, id llm.Identity, provider, model string, dst []quota.Status) ([]quota.Status, error) {
	name := model
	if m, err := e.prices.Lookup(model); err == nil {
		name = m.Name
		if provider == "" {
			provider = m.Provider
		}
	}
	qs := e.cfg.Rules.For(nil, quota.Labels{Provider: provider, Model: name, Tenant: id.Tenant,
		Key: id.Key, Agent: id.Agent, Session: id.Session})
	if len(qs) == 0 {
		return dst, nil
	}
	return e.store.Status(ctx, qs, dst)
}
