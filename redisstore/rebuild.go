package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/quota"
)

// A Source gives the state a Store rebuilds in Redis when Redis has lost it: in tollgate,
// the fleet's ledger (internal/config wires one over the configured quota rules).
type Source interface {
	// Baseline returns the budgets at now: the settled use of every budget in its current
	// window (records and charged orphans included), the holds still open, and the
	// reservations settled at or after settledSince whose records already count them.
	Baseline(ctx context.Context, now, settledSince time.Time) (*Baseline, error)
}

// SourceFunc is a function that is a Source.
type SourceFunc func(ctx context.Context, now, settledSince time.Time) (*Baseline, error)

// Baseline calls f.
func (f SourceFunc) Baseline(ctx context.Context, now, settledSince time.Time) (*Baseline, error) {
	return f(ctx, now, settledSince)
}

// Baseline is what a rebuild writes into an empty Redis.
type Baseline struct {
	// Budgets are the budget quotas with their settled use in the window that contains
	// the rebuild's time (the whole life of a lifetime budget). Other kinds are ignored:
	// rates and leases start empty.
	Budgets []BudgetUse
	// Holds are the reservations still open, installed again with their worst case held
	// on their budget quotas, so that their settles find them and refund the difference.
	Holds []OpenHold
	// Settled are reservations whose spend Budgets already counts: a settle of one of
	// them that arrives late is not counted again.
	Settled []quota.ID
}

// BudgetUse is a budget quota and its settled use in its current window, in its unit.
type BudgetUse struct {
	Quota quota.Quota
	Used  int64
}

// OpenHold is an open reservation as a ledger journals it: its id, the budget quotas it
// counts against, its worst case and when it was opened (which decides its day or month).
type OpenHold struct {
	ID     quota.ID
	Quotas []quota.Quota
	Amount quota.Amount
	Opened time.Time
}

// Rebuild describes a rebuild this Store made.
type Rebuild struct {
	// Epoch is the new state's epoch.
	Epoch int64
	// Budgets are the counters written (those with use).
	Budgets []BudgetUse
	// Holds and Settled count the reservations installed and the settled markers written.
	Holds, Settled int
	// Took is the whole rebuild: the Source's read and the writes.
	Took time.Duration
}

// ErrRebuilding means Redis lost the fleet's quota state and it is being rebuilt from the
// ledger (by this replica or another): budget reservations fail closed until it is. A
// gateway maps it to 503, like ErrUnavailable.
var ErrRebuilding = errors.New("redis lost the quota state; it is being rebuilt from the ledger")

// RebuildingError is a refusal while the fleet's quota state is rebuilt. It unwraps to
// ErrRebuilding, quota.ErrUnavailable and, when a rebuild by this Store failed, its cause.
type RebuildingError struct {
	Err error
}

func (e *RebuildingError) Error() string {
	msg := ErrRebuilding.Error() + "; budget reservations fail closed until it is"
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	return msg
}

// Unwrap returns ErrRebuilding, quota.ErrUnavailable and the cause.
func (e *RebuildingError) Unwrap() []error {
	errs := []error{ErrRebuilding, quota.ErrUnavailable}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// isLost reports whether err is a script's answer that the marker is gone (holds.lua).
func isLost(err error) bool {
	if err == nil {
		return false
	}
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "TGLOST")
}

// Ensure makes sure the fleet's quota state in Redis is initialised: when the marker is
// there it does nothing and returns nil; when it is missing (a first start, or a loss) it
// rebuilds the state from Config.Source, unless another replica is doing it, and returns
// what it wrote. A gateway calls it at start so that its first request does not pay for
// the rebuild; every operation does the same when it finds the marker gone. It returns a
// *RebuildingError when another replica holds the rebuild lock, and an *UnavailableError
// when Redis does not answer.
func (s *Store) Ensure(ctx context.Context) (*Rebuild, error) {
	if err := s.lockRebuild(ctx); err != nil {
		return nil, err
	}
	defer s.unlockRebuild()
	rb, err := s.ensure(ctx)
	if err != nil && s.outage(ctx, err) {
		err = &UnavailableError{Policy: s.policy, Err: err}
	}
	return rb, err
}

// recoverState is what an operation does when its script found the marker gone: rebuild
// the state (or learn that another replica has), one caller of the process at a time (the
// others wait for it, as long as their ctx allows). nil means the marker is back and the
// operation may run again; otherwise a *RebuildingError, or the error of a round trip (an
// outage).
func (s *Store) recoverState(ctx context.Context) error {
	s.noteLost()
	if err := s.lockRebuild(ctx); err != nil {
		s.unavailable.Add(1)
		return &RebuildingError{Err: err}
	}
	defer s.unlockRebuild()
	if _, err := s.ensure(ctx); err != nil {
		var re *RebuildingError
		if errors.As(err, &re) {
			s.unavailable.Add(1)
		}
		return err
	}
	return nil
}

// noteLost counts and logs a loss once per epoch lost.
func (s *Store) noteLost() {
	ep := s.epoch.Load()
	if s.lostSeen.Swap(ep+1) == ep+1 {
		return
	}
	if ep == 0 {
		s.log.Info("redis quota state not initialised (a first start, or lost before this replica saw it); rebuilding it from the ledger")
	} else {
		s.dataLosses.Add(1)
		s.log.Warn("redis lost the quota state (restart without persistence, failover, flush or eviction); rebuilding it from the ledger; budget reservations fail closed meanwhile",
			"epoch", ep)
	}
	s.emit(Event{Kind: EventDataLost, Epoch: ep})
}

// lockRebuild takes the process's rebuild lock, waiting at most as long as ctx allows.
func (s *Store) lockRebuild(ctx context.Context) error {
	select {
	case s.rebuilding <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) unlockRebuild() { <-s.rebuilding }

// ensure runs a rebuild if the marker is missing and no other replica holds the lock. The
// caller holds the process's rebuild lock.
func (s *Store) ensure(ctx context.Context) (*Rebuild, error) {
	now := time.Now()
	if now.UnixNano() < s.nextRebuild.Load() {
		return nil, &RebuildingError{Err: errors.New("the last rebuild by this replica failed; retrying shortly")}
	}
	token := newToken()
	life := s.rebuildTimeout.Milliseconds()
	v, err := s.long().run(ctx, lockScript, []string{s.names.state(), s.names.lock()}, []any{"a", token, life})
	if err != nil {
		return nil, fmt.Errorf("redisstore: rebuild lock: %w", err)
	}
	res, _ := v.([]any)
	switch {
	case len(res) == 2 && toInt(res[0]) == 2:
		s.sawEpoch(ctx, toInt(res[1]))
		return nil, nil
	case len(res) == 0 || toInt(res[0]) != 1:
		return nil, &RebuildingError{}
	}
	rb, err := s.rebuild(ctx, token)
	if err != nil {
		s.nextRebuild.Store(time.Now().Add(s.probeEvery).UnixNano())
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		_, _ = s.run(uctx, lockScript, []string{s.names.state(), s.names.lock()}, []any{"u", token, life})
		cancel()
		s.rebuildFailures.Add(1)
		s.log.Error("redis quota state rebuild failed; budget reservations fail closed until a rebuild succeeds", "err", err)
		s.emit(Event{Kind: EventRebuildFailed, Err: err})
		return nil, &RebuildingError{Err: err}
	}
	return rb, nil
}

// long is the Store's bounded runner with a timeout long enough for a rebuild's batches.
func (s *Store) long() bounded {
	b := s.bounded
	b.timeout = max(b.timeout, 5*time.Second)
	return b
}

// rebuild reads the Source and writes the state in batches under the lock token, the
// marker last.
func (s *Store) rebuild(ctx context.Context, token string) (*Rebuild, error) {
	start := time.Now()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.rebuildTimeout)
	defer cancel()
	now := s.now()
	base := &Baseline{}
	if s.source != nil {
		var err error
		if base, err = s.source.Baseline(rctx, now, now.Add(-s.ttl)); err != nil {
			return nil, fmt.Errorf("redisstore: rebuild: reading the ledger: %w", err)
		}
		if base == nil {
			base = &Baseline{}
		}
	}
	var l loader
	rb := &Rebuild{Epoch: newEpoch()}
	rb.Budgets = s.loadBudgets(&l, base.Budgets, now)
	for i := range base.Holds {
		if s.loadHold(&l, &base.Holds[i], base.Holds[i].Opened.Add(s.ttl), now) {
			rb.Holds++
		}
	}
	for _, id := range base.Settled {
		l.op(3, 3)
		l.p.str("r" + holdID(id))
		l.p.int(now.Add(s.ttl).UnixMicro())
		rb.Settled++
	}
	batches := l.done()
	life := s.rebuildTimeout.Milliseconds()
	keys := []string{s.names.state(), s.names.index(), s.names.lock()}
	for i, b := range batches {
		phase := "l"
		if i == 0 {
			phase = "b"
		}
		if i == len(batches)-1 {
			phase += "c"
		}
		v, err := s.long().run(rctx, loadScript, keys, []any{token, life, phase, rb.Epoch, b})
		if err != nil {
			return nil, fmt.Errorf("redisstore: rebuild: writing batch %d of %d: %w", i+1, len(batches), err)
		}
		if toInt(v) != 1 {
			return nil, fmt.Errorf("redisstore: rebuild: the lock expired after batch %d of %d (another replica took over)", i, len(batches))
		}
	}
	rb.Took = time.Since(start)
	s.rebuilds.Add(1)
	s.lastRebuild.Store(int64(rb.Took))
	s.log.Info("redis quota state rebuilt from the ledger", "epoch", rb.Epoch, "budgets", len(rb.Budgets),
		"holds", rb.Holds, "settled", rb.Settled, "took", rb.Took)
	s.emit(Event{Kind: EventRebuilt, Epoch: rb.Epoch, Budgets: len(rb.Budgets), Holds: rb.Holds,
		Settled: rb.Settled, Took: rb.Took})
	s.sawEpoch(ctx, rb.Epoch)
	return rb, nil
}

// sawEpoch records the epoch of the state in Redis, as a reply or a rebuild told it. A
// change means the state was lost and rebuilt: this replica's reservations made before,
// still open, are installed again (see reinstall).
func (s *Store) sawEpoch(ctx context.Context, epoch int64) {
	if old := s.epoch.Swap(epoch); old != 0 && old != epoch {
		s.reinstall(ctx, epoch)
	}
}

// reinstall installs this replica's reservations of an earlier epoch, still open, in the
// rebuilt state: each holds its worst case on its budgets until its expiry, as it did
// before the loss, so that nobody else is admitted into what the call may still spend,
// and its settle refunds the difference. The rebuild installed those whose holds the ledger
// journaled already (the same reservation is written once). One that is not installed
// (Redis failed meanwhile) is charged its actual amount when it settles.
func (s *Store) reinstall(ctx context.Context, epoch int64) {
	olds := s.open.older(epoch)
	if len(olds) == 0 {
		return
	}
	now := s.now()
	var l loader
	n := 0
	for _, o := range olds {
		var budgets []quota.Quota
		for _, q := range o.r.quotas {
			if q.Window.Kind.IsBudget() {
				budgets = append(budgets, q)
			}
		}
		if len(budgets) == 0 {
			continue
		}
		expires := time.Unix(0, o.r.expires)
		h := OpenHold{ID: o.id, Quotas: budgets, Amount: o.r.amount, Opened: expires.Add(-s.ttl)}
		if s.loadHold(&l, &h, expires, now) {
			n++
		}
	}
	keys := []string{s.names.state(), s.names.index(), s.names.lock()}
	for _, b := range l.done() {
		if _, err := s.long().run(ctx, loadScript, keys, []any{"", s.rebuildTimeout.Milliseconds(), "l", 0, b}); err != nil {
			s.log.Warn("redis quota state rebuilt: reinstalling this replica's reservations in flight failed; they are charged their actual amounts when they settle",
				"reservations", len(olds), "err", err)
			return
		}
	}
	for _, o := range olds {
		s.open.setEpoch(o.id, o.r.epoch, epoch)
	}
	s.log.Info("redis quota state rebuilt: this replica's reservations in flight are held again", "reservations", n)
}

// loadBudgets adds an operation per budget with use, and returns those.
func (s *Store) loadBudgets(l *loader, budgets []BudgetUse, now time.Time) []BudgetUse {
	var out []BudgetUse
	nowUS := now.UnixMicro()
	for _, b := range budgets {
		q := &b.Quota
		if !q.Window.Kind.IsBudget() || b.Used <= 0 {
			continue
		}
		f := s.names.fields(q)
		l.op(1, 5)
		if q.Window.Kind == quota.Lifetime {
			l.p.str(f.u)
			l.p.int(exact(b.Used))
			l.p.str(f.x)
			if idle := q.IdleTTL(s.idleTTL); idle < 0 {
				l.p.int(-1)
			} else {
				l.p.int((nowUS+s.ttl.Microseconds()+999)/1000 + max(idle.Milliseconds(), 1))
			}
		} else {
			start, _ := q.Window.Span(now.UnixNano())
			l.p.str(window(f.base, start/int64(time.Second)) + "u")
			l.p.int(exact(b.Used))
			l.p.str("")
			l.p.int(0)
		}
		out = append(out, b)
	}
	return out
}

// loadHold adds the operations that install h as a reservation holding its worst case on
// its budgets in the windows it was opened in, until expires. A hold past its expiry is
// charged at its worst case instead (as Redis would have done), with a settled marker so
// that a late settle does not count it again. It reports whether h was installed.
func (s *Store) loadHold(l *loader, h *OpenHold, expires, now time.Time) bool {
	nowUS := now.UnixMicro()
	rid := "r" + holdID(h.ID)
	if !expires.After(now) {
		for i := range h.Quotas {
			q := &h.Quotas[i]
			amt := h.Amount.Of(q.Unit)
			name, stop := s.budgetWindow(q, h.Opened)
			if !q.Window.Kind.IsBudget() || amt <= 0 || (stop != 0 && stop <= nowUS) {
				continue
			}
			l.op(1, 5)
			l.p.str(name + "u")
			l.p.int(exact(amt))
			l.p.str("")
			l.p.int(0)
		}
		l.op(3, 3)
		l.p.str(rid)
		l.p.int(nowUS + s.ttl.Microseconds())
		return false
	}
	entries := newPack(32 * len(h.Quotas))
	var held []string
	var amts []int64
	for i := range h.Quotas {
		q := &h.Quotas[i]
		amt := h.Amount.Of(q.Unit)
		name, stop := s.budgetWindow(q, h.Opened)
		if !q.Window.Kind.IsBudget() || amt <= 0 || (stop != 0 && stop <= nowUS) {
			continue
		}
		f := s.names.fields(q)
		var startS int64
		if stop != 0 {
			start, _ := q.Window.Span(h.Opened.UnixNano())
			startS = start / int64(time.Second)
		}
		entries.int(int64(q.Window.Kind))
		entries.str(f.base)
		entries.int(exact(amt))
		entries.int(int64(q.Unit))
		entries.int(startS)
		entries.int(stop)
		held = append(held, name+"h")
		amts = append(amts, exact(amt))
	}
	if len(held) == 0 {
		return false
	}
	l.op(2, 5+2*len(held))
	l.p.str(rid)
	l.p.str(fmt.Sprintf("%016d", expires.UnixMicro()) + "R" + string(entries.bytes()))
	l.p.int(expires.UnixMicro())
	l.p.int(int64(len(held)))
	for i := range held {
		l.p.str(held[i])
		l.p.int(amts[i])
	}
	return true
}

// budgetWindow returns a budget quota's field base name in the window containing at, and
// that window's end (unix µs; 0 for a lifetime budget).
func (s *Store) budgetWindow(q *quota.Quota, at time.Time) (string, int64) {
	f := s.names.fields(q)
	if q.Window.Kind != quota.Day && q.Window.Kind != quota.Month {
		return f.base, 0
	}
	start, end := q.Window.Span(at.UnixNano())
	return window(f.base, start/int64(time.Second)), end / 1000
}

// loader cuts load.lua's operations into batches small enough for one script call each.
type loader struct {
	p       *pack
	batches [][]byte
}

// maxBatch bounds the elements of one batch: a MessagePack array16 holds at most 65535,
// and a call that runs a few milliseconds keeps other clients' latency low.
const maxBatch = 4096

// op starts an operation of n elements, code included.
func (l *loader) op(code int64, n int) {
	if l.p != nil && l.p.n+n > maxBatch {
		l.batches = append(l.batches, l.p.bytes())
		l.p = nil
	}
	if l.p == nil {
		l.p = newPack(64 * 1024)
	}
	l.p.int(code)
}

// done returns the batches; at least one, possibly empty, which carries the commit.
func (l *loader) done() [][]byte {
	if l.p != nil {
		l.batches = append(l.batches, l.p.bytes())
	}
	if len(l.batches) == 0 {
		l.batches = append(l.batches, newPack(3).bytes())
	}
	return l.batches
}

// newEpoch returns a random epoch in [1, 2^52): exact as a Lua number.
func newEpoch() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:])>>12) | 1
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
