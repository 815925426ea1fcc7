// Package engine is the life of one request, provider-neutral: identify, admit, plan,
// reserve, call, settle, fall back. The gateway is a thin HTTP adapter over it, and Go
// programs use it directly.
//
//	identify → the Request's Identity: who pays (tenant, key, session, agent) and who waits
//	admit    → the priority queue, until every quota of the attempt can be reserved
//	plan     → walk the route's chain, skipping models in cooldown, too small for the
//	           prompt, or too expensive for the budget left (downgrade), or clamping max_tokens
//	reserve  → one all-or-nothing step over every quota, at the worst case
//	call     → the upstream, with retries bounded by the deadline and a retry budget
//	settle   → the real usage replaces the worst case; the ledger gets a record
//	fallback → on rate limits, overload, timeouts and context-length errors: the next step,
//	           ending with a cached or static answer when the route has one
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/retry"
)

// Errors returned by Do, besides the quota, queue and upstream errors it passes through.
var (
	// ErrUnknownRoute: the request names neither a route nor a model.
	ErrUnknownRoute = errors.New("unknown model or route")
	// ErrNoRoute: every step of the chain was skipped and none could answer.
	ErrNoRoute = errors.New("no step of the route could serve the request")
	// ErrDowngraded is the error of a chain step skipped because its worst case no longer
	// fits the budget while a cheaper step follows (see fallback.Attempt.Err).
	ErrDowngraded = errors.New("skipped for the budget")
)

// Recorder receives a usage record for every settled attempt; *ledger.Ledger is one.
type Recorder interface {
	Append(r ledger.Record) error
}

// Config configures an Engine. Zero fields take the documented defaults.
type Config struct {
	// Providers are the upstreams by name ("openai", "anthropic"). Required.
	Providers map[string]llm.Provider
	// Pricing prices models and gives their limits; nil means pricing.Default().
	Pricing *pricing.Table
	// Routes names fallback chains; a model name that is not a route is a one-step route.
	Routes *fallback.Routes
	// Rules are the quotas; each attempt reserves every rule that applies to it.
	Rules quota.Rules
	// Store holds quota state; nil means a new quota.MemoryStore.
	Store quota.Store
	// Queue configures admission.
	Queue queue.Config
	// Retry is the policy between attempts at one model.
	Retry retry.Policy
	// RetryBudget caps retries across all requests.
	RetryBudget retry.BudgetConfig
	// FallbackAfter is the longest wait before a retry of the same model while the route
	// has another model to go to: a server asking for longer (a 429 with Retry-After: 60)
	// sends the request down the chain at once instead. 0 means 2s; the retry policy's own
	// limits apply when no model follows.
	FallbackAfter time.Duration
	// ChainAttempts caps upstream attempts per request across the whole chain; 0 means
	// retry.DefaultChainAttempts.
	ChainAttempts int
	// Cooldown configures the per-deployment circuit breakers.
	Cooldown fallback.CooldownConfig
	// Cache, when set, serves routes' cache-first lookups and "cached" steps, and stores
	// every successful non-streaming answer.
	Cache *cache.Cache
	// SharedCache, when set, is used instead of Cache: a cache shared by replicas (Redis).
	SharedCache ResponseCache
	// SharedCooldowns, when set, replaces the in-process breakers built from Cooldown: the
	// cooldowns of deployments shared by replicas (Redis).
	SharedCooldowns Cooldowns
	// DefaultMaxTokens caps the output of a request that sets no max_tokens, so that its
	// worst case is bounded; 0 means 4096 (or the model's own maximum if lower).
	DefaultMaxTokens int
	// MinClampTokens is the smallest max_tokens worth clamping to; below it the step is
	// skipped instead. 0 means 64.
	MinClampTokens int
	// Ledger, when set, receives a record per settled attempt.
	Ledger Recorder
	// OnEvent, when set, is called synchronously for every event; it must be fast.
	OnEvent func(Event)
	// Logger receives warnings (budget thresholds) and refusals; nil means slog.Default().
	Logger *slog.Logger
	// LeaseRenew, when positive and the Store renews leases (the Redis store: a crashed
	// replica's concurrency slots come back after its lease time), renews an open
	// reservation this often while its call or stream runs, so that a long stream keeps
	// its slot. Zero means no renewal, which suits the memory store.
	LeaseRenew time.Duration
	// CacheTimeout bounds a write to the response cache, which runs detached from the
	// caller; 0 means 1s. Settles need no such bound: the memory store never blocks and
	// the Redis store bounds every call by its own timeout.
	CacheTimeout time.Duration
}

// ResponseCache stores successful answers by request key; *cache.Cache (through Config.Cache)
// is the in-process one.
type ResponseCache interface {
	Get(ctx context.Context, k cache.Key, now time.Time) (e cache.Entry, fresh, ok bool)
	Put(ctx context.Context, k cache.Key, resp *llm.Response, now time.Time) error
}

// Cooldowns is the circuit breaker per deployment ("openai/gpt-4o") that the engine asks
// before each call; *fallback.Cooldowns is the in-process one. Allow's done must be called
// exactly once with the call's result.
type Cooldowns interface {
	Allow(deployment string, now time.Time) (done func(err error, now time.Time), until time.Time, ok bool)
	State(deployment string, now time.Time) fallback.State
}

var _ Cooldowns = (*fallback.Cooldowns)(nil)

// memoryCache adapts the in-process cache, which never blocks, to ResponseCache.
type memoryCache struct{ c *cache.Cache }

func (m memoryCache) Get(_ context.Context, k cache.Key, now time.Time) (cache.Entry, bool, bool) {
	return m.c.Get(k, now)
}

func (m memoryCache) Put(_ context.Context, k cache.Key, resp *llm.Response, now time.Time) error {
	return m.c.Put(k, resp, now)
}

// renewer is a Store whose leases expire unless renewed.
type renewer interface {
	Renew(ctx context.Context, id quota.ID) error
}

// Engine runs requests. It is safe for concurrent use.
type Engine struct {
	cfg       Config
	providers map[string]llm.Provider
	prices    *pricing.Table
	routes    *fallback.Routes
	store     quota.Store
	queue     *queue.Queue
	quotas    quotaCache
	cooldowns Cooldowns
	cache     ResponseCache
	budget    *retry.Budget
	log       *slog.Logger
	open      atomic.Int64 // reservations neither settled nor released
}

// New validates cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if len(cfg.Providers) == 0 {
		return nil, errors.New("engine: Config.Providers is empty")
	}
	for i := range cfg.Rules {
		if err := cfg.Rules[i].Validate(); err != nil {
			return nil, fmt.Errorf("engine: Config.Rules[%d]: %w", i, err)
		}
	}
	if err := cfg.Retry.Validate(); err != nil {
		return nil, fmt.Errorf("engine: Config.Retry: %w", err)
	}
	if err := cfg.Cooldown.Validate(); err != nil {
		return nil, fmt.Errorf("engine: Config.Cooldown: %w", err)
	}
	e := &Engine{cfg: cfg, providers: cfg.Providers, prices: cfg.Pricing, routes: cfg.Routes,
		store: cfg.Store, log: cfg.Logger, quotas: quotaCache{rules: cfg.Rules}}
	if e.prices == nil {
		e.prices = pricing.Default()
	}
	if e.routes == nil {
		e.routes, _ = fallback.NewRoutes()
	}
	if e.store == nil {
		e.store = quota.NewMemoryStore(quota.MemoryConfig{})
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.cfg.DefaultMaxTokens <= 0 {
		e.cfg.DefaultMaxTokens = 4096
	}
	if e.cfg.MinClampTokens <= 0 {
		e.cfg.MinClampTokens = 64
	}
	if e.cfg.FallbackAfter <= 0 {
		e.cfg.FallbackAfter = 2 * time.Second
	}
	if e.cfg.CacheTimeout <= 0 {
		e.cfg.CacheTimeout = time.Second
	}
	var err error
	if e.queue, err = queue.New(e.store, cfg.Queue); err != nil {
		return nil, fmt.Errorf("engine: Config.Queue: %w", err)
	}
	if e.budget, err = retry.NewBudget(cfg.RetryBudget); err != nil {
		return nil, fmt.Errorf("engine: Config.RetryBudget: %w", err)
	}
	e.cooldowns = cfg.SharedCooldowns
	if e.cooldowns == nil {
		e.cooldowns = fallback.NewCooldowns(cfg.Cooldown)
	}
	switch {
	case cfg.SharedCache != nil:
		e.cache = cfg.SharedCache
	case cfg.Cache != nil:
		e.cache = memoryCache{cfg.Cache}
	}
	return e, nil
}

// Close stops admitting: waiters in the queue get queue.ErrClosed. Requests already
// admitted finish normally.
func (e *Engine) Close() error { return e.queue.Close() }

// Queue returns the admission queue, for its statistics.
func (e *Engine) Queue() *queue.Queue { return e.queue }

// Store returns the quota store.
func (e *Engine) Store() quota.Store { return e.store }

// Cooldowns returns the per-deployment circuit breakers, for their state.
func (e *Engine) Cooldowns() Cooldowns { return e.cooldowns }

// Open returns the number of reservations not yet settled or released: zero once every
// request, streams included, is done.
func (e *Engine) Open() int64 { return e.open.Load() }

// Route resolves a request's model field to its route.
func (e *Engine) Route(name string) (fallback.Route, error) {
	r, ok := e.routes.Lookup(name)
	if !ok {
		return r, fmt.Errorf("%w: %q", ErrUnknownRoute, name)
	}
	return r, nil
}

// Do runs req through its route and returns the answer and what happened on the way. The
// Result is never nil, also on error.
//
// For a streaming request the Response's Stream must be read to its end or closed: the
// reservation settles then (see the package documentation for how a stream that ends
// early is charged).
func (e *Engine) Do(ctx context.Context, req *llm.Request) (*Result, error) {
	r := e.newRun(ctx, req)
	resp, err := r.run(ctx)
	if err != nil {
		r.emit(Event{Kind: Refused, Err: err, Reason: refusalReason(err)})
	}
	r.res.RequestID = r.id
	r.res.Response = resp
	r.res.Outcome = r.outcome
	return &r.res, err
}

func refusalReason(err error) string {
	var qe *quota.ExceededError
	switch {
	case errors.As(err, &qe):
		return qe.Unwrap().Error()
	case errors.Is(err, queue.ErrFull):
		return "queue full"
	case errors.Is(err, queue.ErrTimeout):
		return "queue timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	if k := llm.KindOf(err); k != llm.KindUnknown {
		return k.String()
	}
	return "error"
}
