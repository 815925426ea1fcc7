package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/keys"
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

// KeyFinder finds the virtual key whose secret a request carries; *keys.Registry is one
// (the configuration file's keys and those created at run time, revoked ones refused).
// Find must be safe for concurrent use and must not block: it runs on every request.
type KeyFinder interface {
	// Find returns the valid key of secret, and false for an unknown or revoked secret or
	// an empty one. The key returned is shared and is not modified by the gateway.
	Find(secret string) (*keys.Key, bool)
}

var _ KeyFinder = (*keys.Registry)(nil)

// Config configures a Gateway. Zero fields take the documented defaults; Engine and Keys
// are required.
type Config struct {
	// Engine runs the requests. Required. The gateway does not close it: the caller closes
	// it after Serve returns, then flushes its ledger.
	Engine *engine.Engine
	// Keys finds the virtual keys accepted. Required. A key's ID and Tenant label its
	// requests; its AllowedModels, MaxPriority and RequireSession are applied to each
	// request as the key is at that request (a key revoked or changed in the Registry is
	// refused or applied from the next request on).
	Keys KeyFinder
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
	// Metrics receives the gateway's request records. nil means a new metrics.Metrics on a
	// new registry, its labels bounded by Models, the tenants of the keys (when Keys also
	// lists them, as *keys.Registry does with Keys()) and the engine's price table, which
	// then sees no engine events: to get them, build the Metrics first with metrics.New
	// and give its Observe to engine.Config.OnEvent.
	Metrics *metrics.Metrics
	// ServeMetrics serves GET /metrics (Metrics' registry) on the gateway's own listener,
	// without authentication. false, the default, leaves it out: the metrics name tenants
	// and their spend, and belong on a listener that agents cannot reach (the admin
	// listener, package admin). Set it only while scrapers move there.
	ServeMetrics bool
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
	if c.Keys == nil {
		return errors.New("gateway: Config.Keys is required: a KeyFinder such as *keys.Registry")
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
	}
	if s := c.Settings(); s.Validate() != nil {
		return fmt.Errorf("gateway: Config: %w", s.Validate())
	}
	for name, f := range c.Ready {
		if f == nil {
			return fmt.Errorf("gateway: Config.Ready[%q] is nil", name)
		}
	}
	return nil
}

// Settings are the fields of a Config that a Gateway can change while it serves
// (Gateway.Update): what a configuration reload swaps without dropping a request. Each
// field means what the Config field of the same name means, zero values included.
type Settings struct {
	AccessLogSample    float64
	RefusalLogInterval time.Duration
	BudgetStatus       int
}

// Validate reports the first invalid field, by name.
func (s *Settings) Validate() error {
	switch {
	case s.BudgetStatus != 0 && s.BudgetStatus != 429 && s.BudgetStatus != 402:
		return fmt.Errorf("BudgetStatus must be 429 or 402, got %d", s.BudgetStatus)
	case s.AccessLogSample > 1:
		return fmt.Errorf("AccessLogSample must be at most 1, got %v", s.AccessLogSample)
	}
	return nil
}

// Settings returns the fields of c that Update can change.
func (c *Config) Settings() Settings {
	return Settings{AccessLogSample: c.AccessLogSample, RefusalLogInterval: c.RefusalLogInterval, BudgetStatus: c.BudgetStatus}
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
