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

// QuotaStatus appends to dst the state of every quota that applies to a request of id
// served by model (a model id as in a route; provider "" means the price table's provider
// for it), as the store last reported it: in its answer to the latest reserve or settle of
// those quotas, normally the settle of the request the caller just served (or, for a
// stream still running, its reserve). It calls no store: the gateway reports the result
// in its rate-limit and budget headers without a round trip. It appends nothing when no
// rule applies or no request has used these quotas recently (the engine remembers the
// last 8,192 label sets).
func (e *Engine) QuotaStatus(_ context.Context, id llm.Identity, provider, model string, dst []quota.Status) ([]quota.Status, error) {
	name := model
	if m, err := e.prices.Lookup(model); err == nil {
		name = m.Name
		if provider == "" {
			provider = m.Provider
		}
	}
	set := e.quotas.get(quota.Labels{Provider: provider, Model: name, Tenant: id.Tenant,
		Key: id.Key, Agent: id.Agent, Session: id.Session})
	return set.recall(dst), nil
}
