package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// TestSessionsAreScopedWithinTheirTenant: session and agent ids are chosen by callers, so
// two tenants may send the same one; each tenant's session (and agent) budget is its own.
func TestSessionsAreScopedWithinTheirTenant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		scope quota.Labels
		set   func(id *llm.Identity, v string)
	}{
		{"session", quota.Labels{Session: quota.Each}, func(id *llm.Identity, v string) { id.Session = v }},
		{"agent", quota.Labels{Agent: quota.Each}, func(id *llm.Identity, v string) { id.Agent = v }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Room for one request (a worst case of 1000 input + 100 output tokens, settled at
			// 120), not two.
			rules := quota.Rules{{Name: "run", Scope: tt.scope, Unit: quota.Tokens, Limit: 1150, Window: quota.Forever()}}
			e := newEngine(t, engine.Config{Providers: map[string]llm.Provider{"openai": newScripted("openai")}, Rules: rules})
			do := func(tenant string) error {
				req := request("gpt-4o-mini", 100)
				req.Identity = llm.Identity{Tenant: tenant}
				tt.set(&req.Identity, "victim-sess")
				_, err := e.Do(context.Background(), req)
				return err
			}
			if err := do("beta"); err != nil {
				t.Fatalf("beta's first request: %v", err)
			}
			if err := do("beta"); !errors.Is(err, quota.ErrBudget) {
				t.Fatalf("beta's second request = %v, want its own %s budget spent", err, tt.name)
			}
			if err := do("alpha"); err != nil {
				t.Errorf("alpha's request under the same %s id = %v, want it served from alpha's own budget", tt.name, err)
			}
		})
	}
}
