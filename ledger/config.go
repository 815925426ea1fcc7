package ledger

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Config configures a Ledger. The zero value of every field but Path is its documented
// default.
type Config struct {
	// Path is the SQLite file, created when missing. Required. ":memory:" keeps the ledger
	// in memory, for tests.
	Path string

	// CommitInterval bounds how long an appended record waits before its transaction
	// starts: a kill -9 loses at most the records appended in the last CommitInterval
	// (plus the commit in flight). Default 100ms.
	CommitInterval time.Duration

	// MaxBatch commits as soon as this many records are pending, without waiting for
	// CommitInterval. Default 512.
	MaxBatch int

	// QueueSize is the capacity of the append queue between Append and the writer, which
	// absorbs disk stalls (fsync and checkpoints on a busy machine take up to seconds) without
	// refusing records. It is also what a kill -9 can lose when the disk has fallen behind:
	// at most QueueSize + MaxBatch records. Default 16 × MaxBatch (8192 records, about 2 MB).
	QueueSize int

	// AppendWait is how long Append waits for room when the queue is full before it returns
	// ErrBackpressure. Default 1s; negative means do not wait at all.
	AppendWait time.Duration

	// BusyTimeout is how long SQLite waits for a lock that another process holds on the
	// same file (a second gateway, `tollgate usage`). Default 5s.
	BusyTimeout time.Duration

	// Location decides where a day starts for ByDay in SumSince, and in Query when
	// Query.Location is nil. It should be the zone of the daily budgets. Default UTC.
	Location *time.Location

	// Logger receives commit failures and retries. Default: discard.
	Logger *slog.Logger
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Path == "":
		return errors.New("ledger: Config.Path is required")
	case strings.ContainsRune(c.Path, '?'):
		// The driver reads everything after '?' as its own parameters.
		return fmt.Errorf("ledger: Config.Path %q must not contain '?'", c.Path)
	case c.CommitInterval < 0:
		return fmt.Errorf("ledger: Config.CommitInterval %v is negative", c.CommitInterval)
	case c.MaxBatch < 0:
		return fmt.Errorf("ledger: Config.MaxBatch %d is negative", c.MaxBatch)
	case c.QueueSize < 0:
		return fmt.Errorf("ledger: Config.QueueSize %d is negative", c.QueueSize)
	case c.BusyTimeout < 0:
		return fmt.Errorf("ledger: Config.BusyTimeout %v is negative", c.BusyTimeout)
	}
	return nil
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
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
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
