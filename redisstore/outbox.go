package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// An outbox keeps what Redis must still learn: settles and releases that failed while it
// was unreachable (or while its state was being rebuilt), and the charges of reservations
// served locally under FailOpenLocal. Each is one settle script call, idempotent by
// reservation id and nonce, applied at the rejoin in the order they came; a reservation is
// in the outbox at most once.
//
// It is bounded (Config.Outbox). Slots are promised to local reservations that touch a
// budget when they are granted, so that their charges always fit: a local reservation is
// refused rather than left uncounted. A settle or release that finds it full is dropped,
// with a log line and EventOutboxFull: its reservation is then charged at its worst case
// when it expires in Redis, and its leases come back after LeaseTTL.
type outbox struct {
	mu       sync.Mutex
	q        []*deferredOp // in arrival order; done ones are skipped and trimmed
	ids      map[quota.ID]*deferredOp
	max      int
	promised int // slots promised to open local reservations
}

// deferredOp is a settle ('s'), release ('r'), local charge ('c') or void ('v': the
// release of a reservation whose reserve got no reply, see Store.void) kept for Redis.
type deferredOp struct {
	id     quota.ID
	mode   string
	actual quota.Amount
	nonce  string
	res    openRes
	known  bool
	done   bool
}

func newOutbox(max int) outbox {
	return outbox{ids: make(map[quota.ID]*deferredOp), max: max}
}

func (b *outbox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ids)
}

func (b *outbox) has(id quota.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.ids[id]
	return ok
}

// add queues o; promised says that o uses a slot promised to its local reservation. It
// reports false when the outbox is full (never for a promised slot). A second op for the
// same reservation replaces nothing and reports true: the first one stands.
func (b *outbox) add(o *deferredOp, promised bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if promised {
		b.promised--
	} else if len(b.ids)+b.promised >= b.max {
		return false
	}
	if _, ok := b.ids[o.id]; ok {
		return true
	}
	b.ids[o.id] = o
	b.q = append(b.q, o)
	return true
}

// promise reserves a slot for a local reservation's charge; false when there is none.
func (b *outbox) promise() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ids)+b.promised >= b.max {
		return false
	}
	b.promised++
	return true
}

// unpromise gives back a promised slot that will not be used.
func (b *outbox) unpromise() {
	b.mu.Lock()
	b.promised--
	b.mu.Unlock()
}

// head returns up to n of the oldest ops not yet done.
func (b *outbox) head(n int) []*deferredOp {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := 0
	for i < len(b.q) && b.q[i].done {
		i++
	}
	clear(b.q[:i])
	b.q = b.q[i:]
	var out []*deferredOp
	for _, o := range b.q {
		if len(out) == n {
			break
		}
		if !o.done {
			out = append(out, o)
		}
	}
	return out
}

// remove marks o applied (or abandoned).
func (b *outbox) remove(o *deferredOp) {
	b.mu.Lock()
	o.done = true
	if b.ids[o.id] == o {
		delete(b.ids, o.id)
	}
	b.mu.Unlock()
}

// deferOp puts a settle or release that Redis could not take into the outbox and starts
// the background replay. It returns nil when queued, or the error to report when the
// outbox is full. o is a value so that a settle that is not deferred allocates none.
func (s *Store) deferOp(op deferredOp, cause error) error {
	o := &op
	if !s.box.add(o, false) {
		s.dropped.Add(1)
		s.unavailable.Add(1)
		err := fmt.Errorf("redisstore: outbox full (%d operations): %s %s dropped: %w", s.box.max, opName(o.mode), o.id,
			&UnavailableError{Policy: s.policy, Err: cause})
		if s.dropLogged.CompareAndSwap(false, true) {
			s.log.Error("redis quota store outbox full: settles and releases are dropped until Redis answers; their reservations are charged at their worst case when they expire in Redis, and their leases return after the lease TTL",
				"outbox", s.box.max, "reservation", o.id.String())
		}
		s.emit(Event{Kind: EventOutboxFull, Err: err})
		return err
	}
	s.deferred.Add(1)
	s.kick()
	return nil
}

func opName(mode string) string {
	switch mode {
	case "r":
		return "release"
	case "c":
		return "charge"
	case "v":
		return "void"
	}
	return "settle"
}

// replayWorkers is how many outbox operations are in flight at once during a replay: each
// is one round trip, and they commute (distinct reservations).
const replayWorkers = 8

// drained counts what a drain applied: deferred settles, releases and local charges
// (replayed), local reservations installed, and reservations voided (Store.void).
type drained struct{ replayed, installed, voided int }

// drain brings Redis up to date with what this Store kept while it was unreachable: it
// installs the local reservations still open, then applies the outbox. It reports whether
// everything was applied; it stops at the first outage, or when the state is lost and
// cannot be rebuilt now.
func (s *Store) drain(ctx context.Context) (d drained, ok bool) {
	d.installed, ok = s.installLocal(ctx)
	if !ok {
		return drained{}, false
	}
	for {
		batch := s.box.head(64)
		if len(batch) == 0 {
			return d, true
		}
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		sem := make(chan struct{}, replayWorkers)
		for i, o := range batch {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				_, errs[i] = s.runOp(ctx, o)
			})
		}
		wg.Wait()
		lost, down := false, false
		for i, o := range batch {
			switch err := errs[i]; {
			case err == nil:
				s.box.remove(o)
				s.replayed.Add(1)
				if o.mode == "v" {
					d.voided++
				} else {
					d.replayed++
				}
			case isLost(err):
				lost = true
			case s.outage(ctx, err) || callerDone(ctx) != nil:
				down = true
				if s.outage(ctx, err) {
					s.setCause(err)
				}
			default:
				// Redis answered with an error that a retry will not change: keeping the
				// operation would stop every later one.
				s.box.remove(o)
				s.dropped.Add(1)
				s.log.Error("redis quota store: a deferred operation failed and is dropped", "op", opName(o.mode),
					"reservation", o.id.String(), "err", err)
			}
		}
		if down {
			return d, false
		}
		if lost {
			if err := s.recoverState(ctx); err != nil {
				return d, false
			}
		}
	}
}

// runOp applies one deferred operation. A reservation Redis no longer knows (settled by an
// earlier run of the same op, expired, or settled elsewhere) is not an error: there is
// nothing left to apply.
func (s *Store) runOp(ctx context.Context, o *deferredOp) ([]any, error) {
	v, err := s.run(ctx, settleScript, []string{s.names.state(), s.names.index()}, s.settleArgs(o))
	if err != nil {
		return nil, err
	}
	res, _ := v.([]any)
	return res, nil
}

// rejoin is the probe of a degraded Store: when Redis answers, it drains what was kept
// and marks the Store up. One caller drains at a time: a request's probe waits for the
// background replay's drain to end (wait), the background replay skips its turn while a
// request's probe drains.
//
// Under FailOpenLocal the rejoin has two steps. The first drain brings this replica's
// local spend into Redis; then, for the quiet period (quietFor), the replica admits
// nothing, locally or from Redis, so that the other replicas, which probe as often, have
// replayed their own local spend before any of them reserves from Redis again. Without
// it, the first to rejoin would spend what Redis believes remains while the others' local
// spend is not in it yet. The second drain, after the quiet period, replays what settled
// meanwhile, and the Store is up.
func (s *Store) rejoin(ctx context.Context, wait bool) bool {
	if wait {
		s.drainMu.Lock()
	} else if !s.drainMu.TryLock() {
		return false
	}
	defer s.drainMu.Unlock()
	wasDown := s.down.Load()
	if wasDown {
		_, err := s.call(ctx, func(ctx context.Context) (any, error) { return s.c.Ping(ctx).Result() })
		if err != nil {
			if ctx.Err() == nil {
				s.setCause(err)
			}
			// Redis is gone again: serve by the policy rather than wait out a quiet period.
			s.quietUntil.Store(0)
			return false
		}
	}
	start := time.Now()
	d, ok := s.drain(ctx)
	s.rejoinReplayed += d.replayed
	s.rejoinInstalled += d.installed
	s.rejoinVoided += d.voided
	if !ok {
		return false
	}
	if !wasDown {
		// A replay while up (settles kept during a rebuild, voids of reserves whose caller
		// gave up): nothing to rejoin. An outage that began meanwhile is not over.
		s.rejoinReplayed, s.rejoinInstalled, s.rejoinVoided = 0, 0, 0
		if s.box.len() > 0 {
			s.kick()
		}
		return true
	}
	if s.policy == FailOpenLocal && s.down.Load() {
		now := time.Now()
		switch q := s.quietUntil.Load(); {
		case q == 0:
			s.quietUntil.Store(now.Add(s.quietFor()).UnixNano())
			s.log.Info("redis answers again: this replica's local spend is replayed; it admits nothing until the other replicas have replayed theirs",
				"replayed", s.rejoinReplayed, "installed", s.rejoinInstalled, "voided", s.rejoinVoided, "quiet", s.quietFor())
			return false
		case now.UnixNano() < q:
			return false
		}
	}
	if s.markUp() {
		took := time.Since(start)
		s.log.Info("redis quota store rejoined", "policy", s.policy.String(), "replayed", s.rejoinReplayed,
			"installed", s.rejoinInstalled, "voided", s.rejoinVoided, "took", took)
		s.dropLogged.Store(false)
		s.emit(Event{Kind: EventRejoined, Replayed: s.rejoinReplayed, Installed: s.rejoinInstalled,
			Voided: s.rejoinVoided, Took: took})
	}
	s.quietUntil.Store(0)
	s.rejoinReplayed, s.rejoinInstalled, s.rejoinVoided = 0, 0, 0
	if s.box.len() > 0 {
		// Queued while this drain finished: the background replay takes them.
		s.kick()
	}
	return true
}

// quietFor is the quiet period of a FailOpenLocal rejoin: long enough for every other
// replica's probe to find Redis answering (within ProbeInterval, or Timeout for a probe
// that was waiting on it) and to replay, with a ProbeInterval to spare.
func (s *Store) quietFor() time.Duration { return 2*s.probeEvery + s.timeout }

// kick starts the background replay unless it runs: it probes every ProbeInterval while
// Redis is down and drains the outbox, and exits when Redis is up and nothing is left.
func (s *Store) kick() {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.flushing || s.closed {
		return
	}
	s.flushing = true
	s.flushWG.Add(1)
	go s.flush()
}

func (s *Store) flush() {
	defer s.flushWG.Done()
	t := time.NewTicker(max(s.probeEvery, time.Millisecond))
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-ctx.Done():
			s.flushMu.Lock()
			s.flushing = false
			s.flushMu.Unlock()
			return
		case <-t.C:
		}
		if s.down.Load() || s.box.len() > 0 {
			s.rejoin(ctx, false)
		}
		s.flushMu.Lock()
		if !s.down.Load() && s.box.len() == 0 {
			s.flushing = false
			s.flushMu.Unlock()
			return
		}
		s.flushMu.Unlock()
	}
}

// Close stops the background replay of the outbox, waiting for a replay under way. What
// the outbox still holds is not applied: those reservations expire in Redis at their
// worst case. Close does not close the Redis client. Calls after the first do nothing.
func (s *Store) Close() error {
	s.flushMu.Lock()
	if s.closed {
		s.flushMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.flushMu.Unlock()
	s.flushWG.Wait()
	if n := s.box.len(); n > 0 {
		s.log.Warn("redis quota store closed with operations not yet applied; their reservations expire in Redis at their worst case",
			"outbox", n)
	}
	return nil
}
