// Package engine is the life of one request, provider-neutral: identify, admit, plan,
// reserve, call, settle, fall back. The gateway is a thin HTTP adapter over it, and Go
// programs use it directly.
//
//	identify → the Request's Identity: who pays (tenant, key, session, agent) and who waits
//	admit    → the priority queue, until every quota of the attempt can be reserved
//	plan     → walk the route's chain, skipping models in cooldown, too small for the
//	           prompt, or too expensive for the budget left (downgrade), or clamping max_tokens
//	reserve  → one all-or-nothing step over every quota, at the worst case
//	hold     → the worst case journaled in the ledger, durable before the call starts
//	call     → the upstream, with retries bounded by the deadline and a retry budget
//	settle   → the real usage replaces the worst case; the ledger gets a record
//	fallback → on rate limits, overload, timeouts and context-length errors: the next step,
//	           ending with a cached or static answer when the route has one
//
// # Charging rules
//
// Worst case. Each attempt reserves, over every quota that applies to it at once, its
// worst case: the estimated input (Config.Tokenizer) plus n × the output cap, where n is
// the number of choices asked for (OpenAI's "n"; the only field of either API that
// multiplies the output) and the cap is the caller's max_tokens, else
// Config.DefaultMaxTokens, within the model's limits. In micro-USD it is priced by
// pricing.Model.WorstCost, every input token at the dearest input price the request can
// incur (a cache write at its TTL's price when the request has cache_control
// breakpoints), so no usage within those token counts can cost more. Token budgets and
// rate quotas (TPM) count n × the cap too. When a budget refuses the worst case and the
// route clamps, the cap is lowered to what the budget can pay for, divided among the n
// choices; Result.MaxTokens is that per-choice cap as sent.
//
// Settle. A whole answer settles at the usage the upstream reports: input including cache
// reads and writes (each priced at its own rate by pricing.Model.Cost), output summed over
// the choices, reasoning included. An answer that reports no usage at all (some
// OpenAI-compatible servers), and one whose body broke off after the upstream's 200 (it was
// generated, and the attempt fails all the same), are charged their worst case.
//
// Streams that end early. A stream that ends before the upstream reports its final usage
// — the caller went away, the upstream cut the connection, or an error event came after
// the 200 — and a complete stream that never reported usage, are charged, alike for both
// wire formats:
//
//   - input: the input side the upstream reported (Anthropic's message_start carries it,
//     cache reads and writes included), else the estimate the reservation used (OpenAI
//     reports usage only in its last chunk);
//   - output: the generated text relayed so far — answer text, visible reasoning, tool
//     call names and arguments, other choices' text — counted with the Tokenizer's
//     counter of the serving provider's family, or the upstream's own cumulative count
//     when it reported a larger one. A placeholder is never taken for a count (Anthropic's
//     message_start output_tokens is not reported by the adapter); a stream abandoned
//     before its first token is charged its input only;
//   - never more than the reservation's worst case in either part: the upstream cannot
//     generate past the cap, and a count above it is the tokenizer's overestimate;
//   - a model with hidden reasoning (pricing.Model.HiddenReasoning: OpenAI's o-series and
//     gpt-5, whose reasoning is billed as output and never streamed) is charged its whole
//     output cap, n × max_tokens: its reasoning may have taken any part of the cap, in its
//     silent phase or before the visible answer, and nothing relayed tells how much.
//
// What the rule can miss: tokens the upstream generated and billed that never reached
// tollgate before the stream ended (in flight in the network, or generated after the
// caller left and before the upstream noticed the closed connection); the difference
// between the tokenizer's count and the provider's for the text relayed (the offline
// estimates count 1.06x to 1.37x OpenAI's o200k_base, never less; Anthropic's tokenizer
// is not public, and its estimate adds 25%); for OpenAI, an input estimate that differs
// from the prompt tokens the upstream counted; and Claude's summarized thinking, billed
// in full but streamed as a summary. It charges hidden reasoning at the cap, which can be
// far above what was billed.
//
// Cancellation. The caller's cancellation never skips the settle nor the ledger row. An
// upstream call runs on a context that the caller's cancellation does not reach; when the
// caller goes away (cancelled, or past its deadline), Do returns at once, and:
//   - a call still waiting for its answer goes on in the background for at most
//     Config.AbandonTimeout and settles the usage the upstream reports (a stream that
//     starts then is closed at once and charged by the rule above); one still unanswered
//     after it is cut and charged its worst case, since the upstream may have billed it;
//   - a stream being relayed is closed, which stops the upstream generating, and charged
//     by the rule above.
//
// Every attempt that reached the upstream writes one ledger record: outcome "ok",
// "error" (the upstream failed; nothing to charge unless it reported usage) or
// "cancelled" (the caller went away; charged as above).
//
// Holds. With a Ledger configured, each reservation's worst case is journaled
// (Recorder.OpenHold, durable before it returns) after the reserve and before the upstream
// call; the attempt's record closes it in the same transaction (Record.HoldID), and a
// release (nothing was sent) closes it with CloseHold. If the hold cannot be journaled,
// the attempt fails with ErrHold before anything is sent. A hold left open by a process
// that died is charged at its worst case when the ledger is next opened (see package
// ledger), so a crash can make the books count more than was spent, never less. And since
// the quotas give back an attempt's unused worst case only once its record is durable
// (the settle waits for Recorder.Flush, a group commit shared by concurrent settles), what
// a crash charges at the worst case was still held at the worst case by the budgets:
// restored from the ledger, no budget is above its limit by its books.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
	// ErrHold: the ledger could not journal an attempt's hold, so the attempt was not
	// made. It is tollgate's failure, not the upstream's; the error wraps the ledger's.
	ErrHold = errors.New("the ledger could not journal the reservation's hold")
	// ErrCoolingDown: no upstream was called because the circuit breaker of every model
	// the route could use is open (a *CooldownError says until when).
	ErrCoolingDown = errors.New("every model of the route is cooling down")
)

// CooldownError is Do's error when every model step of a route was skipped because its
// deployment's circuit breaker is open (and no step was refused by a budget, whose final
// refusal wins). No upstream was called: the failure is tollgate's, and the caller may
// come back once the first breaker half-opens. It unwraps to ErrCoolingDown.
type CooldownError struct {
	// Deployments are the deployments skipped for their cooldown, in chain order
	// ("openai/gpt-4o").
	Deployments []string
	// Until is when the first of them half-opens and takes a probe; zero when no breaker
	// said (a shared breaker whose state was unavailable).
	Until time.Time
	// RetryAfter is Until less the time of the refusal, at least 1ms when Until is set;
	// 0 when Until is zero.
	RetryAfter time.Duration
}

func (e *CooldownError) Error() string {
	s := "every model of the route is cooling down after upstream failures (" + strings.Join(e.Deployments, ", ") +
		"); no upstream was called"
	if e.RetryAfter > 0 {
		s += "; the first half-opens in " + e.RetryAfter.Round(time.Millisecond).String()
	}
	return s
}

// Unwrap returns ErrCoolingDown.
func (e *CooldownError) Unwrap() error { return ErrCoolingDown }

// Recorder is the ledger the engine writes to; *ledger.Ledger is one. Append receives a
// record for every attempt that reached an upstream, and Flush returns once every record
// appended before it is durable; OpenHold journals an attempt's worst case before its call
// and returns once it is durable; CloseHold closes the hold of an attempt that sent
// nothing. All are called concurrently.
type Recorder interface {
	Append(r ledger.Record) error
	Flush(ctx context.Context) error
	OpenHold(ctx context.Context, h ledger.Hold) error
	CloseHold(id string) error
}

var _ Recorder = (*ledger.Ledger)(nil)

// Config configures an Engine. Zero fields take the documented defaults; Validate reports
// the first field that is wrong.
type Config struct {
	// Providers are the upstreams by name ("openai", "anthropic"). Required.
	Providers map[string]llm.Provider
	// Pricing prices models and gives their limits; nil means pricing.Default().
	Pricing *pricing.Table
	// Routes names fallback chains; a model name that is not a route is a one-step route.
	Routes *fallback.Routes
	// Rules are the quotas; each attempt reserves every rule that applies to it.
	Rules quota.Rules
	// Quotas, when set, puts the quotas on each attempt's labels in place of Rules alone
	// (Quotas.For with Rules): a key registry's own budgets and budget overrides. The
	// engine rebuilds its quotas when Quotas.Generation changes.
	Quotas Quotas
	// Learned configures the upstream limits learned from the upstreams' answers; the
	// zero value learns nothing.
	Learned Learned
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
	// Timeouts bound each attempt at an upstream: to a stream's headers, to its first
	// content, the silence between its events, and a whole answer (see Timeouts); zero
	// fields mean the defaults.
	Timeouts Timeouts
	// UpstreamTimeouts override Timeouts for the steps that go to an upstream, by its name
	// in Providers; zero fields take Timeouts'.
	UpstreamTimeouts map[string]Timeouts
	// RouteTimeouts override UpstreamTimeouts and Timeouts for the steps of a route, by
	// its name; zero fields take the upstream's.
	RouteTimeouts map[string]Timeouts
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
	// SharedConversations, when set, shares among replicas the bounds of the conversations
	// that stored Responses answers left (llm.Response.Conversation), so that a
	// continuation (previous_response_id) reaching another replica than the one that
	// served its previous response is reserved at that bound too, not at the model's
	// context window (Redis: redisstore.Conversations). Each engine keeps its own in
	// memory as well and asks the shared one only for an id it does not know.
	SharedConversations Conversations
	// DefaultMaxTokens caps the output of a request that sets no max_tokens, so that its
	// worst case is bounded; 0 means 4096 (or the model's own maximum if lower).
	DefaultMaxTokens int
	// MinClampTokens is the smallest max_tokens worth clamping to; below it the step is
	// skipped instead. 0 means 64.
	MinClampTokens int
	// Tokenizer estimates prompts and counts the generated text of streams that end
	// early; nil means the offline estimates of package tokens (see OfflineTokenizer).
	// A Tokenizer set here is authoritative: it is asked even for a request whose parser
	// already counted its input (llm.Request.InputTokens, the offline estimate made in the
	// parser's one pass over the body), which is used only when Tokenizer is nil.
	Tokenizer Tokenizer
	// Ledger, when set, journals a hold before every upstream call and receives a record
	// for every attempt that reached an upstream.
	Ledger Recorder
	// OnEvent, when set, is called synchronously for every event, from the request's
	// goroutine or, for the end of a stream or of an abandoned call, from the one that
	// ends it; it must be fast and safe for concurrent use.
	OnEvent func(Event)
	// Logger receives warnings (budget thresholds) and refusals, each line with the
	// request's id; nil means slog.Default().
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
	// AbandonTimeout bounds how long an upstream call whose caller went away (cancelled,
	// or past its deadline) before its answer came may go on in the background so that
	// its real usage is settled; past it the call is cut and charged its worst case. 0
	// means 5 minutes. Close waits for such calls.
	AbandonTimeout time.Duration
}

// Validate reports the first field of c that is invalid, by name. The zero Config is
// invalid only for lack of Providers.
func (c Config) Validate() error {
	if len(c.Providers) == 0 {
		return errors.New("engine: Config.Providers is empty")
	}
	for name, p := range c.Providers {
		if p == nil {
			return fmt.Errorf("engine: Config.Providers[%q] is nil", name)
		}
	}
	for i := range c.Rules {
		if err := c.Rules[i].Validate(); err != nil {
			return fmt.Errorf("engine: Config.Rules[%d]: %w", i, err)
		}
	}
	if err := c.Learned.Validate(c.Providers); err != nil {
		return err
	}
	if err := c.Queue.Validate(); err != nil {
		return fmt.Errorf("engine: Config.Queue: %w", err)
	}
	if err := c.Retry.Validate(); err != nil {
		return fmt.Errorf("engine: Config.Retry: %w", err)
	}
	if err := c.RetryBudget.Validate(); err != nil {
		return fmt.Errorf("engine: Config.RetryBudget: %w", err)
	}
	if err := c.Cooldown.Validate(); err != nil {
		return fmt.Errorf("engine: Config.Cooldown: %w", err)
	}
	for _, f := range [...]struct {
		name string
		v    int64
	}{
		{"FallbackAfter", int64(c.FallbackAfter)}, {"ChainAttempts", int64(c.ChainAttempts)},
		{"DefaultMaxTokens", int64(c.DefaultMaxTokens)}, {"MinClampTokens", int64(c.MinClampTokens)},
		{"LeaseRenew", int64(c.LeaseRenew)}, {"CacheTimeout", int64(c.CacheTimeout)},
		{"AbandonTimeout", int64(c.AbandonTimeout)},
	} {
		if f.v < 0 {
			return fmt.Errorf("engine: Config.%s must not be negative, got %d", f.name, f.v)
		}
	}
	if err := c.Timeouts.validate("Timeouts"); err != nil {
		return err
	}
	for name, t := range c.UpstreamTimeouts {
		if err := t.validate(fmt.Sprintf("UpstreamTimeouts[%q]", name)); err != nil {
			return err
		}
	}
	for name, t := range c.RouteTimeouts {
		if err := t.validate(fmt.Sprintf("RouteTimeouts[%q]", name)); err != nil {
			return err
		}
	}
	if c.Cache != nil && c.SharedCache != nil {
		return errors.New("engine: Config.Cache and Config.SharedCache are both set; set one")
	}
	return nil
}

// ResponseCache stores successful answers by request key; *cache.Cache (through Config.Cache)
// is the in-process one.
type ResponseCache interface {
	Get(ctx context.Context, k cache.Key, now time.Time) (e cache.Entry, fresh, ok bool)
	Put(ctx context.Context, k cache.Key, resp *llm.Response, now time.Time) error
}

// Cooldowns is the circuit breaker per deployment ("openai/gpt-4o") that the engine asks
// before each call; *fallback.Cooldowns is the in-process one. Allow's done must be called
// exactly once with the call's result. An implementation that also has StateUntil
// (fallback.Cooldowns and redisstore.Cooldowns do) lets a route whose every model is
// cooling down tell its caller when to come back (CooldownError.RetryAfter).
type Cooldowns interface {
	Allow(deployment string, now time.Time) (done func(err error, now time.Time), until time.Time, ok bool)
	State(deployment string, now time.Time) fallback.State
}

// stateUntil is the optional method of Cooldowns: State, and for an open deployment when
// it half-opens.
type stateUntil interface {
	StateUntil(deployment string, now time.Time) (fallback.State, time.Time)
}

var (
	_ Cooldowns  = (*fallback.Cooldowns)(nil)
	_ stateUntil = (*fallback.Cooldowns)(nil)
)

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
	convs     conversations
	providers map[string]llm.Provider
	prices    *pricing.Table
	routes    *fallback.Routes
	store     quota.Store
	queue     *queue.Queue
	quotas    quotaCache
	cooldowns Cooldowns
	cache     ResponseCache
	budget    *retry.Budget
	tokenizer Tokenizer
	// parsedInput: the offline tokenizer is in use, so a count the request's parser made
	// (llm.Request.InputTokens) is the same estimate and is taken as it is.
	parsedInput bool
	log         *slog.Logger
	open        atomic.Int64 // reservations neither settled nor released
	calls       callTracker  // upstream calls running in goroutines of their own
}

// New validates cfg (see Config.Validate) and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, providers: cfg.Providers, prices: cfg.Pricing, routes: cfg.Routes,
		store: cfg.Store, log: cfg.Logger, tokenizer: cfg.Tokenizer}
	e.quotas = quotaCache{rules: cfg.Rules, src: cfg.Quotas, learned: &e.cfg.Learned}
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
	if e.tokenizer == nil {
		e.parsedInput = true
		e.tokenizer = OfflineTokenizer{}
	}
	if e.cfg.DefaultMaxTokens == 0 {
		e.cfg.DefaultMaxTokens = 4096
	}
	if e.cfg.MinClampTokens == 0 {
		e.cfg.MinClampTokens = 64
	}
	if e.cfg.FallbackAfter == 0 {
		e.cfg.FallbackAfter = 2 * time.Second
	}
	if e.cfg.CacheTimeout == 0 {
		e.cfg.CacheTimeout = time.Second
	}
	if e.cfg.AbandonTimeout == 0 {
		e.cfg.AbandonTimeout = 5 * time.Minute
	}
	e.cfg.Timeouts = e.cfg.Timeouts.or(defaultTimeouts)
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
// admitted finish normally. It then waits for the upstream calls that their callers
// abandoned (each at most Config.AbandonTimeout) to settle and write their ledger records,
// so that a ledger closed after it has them all.
func (e *Engine) Close() error {
	err := e.queue.Close()
	e.calls.wait()
	return err
}

// Queue returns the admission queue, for its statistics.
func (e *Engine) Queue() *queue.Queue { return e.queue }

// Store returns the quota store.
func (e *Engine) Store() quota.Store { return e.store }

// Pricing returns the price table the engine plans with: the gateway checks a request's
// max_tokens against a model's MaxOutput and lists models with it.
func (e *Engine) Pricing() *pricing.Table { return e.prices }

// Provider returns the upstream called name (Config.Providers), nil when there is none:
// the gateway asks an Anthropic upstream to count a prompt's tokens, a call that is not an
// attempt at generation and that no quota covers.
func (e *Engine) Provider(name string) llm.Provider { return e.providers[name] }

// Cooldowns returns the per-deployment circuit breakers, for their state.
func (e *Engine) Cooldowns() Cooldowns { return e.cooldowns }

// Open returns the number of reservations not yet settled or released: zero once every
// request, streams and abandoned calls included, is done.
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
// reservation settles then. When ctx ends first, Do returns ctx's error at once and the
// upstream call, if one was under way, is settled in the background (see the package
// documentation's charging rules); a stream already returned is closed when ctx ends.
func (e *Engine) Do(ctx context.Context, req *llm.Request) (*Result, error) {
	r := e.newRun(ctx, req)
	resp, err := r.run(ctx)
	if err != nil {
		r.emit(Event{Kind: Refused, Err: err, Why: refusalWhy(err), Reason: refusalReason(err)})
	}
	r.res.RequestID = r.id
	r.res.Response = resp
	r.res.Outcome = r.outcome
	return &r.res, err
}

// refusalWhy classifies a refusal for metrics, where the chain's reasons apply.
func refusalWhy(err error) fallback.Why {
	switch {
	case errors.Is(err, quota.ErrBudget), errors.Is(err, ErrDowngraded):
		return fallback.WhyBudget
	case errors.Is(err, ErrHold):
		return fallback.WhyHold
	case errors.Is(err, ErrCoolingDown):
		return fallback.WhyCooldown
	case errors.Is(err, llm.ErrUntranslatable):
		return fallback.WhyUntranslatable
	case errors.Is(err, llm.ErrUnsupported):
		return fallback.WhyUnsupported
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fallback.WhyCancelled
	case llm.KindOf(err) != llm.KindUnknown:
		return fallback.WhyUpstream
	}
	return fallback.WhyNone
}

// refusalReason says why a request failed, for people.
func refusalReason(err error) string {
	var qe *quota.ExceededError
	switch {
	case errors.As(err, &qe):
		return qe.Unwrap().Error()
	case errors.Is(err, queue.ErrFull):
		return "queue full"
	case errors.Is(err, queue.ErrTimeout):
		return "queue timeout"
	case errors.Is(err, ErrHold):
		return "hold not journaled"
	case errors.Is(err, ErrCoolingDown):
		return "cooldown"
	case errors.Is(err, llm.ErrUntranslatable):
		return "untranslatable"
	case errors.Is(err, llm.ErrUnsupported):
		return "unsupported"
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
