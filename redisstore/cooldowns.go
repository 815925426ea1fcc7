package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
)

var (
	//go:embed lua/cooldown_common.lua
	cooldownCommonLua string
	//go:embed lua/cooldown_allow.lua
	cooldownAllowLua string
	//go:embed lua/cooldown_done.lua
	cooldownDoneLua string
	//go:embed lua/cooldown_state.lua
	cooldownStateLua string
	//go:embed lua/cooldown_list.lua
	cooldownListLua string
	//go:embed lua/cooldown_reset.lua
	cooldownResetLua string

	cooldownAllowScript = redis.NewScript(commonLua + cooldownCommonLua + cooldownAllowLua)
	cooldownDoneScript  = redis.NewScript(commonLua + cooldownCommonLua + cooldownDoneLua)
	cooldownStateScript = redis.NewScript(commonLua + cooldownCommonLua + cooldownStateLua)
	cooldownListScript  = redis.NewScript(commonLua + cooldownCommonLua + cooldownListLua)
	cooldownResetScript = redis.NewScript(commonLua + cooldownCommonLua + cooldownResetLua)
)

// CooldownsConfig configures Cooldowns. The zero value is ready to use: fallback's default
// breaker settings, slot group "tg", a 50ms timeout per round trip.
type CooldownsConfig struct {
	// CooldownConfig is the breaker's behaviour, exactly as for fallback.NewCooldowns.
	// Replicas sharing a Redis should use the same settings: each result is judged by the
	// settings of the replica that reports it.
	fallback.CooldownConfig
	// SlotGroup is the hash tag of every breaker key ("{tg}:cd:<deployment>"). Empty means
	// "tg". It must not contain '{' or '}'.
	SlotGroup string
	// Timeout bounds each round trip, including the wait for a pooled connection. Zero
	// means 50ms. A call that exceeds it is served by the local breakers.
	Timeout time.Duration
	// IdleTTL is how long a deployment's state outlives its last change, beyond any open
	// period and ProbeTimeout: failures and the backoff exponent are forgotten after that
	// long without news. Zero means 1 hour.
	IdleTTL time.Duration
	// StateMaxAge is how old a state seen by this replica (from Allow, done or State) may
	// be for State to answer from it without a round trip. Zero means 1 second; a negative
	// value makes every State a round trip. Allow always asks Redis.
	StateMaxAge time.Duration
	// ProbeInterval is the least time between attempts to reach Redis while it is down.
	// Zero means 1 second.
	ProbeInterval time.Duration
	// Logger receives one line per transition to and from the local fallback. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Fallback serves while Redis is unreachable. Nil means fallback.NewCooldowns of this
	// Config's CooldownConfig.
	Fallback *fallback.Cooldowns
}

// Validate reports the first bad field.
func (c *CooldownsConfig) Validate() error {
	if err := c.CooldownConfig.Validate(); err != nil {
		return fmt.Errorf("redisstore: CooldownsConfig: %w", err)
	}
	switch {
	case strings.ContainsAny(c.SlotGroup, "{}"):
		return fmt.Errorf("redisstore: CooldownsConfig.SlotGroup must not contain '{' or '}', got %q", c.SlotGroup)
	case c.Timeout < 0:
		return fmt.Errorf("redisstore: CooldownsConfig.Timeout must not be negative, got %v", c.Timeout)
	case c.IdleTTL < 0:
		return fmt.Errorf("redisstore: CooldownsConfig.IdleTTL must not be negative, got %v", c.IdleTTL)
	case c.IdleTTL > 0 && c.IdleTTL < time.Millisecond:
		return fmt.Errorf("redisstore: CooldownsConfig.IdleTTL must be at least 1ms, got %v", c.IdleTTL)
	case c.ProbeInterval < 0:
		return fmt.Errorf("redisstore: CooldownsConfig.ProbeInterval must not be negative, got %v", c.ProbeInterval)
	}
	return nil
}

// Cooldowns is fallback.Cooldowns shared by every replica on one Redis: a circuit breaker
// per deployment ("openai/gpt-4o") with the same rules (see fallback.Cooldowns), whose state
// is one Redis hash per deployment. It satisfies the engine's Cooldowns interface and is
// safe for concurrent use; it starts no goroutines and needs no Close.
//
// A rate limit seen by one replica opens the deployment for all of them; when the open
// period ends exactly one probe is let through across the fleet; its result closes or
// re-opens the deployment for all. Allow and the done it returns are each one Lua script,
// one round trip and one atomic step, with the server's TIME as the clock: the now
// arguments do not decide anything in Redis (replicas' clocks cannot skew a cooldown). They
// serve only the local fallback, the age of State's local copy, and to express Allow's
// until in the caller's clock (now plus the time left by the server's clock).
//
// Round trips: Allow, one; done, one; State, none when this replica saw the deployment's
// state at most StateMaxAge ago (by the callers' now), else one. Allow and done always ask
// Redis: a done that skipped a success would leave failures that other calls recorded
// meanwhile unreset, and spuriously trip a busy deployment with long calls in flight.
//
// A deployment's state is the hash "{<slot group>}:cd:<deployment>" holding the memory
// breaker's five values (open until and probe since in server µs, failures, trips,
// generation). It gets state only at its first counted failure, as in memory, and expires
// IdleTTL after its last change, counted from the end of its open period and ProbeTimeout.
//
// When Redis does not answer within Timeout, Cooldowns falls back to the in-process
// Config.Fallback, so a deployment's cooldown then holds per replica; one line is logged
// when that starts and one when Redis answers again (tried at most every ProbeInterval).
// A result of a call that Redis allowed, reported while Redis is down, is counted locally.
type Cooldowns struct {
	l        *link
	cfg      fallback.CooldownConfig // with defaults
	prefix   string
	idleMS   int64
	stateAge time.Duration
	local    *fallback.Cooldowns

	// offset shifts the server's clock in every script; tests in this package set it to
	// step past an open period without sleeping. Always zero otherwise.
	offset time.Duration

	mu   sync.Mutex
	seen map[string]seenState
}

// seenState is a deployment's state as last seen in Redis, in the caller's clock.
type seenState struct {
	state    fallback.State
	at       time.Time     // the caller's now when it was seen
	openLeft time.Duration // for Open: how long it stayed open from at
}

// maxSeen bounds the local copies: deployments come from configuration, but a client may
// name models that only the upstream rejects.
const maxSeen = 4096

// NewCooldowns returns Cooldowns over client. Like New, it loads its scripts once, best
// effort: a Redis that is down at start is not an error.
func NewCooldowns(client Client, cfg CooldownsConfig) (*Cooldowns, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cd := cooldownDefaults(cfg.CooldownConfig)
	if cfg.SlotGroup == "" {
		cfg.SlotGroup = "tg"
	}
	if cfg.IdleTTL == 0 {
		cfg.IdleTTL = time.Hour
	}
	switch {
	case cfg.StateMaxAge == 0:
		cfg.StateMaxAge = time.Second
	case cfg.StateMaxAge < 0:
		cfg.StateMaxAge = 0
	}
	if cfg.Fallback == nil {
		cfg.Fallback = fallback.NewCooldowns(cfg.CooldownConfig)
	}
	c := &Cooldowns{
		l:   newLink(client, cfg.Timeout, cfg.ProbeInterval, cfg.Logger, "redis cooldowns"),
		cfg: cd, prefix: "{" + cfg.SlotGroup + "}:cd:", idleMS: cfg.IdleTTL.Milliseconds(),
		stateAge: cfg.StateMaxAge, local: cfg.Fallback, seen: make(map[string]seenState),
	}
	c.l.load(cooldownAllowScript, cooldownDoneScript, cooldownStateScript, cooldownListScript, cooldownResetScript)
	return c, nil
}

// cooldownDefaults mirrors fallback's defaults, which the scripts need as numbers.
func cooldownDefaults(c fallback.CooldownConfig) fallback.CooldownConfig {
	if c.Cooldown <= 0 {
		c.Cooldown = fallback.DefaultCooldown
	}
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = fallback.DefaultFailureThreshold
	}
	if c.MaxCooldown <= 0 {
		c.MaxCooldown = fallback.DefaultMaxCooldown
	}
	c.MaxCooldown = max(c.MaxCooldown, c.Cooldown)
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = c.MaxCooldown
	}
	return c
}

func (c *Cooldowns) key(deployment string) string { return c.prefix + deployment }

// Degraded reports whether Redis is considered down, so that the local breakers serve.
func (c *Cooldowns) Degraded() bool { return c.l.down.Load() }

// Allow asks whether a call to deployment may start, as fallback.Cooldowns.Allow, with the
// decision taken in Redis for every replica. When ok is true the caller must call done
// exactly once with the call's result and the time it ended; later calls are ignored.
func (c *Cooldowns) Allow(deployment string, now time.Time) (done func(err error, now time.Time), until time.Time, ok bool) {
	if !c.l.useRedis() {
		return c.local.Allow(deployment, now)
	}
	ctx := context.Background()
	v, err := c.l.run(ctx, cooldownAllowScript, []string{c.key(deployment)},
		[]any{c.offset.Microseconds(), c.cfg.ProbeTimeout.Microseconds(), c.idleMS})
	res, _ := v.([]any)
	if err == nil && len(res) != 6 {
		err = fmt.Errorf("unexpected reply %v", v)
	}
	if err != nil {
		c.l.failed(ctx, fmt.Errorf("redisstore: cooldown allow %s: %w", deployment, err))
		return c.local.Allow(deployment, now)
	}
	c.l.ok()
	srvNow := toInt(res[5])
	c.remember(deployment, fallback.State(toInt(res[3])), toInt(res[4]), srvNow, now)
	if toInt(res[0]) != 1 {
		return nil, now.Add(time.Duration(toInt(res[2])-srvNow) * time.Microsecond), false
	}
	gen := toInt(res[1])
	var called atomic.Bool
	return func(err error, now time.Time) {
		if called.Swap(true) {
			return
		}
		c.report(deployment, gen, err, now)
	}, time.Time{}, true
}

// Verdicts, as the done script numbers them.
const (
	vNeutral int64 = iota
	vSuccess
	vFailure
	vRateLimited
	vDisabled
)

// classify is fallback.Cooldowns' classification of a result; TestCooldownsMatchMemory
// holds the two to the same outcomes.
func classify(err error) (int64, time.Duration) {
	if err == nil {
		return vSuccess, 0
	}
	var e *llm.Error
	if !errors.As(err, &e) {
		return vNeutral, 0
	}
	switch e.Kind {
	case llm.KindRateLimited:
		return vRateLimited, e.RetryAfter
	case llm.KindOverloaded, llm.KindServer, llm.KindTimeout, llm.KindConnection:
		return vFailure, 0
	case llm.KindAuth, llm.KindQuotaExhausted:
		return vDisabled, 0
	}
	return vNeutral, 0
}

func (c *Cooldowns) report(deployment string, gen int64, err error, now time.Time) {
	v, retryAfter := classify(err)
	if !c.l.useRedis() {
		c.reportLocal(deployment, err, now)
		return
	}
	ctx := context.Background()
	args := []any{c.offset.Microseconds(), gen, v, retryAfter.Microseconds(), c.cfg.Cooldown.Microseconds(),
		c.cfg.FailureThreshold, c.cfg.MaxCooldown.Microseconds(), c.cfg.ProbeTimeout.Microseconds(), c.idleMS}
	res, rerr := c.l.run(ctx, cooldownDoneScript, []string{c.key(deployment)}, args)
	st, _ := res.([]any)
	if rerr == nil && len(st) != 3 {
		rerr = fmt.Errorf("unexpected reply %v", res)
	}
	if rerr != nil {
		c.l.failed(ctx, fmt.Errorf("redisstore: cooldown done %s: %w", deployment, rerr))
		c.reportLocal(deployment, err, now)
		return
	}
	c.l.ok()
	c.remember(deployment, fallback.State(toInt(st[0])), toInt(st[1]), toInt(st[2]), now)
}

// reportLocal counts a result that Redis could not take in the local breakers, so that this
// replica at least stops calling a deployment that fails while Redis is down.
func (c *Cooldowns) reportLocal(deployment string, err error, now time.Time) {
	if done, _, ok := c.local.Allow(deployment, now); ok {
		done(err, now)
	}
}

// State returns deployment's state, for the engine's cheap check before it reserves, and for
// metrics. It changes nothing. It answers from the state this replica last saw if that is
// at most StateMaxAge old by now, else asks Redis (one round trip); Allow is what decides.
func (c *Cooldowns) State(deployment string, now time.Time) fallback.State {
	st, _ := c.StateUntil(deployment, now)
	return st
}

// StateUntil is State that also returns, for an Open deployment, when it half-opens (zero
// otherwise), as fallback.Cooldowns.StateUntil does: from the state this replica last saw
// or from Redis, as State decides.
func (c *Cooldowns) StateUntil(deployment string, now time.Time) (fallback.State, time.Time) {
	if st, until, ok := c.recent(deployment, now); ok {
		return st, until
	}
	if !c.l.useRedis() {
		return c.local.StateUntil(deployment, now)
	}
	ctx := context.Background()
	v, err := c.l.run(ctx, cooldownStateScript, []string{c.key(deployment)}, []any{c.offset.Microseconds()})
	res, _ := v.([]any)
	if err == nil && len(res) != 3 {
		err = fmt.Errorf("unexpected reply %v", v)
	}
	if err != nil {
		c.l.failed(ctx, fmt.Errorf("redisstore: cooldown state %s: %w", deployment, err))
		return c.local.StateUntil(deployment, now)
	}
	c.l.ok()
	st := fallback.State(toInt(res[0]))
	c.remember(deployment, st, toInt(res[1]), toInt(res[2]), now)
	var until time.Time
	if st == fallback.Open {
		until = now.Add(time.Duration(toInt(res[1])-toInt(res[2])) * time.Microsecond)
	}
	return st, until
}

// Breakers returns every deployment's breaker that has state in Redis at now, by name, as
// fallback.Cooldowns.Breakers does for one process: the fleet's breakers, for an operator
// (the admin API, metrics). It is one round trip that scans the slot group's breaker keys
// (one per deployment that failed within IdleTTL). While Redis is unreachable it returns
// this replica's local breakers, which then serve.
func (c *Cooldowns) Breakers(now time.Time) []fallback.Breaker {
	if !c.l.useRedis() {
		return c.local.Breakers(now)
	}
	ctx := context.Background()
	v, err := c.l.run(ctx, cooldownListScript, []string{c.prefix}, []any{c.offset.Microseconds(), globEscape(c.prefix) + "*"})
	res, _ := v.([]any)
	if err == nil && (len(res) == 0 || (len(res)-1)%5 != 0) {
		err = fmt.Errorf("unexpected reply %v", v)
	}
	if err != nil {
		c.l.failed(ctx, fmt.Errorf("redisstore: cooldown list: %w", err))
		return c.local.Breakers(now)
	}
	c.l.ok()
	srvNow := toInt(res[0])
	seen := make(map[string]bool, (len(res)-1)/5)
	out := make([]fallback.Breaker, 0, (len(res)-1)/5)
	for i := 1; i+4 < len(res); i += 5 {
		key, _ := res[i].(string)
		d := strings.TrimPrefix(key, c.prefix)
		if seen[d] { // SCAN may return a key twice
			continue
		}
		seen[d] = true
		b := fallback.Breaker{Deployment: d, State: fallback.State(toInt(res[i+1])), Failures: int(toInt(res[i+3])),
			Trips: int(toInt(res[i+4]))}
		if b.State == fallback.Open {
			b.Until = now.Add(time.Duration(toInt(res[i+2])-srvNow) * time.Microsecond)
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b fallback.Breaker) int { return strings.Compare(a.Deployment, b.Deployment) })
	return out
}

// Reset closes deployment's breaker for every replica and forgets its failures, as
// fallback.Cooldowns.Reset does for one process, and reports whether it had state (in
// Redis or in this replica's local breakers, which it resets too). Results of calls let
// through before the reset are ignored. It is one round trip; while Redis is unreachable
// only the local breaker is reset.
func (c *Cooldowns) Reset(deployment string) bool {
	had := c.local.Reset(deployment)
	c.mu.Lock()
	delete(c.seen, deployment)
	c.mu.Unlock()
	if !c.l.useRedis() {
		return had
	}
	ctx := context.Background()
	v, err := c.l.run(ctx, cooldownResetScript, []string{c.key(deployment)},
		[]any{c.offset.Microseconds(), c.cfg.ProbeTimeout.Microseconds(), c.idleMS})
	if err != nil {
		c.l.failed(ctx, fmt.Errorf("redisstore: cooldown reset %s: %w", deployment, err))
		return had
	}
	c.l.ok()
	return toInt(v) == 1 || had
}

// globEscape escapes the characters that SCAN's MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// remember keeps the state seen in Redis at the server's srvNow (µs), with the open period's
// end ou (µs), as seen at the caller's now.
func (c *Cooldowns) remember(deployment string, st fallback.State, ou, srvNow int64, now time.Time) {
	if c.stateAge <= 0 {
		return
	}
	s := seenState{state: st, at: now}
	if st == fallback.Open {
		s.openLeft = time.Duration(ou-srvNow) * time.Microsecond
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, found := c.seen[deployment]; !found && len(c.seen) >= maxSeen {
		clear(c.seen)
	}
	c.seen[deployment] = s
}

func (c *Cooldowns) recent(deployment string, now time.Time) (fallback.State, time.Time, bool) {
	if c.stateAge <= 0 {
		return 0, time.Time{}, false
	}
	c.mu.Lock()
	s, found := c.seen[deployment]
	c.mu.Unlock()
	age := now.Sub(s.at)
	if !found || age < 0 || age > c.stateAge {
		return 0, time.Time{}, false
	}
	if s.state == fallback.Open {
		if age >= s.openLeft {
			return fallback.HalfOpen, time.Time{}, true
		}
		return fallback.Open, s.at.Add(s.openLeft), true
	}
	return s.state, time.Time{}, true
}

// link is a connection to Redis shared by Cooldowns and Cache: round trips bounded by a
// timeout whether or not the client honours context deadlines, and a degraded mode in
// which Redis is tried at most every probe interval. It follows the Store's rules (see
// Store.call, Store.up and Store.outage).
type link struct {
	bounded
	probeEvery time.Duration
	log        *slog.Logger
	what       string

	down        atomic.Bool
	nextProbe   atomic.Int64 // unix ns
	transitions atomic.Uint64
}

func newLink(c Client, timeout, probeEvery time.Duration, log *slog.Logger, what string) *link {
	if timeout == 0 {
		timeout = 50 * time.Millisecond
	}
	if probeEvery == 0 {
		probeEvery = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &link{bounded: newBounded(c, timeout), probeEvery: probeEvery, log: log, what: what}
}

// run runs a script. A nil reply is (nil, nil); failures are *callError.
func (l *link) run(ctx context.Context, sc *redis.Script, keys []string, args []any) (any, error) {
	v, err := l.bounded.run(ctx, sc, keys, args)
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return v, err
}

// useRedis reports whether to try Redis: always while it is up; while it is down, for one
// caller at most every probe interval, whose success (ok) ends the outage.
func (l *link) useRedis() bool {
	if !l.down.Load() {
		return true
	}
	now := time.Now().UnixNano()
	next := l.nextProbe.Load()
	return now >= next && l.nextProbe.CompareAndSwap(next, now+int64(l.probeEvery))
}

// ok records an answer from Redis, ending an outage.
func (l *link) ok() {
	if l.down.Load() && l.down.CompareAndSwap(true, false) {
		l.log.Info(l.what + " rejoined Redis")
	}
}

// failed records a failed round trip. An outage (no answer, or a server that cannot serve)
// starts degraded mode, logged once; an error reply that Redis did give is logged as such
// since it means a bug, not an outage. A caller's own cancellation is neither.
func (l *link) failed(ctx context.Context, err error) {
	if callerDone(ctx) != nil {
		return
	}
	if !unreachable(err) {
		l.log.Error(l.what+" failed", "err", err)
		return
	}
	l.nextProbe.Store(time.Now().Add(l.probeEvery).UnixNano())
	if l.down.CompareAndSwap(false, true) {
		l.transitions.Add(1)
		l.log.Warn(l.what+" degraded: serving locally", "err", err)
	}
}

// unreachable is Store.outage's rule for a failed round trip: no answer, or a reply saying
// the server cannot serve now.
func unreachable(err error) bool {
	var ce *callError
	if !errors.As(err, &ce) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true
}
