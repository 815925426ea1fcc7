package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/metrics"
)

// Defaults of the Config fields whose zero value means "the default".
const (
	DefaultMaxBodyBytes      = 4 << 20
	DefaultRequestTimeout    = 10 * time.Minute
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	// DefaultRefusalLogInterval is Config.RefusalLogInterval's default.
	DefaultRefusalLogInterval = 10 * time.Second
)

// Key is a virtual key: what an agent sends instead of a provider key. The secret itself is
// never stored; Hash is its SHA-256 (see HashKey), compared in constant time.
type Key struct {
	// ID names the key in logs, metrics and quota scopes ("key" label). Required, unique.
	ID string
	// Tenant is who pays for the key's requests ("tenant" label). Required.
	Tenant string
	// Hash is HashKey(secret).
	Hash [32]byte
	// AllowedModels lists the models and routes the key may call; empty means all.
	AllowedModels []string
	// MaxPriority caps the X-Priority the key may ask for; a higher request is lowered to
	// it. 0 means normal priority at most (see queue.LevelOf); lower priorities are always
	// allowed.
	MaxPriority int
	// RequireSession refuses (400) a request of this key that names no session (no
	// X-Session-Id, no OpenAI "user", no Anthropic metadata.user_id), so that a caller
	// cannot escape a session budget by leaving the id out. false accepts such requests,
	// which then fall under no session quota.
	RequireSession bool
}

// HashKey returns the SHA-256 of a virtual key's secret, the form Key.Hash stores.
func HashKey(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// allows reports whether the key may call model (a model id or a route name).
func (k *Key) allows(model string) bool {
	return len(k.AllowedModels) == 0 || slices.Contains(k.AllowedModels, model)
}

// Config configures a Gateway. Zero fields take the documented defaults; Engine and Keys
// are required.
type Config struct {
	// Engine runs the requests. Required. The gateway does not close it: the caller closes
	// it after Serve returns, then flushes its ledger.
	Engine *engine.Engine
	// Keys are the virtual keys accepted. At least one is required.
	Keys []Key
	// Models lists the model ids and route names callers may use, in the order GET
	// /v1/models lists them. Empty means any route the engine resolves and any model its
	// price table knows; /v1/models then lists the price table's models only (the engine
	// cannot list its routes), so a deployment with routes should list them here.
	Models []string
	// MaxBodyBytes bounds a request body; a larger one is refused with 413. 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RequestTimeout bounds one request, streams included, from its arrival: the server has
	// no WriteTimeout (streams last as long as they last), so this is the per-request
	// deadline. X-Request-Timeout may shorten it, never extend it. 0 means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Metrics receives the gateway's request records and serves GET /metrics. nil means a
	// new metrics.Metrics on a new registry, its labels bounded by Models, the keys'
	// tenants and the engine's price table, which then sees no engine events: to get
	// them, build the Metrics first with metrics.New and give its Observe to
	// engine.Config.OnEvent.
	Metrics *metrics.Metrics
	// Logger receives the access log (one line per request: see AccessLogSample and
	// RefusalLogInterval) and server errors; nil means slog.Default(). Logs never contain a
	// key's secret or a provider key. The access log's lines have tokens and cost when the
	// gateway's Observe receives the engine's events.
	Logger *slog.Logger
	// AccessLogSample is the share of answered requests that get an access log line, at
	// Info: 0 means 1 (every one), 0.01 one in a hundred, and a negative value none.
	// Failed requests are always logged, at the rate RefusalLogInterval allows.
	AccessLogSample float64
	// RefusalLogInterval bounds the access log's failure lines: at most one per tenant and
	// outcome (budget_exceeded, rate_limited, upstream_error, ...) per interval; the next
	// line says how many were suppressed in between ("suppressed"). 0 means
	// DefaultRefusalLogInterval; a negative value logs every failure.
	RefusalLogInterval time.Duration
	// BudgetStatus is the HTTP status of a budget refusal: 429 (the default, 0) or 402.
	// Either way the answer carries x-should-retry: false and OpenAI's insufficient_quota
	// code (Anthropic: billing_error). The official OpenAI and Anthropic SDKs honour
	// x-should-retry and do not retry it; clients that retry every 429 whatever the header
	// says (the Vercel AI SDK: 3 tries over about 6 s) stop at once on a 402. See
	// docs/config.md.
	BudgetStatus int
	// Ready holds readiness checks for GET /readyz, by name (for example "redis"); each
	// gets a context bounded by a second. The gateway is not ready while one fails or once
	// shutdown has begun.
	Ready map[string]func(context.Context) error
	// ShutdownTimeout bounds the drain of in-flight requests once Serve's context is
	// cancelled; requests still running after it are cut. 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout are the http.Server's; 0 means
	// DefaultReadHeaderTimeout, DefaultReadTimeout and DefaultIdleTimeout.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
}

// Validate reports the first invalid field, by name.
func (c *Config) Validate() error {
	if c.Engine == nil {
		return errors.New("gateway: Config.Engine is required")
	}
	if len(c.Keys) == 0 {
		return errors.New("gateway: Config.Keys: at least one virtual key is required")
	}
	ids := make(map[string]bool, len(c.Keys))
	hashes := make(map[[32]byte]bool, len(c.Keys))
	for i := range c.Keys {
		k := &c.Keys[i]
		switch {
		case k.ID == "":
			return fmt.Errorf("gateway: Config.Keys[%d].ID is empty", i)
		case k.Tenant == "":
			return fmt.Errorf("gateway: Config.Keys[%d].Tenant is empty (key %q)", i, k.ID)
		case k.Hash == [32]byte{}:
			return fmt.Errorf("gateway: Config.Keys[%d].Hash is empty (key %q): use HashKey(secret)", i, k.ID)
		case ids[k.ID]:
			return fmt.Errorf("gateway: Config.Keys[%d].ID %q is used twice", i, k.ID)
		case hashes[k.Hash]:
			return fmt.Errorf("gateway: Config.Keys[%d].Hash (key %q) equals another key's: secrets must be unique", i, k.ID)
		}
		ids[k.ID], hashes[k.Hash] = true, true
		if len(c.Models) > 0 {
			for _, m := range k.AllowedModels {
				if !slices.Contains(c.Models, m) {
					return fmt.Errorf("gateway: Config.Keys[%d].AllowedModels: %q is not in Config.Models", i, m)
				}
			}
		}
	}
	for i, m := range c.Models {
		if _, err := c.Engine.Route(m); err != nil {
			return fmt.Errorf("gateway: Config.Models[%d]: %w", i, err)
		}
	}
	switch {
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("gateway: Config.MaxBodyBytes must not be negative, got %d", c.MaxBodyBytes)
	case c.RequestTimeout < 0:
		return fmt.Errorf("gateway: Config.RequestTimeout must not be negative, got %v", c.RequestTimeout)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("gateway: Config.ShutdownTimeout must not be negative, got %v", c.ShutdownTimeout)
	case c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.IdleTimeout < 0:
		return errors.New("gateway: Config.ReadHeaderTimeout, ReadTimeout and IdleTimeout must not be negative")
	case c.BudgetStatus != 0 && c.BudgetStatus != 429 && c.BudgetStatus != 402:
		return fmt.Errorf("gateway: Config.BudgetStatus must be 429 or 402, got %d", c.BudgetStatus)
	case c.AccessLogSample > 1:
		return fmt.Errorf("gateway: Config.AccessLogSample must be at most 1, got %v", c.AccessLogSample)
	}
	for name, f := range c.Ready {
		if f == nil {
			return fmt.Errorf("gateway: Config.Ready[%q] is nil", name)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RefusalLogInterval == 0 {
		c.RefusalLogInterval = DefaultRefusalLogInterval
	}
	return c
}
