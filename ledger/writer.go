package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// maxRetryWait caps the wait between attempts to commit a batch that failed.
const maxRetryWait = 5 * time.Second

// run is the writer goroutine: the only one that writes records, holds and releases. It
// starts a transaction when MaxBatch items are pending, CommitInterval after the oldest
// pending record arrived, or at once for a hold or a Flush, which someone waits for. Before
// such an urgent commit it takes everything else already queued, so that concurrent holds
// share one transaction: while one commits, the next group gathers in the queue.
//
// A batch that fails to commit is kept and retried with doubling waits; while it is full
// the writer stops taking items, so the queue fills and Append reports ErrBackpressure
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
	b := &batch{records: make([]Record, 0, maxBatch)}
	var waiters []chan error
	timer := time.NewTimer(interval)
	timer.Stop()
	armed := false
	retryWait := interval

	add := func(it item) (urgent bool) {
		b.add(it)
		if it.done != nil {
			waiters = append(waiters, it.done)
			return true
		}
		return false
	}
	commit := func() {
		err := l.commit(ctx, b)
		if err != nil {
			// Counted before the waiters hear of it: a Flush that returned the failure
			// finds it in Stats.
			l.failures.Add(1)
		}
		for _, w := range waiters {
			w <- err
		}
		waiters = waiters[:0]
		timer.Stop()
		armed = false
		if err != nil {
			l.log.Error("ledger: commit failed; records kept for retry", "records", b.len(), "retry_in", retryWait, "err", err)
			timer.Reset(retryWait)
			armed = true
			retryWait = min(2*retryWait, max(maxRetryWait, interval))
			return
		}
		b.reset()
		retryWait = interval
	}

	for {
		in := l.queue
		if b.len() >= maxBatch {
			in = nil
		}
		select {
		case it := <-in:
			urgent := add(it)
			if urgent {
				// Gather what is already queued, without waiting for more.
			gather:
				for b.len() < maxBatch {
					select {
					case it := <-l.queue:
						add(it)
					default:
						break gather
					}
				}
			}
			switch {
			case urgent && b.len() == 0:
				// A Flush of nothing: answer without a transaction.
				for _, w := range waiters {
					w <- nil
				}
				waiters = waiters[:0]
			case urgent || b.len() >= maxBatch:
				commit()
			case !armed:
				timer.Reset(interval)
				armed = true
			}
		case <-timer.C:
			armed = false
			if b.len() > 0 {
				commit()
			}
		case <-l.stop:
			timer.Stop()
			l.closeErr = l.finish(ctx, b, waiters)
			return
		}
	}
}

// finish is the writer's last act, on Close: it commits the batch and everything still
// queued (nothing more can be queued once stop is closed), answers every waiter, charges
// this instance's holds still open and closes the database. It keeps retrying failed
// commits until ctx is cancelled by Close's own context ending.
func (l *Ledger) finish(ctx context.Context, b *batch, waiters []chan error) error {
	for drained := false; !drained; {
		select {
		case it := <-l.queue:
			b.add(it)
			if it.done != nil {
				waiters = append(waiters, it.done)
			}
		default:
			drained = true
		}
	}

	var lost error
	retryWait := l.cfg.CommitInterval
	for b.len() > 0 {
		err := l.commit(ctx, b)
		if err == nil {
			break
		}
		l.failures.Add(1)
		if ctx.Err() != nil {
			lost = fmt.Errorf("ledger: %d records not committed: %w", len(b.records), err)
			l.log.Error("ledger: closing with records not committed", "records", len(b.records), "err", err)
			break
		}
		l.log.Error("ledger: commit failed while closing; retrying", "records", len(b.records), "retry_in", retryWait, "err", err)
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

	errs := []error{lost}
	if lost == nil {
		n, err := l.be.retire(ctx)
		l.noteOrphans(n)
		errs = append(errs, err)
	}
	errs = append(errs, l.be.close())
	return errors.Join(errs...)
}

// commit writes b in one transaction and counts it.
func (l *Ledger) commit(ctx context.Context, b *batch) error {
	start := time.Now()
	unmatched, err := l.be.write(ctx, b)
	if err != nil {
		return err
	}
	l.lastLatency.Store(int64(time.Since(start)))
	l.lastBatch.Store(int64(b.len()))
	l.batches.Add(1)
	l.committed.Add(int64(len(b.records)))
	l.holds.Add(int64(len(b.holds)))
	l.releases.Add(int64(len(b.closes)))
	if unmatched > 0 {
		l.unmatched.Add(int64(unmatched))
		l.log.Warn("ledger: settles or releases of holds that were not open (charged as orphaned before, or never journaled)",
			"count", unmatched)
	}
	return nil
}
