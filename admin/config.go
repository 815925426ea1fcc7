package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// StatusReader reads the state of quotas without changing it; every quota.Store is one.
type StatusReader interface {
	Status(ctx context.Context, quotas []quota.Quota, dst []quota.Status) ([]quota.Status, error)
}

// QueueStats reads the admission queue; *queue.Queue is one.
type QueueStats interface {
	Stats() queue.Stats
}

// Breakers are the circuit breakers of the deployments; *fallback.Cooldowns is one. A
// fleet-wide implementation (Redis) lists and resets the shared state.
type Breakers interface {
	// Breakers returns the breakers that have state at now, by deployment.
	Breakers(now time.Time) []fallback.Breaker
	// Reset closes deployment's breaker and reports whether it had state.
	Reset(deployment string) bool
}

// Spend reads the usage ledger; *ledger.Ledger is one.
type Spend interface {
	Query(ctx context.Context, q ledger.Query) ([]ledger.Row, error)
}

// LearnedLimit is a provider limit that tollgate learned from the provider's answers
// (rate-limit headers and 429s) rather than read from its configuration.
type LearnedLimit struct {
	// Deployment is "provider/model".
	Deployment string
	// Unit is what the limit counts: "requests", "tokens", "input_tokens"...
	Unit string
	// PerMinute is the learned limit, per minute.
	PerMinute float64
	// Configured is the limit the configuration gives for the same deployment and unit,
	// per minute; 0 when it gives none.
	Configured float64
	// Source is where the limit comes from: "headers" (the provider's rate-limit
	// headers), "message" (a 429's message) or "refusals" (inferred from 429s); "" when
	// unknown.
	Source string
	// Updated is when the limit last changed; zero when unknown.
	Updated time.Time
}

// LearnedLimits lists the learned limits; the learned-limits controller implements it.
// MetricsLearned reads them from a Prometheus gauge instead.
type LearnedLimits interface {
	LearnedLimits() []LearnedLimit
}

// Config configures a Handler. KeyHash and Keys are required; every other part is
// optional, and the API answers without what is missing (an empty list, or 501 for the
// endpoints that act on it).
type Config struct {
	// KeyHash is the SHA-256 of the admin token (keys.HashSecret): every endpoint but the
	// dashboard's static files and the OpenAPI description requires
	// "Authorization: Bearer TOKEN". Required.
	KeyHash [32]byte
	// MetricsKeyHash, when set, is the SHA-256 of a second token that may read GET
	// /metrics and nothing else, for Prometheus, which then holds no power over keys
	// and budgets. The admin token reads /metrics too.
	MetricsKeyHash [32]byte

	// Keys are the virtual keys and budget overrides. Required.
	Keys *keys.Registry
	// Rules returns the quota rules in force (the configuration's, as last reloaded). Nil
	// means none.
	Rules func() quota.Rules
	// Deployments returns the deployments ("provider/model") of the routes, so that rules
	// scoped per provider and model ("*") can be shown for each. Nil means none: such
	// rules are shown only through the state endpoints.
	Deployments func() []string
	// Quotas reads the quota state: the engine's quota.Store. Nil means no state.
	Quotas StatusReader
	// Queue is the admission queue. Nil means no queue figures.
	Queue QueueStats
	// Breakers are the deployments' circuit breakers. Nil means none.
	Breakers Breakers
	// Spend is the ledger, for spend by tenant and session. Nil means none.
	Spend Spend
	// Gatherer is where the figures of the metrics summary and GET /metrics come from:
	// the registry tollgate's metrics are on. Nil means no figures and no /metrics.
	Gatherer prometheus.Gatherer
	// Learned lists the learned limits. Nil means MetricsLearned over Gatherer.
	Learned LearnedLimits
	// Metrics names the metrics the summary reads. The zero value means
	// DefaultMetricNames.
	Metrics MetricNames

	// Location is the zone of daily budgets: "today" for spend starts at its midnight.
	// Nil means UTC.
	Location *time.Location
	// TopSessions is how many sessions the overview lists. 0 means 10.
	TopSessions int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives the API's changes (who created or revoked which key, which budget
	// was set) and its internal errors. Nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports the first missing or invalid field.
func (c *Config) Validate() error {
	switch {
	case c.KeyHash == [32]byte{}:
		return errors.New("admin: Config.KeyHash is required: an admin API without a token is open to anyone who reaches it")
	case c.Keys == nil:
		return errors.New("admin: Config.Keys is required")
	case c.TopSessions < 0:
		return fmt.Errorf("admin: Config.TopSessions %d is negative", c.TopSessions)
	case c.MetricsKeyHash == c.KeyHash:
		return errors.New("admin: Config.MetricsKeyHash is the admin key's: give Prometheus a token of its own")
	}
	return c.Metrics.withDefaults().validate()
}

func (c Config) withDefaults() Config {
	if c.Rules == nil {
		c.Rules = func() quota.Rules { return nil }
	}
	if c.Deployments == nil {
		c.Deployments = func() []string { return nil }
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.TopSessions == 0 {
		c.TopSessions = 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Metrics = c.Metrics.withDefaults()
	if c.Learned == nil && c.Gatherer != nil {
		c.Learned = MetricsLearned{Gatherer: c.Gatherer, Names: c.Metrics}
	}
	return c
}
