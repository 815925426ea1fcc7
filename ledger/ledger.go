// Package ledger keeps tollgate's durable record of spend: every settled attempt becomes one
// usage row in an embedded SQLite file, and at start the day, month and session budget
// counters are rebuilt from it, so that a restart does not reset today's spend.
//
// Appends are group-committed: Append only enqueues, and one goroutine owned by the Ledger
// writes everything pending in one transaction every Config.CommitInterval or every
// Config.MaxBatch records, so thousands of settles a second cost a few fsyncs.
//
// Durability, by how the process ends:
//   - Close (the SIGTERM path) and Flush: everything appended before the call is committed
//     when they return nil.
//   - kill -9 or a crash of the process: every committed transaction survives; lost are at
//     most the records appended since the last commit, that is in the last CommitInterval
//     plus the commit in flight, while the disk keeps up. When it falls behind, records
//     wait in the queue, so the loss is at most QueueSize + MaxBatch records, and Append
//     pushes back with ErrBackpressure rather than queue more.
//   - power loss or an OS crash: the same bound, because the file runs with
//     synchronous=FULL, which fsyncs the write-ahead log at every commit. (synchronous=NORMAL
//     would give the same kill -9 bound, since a commit has written the log to the OS before
//     it returns, but a power cut could then lose every commit since the last checkpoint;
//     with group commit the fsync per batch is cheap, so FULL is the better trade.)
package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	// The pure-Go SQLite driver: no cgo, so tollgate stays one static binary.
	_ "modernc.org/sqlite"
)

// Ledger is an append-only usage log in SQLite. All methods are safe for concurrent use.
// Create it with Open and end it with Close, which owns the writer goroutine.
type Ledger struct {
	cfg     Config
	db      *sql.DB
	insert  *sql.Stmt // one record
	insertN *sql.Stmt // insertRows records
	log     *slog.Logger

	// mu orders Append and Flush (read side) against Close (write side): once closed is
	// set, nothing more enters queue, so the writer's final drain sees everything.
	mu     sync.RWMutex
	closed bool

	queue chan item
	stop  chan struct{} // closed by Close: drain, commit and exit
	abort chan struct{} // closed when Close's context ends: give up retrying
	done  chan struct{} // closed by the writer when it has exited and closed the database

	closeErr error // set by the writer before done is closed

	appended, committed, rejected, batches, failures atomic.Int64
	lastLatency, lastBatch                           atomic.Int64
}

// item is one element of the queue: a record, or a flush marker that the writer answers
// once everything queued before it is committed.
type item struct {
	rec   Record
	flush chan error
}

// Open opens (creating if needed) the ledger file, brings its schema to the current version
// and starts the writer. The file runs in WAL mode, so `tollgate usage` can read it while a
// gateway writes.
func Open(ctx context.Context, cfg Config) (*Ledger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	memory := cfg.Path == ":memory:"

	pragmas := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		// The writer takes the write lock at BEGIN, so that a busy file waits under
		// busy_timeout instead of failing at the first INSERT.
		"_txlock=immediate",
	}
	db, err := sql.Open("sqlite", cfg.Path+"?"+strings.Join(pragmas, "&"))
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", cfg.Path, err)
	}
	if memory {
		// Every connection to ":memory:" is a separate empty database: keep exactly one.
		db.SetMaxOpenConns(1)
	} else {
		db.SetMaxOpenConns(4)
	}
	fail := func(err error) (*Ledger, error) {
		_ = db.Close()
		return nil, err
	}
	if !memory {
		var mode string
		if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			return fail(fmt.Errorf("ledger: open %s: %w", cfg.Path, err))
		}
		if !strings.EqualFold(mode, "wal") {
			cfg.Logger.Warn("ledger: WAL mode unavailable; readers will block the writer", "path", cfg.Path, "journal_mode", mode)
		}
	}
	if err := migrate(ctx, db); err != nil {
		return fail(err)
	}
	insert, err := db.PrepareContext(ctx, insertSQL(1))
	if err != nil {
		return fail(fmt.Errorf("ledger: prepare insert: %w", err))
	}
	insertN, err := db.PrepareContext(ctx, insertSQL(insertRows))
	if err != nil {
		_ = insert.Close()
		return fail(fmt.Errorf("ledger: prepare insert: %w", err))
	}
	l := &Ledger{
		cfg:     cfg,
		db:      db,
		insert:  insert,
		insertN: insertN,
		log:     cfg.Logger,
		queue:   make(chan item, cfg.QueueSize),
		stop:    make(chan struct{}),
		abort:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	go l.run()
	return l, nil
}

// Append queues r for the next group commit and returns without waiting for the disk. When
// the queue is full it waits up to Config.AppendWait for room and then returns
// ErrBackpressure without queuing r; after Close it returns ErrClosed. A nil error means
// the record will be committed by the next Flush or Close, or within about
// CommitInterval, whichever comes first.
func (l *Ledger) Append(r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	// Counted before the send so that Stats never sees a record committed and not appended.
	l.appended.Add(1)
	select {
	case l.queue <- item{rec: r}:
		return nil
	default:
	}
	if l.cfg.AppendWait > 0 {
		t := time.NewTimer(l.cfg.AppendWait)
		defer t.Stop()
		select {
		case l.queue <- item{rec: r}:
			return nil
		case <-t.C:
		}
	}
	l.appended.Add(-1)
	l.rejected.Add(1)
	return ErrBackpressure
}

// Flush returns once every record appended before the call is committed, or with the
// commit's error (the records stay queued and are retried), or with ctx's error.
func (l *Ledger) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	if err := l.enqueueFlush(ctx, done); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("ledger: flush: %w", ctx.Err())
	}
}

func (l *Ledger) enqueueFlush(ctx context.Context, done chan error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	select {
	case l.queue <- item{flush: done}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ledger: flush: %w", ctx.Err())
	}
}

// Close stops accepting records, commits everything appended before it and closes the file.
// It first waits for Append calls in progress (each at most AppendWait) and for queries in
// progress. If ctx ends while commits still fail, Close gives up and returns an error that
// says how many records were not committed. Calls after the first return ErrClosed.
func (l *Ledger) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	close(l.stop)
	l.mu.Unlock()

	select {
	case <-l.done:
		return l.closeErr
	case <-ctx.Done():
		close(l.abort)
		<-l.done
		if l.closeErr != nil {
			return fmt.Errorf("%w (close: %w)", l.closeErr, ctx.Err())
		}
		return nil
	}
}

// Stats is a snapshot of the writer's counters.
type Stats struct {
	Appended          int64         // records accepted by Append
	Committed         int64         // records in committed transactions
	Pending           int64         // Appended - Committed: queued or in a batch not yet committed
	Rejected          int64         // Append calls that returned ErrBackpressure
	Batches           int64         // committed transactions
	Failures          int64         // failed commit attempts; their records were kept and retried
	LastBatch         int64         // records in the last committed transaction
	LastCommitLatency time.Duration // BEGIN to COMMIT of the last committed transaction, fsync included
}

// Stats returns the writer's counters. It is cheap and safe to call at any time, also after
// Close.
func (l *Ledger) Stats() Stats {
	// committed before appended: appended is raised before a record is queued, so this
	// order never shows more committed than appended.
	committed := l.committed.Load()
	appended := l.appended.Load()
	return Stats{
		Appended:          appended,
		Committed:         committed,
		Pending:           appended - committed,
		Rejected:          l.rejected.Load(),
		Batches:           l.batches.Load(),
		Failures:          l.failures.Load(),
		LastBatch:         l.lastBatch.Load(),
		LastCommitLatency: time.Duration(l.lastLatency.Load()),
	}
}
