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
	// ErrSchemaVersion: the file was written by a newer tollgate with a schema this one does
	// not know.
	ErrSchemaVersion = errors.New("ledger schema version unknown")
)
