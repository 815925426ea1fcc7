package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Ledger is an append-only usage log with a journal of holds, in SQLite or PostgreSQL
// (Config.Backend); the API and its guarantees are the same on both. All methods are safe
// for concurrent use. Create it with Open and end it with Close, which owns the writer
// goroutine (and, for PostgreSQL, the heartbeat).
type Ledger struct {
	cfg      Config
	be       backend
	dialect  *dialect
	log      *slog.Logger
	instance string

	// mu orders Append, OpenHold, CloseHold, Flush and the queries (read side) against
	// Close (write side): once closed is set, nothing more enters queue, so the writer's
	// final drain sees everything.
	mu     sync.RWMutex
	closed bool

	queue chan item
	stop  chan struct{} // closed by Close: drain, commit and exit
	abort chan struct{} // closed when Close's context ends: give up retrying
	done  chan struct{} // closed by the writer when it has exited and closed the database

	keepCancel context.CancelFunc // stops the heartbeat; nil without one
	keepDone   chan struct{}

	closeErr error // set by the writer before done is closed

	appended, committed, rejected, batches, failures atomic.Int64
	holds, releases, orphaned, unmatched             atomic.Int64
	lastLatency, lastBatch                           atomic.Int64
}

// itemKind says what a queue item carries.
type itemKind uint8

const (
	kindRecord  itemKind = iota // rec is a usage record
	kindHold                    // rec is a hold, as its orphan charge; done awaits the commit
	kindRelease                 // rec.HoldID is the hold to close
	kindFlush                   // done awaits the commit of everything before it
)

// item is one element of the queue.
type item struct {
	kind itemKind
	rec  Record
	done chan error
}

// Open opens (creating if needed) the ledger, brings its schema to the current version
// and, unless Config.ReadOnly, charges the holds that dead processes left open and starts
// the writer: when Open returns, those charges are committed, so a budget restore that
// follows counts them. A SQLite file runs in WAL mode, so `tollgate usage` can read it
// while a gateway writes; a second writing Ledger on the same file fails with ErrLocked.
func Open(ctx context.Context, cfg Config) (*Ledger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Instance == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("ledger: instance id: %w", err)
		}
		cfg.Instance = id.String()
	}
	l := &Ledger{
		cfg:      cfg,
		log:      cfg.Logger,
		instance: cfg.Instance,
		queue:    make(chan item, cfg.QueueSize),
		stop:     make(chan struct{}),
		abort:    make(chan struct{}),
		done:     make(chan struct{}),
	}
	var err error
	switch cfg.Backend {
	case Postgres:
		l.dialect = pgDialect
		l.be, err = openPostgres(ctx, cfg)
	default:
		l.dialect = sqliteDialect
		l.be, err = openSQLite(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	if cfg.ReadOnly {
		return l, nil
	}
	n, err := l.be.recoverHolds(ctx, true)
	if err != nil {
		_ = l.be.close()
		return nil, err
	}
	l.noteOrphans(n)
	if cfg.Backend == Postgres {
		var kctx context.Context
		kctx, l.keepCancel = context.WithCancel(context.Background())
		l.keepDone = make(chan struct{})
		go l.keep(kctx)
	}
	go l.run()
	return l, nil
}

// Instance returns the id this Ledger journals its holds under (Config.Instance or the one
// Open made).
func (l *Ledger) Instance() string { return l.instance }

// Backend returns the backend the Ledger writes to.
func (l *Ledger) Backend() Backend { return l.cfg.Backend }

func (l *Ledger) noteOrphans(n int) {
	if n > 0 {
		l.orphaned.Add(int64(n))
		l.log.Warn("ledger: charged holds left open by a process that is gone, at their worst case", "holds", n)
	}
}

// Append queues r for the next group commit and returns without waiting for the storage.
// When the queue is full it waits up to Config.AppendWait for room and then returns
// ErrBackpressure without queuing r; after Close it returns ErrClosed. A nil error means
// the record will be committed by the next Flush or Close, or within about
// CommitInterval, whichever comes first. A record with a HoldID closes that hold in the
// same transaction.
func (l *Ledger) Append(r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	return l.enqueue(item{kind: kindRecord, rec: r}, true)
}

// CloseHold queues the release of hold id, for an attempt that spent nothing (its call
// was never made, or failed before the upstream could bill it), and returns without
// waiting, as Append does and with its errors. Releasing a hold that is not open does
// nothing. Until the release is committed a crash charges the hold at its worst case.
func (l *Ledger) CloseHold(id string) error {
	return l.enqueue(item{kind: kindRelease, rec: Record{HoldID: id}}, false)
}

// enqueue queues it, waiting up to AppendWait for room.
func (l *Ledger) enqueue(it item, isRecord bool) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case l.closed:
		return ErrClosed
	case l.cfg.ReadOnly:
		return ErrReadOnly
	}
	if isRecord {
		// Counted before the send so that Stats never sees a record committed and not
		// appended.
		l.appended.Add(1)
	}
	select {
	case l.queue <- it:
		return nil
	default:
	}
	if l.cfg.AppendWait > 0 {
		t := time.NewTimer(l.cfg.AppendWait)
		defer t.Stop()
		select {
		case l.queue <- it:
			return nil
		case <-t.C:
		}
	}
	if isRecord {
		l.appended.Add(-1)
	}
	l.rejected.Add(1)
	return ErrBackpressure
}

// OpenHold journals h and returns once it is durable: committed with whatever else is
// pending (other holds, records, releases) in one transaction that starts at once, not
// after CommitInterval. Call it after the quota reservation and before the upstream
// call; close the hold with the Record that settles the attempt (Record.HoldID = h.ID)
// or with CloseHold.
//
// h.ID is required; an empty h.Owner is set to Instance, another fails with
// ErrInvalidHold; a zero h.Opened is set to the current time. On an error (ctx ended, the
// commit failed, ErrClosed) the hold may still be committed later: the caller that does
// not make the call must CloseHold(h.ID), or the hold is charged at its worst case when
// this Ledger closes.
func (l *Ledger) OpenHold(ctx context.Context, h Hold) error {
	switch {
	case h.ID == "":
		return fmt.Errorf("ledger: open hold: %w: no ID", ErrInvalidHold)
	case h.Owner != "" && h.Owner != l.instance:
		return fmt.Errorf("ledger: open hold %s: %w: owner %q is not this instance %q", h.ID, ErrInvalidHold, h.Owner, l.instance)
	}
	if h.Opened.IsZero() {
		h.Opened = time.Now()
	}
	done := make(chan error, 1)
	if err := l.enqueueWait(ctx, item{kind: kindHold, rec: h.asRecord(), done: done}); err != nil {
		return fmt.Errorf("ledger: open hold %s: %w", h.ID, err)
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("ledger: open hold %s: %w", h.ID, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ledger: open hold %s: %w", h.ID, ctx.Err())
	}
}

// Flush returns once every record, hold and release queued before the call is committed,
// or with the commit's error (they stay queued and are retried), or with ctx's error.
func (l *Ledger) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	if err := l.enqueueWait(ctx, item{kind: kindFlush, done: done}); err != nil {
		return fmt.Errorf("ledger: flush: %w", err)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("ledger: flush: %w", ctx.Err())
	}
}

// enqueueWait queues it, waiting for room as long as ctx allows.
func (l *Ledger) enqueueWait(ctx context.Context, it item) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case l.closed:
		return ErrClosed
	case l.cfg.ReadOnly:
		return ErrReadOnly
	}
	select {
	case l.queue <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Recover charges now, at their worst case, the holds of instances that are gone (for
// PostgreSQL: whose heartbeat lapsed more than HeartbeatTTL ago), and returns how many.
// A writing Ledger also does it at Open and, for PostgreSQL, every RecoverInterval; each
// hold is charged once, whichever replica gets to it.
func (l *Ledger) Recover(ctx context.Context) (int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case l.closed:
		return 0, ErrClosed
	case l.cfg.ReadOnly:
		return 0, ErrReadOnly
	}
	n, err := l.be.recoverHolds(ctx, false)
	l.noteOrphans(n)
	return n, err
}

// keep renews the instance's heartbeat every HeartbeatTTL/3 and recovers the holds of
// dead instances every RecoverInterval, until ctx ends (Close).
func (l *Ledger) keep(ctx context.Context) {
	defer close(l.keepDone)
	beat := time.NewTicker(l.cfg.HeartbeatTTL / 3)
	defer beat.Stop()
	var recoverC <-chan time.Time
	if l.cfg.RecoverInterval > 0 {
		t := time.NewTicker(l.cfg.RecoverInterval)
		defer t.Stop()
		recoverC = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if err := l.be.heartbeat(ctx); err != nil && ctx.Err() == nil {
				l.log.Error("ledger: heartbeat failed; past HeartbeatTTL other replicas charge this instance's open holds",
					"instance", l.instance, "err", err)
			}
		case <-recoverC:
			n, err := l.be.recoverHolds(ctx, false)
			if err != nil && ctx.Err() == nil {
				l.log.Error("ledger: recovering the holds of dead instances failed; retrying next interval", "err", err)
			}
			l.noteOrphans(n)
		}
	}
}

// Close stops accepting records and holds, commits everything queued before it, charges
// at their worst case the holds of this Ledger that are still open (their calls were
// never settled: the upstream may have billed them), ends the instance and closes the
// database. It first waits for Append calls in progress (each at most AppendWait) and for
// queries in progress. If ctx ends while commits still fail, Close gives up and returns
// an error that says how many records were not committed. Calls after the first return
// ErrClosed.
func (l *Ledger) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	if l.cfg.ReadOnly {
		l.mu.Unlock()
		return l.be.close()
	}
	if l.keepCancel != nil {
		l.keepCancel()
		<-l.keepDone
	}
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
	Rejected          int64         // Append and CloseHold calls that returned ErrBackpressure
	Batches           int64         // committed transactions
	Failures          int64         // failed commit attempts; their records were kept and retried
	LastBatch         int64         // records, holds and releases in the last committed transaction
	LastCommitLatency time.Duration // BEGIN to COMMIT of the last committed transaction, fsync included

	Holds    int64 // holds committed (made durable) by OpenHold
	Releases int64 // releases committed (CloseHold)
	// Orphaned counts the holds this Ledger charged at their worst case: left by dead
	// processes (at Open, and for PostgreSQL by periodic recovery), or its own at Close.
	Orphaned int64
	// Unmatched counts settles and releases whose hold was not open: never journaled, or
	// already charged as orphaned because this instance was taken for dead.
	Unmatched int64
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
		Holds:             l.holds.Load(),
		Releases:          l.releases.Load(),
		Orphaned:          l.orphaned.Load(),
		Unmatched:         l.unmatched.Load(),
	}
}
