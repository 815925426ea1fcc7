package config

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/admin"
	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/gateway"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/metrics"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
	"github.com/tollgate/tollgate/retry"
)

// ErrMissingSecret is what Build's error unwraps to when an environment variable named for
// a secret is unset or empty. The error names the variables, never a value.
var ErrMissingSecret = errors.New("config: missing secret")

// Built is a configuration turned into running parts: what `tollgate serve` needs.
type Built struct {
	// Engine runs the requests.
	Engine *engine.Engine
	// Gateway is the configuration Server was made from: the engine, the virtual keys
	// (Keys), the metrics (which the engine's events feed), the limits and timeouts, and a
	// readiness check for Redis when there is one.
	Gateway gateway.Config
	// Server is the gateway, which observes the engine's events for its access log.
	Server *gateway.Gateway
	// Metrics observe the engine's events and the gateway's requests.
	Metrics *metrics.Metrics
	// Listen is the address to serve on.
	Listen string
	// Keys are the virtual keys the gateway accepts: the configuration's, and those
	// created at run time through the admin API, kept in the ledger's database and
	// reread every admin.keys_refresh.
	Keys *keys.Registry
	// Admin serves the admin API, the dashboard and (unless metrics.listener is gateway)
	// GET /metrics, for a listener of its own at AdminListen; nil without an admin
	// section. Reload swaps the tokens it accepts.
	Admin http.Handler
	// AdminListen is the admin listener's address; "" without an admin section.
	AdminListen string
	// Ledger receives a record per settled attempt.
	Ledger *ledger.Ledger
	// Store holds the quota state: a *quota.MemoryStore or a *redisstore.Store.
	Store quota.Store
	// Restored lists the budget counters read back from the ledger at start: into the
	// memory store, or into Redis when this replica initialised its state (a first start,
	// or a Redis that lost its data). With Redis already initialised it is empty: Redis
	// keeps the counters.
	Restored []Restored
	// NotRestored lists the budget rules whose counters were not read back from the ledger,
	// with the reason.
	NotRestored []string
	// Learned holds the limits learned from the upstreams' answers; nil when
	// learned_limits.mode is off.
	Learned *learn.Set

	redis  redisClient
	rstore *redisstore.Store
	closed bool
	// stopLearn stops the loop that shares the learned limits through Redis; nil
	// without one.
	stopLearn func()

	cfg       *Config      // the configuration the parts were built from
	adminBase admin.Config // the admin handler's parts; Reload sets its tokens
	admin     *adminSwitch // what Admin serves
	mu        sync.Mutex   // serializes Reload
}

// redisClient is what Build keeps of the go-redis client: the store's commands and Close.
type redisClient interface {
	redisstore.Client
	Close() error
}

// Build validates the configuration and constructs everything it describes: the upstream
// providers, the price table, routes and quota rules, the quota store (in memory, or in
// Redis), the queue, retry, cooldown and cache settings, the ledger, and the engine. Budget
// counters of the current day, month and lifetime are restored from the ledger into a
// memory store, so that a restart does not reset today's spend; with Redis, the ledger is
// what the Redis state is initialised from, and rebuilt from when Redis loses it (Build
// initialises it when it is missing). It fails with Problems
// when Validate reports any, and with an error wrapping ErrMissingSecret when a secret's
// variable is unset. On error nothing is left open.
//
// The caller owns the result and must Close it after the gateway has stopped.
func (c *Config) Build(ctx context.Context, logger *slog.Logger) (b *Built, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	r := c.resolve()
	if len(r.problems) > 0 {
		return nil, Problems(r.problems)
	}
	var missing []string
	for _, s := range c.Secrets() {
		if !s.Set {
			missing = append(missing, s.Env)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: environment variable %s not set (neither in the environment nor in env_file)",
			ErrMissingSecret, strings.Join(missing, ", "))
	}

	providers := make(map[string]llm.Provider, len(r.upstreams))
	for _, name := range sortedKeys(r.upstreams) {
		u := c.Upstreams[name]
		key, _ := c.secret(u.APIKeyEnv)
		var p llm.Provider
		var err error
		switch r.upstreams[name] {
		case "openai":
			p, err = openai.New(openai.Config{BaseURL: u.BaseURL, APIKey: key, Name: name})
		case "anthropic":
			p, err = anthropic.New(anthropic.Config{BaseURL: u.BaseURL, APIKey: key, Name: name})
		}
		if err != nil {
			return nil, fmt.Errorf("config: upstreams.%s: %w", name, err)
		}
		providers[name] = p
	}
	routes, err := fallback.NewRoutes(r.routes...)
	if err != nil {
		return nil, fmt.Errorf("config: routes: %w", err)
	}
	static, err := c.staticKeys(r)
	if err != nil {
		return nil, err
	}
	var adminKey, metricsKey [32]byte
	if c.Admin != nil {
		if adminKey, metricsKey, err = c.adminHashes(); err != nil {
			return nil, err
		}
	}

	b = &Built{Listen: cmp.Or(c.Listen, DefaultListen), AdminListen: c.AdminListen(), cfg: c}
	defer func() {
		if err != nil {
			_ = b.Close(context.WithoutCancel(ctx))
			b = nil
		}
	}()
	lcfg, err := c.LedgerConfig()
	if err != nil {
		return nil, err
	}
	lcfg.Location, lcfg.Logger = r.loc, logger
	b.Ledger, err = ledger.Open(ctx, lcfg)
	if err != nil {
		return nil, fmt.Errorf("config: ledger: %w", err)
	}
	routeNames := make([]string, len(r.routes))
	for i := range r.routes {
		routeNames[i] = r.routes[i].Name
	}
	b.Keys, err = keys.Open(ctx, keys.Config{Static: static, Store: b.Ledger, Refresh: c.keysRefresh(), Location: r.loc,
		ValidModel: func(name string) bool {
			if slices.Contains(routeNames, name) {
				return true
			}
			_, err := r.prices.Lookup(name)
			return err == nil
		}, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("config: keys: %w", err)
	}
	tenants := make([]string, len(static))
	for i := range static {
		tenants[i] = static[i].Tenant
	}
	known := &tenantSet{reg: b.Keys}
	b.Metrics, err = metrics.New(metrics.Config{Routes: routeNames, Tenants: tenants, KnownTenant: known.has, Prices: r.prices})
	if err != nil {
		return nil, fmt.Errorf("config: metrics: %w", err)
	}
	if err := b.Metrics.WatchLedger(b.Ledger); err != nil {
		return nil, fmt.Errorf("config: metrics: %w", err)
	}
	qcfg := c.queueConfig()
	if c.Redis != nil {
		if b.redis, err = c.Redis.client(c); err != nil {
			return nil, err
		}
		if qcfg.Recheck == 0 {
			// Capacity freed by another replica raises no local signal: look again this often.
			qcfg.Recheck = DefaultRedisRecheck
		}
		if err := c.buildRedisStore(ctx, b, r, logger); err != nil {
			return nil, err
		}
	} else {
		mem := quota.NewMemoryStore(quota.MemoryConfig{})
		b.Store = mem
		now := time.Now()
		b.Restored, err = restoreBudgets(ctx, b.Ledger, func(q quota.Quota, used int64) { mem.Restore(now, q, used) }, r.rules, now)
		if err != nil {
			return nil, fmt.Errorf("config: restoring budgets from the ledger: %w", err)
		}
	}

	// The engine is made before the gateway that observes its events (the Settled event of
	// a request carries what its access log line reports).
	var server atomic.Pointer[gateway.Gateway]
	onEvent := func(ev engine.Event) {
		b.Metrics.Observe(ev)
		if g := server.Load(); g != nil {
			g.Observe(ev)
		}
	}
	var respCache engine.ResponseCache
	var sharedCooldowns engine.Cooldowns
	var sharedConversations engine.Conversations
	var leaseRenew time.Duration
	if r.cacheOn {
		respCache = metrics.MemoryCache(cache.New(cache.Config{MaxBytes: int64(c.Cache.MaxBytes), TTL: c.Cache.TTL.D(), StaleFor: c.Cache.StaleFor.D()}))
	}
	if b.redis != nil {
		// Leases in Redis lapse unless renewed (so a crashed replica's slots come back):
		// renew three times per lease.
		leaseRenew = cmp.Or(c.Redis.LeaseTTL.D(), redisstore.DefaultLeaseTTL) / 3
		// A Responses continuation may reach another replica than the one that served its
		// previous response: the bound of that response's conversation is shared.
		convs, err := redisstore.NewConversations(b.redis, redisstore.ConversationsConfig{Timeout: c.Redis.Timeout.D(), Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("config: redis: %w", err)
		}
		sharedConversations = convs
		if c.Redis.ShareCooldowns {
			sharedCooldowns, err = redisstore.NewCooldowns(b.redis, redisstore.CooldownsConfig{CooldownConfig: c.cooldownConfig(),
				SlotGroup: c.Redis.SlotGroup, Timeout: c.Redis.Timeout.D(), Logger: logger})
			if err != nil {
				return nil, fmt.Errorf("config: redis.share_cooldowns: %w", err)
			}
		}
		if c.Redis.ShareCache && r.cacheOn {
			if respCache, err = redisstore.NewCache(b.redis, redisstore.CacheConfig{TTL: c.Cache.TTL.D(), StaleFor: c.Cache.StaleFor.D(),
				Timeout: c.Redis.Timeout.D(), Logger: logger}); err != nil {
				return nil, fmt.Errorf("config: redis.share_cache: %w", err)
			}
		}
	}
	if respCache != nil {
		// Every cache, in process or shared, goes through SharedCache so that its lookups
		// are counted (tollgate_cache_requests_total).
		respCache = b.Metrics.CountCache(respCache)
	}
	learned, err := c.buildLearned(b, r, logger)
	if err != nil {
		return nil, err
	}
	if b.Learned != nil {
		if err := b.Metrics.Registry().Register(learn.NewCollector(b.Learned)); err != nil {
			return nil, fmt.Errorf("config: metrics: %w", err)
		}
	}
	b.Engine, err = engine.New(engine.Config{
		Quotas:              b.Keys,
		Learned:             learned,
		SharedCache:         respCache,
		SharedCooldowns:     sharedCooldowns,
		LeaseRenew:          leaseRenew,
		SharedConversations: sharedConversations,
		Providers:           providers,
		Pricing:             r.prices,
		Routes:              routes,
		Rules:               r.rules,
		Store:               b.Store,
		Queue:               qcfg,
		Retry:               c.retryPolicy(),
		RetryBudget:         retry.BudgetConfig{Ratio: c.RetryBudget.Ratio, Window: c.RetryBudget.Window.D(), MinPerSecond: c.RetryBudget.MinPerSecond},
		ChainAttempts:       c.Retry.ChainAttempts,
		FallbackAfter:       c.Retry.FallbackAfter.D(),
		Cooldown:            c.cooldownConfig(),
		DefaultMaxTokens:    c.DefaultMaxTokens,
		AbandonTimeout:      c.AbandonTimeout.D(),
		Timeouts:            c.Timeouts.engine(),
		UpstreamTimeouts:    c.upstreamTimeouts(),
		RouteTimeouts:       c.routeTimeouts(),
		Ledger:              b.Ledger,
		OnEvent:             onEvent,
		Logger:              logger,
	})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	deployments := c.deployments(r)
	if br, ok := b.Engine.Cooldowns().(metrics.Breakers); ok {
		if err := b.Metrics.WatchBreakers(br, deployments); err != nil {
			return nil, fmt.Errorf("config: metrics: %w", err)
		}
	}
	listener := c.MetricsListener()
	b.Gateway = gateway.Config{
		Engine:          b.Engine,
		Keys:            b.Keys,
		ServeMetrics:    listener == MetricsOnGateway || listener == MetricsOnBoth,
		MaxBodyBytes:    int64(c.MaxBodyBytes),
		RequestTimeout:  c.RequestTimeout.D(),
		ShutdownTimeout: c.ShutdownTimeout.D(),
		Metrics:         b.Metrics,
		Logger:          logger,
		Models:          c.gatewayModels(r),
	}
	gs := c.gatewaySettings()
	b.Gateway.AccessLogSample, b.Gateway.RefusalLogInterval, b.Gateway.BudgetStatus = gs.AccessLogSample, gs.RefusalLogInterval, gs.BudgetStatus
	if b.redis != nil && r.policy == redisstore.FailClosed {
		// Under fail_open_local a replica serves while Redis is down: reporting it unready
		// would make a load balancer take every replica out, defeating the policy.
		rc := b.redis
		b.Gateway.Ready = map[string]func(context.Context) error{
			"redis": func(ctx context.Context) error { return rc.Ping(ctx).Err() },
		}
	}
	if b.Server, err = gateway.New(b.Gateway); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	server.Store(b.Server)
	if c.Admin != nil {
		b.adminBase = admin.Config{
			Keys:        b.Keys,
			Rules:       func() quota.Rules { return r.rules },
			Deployments: func() []string { return deployments },
			Quotas:      b.Store,
			Queue:       b.Engine.Queue(),
			Spend:       b.Ledger,
			// The dashboard's figures come from the registry whatever serves /metrics.
			Gatherer: b.Metrics.Registry(),
			Location: r.loc,
			Logger:   logger,
		}
		if br, ok := b.Engine.Cooldowns().(admin.Breakers); ok {
			b.adminBase.Breakers = br
		}
		if b.Learned != nil {
			b.adminBase.Learned = learnedView{set: b.Learned, rules: r.rules}
		}
		b.admin = &adminSwitch{noMetrics: listener == MetricsOnGateway}
		if err := b.setAdminKeys(adminKey, metricsKey); err != nil {
			return nil, err
		}
		b.Admin = b.admin
	}
	return b, nil
}

// gatewaySettings are the gateway's settings that a reload may change.
func (c *Config) gatewaySettings() gateway.Settings {
	// Unset logs every answered request; an explicit 0 none (the gateway's negative).
	s := gateway.Settings{AccessLogSample: -1, RefusalLogInterval: c.AccessLog.RefusalInterval.D(), BudgetStatus: c.BudgetStatus}
	if v := c.AccessLog.Sample; v == nil {
		s.AccessLogSample = 0
	} else if *v > 0 {
		s.AccessLogSample = *v
	}
	return s
}

// deployments lists the deployments ("provider/model", as the engine names their
// breakers) of the routes' model steps, sorted.
func (c *Config) deployments(r *resolved) []string {
	var out []string
	for _, rt := range r.routes {
		for _, s := range rt.Steps {
			if s.Kind != fallback.StepModel {
				continue
			}
			p := s.Provider
			if p == "" {
				if m, err := r.prices.Lookup(s.Model); err == nil {
					p = m.Provider
				}
			}
			out = append(out, p+"/"+s.Model)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// gatewayModels is what the gateway serves and GET /v1/models lists: Config.Models, or
// by default every route by name, then every priced model whose provider has an upstream
// of its name (where a bare model goes), by name.
func (c *Config) gatewayModels(r *resolved) []string {
	if len(c.Models) > 0 {
		return slices.Clone(c.Models)
	}
	var out []string
	for _, rt := range r.routes {
		out = append(out, rt.Name)
	}
	slices.Sort(out)
	for _, m := range r.prices.Models() {
		if _, ok := r.upstreams[m.Provider]; ok && !slices.Contains(out, m.Name) {
			out = append(out, m.Name)
		}
	}
	return out
}

// setAdminKeys makes the admin handler accept the tokens whose hashes are given.
func (b *Built) setAdminKeys(adminKey, metricsKey [32]byte) error {
	cfg := b.adminBase
	cfg.KeyHash, cfg.MetricsKeyHash = adminKey, metricsKey
	h, err := admin.New(cfg)
	if err != nil {
		return fmt.Errorf("config: admin: %w", err)
	}
	b.admin.h.Store(h)
	return nil
}

// adminSwitch serves the admin handler in force: Reload swaps it for one with new tokens
// while requests run on the one they started with. With noMetrics (metrics.listener:
// gateway) it leaves GET /metrics to the gateway's listener.
type adminSwitch struct {
	h         atomic.Pointer[admin.Handler]
	noMetrics bool
}

func (s *adminSwitch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.noMetrics && r.URL.Path == "/metrics" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error": {"code": "not_found", "message": "GET /metrics is served on the gateway's listener (metrics.listener: gateway)"}}` + "\n"))
		return
	}
	s.h.Load().ServeHTTP(w, r)
}

// tenantSet tells the metrics which tenants are the operator's: those of every key of the
// registry, revoked ones included (their series stay), rebuilt when the registry changes.
// Runtime keys are created by the operator only, so the set stays bounded.
type tenantSet struct {
	reg *keys.Registry
	cur atomic.Pointer[tenantSnapshot]
}

type tenantSnapshot struct {
	gen uint64
	set map[string]bool
}

func (t *tenantSet) has(tenant string) bool {
	gen := t.reg.Generation()
	s := t.cur.Load()
	if s == nil || s.gen != gen {
		s = &tenantSnapshot{gen: gen, set: map[string]bool{}}
		for _, k := range t.reg.Keys() {
			s.set[k.Tenant] = true
		}
		t.cur.Store(s)
	}
	return s.set[tenant]
}

// DefaultRedisRecheck is queue.recheck when Redis is configured and the field is 0.
const DefaultRedisRecheck = 100 * time.Millisecond

// ledgerCommitInterval is ledger.Config.CommitInterval's default.
const ledgerCommitInterval = 100 * time.Millisecond

// buildRedisStore makes the Redis quota store, with the ledger as the Source of its
// rebuilds, and initialises the fleet's state in Redis when it is missing. A Redis that is
// down, or another replica rebuilding, is not an error: the first operation that finds the
// state missing rebuilds it.
func (c *Config) buildRedisStore(ctx context.Context, b *Built, r *resolved, logger *slog.Logger) error {
	rd := c.Redis
	if b.Ledger.Backend() != ledger.Postgres && rd.Replicas > 1 {
		logger.Warn("redis: with a sqlite ledger, a Redis that loses its data is rebuilt from this replica's records only; a fleet needs ledger.backend postgres",
			"replicas", rd.Replicas)
	}
	lcfg, err := c.LedgerConfig()
	if err != nil {
		return err
	}
	src := &ledgerSource{l: b.Ledger, rules: r.rules, log: logger, settle: 2 * cmp.Or(lcfg.CommitInterval, ledgerCommitInterval)}
	st, err := redisstore.New(b.redis, redisstore.Config{Timeout: rd.Timeout.D(), Policy: r.policy,
		Replicas: rd.Replicas, SlotGroup: rd.SlotGroup, ProbeInterval: rd.ProbeInterval.D(), Outbox: rd.Outbox, LeaseTTL: rd.LeaseTTL.D(),
		RebuildTimeout: rd.RebuildTimeout.D(), Source: src, OnEvent: b.Metrics.ObserveRedis, Logger: logger})
	if err != nil {
		return fmt.Errorf("config: redis: %w", err)
	}
	b.Store, b.rstore = st, st
	if err := b.Metrics.WatchRedis(st); err != nil {
		return fmt.Errorf("config: metrics: %w", err)
	}
	rb, err := st.Ensure(ctx)
	switch {
	case err != nil:
		logger.Warn("redis: the quota state could not be checked at start; the first request will", "err", err)
	case rb != nil:
		for _, u := range rb.Budgets {
			b.Restored = append(b.Restored, Restored{Quota: u.Quota, Used: u.Used})
		}
	}
	return nil
}

// Close shuts down in order: the engine stops admitting, then the ledger commits every
// pending record and closes its file, then the Redis client closes. Call it after the
// gateway has drained, so that every request has settled and appended its record. ctx
// bounds the ledger's final commits. Calls after the first do nothing.
func (b *Built) Close(ctx context.Context) error {
	if b == nil || b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	if b.Engine != nil {
		errs = append(errs, b.Engine.Close())
	}
	if b.stopLearn != nil {
		b.stopLearn()
	}
	if b.Keys != nil {
		// Its polling reads the ledger, which closes next.
		errs = append(errs, b.Keys.Close())
	}
	if b.rstore != nil {
		errs = append(errs, b.rstore.Close())
	}
	if b.Ledger != nil {
		if err := b.Ledger.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("ledger: %w", err))
		}
	}
	if b.redis != nil {
		if err := b.redis.Close(); err != nil {
			errs = append(errs, fmt.Errorf("redis: %w", err))
		}
	}
	return errors.Join(errs...)
}

// LedgerConfig returns the ledger section as a ledger.Config: the backend, the SQLite file
// (LedgerPath) or the PostgreSQL URL read from the url_env variable, and the tuning. It
// leaves Location and Logger to the caller. It fails with an error wrapping
// ErrMissingSecret when url_env's variable is unset; its errors never hold the URL.
func (c *Config) LedgerConfig() (ledger.Config, error) {
	lg := c.Ledger
	backend, err := ledger.ParseBackend(lg.Backend)
	if err != nil {
		return ledger.Config{}, fmt.Errorf("config: ledger.backend: %w", err)
	}
	cfg := ledger.Config{Backend: backend, CommitInterval: lg.CommitInterval.D(), HeartbeatTTL: lg.HeartbeatTTL.D(),
		RecoverInterval: lg.RecoverInterval.D(), MaxConns: lg.MaxConns}
	if backend == ledger.SQLite {
		cfg.Path = c.LedgerPath()
		return cfg, nil
	}
	url, ok := c.secret(lg.URLEnv)
	if lg.URLEnv == "" || !ok {
		return ledger.Config{}, fmt.Errorf("%w: environment variable %s (ledger.url_env) not set", ErrMissingSecret, cmp.Or(lg.URLEnv, `""`))
	}
	cfg.URL = url
	if lg.InstanceEnv != "" {
		if cfg.Instance, ok = c.secret(lg.InstanceEnv); !ok {
			return ledger.Config{}, fmt.Errorf("config: ledger.instance_env: environment variable %s not set", lg.InstanceEnv)
		}
	}
	return cfg, nil
}

// LedgerPath returns the ledger file: Ledger.Path (or DefaultLedgerPath) relative to the
// configuration file's directory.
func (c *Config) LedgerPath() string {
	p := cmp.Or(c.Ledger.Path, DefaultLedgerPath)
	if p == ":memory:" {
		return p
	}
	return c.path(p)
}

func (c *Config) queueConfig() queue.Config {
	q := c.Queue
	return queue.Config{MaxWait: q.MaxWait.D(), MaxQueued: q.MaxQueued, MaxQueuedAll: q.MaxQueuedAll,
		Aging: q.Aging.D(), Weights: maps.Clone(q.Weights), Recheck: q.Recheck.D()}
}

func (c *Config) retryPolicy() retry.Policy {
	r := c.Retry
	return retry.Policy{MaxAttempts: r.MaxAttempts, Initial: r.Initial.D(), Max: r.Max.D(), Multiplier: r.Multiplier,
		MaxServerWait: r.MaxServerWait.D()}
}

func (c *Config) cooldownConfig() fallback.CooldownConfig {
	cd := c.Cooldown
	return fallback.CooldownConfig{Cooldown: cd.Initial.D(), MaxCooldown: cd.Max.D(),
		FailureThreshold: cd.FailureThreshold, ProbeTimeout: cd.ProbeTimeout.D()}
}

// client builds the go-redis client for the configured mode. Its operations are bounded by
// their context (ContextTimeoutEnabled), which is how redisstore's timeout reaches the
// socket.
func (rd *Redis) client(c *Config) (redisClient, error) {
	password := ""
	if rd.PasswordEnv != "" {
		password, _ = c.secret(rd.PasswordEnv)
	}
	opts, err := rd.clientOptions(password)
	if err != nil {
		return nil, fmt.Errorf("config: redis.url: want a URL such as redis://host:6379/0")
	}
	switch o := opts.(type) {
	case *redis.Options:
		return redis.NewClient(o), nil
	case *redis.ClusterOptions:
		return redis.NewClusterClient(o), nil
	case *redis.FailoverOptions:
		return redis.NewFailoverClient(o), nil
	}
	return nil, errors.New("config: redis: no client for this mode")
}

// clientOptions returns *redis.Options, *redis.ClusterOptions or *redis.FailoverOptions.
// Its errors never include the URL, which may hold a password.
func (rd *Redis) clientOptions(password string) (any, error) {
	switch rd.Mode {
	case "cluster":
		o := &redis.ClusterOptions{Addrs: rd.Addrs}
		if rd.URL != "" {
			var err error
			if o, err = redis.ParseClusterURL(rd.URL); err != nil {
				return nil, errors.New("invalid cluster URL")
			}
		}
		o.Username = cmp.Or(rd.Username, o.Username)
		o.Password = cmp.Or(password, o.Password)
		o.ContextTimeoutEnabled = true
		return o, nil
	case "sentinel":
		return &redis.FailoverOptions{MasterName: rd.MasterName, SentinelAddrs: rd.Addrs, DB: rd.DB,
			Username: rd.Username, Password: password, ContextTimeoutEnabled: true}, nil
	}
	o := &redis.Options{DB: rd.DB}
	if rd.URL != "" {
		var err error
		if o, err = redis.ParseURL(rd.URL); err != nil {
			return nil, errors.New("invalid URL")
		}
		if rd.DB != 0 {
			o.DB = rd.DB
		}
	} else if len(rd.Addrs) > 0 {
		o.Addr = rd.Addrs[0]
	}
	o.Username = cmp.Or(rd.Username, o.Username)
	o.Password = cmp.Or(password, o.Password)
	o.ContextTimeoutEnabled = true
	return o, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// upstreamTimeouts are the upstreams' own attempt timeouts, by name; nil when none sets any.
func (c *Config) upstreamTimeouts() map[string]engine.Timeouts {
	var m map[string]engine.Timeouts
	for name, u := range c.Upstreams {
		if u.Timeouts != (Timeouts{}) {
			if m == nil {
				m = make(map[string]engine.Timeouts)
			}
			m[name] = u.Timeouts.engine()
		}
	}
	return m
}

// routeTimeouts are the routes' own attempt timeouts, by name; nil when none sets any.
func (c *Config) routeTimeouts() map[string]engine.Timeouts {
	var m map[string]engine.Timeouts
	for name, r := range c.Routes {
		if r.Timeouts != (Timeouts{}) {
			if m == nil {
				m = make(map[string]engine.Timeouts)
			}
			m[name] = r.Timeouts.engine()
		}
	}
	return m
}
