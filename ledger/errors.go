package ledger

import "errors"

// Sentinel errors; callers branch with errors.Is.
var (
	// ErrClosed: the Ledger was closed; nothing more can be appended, flushed or queried.
	ErrClosed = errors.New("ledger closed")
	// ErrBackpressure: the append queue stayed full for Config.AppendWait, because the writer
	// cannot commit as fast as records arrive (or cannot commit at all). The record was NOT
	// queued: the caller still holds it and must retry, log it or count it; Append never drops
	// a record silently.
	ErrBackpressure = errors.New("ledger append queue full")
	// ErrSchemaVersion: the database was written by a newer tollgate with a schema this one
	// does not know.
	ErrSchemaVersion = errors.New("ledger schema version unknown")
	// ErrLocked: another process writes this SQLite file. A SQLite ledger has one writing
	// process (a fleet shares a PostgreSQL ledger instead); readers open it with
	// Config.ReadOnly.
	ErrLocked = errors.New("ledger file in use by another process")
	// ErrReadOnly: the Ledger was opened with Config.ReadOnly and cannot write.
	ErrReadOnly = errors.New("ledger opened read-only")
	// ErrInvalidHold: OpenHold was given a hold without an ID, or owned by another instance.
	ErrInvalidHold = errors.New("invalid hold")
)
