// Package config is tollgate's YAML configuration: the schema that docs/config.md documents
// field by field, a strict loader, a validator that reports every problem at once with its
// file position and field path, and Build, which turns a valid configuration into a running
// engine (providers, prices, routes, quotas, store, ledger) for `tollgate serve`.
//
// Secrets are never in the file: upstream API keys and virtual keys are named by the
// environment variable that holds them (api_key_env, key_env), optionally loaded from a
// .env file (env_file). Nothing in this package prints or returns a secret's value; a
// check reports each variable as "set" or "missing".
//
// Loading is two steps so that `tollgate config check` can show everything wrong with a
// file in one run: Load (or Parse) fails only when the file cannot be read or is not YAML;
// Validate then returns every problem, unknown fields and type errors included.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/engine"
)

// Config is one configuration file. The zero value of every field is its documented
// default (see docs/config.md); Validate says what is missing or wrong. A Config is not safe
// for concurrent mutation; Validate and Build only read it.
type Config struct {
	// Listen is the gateway's address; "" means DefaultListen.
	Listen string `yaml:"listen"`
	// Timezone is the IANA zone whose midnight starts day and month budget windows; ""
	// means UTC.
	Timezone string `yaml:"timezone"`
	// MaxBodyBytes bounds a request body; 0 means the gateway's default (4 MiB).
	MaxBodyBytes Size `yaml:"max_body_bytes"`
	// DefaultMaxTokens caps the output of a request that sets no max_tokens; 0 means 4096.
	DefaultMaxTokens int `yaml:"default_max_tokens"`
	// RequestTimeout bounds one request, streams included; 0 means 10 minutes.
	RequestTimeout Duration `yaml:"request_timeout"`
	// AbandonTimeout bounds how long an upstream call goes on after its caller left
	// (cancelled, disconnected, timed out) so that what the provider bills for it is
	// learned and settled; 0 means 5 minutes (engine.Config.AbandonTimeout).
	AbandonTimeout Duration `yaml:"abandon_timeout"`
	// ShutdownTimeout bounds the drain of in-flight requests at shutdown; 0 means 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Timeouts bound each attempt at an upstream; upstreams and routes may override them.
	Timeouts Timeouts `yaml:"timeouts"`
	// BudgetStatus is the HTTP status of a budget refusal: 429 or 402; 0 means 429. See
	// gateway.Config.BudgetStatus for which clients retry which.
	BudgetStatus int `yaml:"budget_status"`
	// AccessLog configures the gateway's line per request.
	AccessLog AccessLog `yaml:"access_log"`
	// EnvFile is a .env file (KEY=value lines) read for the secrets' environment
	// variables, relative to the configuration file. Variables already in the environment
	// win over the file. "" means none.
	EnvFile string `yaml:"env_file"`

	// Upstreams are the provider APIs by name. A route step "name/model" goes to the
	// upstream called name; a bare model goes to the upstream named after its provider
	// ("openai" or "anthropic").
	Upstreams map[string]Upstream `yaml:"upstreams"`
	// Prices adds or overrides model prices; every model the configuration names must be
	// priced, by the embedded table or here.
	Prices Prices `yaml:"prices"`
	// Routes are named fallback chains, callable as a model name.
	Routes map[string]Route `yaml:"routes"`
	// Quotas are the limits and budgets, every one of which applies to each request in its
	// scope.
	Quotas []Quota `yaml:"quotas"`
	// Keys are the virtual keys that agents send instead of a provider key; more are
	// created at run time through the admin API (package keys).
	Keys []Key `yaml:"keys"`
	// Models lists the model ids and route names that callers may use, in the order GET
	// /v1/models lists them; each must be a route or a priced model, and a dated id of a
	// listed model (gpt-4o-2024-08-06 of gpt-4o) is served as it. Empty means every route,
	// by name, then every priced model whose provider has an upstream of its name. A key's
	// allowed_models narrows it further.
	Models []string `yaml:"models"`

	Queue       Queue       `yaml:"queue"`
	Retry       Retry       `yaml:"retry"`
	RetryBudget RetryBudget `yaml:"retry_budget"`
	Cooldown    Cooldown    `yaml:"cooldown"`
	Cache       Cache       `yaml:"cache"`
	Ledger      Ledger      `yaml:"ledger"`
	// Redis, when set, shares quota state between gateway replicas; nil keeps it in memory.
	Redis *Redis `yaml:"redis"`
	// Admin, when set, runs the admin listener: the admin API, the dashboard and GET
	// /metrics. nil means none.
	Admin *Admin `yaml:"admin"`
	// Metrics says where GET /metrics is served.
	Metrics MetricsSection `yaml:"metrics"`
	// LearnedLimits configures the upstreams' rate limits learned from their answers.
	LearnedLimits LearnedLimits `yaml:"learned_limits"`

	// LookupEnv resolves the environment variables that hold secrets. Nil means the
	// process environment, then EnvFile. Tests set it to avoid touching the environment.
	LookupEnv func(name string) (string, bool) `yaml:"-"`

	file    string            // the path given to Load, for problem locations
	dir     string            // its directory, for relative paths
	idx     *index            // node positions by field path; nil for a Config built in code
	decoded []Problem         // problems found while decoding (unknown fields, types)
	dotenv  map[string]string // EnvFile's variables
	envErr  error             // why EnvFile could not be read
}

// DefaultListen is the gateway's address when Config.Listen is empty: loopback only, so
// that a gateway started without thought is not open to the network.
const DefaultListen = "127.0.0.1:8080"

// DefaultLedgerPath is the ledger file when Ledger.Path is empty.
const DefaultLedgerPath = "tollgate.db"

// Upstream is one provider API.
type Upstream struct {
	// Provider is the API's wire format: "openai" or "anthropic". "" means the upstream's
	// own name when that is one of the two.
	Provider string `yaml:"provider"`
	// BaseURL is the API root: for OpenAI including "/v1", for Anthropic without it. ""
	// means the provider's public API.
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv names the environment variable holding the API key. Required.
	APIKeyEnv string `yaml:"api_key_env"`
	// Headroom is the fraction of the provider's published limits that the quotas are meant
	// to use (informational, shown by config check); 0 means 0.8.
	Headroom float64 `yaml:"headroom"`
	// LearnLimits, when false, learns no limits of this upstream (see LearnedLimits);
	// unset means learned_limits.mode applies.
	LearnLimits *bool `yaml:"learn_limits"`
	// Timeouts override the top level's for the steps that go to this upstream.
	Timeouts Timeouts `yaml:"timeouts"`
}

// LearnedLimits configures the limits learned from the upstreams' answers (package learn,
// engine.Learned). Zero fields are package learn's defaults.
type LearnedLimits struct {
	// Mode is "enforce" (""), "observe" or "off".
	Mode        string   `yaml:"mode"`
	Interval    Duration `yaml:"interval"`     // 0: 10s
	Increase    float64  `yaml:"increase"`     // 0: 0.02
	MaxIncrease float64  `yaml:"max_increase"` // 0: 0.16
	Decrease    float64  `yaml:"decrease"`     // 0: 0.9
	Margin      float64  `yaml:"margin"`       // 0: 0.02
	Hold        Duration `yaml:"hold"`         // 0: 3m
	// Sync is how often a replica shares what it learned through Redis; 0 means 1s.
	Sync Duration `yaml:"sync"`
}

// The modes of learned_limits.
const (
	LearnEnforce = "enforce"
	LearnObserve = "observe"
	LearnOff     = "off"
)

// DefaultLearnSync is learned_limits.sync's default.
const DefaultLearnSync = time.Second

// LearnMode returns learned_limits.mode with its default: enforce.
func (c *Config) LearnMode() string {
	if c.LearnedLimits.Mode == "" {
		return LearnEnforce
	}
	return c.LearnedLimits.Mode
}

// Prices adds to the embedded price table.
type Prices struct {
	// File is a price file in pricing's format, relative to the configuration file.
	File string `yaml:"file"`
	// Models are inline prices in the same format as a price file's models section; they
	// win over File.
	Models yaml.Node `yaml:"models"`
}

// Route is a named fallback chain.
type Route struct {
	// Chain is the steps in order, separated by "->": models ("gpt-4o" or
	// "upstream/model"), then optionally "cached" and "static".
	Chain string `yaml:"chain"`
	// StaticMessage is the answer of the chain's "static" step; required when it has one.
	StaticMessage string `yaml:"static_message"`
	// CacheFirst serves a fresh cached answer before calling any model.
	CacheFirst bool `yaml:"cache_first"`
	// ClampMaxTokens lowers max_tokens to what the budget left can pay for instead of
	// skipping a model.
	ClampMaxTokens bool `yaml:"clamp_max_tokens"`
	// Timeouts override the upstreams' and the top level's for the route's steps.
	Timeouts Timeouts `yaml:"timeouts"`
}

// Timeouts bound one attempt at an upstream (see engine.Timeouts). A zero field takes the
// value of the next level — the route's, then the upstream's, then the top level's — and at
// last its default.
type Timeouts struct {
	// Headers bounds the wait for a stream's status and headers; 0 means 60s.
	Headers Duration `yaml:"headers"`
	// FirstToken bounds a stream's wait from its headers to its first content; 0 means 60s.
	FirstToken Duration `yaml:"first_token"`
	// Idle bounds the silence between a stream's events after its first content; 0 means
	// 30s.
	Idle Duration `yaml:"idle"`
	// Answer bounds a whole (non-streaming) answer; 0 means 5 minutes.
	Answer Duration `yaml:"answer"`
}

// engine returns t as the engine's.
func (t Timeouts) engine() engine.Timeouts {
	return engine.Timeouts{Headers: t.Headers.D(), FirstToken: t.FirstToken.D(), Idle: t.Idle.D(), Answer: t.Answer.D()}
}

// validate reports negative fields under path.
func (t Timeouts) validate(v *validator, path string) {
	v.nonNegative(path+".headers", t.Headers)
	v.nonNegative(path+".first_token", t.FirstToken)
	v.nonNegative(path+".idle", t.Idle)
	v.nonNegative(path+".answer", t.Answer)
}

// Quota is one rule: {scope, unit, limit, window}.
type Quota struct {
	// Name identifies the rule in messages, metrics and state keys. Required, unique.
	Name string `yaml:"name"`
	// Scope maps labels (provider, model, tenant, key, agent, session) to a value that a
	// request must have, or "*" for a separate quota per distinct value. Empty is one
	// global quota.
	Scope map[string]string `yaml:"scope"`
	// Unit is requests, input_tokens, output_tokens, tokens, usd or concurrent.
	Unit string `yaml:"unit"`
	// Limit is the most that the window allows: dollars for usd ("12.50"), a count
	// otherwise.
	Limit Number `yaml:"limit"`
	// Window is a rate period ("minute", "1h", "10s"), "day", "month", "lifetime" or
	// "lease". "" means lease for concurrent and is required otherwise.
	Window string `yaml:"window"`
	// Burst is how much of a rate may be used at once, in the unit of Limit; "" means
	// Limit.
	Burst Number `yaml:"burst"`
	// WarnAt is the fraction of a budget whose crossing is logged; 0 means 0.8, negative
	// disables.
	WarnAt float64 `yaml:"warn_at"`
	// DowngradeAt is the fraction of a budget past which cheaper models are preferred; 0
	// disables.
	DowngradeAt float64 `yaml:"downgrade_at"`
}

// Key is a virtual key. Exactly one of KeySHA256 and KeyEnv gives its secret.
type Key struct {
	// ID names the key in logs, metrics, the ledger and quota scopes. Required, unique.
	ID string `yaml:"id"`
	// Tenant is who pays. Required.
	Tenant string `yaml:"tenant"`
	// KeySHA256 is the hex SHA-256 of the secret, so that the file holds no secret at all.
	KeySHA256 string `yaml:"key_sha256"`
	// KeyEnv names the environment variable holding the secret, hashed at load.
	KeyEnv string `yaml:"key_env"`
	// AllowedModels lists the models and routes the key may call; empty means all.
	AllowedModels []string `yaml:"allowed_models"`
	// MaxPriority caps the priority the key may ask for (-1 low .. 3 critical); 0 means
	// normal.
	MaxPriority int `yaml:"max_priority"`
	// RequireSession refuses a request of the key that names no session (X-Session-Id,
	// or the body's user / metadata.user_id) with 400, so that no caller escapes a
	// session budget by leaving the id out.
	RequireSession bool `yaml:"require_session"`
}

// AccessLog configures the gateway's access log (gateway.Config.AccessLogSample and
// RefusalLogInterval).
type AccessLog struct {
	// Sample is the share of answered requests logged, from 0 to 1; unset means 1 (every
	// one), 0 none. Failed requests are always logged, at the rate RefusalInterval allows.
	Sample *float64 `yaml:"sample"`
	// RefusalInterval is the least time between two lines for failures of one tenant and
	// outcome; the next line counts those suppressed. 0 means 10s; negative logs every
	// failure.
	RefusalInterval Duration `yaml:"refusal_interval"`
}

// Queue configures admission: the fields of queue.Config, whose zero values are its
// defaults.
type Queue struct {
	MaxWait      Duration       `yaml:"max_wait"`       // 0: 30s
	MaxQueued    int            `yaml:"max_queued"`     // per tenant; 0: 1000
	MaxQueuedAll int            `yaml:"max_queued_all"` // 0: 10000
	Aging        Duration       `yaml:"aging"`          // 0: 5s; negative disables
	Weights      map[string]int `yaml:"weights"`        // tenant -> share; unlisted: 1
	Recheck      Duration       `yaml:"recheck"`        // 0: never, or DefaultRedisRecheck with Redis
}

// Retry configures retries at one model (retry.Policy) and the attempt cap across a chain
// (engine.Config.ChainAttempts); zero values are the defaults.
type Retry struct {
	MaxAttempts   int      `yaml:"max_attempts"`    // 0: 3
	Initial       Duration `yaml:"initial"`         // 0: 500ms
	Max           Duration `yaml:"max"`             // 0: 20s
	Multiplier    float64  `yaml:"multiplier"`      // 0: 2
	MaxServerWait Duration `yaml:"max_server_wait"` // 0: 60s
	ChainAttempts int      `yaml:"chain_attempts"`  // 0: 5
	// FallbackAfter is the longest wait for the same model (a retry's backoff, a server's
	// Retry-After, a full rate quota) while the route has another model to go to; 0
	// means 2s (engine.Config.FallbackAfter).
	FallbackAfter Duration `yaml:"fallback_after"`
}

// RetryBudget caps retries across all requests (retry.BudgetConfig); zero values are the
// defaults.
type RetryBudget struct {
	Ratio        float64  `yaml:"ratio"`          // 0: 0.1
	Window       Duration `yaml:"window"`         // 0: 10s
	MinPerSecond float64  `yaml:"min_per_second"` // 0: 1; negative: no floor
}

// Cooldown configures the per-deployment circuit breakers (fallback.CooldownConfig); zero
// values are the defaults.
type Cooldown struct {
	Initial          Duration `yaml:"initial"`           // 0: 30s
	Max              Duration `yaml:"max"`               // 0: 5m
	FailureThreshold int      `yaml:"failure_threshold"` // 0: 3
	ProbeTimeout     Duration `yaml:"probe_timeout"`     // 0: Max
}

// Cache configures the response cache (cache.Config).
type Cache struct {
	// Enabled turns the cache on or off; unset means on exactly when a route uses it
	// (a "cached" step or cache_first).
	Enabled  *bool    `yaml:"enabled"`
	MaxBytes Size     `yaml:"max_bytes"` // 0: 64MiB
	TTL      Duration `yaml:"ttl"`       // 0: 10m
	StaleFor Duration `yaml:"stale_for"` // 0: 24h; negative disables stale answers
}

// Ledger configures the usage ledger (ledger.Config).
type Ledger struct {
	// Backend is sqlite (one gateway: a file) or postgres (a fleet: one shared database);
	// "" means sqlite.
	Backend string `yaml:"backend"`
	// Path is the SQLite file, relative to the configuration file's directory; "" means
	// DefaultLedgerPath. Only for sqlite.
	Path string `yaml:"path"`
	// URLEnv names the environment variable holding the PostgreSQL URL
	// (postgres://user:password@host:5432/db), a secret. Required for postgres.
	URLEnv         string   `yaml:"url_env"`
	CommitInterval Duration `yaml:"commit_interval"` // 0: 100ms
	// InstanceEnv names an environment variable whose value identifies this process among
	// the fleet's (a stable pod or host name), so that a restart charges the holds of its
	// previous life at once; "" means a new random id per start. Only for postgres.
	InstanceEnv     string   `yaml:"instance_env"`
	HeartbeatTTL    Duration `yaml:"heartbeat_ttl"`    // 0: 30s; only for postgres
	RecoverInterval Duration `yaml:"recover_interval"` // 0: heartbeat_ttl/2; only for postgres
	MaxConns        int      `yaml:"max_conns"`        // 0: 4; only for postgres
}

// Redis configures the shared quota store.
type Redis struct {
	// URL is redis://[user:password@]host:port[/db] (rediss:// for TLS). For cluster mode
	// it may list more nodes with ?addr=host:port. Either URL or Addrs is required.
	URL string `yaml:"url"`
	// Addrs are host:port seeds: the server (single), the sentinels (sentinel) or cluster
	// nodes (cluster).
	Addrs []string `yaml:"addrs"`
	// Mode is single, sentinel or cluster; "" means single.
	Mode string `yaml:"mode"`
	// MasterName is the Sentinel master's name; required for sentinel.
	MasterName string `yaml:"master_name"`
	DB         int    `yaml:"db"`
	Username   string `yaml:"username"`
	// PasswordEnv names the environment variable holding the password, if any.
	PasswordEnv string `yaml:"password_env"`
	// Timeout bounds each quota operation; 0 means 50ms.
	Timeout Duration `yaml:"timeout"`
	// FailurePolicy is fail_closed (refuse while Redis is down; the default) or
	// fail_open_local (count locally with each limit divided by Replicas).
	FailurePolicy string `yaml:"failure_policy"`
	// Replicas is the number of gateways sharing the Redis; 0 means 1.
	Replicas int `yaml:"replicas"`
	// ProbeInterval is how often a replica probes a Redis that stopped answering; 0 means
	// redisstore.DefaultProbeInterval (200ms).
	ProbeInterval Duration `yaml:"probe_interval"`
	// Outbox bounds the settles and releases (and fail_open_local charges) kept while
	// Redis is unreachable; 0 means redisstore.DefaultOutbox (65536).
	Outbox int `yaml:"outbox"`
	// RebuildTimeout bounds a rebuild of the state from the ledger after Redis lost it,
	// and is the life of the rebuild lock; 0 means 30s.
	RebuildTimeout Duration `yaml:"rebuild_timeout"`
	// SlotGroup is the Cluster hash tag of every key; "" means "tg".
	SlotGroup string `yaml:"slot_group"`
	// ShareCooldowns keeps the model cooldowns (circuit breakers) in Redis, so that a 429
	// seen by one replica cools the deployment down for all of them.
	ShareCooldowns bool `yaml:"share_cooldowns"`
	// ShareCache keeps the response cache in Redis, so that every replica can serve an
	// answer any of them stored.
	ShareCache bool `yaml:"share_cache"`
	// LeaseTTL is how long a concurrency lease lives unless renewed; 0 means
	// redisstore.DefaultLeaseTTL (1m). Leases of calls in flight are renewed every third
	// of it.
	LeaseTTL Duration `yaml:"lease_ttl"`
}

// Load reads and parses the configuration file at path; see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a configuration read from file (a path, used in problem locations and to
// resolve relative paths). It fails only when data is not YAML; every other problem,
// unknown fields and wrong types included, is kept for Validate, so that a check reports
// them all at once. It also reads EnvFile, if set; a missing file is a Validate problem.
func Parse(file string, data []byte) (*Config, error) {
	c := &Config{file: file, dir: filepath.Dir(file)}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(file, err)
	}
	c.idx = newIndex(&root)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	var te *yaml.TypeError
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case errors.As(err, &te):
		for _, msg := range te.Errors {
			c.decoded = append(c.decoded, c.idx.decodeProblem(file, msg))
		}
	default:
		return nil, syntaxError(file, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		c.decoded = append(c.decoded, Problem{File: file, Line: next.Line, Column: next.Column,
			Message: "a second YAML document: a configuration is one document (remove the \"---\")"})
	}
	if c.EnvFile != "" {
		c.dotenv, c.envErr = readEnvFile(c.path(c.EnvFile))
	}
	return c, nil
}

// File returns the path the Config was loaded from; "" for one built in code.
func (c *Config) File() string { return c.file }

// path resolves p relative to the configuration file's directory.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxError turns a YAML parser error into a one-problem Problems with its line.
func syntaxError(file string, err error) error {
	p := Problem{File: file, Message: err.Error()}
	if m := yamlLine.FindStringSubmatch(p.Message); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = "invalid YAML: " + p.Message[len(m[0]):]
	}
	return Problems{p}
}
