package redisstore

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// Policy says what a Store does when Redis does not answer within Config.Timeout.
type Policy uint8

const (
	// FailClosed refuses every operation with an *UnavailableError (ErrUnavailable) until
	// Redis answers again: no request runs unaccounted. It is the zero value.
	FailClosed Policy = iota
	// FailOpenLocal serves from an in-process quota.MemoryStore in which each replica has
	// its share of every quota: a rate's or a concurrency limit divided by
	// Config.Replicas, and of a budget, what remained of it at the replica's last contact
	// with Redis divided by Config.Replicas. What it spends locally is charged to Redis
	// when it answers again (see the package documentation for the bound on overspend).
	FailOpenLocal
)

func (p Policy) String() string {
	switch p {
	case FailClosed:
		return "fail_closed"
	case FailOpenLocal:
		return "fail_open_local"
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// ParsePolicy parses "fail_closed" or "fail_open_local" as written in configuration.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "", "fail_closed":
		return FailClosed, nil
	case "fail_open_local":
		return FailOpenLocal, nil
	}
	return 0, fmt.Errorf("unknown redis failure policy %q (want fail_closed or fail_open_local)", s)
}

// Config configures a Store. The zero value is ready to use: slot group "tg", a 50ms timeout
// per operation, fail closed, no Source (a lost state is rebuilt empty).
type Config struct {
	// SlotGroup is the Cluster hash tag shared by every key of the Store, so that one script
	// touches one slot. Stores (gateway replicas) that share quotas must use the same group,
	// and the same TTL and LeaseTTL: a key's TTL is set by whichever replica wrote it last.
	// Empty means "tg". It must not contain '{' or '}'.
	SlotGroup string
	// Timeout bounds each operation, one round trip, including the wait for a pooled
	// connection. Zero means 50ms (not go-redis's 3-5s: a quota check that slow is an outage).
	Timeout time.Duration
	// TTL is how long a reservation may stay open before it is settled at its worst case.
	// Zero means quota.DefaultTTL (10 minutes), as quota.MemoryStore.
	TTL time.Duration
	// LeaseTTL is how long a concurrency lease lives without Renew: a replica that crashes
	// gives its slots back after at most this long. Calls that run longer must call Renew
	// more often than this. Zero means 1 minute; it is capped at TTL.
	LeaseTTL time.Duration
	// IdleTTL is how long a lifetime budget's state is kept after its last reservation
	// ends, for quotas whose Window.Idle is zero (quota.Window.Idle overrides it; negative
	// keeps it forever), so that abandoned sessions do not fill Redis. Zero means
	// quota.DefaultIdle (30 days), as quota.MemoryStore.
	IdleTTL time.Duration
	// Policy is what to do when Redis is unreachable or slow. The zero value is FailClosed.
	Policy Policy
	// Replicas is the number of gateway replicas sharing this Redis: under FailOpenLocal
	// each replica's local share is 1/Replicas (see FailOpenLocal). Zero means 1.
	Replicas int
	// ProbeInterval is the least time between health probes while Redis is down: the
	// longest a Store may take to notice that Redis answers again, before it replays its
	// outbox. Zero means 200ms.
	ProbeInterval time.Duration
	// Outbox bounds the operations kept while Redis is unreachable (settles, releases, and
	// the charges of local reservations), to be applied when it answers. Zero means 65536.
	// When it is full a settle or release is dropped (its reservation expires in Redis at
	// its worst case) and, under FailOpenLocal, local budget reservations are refused.
	Outbox int
	// Source is what a lost state is rebuilt from (see Source): the fleet's ledger. Nil
	// rebuilds it empty: every budget starts again from zero after Redis lost its data.
	Source Source
	// RebuildTimeout bounds a rebuild: the Source's read and the writes. It is also the
	// life of the rebuild lock, so that a replica that dies while rebuilding stops
	// blocking the others after at most this long. Zero means 30 seconds.
	RebuildTimeout time.Duration
	// OnEvent, when set, is called with every transition (degraded, rejoined, data lost,
	// rebuilt, rebuild failed, outbox full), for metrics and alerts. It is called
	// synchronously from the goroutine that made the transition and must not block.
	OnEvent func(Event)
	// Logger receives one line per transition. Nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports the first bad field.
func (c *Config) Validate() error {
	switch {
	case strings.ContainsAny(c.SlotGroup, "{}"):
		return fmt.Errorf("redisstore: Config.SlotGroup must not contain '{' or '}', got %q", c.SlotGroup)
	case c.Timeout < 0:
		return fmt.Errorf("redisstore: Config.Timeout must not be negative, got %v", c.Timeout)
	case c.TTL < 0:
		return fmt.Errorf("redisstore: Config.TTL must not be negative, got %v", c.TTL)
	case c.TTL > 0 && c.TTL < time.Millisecond:
		return fmt.Errorf("redisstore: Config.TTL must be at least 1ms, got %v", c.TTL)
	case c.LeaseTTL < 0:
		return fmt.Errorf("redisstore: Config.LeaseTTL must not be negative, got %v", c.LeaseTTL)
	case c.IdleTTL < 0:
		return fmt.Errorf("redisstore: Config.IdleTTL must not be negative, got %v", c.IdleTTL)
	case c.Policy > FailOpenLocal:
		return fmt.Errorf("redisstore: Config.Policy is invalid: %v", c.Policy)
	case c.Replicas < 0:
		return fmt.Errorf("redisstore: Config.Replicas must not be negative, got %d", c.Replicas)
	case c.ProbeInterval < 0:
		return fmt.Errorf("redisstore: Config.ProbeInterval must not be negative, got %v", c.ProbeInterval)
	case c.Outbox < 0:
		return fmt.Errorf("redisstore: Config.Outbox must not be negative, got %d", c.Outbox)
	case c.RebuildTimeout < 0:
		return fmt.Errorf("redisstore: Config.RebuildTimeout must not be negative, got %v", c.RebuildTimeout)
	}
	return nil
}

// DefaultLeaseTTL is Config.LeaseTTL's default: how long a concurrency lease lives
// without Renew.
const DefaultLeaseTTL = time.Minute

// DefaultProbeInterval is Config.ProbeInterval's default: short enough that a Store
// notices Redis answering again, and replays what it kept, well within a second.
const DefaultProbeInterval = 200 * time.Millisecond

// DefaultOutbox is Config.Outbox's default.
const DefaultOutbox = 1 << 16

// withDefaults returns c with every zero field replaced by its documented default.
func (c Config) withDefaults() Config {
	if c.SlotGroup == "" {
		c.SlotGroup = "tg"
	}
	if c.Timeout == 0 {
		c.Timeout = 50 * time.Millisecond
	}
	if c.TTL == 0 {
		c.TTL = quota.DefaultTTL
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	c.LeaseTTL = min(c.LeaseTTL, c.TTL)
	if c.IdleTTL == 0 {
		c.IdleTTL = quota.DefaultIdle
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.Outbox == 0 {
		c.Outbox = DefaultOutbox
	}
	if c.RebuildTimeout == 0 {
		c.RebuildTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
