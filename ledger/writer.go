package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// maxRetryWait caps the wait between attempts to commit a batch that failed.
const maxRetryWait = 5 * time.Second

// run is the writer goroutine: the only one that writes to the database. It starts a
// transaction when MaxBatch records are pending, when a Flush asks, or CommitInterval
// after the oldest pending record arrived.
//
// A batch that fails to commit is kept and retried with doubling waits; while it is full
// the writer stops taking records, so the queue fills and Append reports ErrBackpressure
// instead of memory growing or records being dropped.
func (l *Ledger) run() {
	defer close(l.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.abort:
			cancel()
		case <-ctx.Done():
		}
	}()

	interval, maxBatch := l.cfg.CommitInterval, l.cfg.MaxBatch
	batch := make([]Record, 0, maxBatch)
	var waiters []chan error
	timer := time.NewTimer(interval)
	timer.Stop()
	armed := false
	retryWait := interval

	commit := func() {
		err := l.commit(ctx, batch)
		for _, w := range waiters {
			w <- err
		}
		waiters = waiters[:0]
		timer.Stop()
		armed = false
		if err != nil {
			l.failures.Add(1)
			l.log.Error("ledger: commit failed; records kept for retry", "records", len(batch), "retry_in", retryWait, "err", err)
			timer.Reset(retryWait)
			armed = true
			retryWait = min(2*retryWait, max(maxRetryWait, interval))
			return
		}
		clear(batch) // drop the strings for the collector
		batch = batch[:0]
		retryWait = interval
	}

	for {
		in := l.queue
		if len(batch) >= maxBatch {
			in = nil
		}
		select {
		case it := <-in:
			switch {
			case it.flush != nil && len(batch) == 0:
				it.flush <- nil
			case it.flush != nil:
				waiters = append(waiters, it.flush)
				commit()
			default:
				batch = append(batch, it.rec)
				if len(batch) >= maxBatch {
					commit()
				} else if !armed {
					timer.Reset(interval)
					armed = true
				}
			}
		case <-timer.C:
			armed = false
			if len(batch) > 0 {
				commit()
			}
		case <-l.stop:
			timer.Stop()
			l.closeErr = l.finish(ctx, batch, waiters)
			return
		}
	}
}

// finish is the writer's last act, on Close: it commits the batch and everything still
// queued (nothing more can be queued once stop is closed), answers every Flush, and closes
// the database. It keeps retrying failed commits until ctx is cancelled by Close's own
// context ending.
func (l *Ledger) finish(ctx context.Context, batch []Record, waiters []chan error) error {
	for drained := false; !drained; {
		select {
		case it := <-l.queue:
			if it.flush != nil {
				waiters = append(waiters, it.flush)
			} else {
				batch = append(batch, it.rec)
			}
		default:
			drained = true
		}
	}

	var lost error
	retryWait := l.cfg.CommitInterval
	for len(batch) > 0 {
		n := min(len(batch), l.cfg.MaxBatch)
		err := l.commit(ctx, batch[:n])
		if err == nil {
			batch = batch[n:]
			retryWait = l.cfg.CommitInterval
			continue
		}
		l.failures.Add(1)
		if ctx.Err() != nil {
			lost = fmt.Errorf("ledger: %d records not committed: %w", len(batch), err)
			l.log.Error("ledger: closing with records not committed", "records", len(batch), "err", err)
			break
		}
		l.log.Error("ledger: commit failed while closing; retrying", "records", len(batch), "retry_in", retryWait, "err", err)
		t := time.NewTimer(retryWait)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		retryWait = min(2*retryWait, max(maxRetryWait, l.cfg.CommitInterval))
	}
	for _, w := range waiters {
		w <- lost
	}

	err := lost
	for _, st := range []*sql.Stmt{l.insert, l.insertN} {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("ledger: close statement: %w", cerr)
		}
	}
	if cerr := l.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("ledger: close database: %w", cerr)
	}
	return err
}

// commit writes batch in one transaction with the prepared INSERT.
func (l *Ledger) commit(ctx context.Context, batch []Record) error {
	start := time.Now()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: begin: %w", err)
	}
	args := make([]any, 0, insertColumns*min(len(batch), insertRows))
	for rest := batch; len(rest) > 0; {
		stmt, n := l.insertN, insertRows
		if len(rest) < insertRows {
			stmt, n = l.insert, 1
		}
		args = args[:0]
		for i := range n {
			r := &rest[i]
			args = append(args, r.Time.UnixNano(), r.RequestID, r.Tenant, r.Key, r.Agent,
				r.Session, r.Route, r.Provider, r.Model, r.InputTokens, r.CachedInputTokens,
				r.OutputTokens, r.MicroUSD, r.Outcome, r.FallbackReason, int64(r.Latency), r.Attempt)
		}
		if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, args...); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("ledger: insert: %w", err)
		}
		rest = rest[n:]
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger: commit: %w", err)
	}
	l.lastLatency.Store(int64(time.Since(start)))
	l.lastBatch.Store(int64(len(batch)))
	l.batches.Add(1)
	l.committed.Add(int64(len(batch)))
	return nil
}
