package tollgate

import (
	"context"

	"github.com/tollgate/tollgate/llm"
)

// identityKey is the context key of the identity that the With functions set.
type identityKey struct{}

// WithIdentity returns a copy of ctx whose SDK calls run as id: who pays (Tenant, Key,
// Session, Agent, which quota rules scope by) and who waits (Priority). It replaces what
// ctx named before; WithTenant, WithAgent, WithSession and WithPriority change one field.
func WithIdentity(ctx context.Context, id llm.Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity that ctx names; the zero Identity when it names none.
func IdentityFrom(ctx context.Context) llm.Identity {
	id, _ := ctx.Value(identityKey{}).(llm.Identity)
	return id
}

// WithTenant returns a copy of ctx whose SDK calls are paid for by tenant: quota rules
// scoped by tenant (quota.Labels.Tenant) apply to them.
func WithTenant(ctx context.Context, tenant string) context.Context {
	id := IdentityFrom(ctx)
	id.Tenant = tenant
	return WithIdentity(ctx, id)
}

// WithAgent returns a copy of ctx whose SDK calls are made by agent: quota rules scoped by
// agent (quota.Labels.Agent) apply to them.
func WithAgent(ctx context.Context, agent string) context.Context {
	id := IdentityFrom(ctx)
	id.Agent = agent
	return WithIdentity(ctx, id)
}

// WithSession returns a copy of ctx whose SDK calls belong to session, such as one run of
// an agent: quota rules scoped by session (a budget per run) apply to them. Without it,
// the session is the request body's OpenAI "user" or Anthropic metadata.user_id, as the
// gateway takes it.
func WithSession(ctx context.Context, session string) context.Context {
	id := IdentityFrom(ctx)
	id.Session = session
	return WithIdentity(ctx, id)
}

// WithPriority returns a copy of ctx whose SDK calls wait in the admission queue at
// priority: 3 or more is critical, 2 high, 1 and 0 normal, a negative value low (see
// queue.LevelOf). Higher priorities are admitted first when capacity is short.
func WithPriority(ctx context.Context, priority int) context.Context {
	id := IdentityFrom(ctx)
	id.Priority = priority
	return WithIdentity(ctx, id)
}
