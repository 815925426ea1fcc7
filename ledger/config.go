package ledger

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Backend is where a Ledger keeps its records.
type Backend string

// The backends.
const (
	// SQLite is an embedded file written by one process: the default, for one gateway.
	SQLite Backend = "sqlite"
	// Postgres is a PostgreSQL database shared by every replica of a fleet: one ledger,
	// one `tollgate usage`, one restore, and holds of crashed replicas charged by the
	// living ones.
	Postgres Backend = "postgres"
)

// ParseBackend returns the Backend named s ("sqlite", "postgres" or its alias
// "postgresql"); "" is SQLite.
func ParseBackend(s string) (Backend, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "sqlite", "sqlite3":
		return SQLite, nil
	case "postgres", "postgresql", "pg":
		return Postgres, nil
	}
	return "", fmt.Errorf("ledger: unknown backend %q (want sqlite or postgres)", s)
}

// Config configures a Ledger. The zero value of every field but Path (SQLite) or URL
// (PostgreSQL) is its documented default.
type Config struct {
	// Backend selects the store; "" means SQLite.
	Backend Backend

	// Path is the SQLite file, created when missing. Required for SQLite. ":memory:" keeps
	// the ledger in memory, for tests. A writing Ledger also holds an exclusive lock on
	// Path + ".lock" while it is open.
	Path string

	// URL is the PostgreSQL connection string (postgres://user:password@host:5432/db, or
	// key=value form; libpq's PG* variables and ~/.pgpass fill in what it leaves out).
	// Required for Postgres. It is a secret: errors never include it.
	URL string

	// ReadOnly opens the ledger for queries only (`tollgate usage`, while gateways write):
	// no writer, no lock, no instance, no recovery of holds. An older schema is still
	// upgraded, which writes.
	ReadOnly bool

	// Instance identifies this process as the owner of its holds; it must be unique in the
	// fleet. Default: a new UUIDv7.
	Instance string

	// CommitInterval bounds how long an appended record waits before its transaction
	// starts: a kill -9 loses at most the records appended in the last CommitInterval
	// (plus the commit in flight). OpenHold, Flush and Close do not wait for it: they
	// commit at once, together with whatever is pending. Default 100ms.
	CommitInterval time.Duration

	// MaxBatch commits as soon as this many records, holds and releases are pending,
	// without waiting for CommitInterval. Default 512.
	MaxBatch int

	// QueueSize is the capacity of the append queue between Append and the writer, which
	// absorbs disk stalls (fsync and checkpoints on a busy machine take up to seconds) without
	// refusing records. It is also what a kill -9 can lose when the disk has fallen behind:
	// at most QueueSize + MaxBatch records. Default 16 × MaxBatch (8192 records, about 2 MB).
	QueueSize int

	// AppendWait is how long Append and CloseHold wait for room when the queue is full
	// before they return ErrBackpressure. Default 1s; negative means do not wait at all.
	AppendWait time.Duration

	// BusyTimeout is how long SQLite waits for a lock that another connection holds on the
	// same file (`tollgate usage` reading it). Default 5s.
	BusyTimeout time.Duration

	// Timeout bounds each PostgreSQL operation of the writer and the instance keeper: a
	// commit, a heartbeat, a recovery round. A commit that times out is retried. Default
	// 10s.
	Timeout time.Duration

	// HeartbeatTTL is, for PostgreSQL, how long an instance counts as alive after its last
	// heartbeat; each Ledger renews its own every HeartbeatTTL/3. Once it has lapsed,
	// another replica charges the instance's open holds at their worst case. It must be
	// longer than any pause the process can take. Default 30s.
	HeartbeatTTL time.Duration

	// RecoverInterval is, for PostgreSQL, how often a Ledger looks for instances whose
	// heartbeat lapsed and charges their holds (it also does at Open). Default
	// HeartbeatTTL/2; negative means only at Open (and Recover).
	RecoverInterval time.Duration

	// MaxConns bounds the PostgreSQL connection pool. Default 4.
	MaxConns int

	// Now, when set, is the clock of heartbeats and of their expiry, for tests. Nil means
	// PostgreSQL's own clock (clock_timestamp()), so that the clocks of replicas cannot
	// disagree about which instance is dead.
	Now func() time.Time

	// Location decides where a day starts for ByDay in SumSince, and in Query when
	// Query.Location is nil. It should be the zone of the daily budgets. Default UTC.
	Location *time.Location

	// Logger receives commit failures and retries, and orphaned holds. Default: discard.
	Logger *slog.Logger
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if _, err := ParseBackend(string(c.Backend)); err != nil {
		return fmt.Errorf("ledger: Config.Backend %q: want %q or %q", c.Backend, SQLite, Postgres)
	}
	backend, _ := ParseBackend(string(c.Backend))
	switch {
	case backend == SQLite && c.Path == "":
		return errors.New("ledger: Config.Path is required")
	case backend == SQLite && strings.ContainsRune(c.Path, '?'):
		// The driver reads everything after '?' as its own parameters.
		return fmt.Errorf("ledger: Config.Path %q must not contain '?'", c.Path)
	case backend == Postgres && c.URL == "":
		return errors.New("ledger: Config.URL is required for the postgres backend")
	case c.CommitInterval < 0:
		return fmt.Errorf("ledger: Config.CommitInterval %v is negative", c.CommitInterval)
	case c.MaxBatch < 0:
		return fmt.Errorf("ledger: Config.MaxBatch %d is negative", c.MaxBatch)
	case c.QueueSize < 0:
		return fmt.Errorf("ledger: Config.QueueSize %d is negative", c.QueueSize)
	case c.BusyTimeout < 0:
		return fmt.Errorf("ledger: Config.BusyTimeout %v is negative", c.BusyTimeout)
	case c.Timeout < 0:
		return fmt.Errorf("ledger: Config.Timeout %v is negative", c.Timeout)
	case c.HeartbeatTTL < 0:
		return fmt.Errorf("ledger: Config.HeartbeatTTL %v is negative", c.HeartbeatTTL)
	case c.MaxConns < 0:
		return fmt.Errorf("ledger: Config.MaxConns %d is negative", c.MaxConns)
	}
	return nil
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	c.Backend, _ = ParseBackend(string(c.Backend))
	if c.CommitInterval == 0 {
		c.CommitInterval = 100 * time.Millisecond
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 512
	}
	if c.QueueSize == 0 {
		c.QueueSize = 16 * c.MaxBatch
	}
	if c.AppendWait == 0 {
		c.AppendWait = time.Second
	}
	if c.BusyTimeout == 0 {
		c.BusyTimeout = 5 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.HeartbeatTTL == 0 {
		c.HeartbeatTTL = 30 * time.Second
	}
	if c.RecoverInterval == 0 {
		c.RecoverInterval = c.HeartbeatTTL / 2
	}
	if c.MaxConns == 0 {
		c.MaxConns = 4
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
