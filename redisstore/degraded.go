package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// Degraded reports whether Redis is considered down: operations then fail with
// ErrUnavailable (FailClosed) or run on the local fallback (FailOpenLocal) without trying
// Redis, except for one health probe at most every Config.ProbeInterval (and one by the
// background replay).
func (s *Store) Degraded() bool { return s.down.Load() }

// markDown records an outage; the first one after a healthy spell is logged, and starts
// the background replay, which probes Redis every ProbeInterval until it answers.
func (s *Store) markDown(err error) {
	s.setCause(err)
	s.nextProbe.Store(time.Now().Add(s.probeEvery).UnixNano())
	if s.down.CompareAndSwap(false, true) {
		s.transitions.Add(1)
		s.log.Warn("redis quota store degraded", "policy", s.policy.String(), "replicas", s.replicas, "err", err)
		s.emit(Event{Kind: EventDegraded, Err: err})
		s.kick()
	}
}

func (s *Store) setCause(err error) {
	s.causeMu.Lock()
	s.cause = err
	s.causeMu.Unlock()
}

func (s *Store) lastCause() error {
	s.causeMu.Lock()
	defer s.causeMu.Unlock()
	if s.cause == nil {
		return errors.New("no answer")
	}
	return s.cause
}

// up reports whether to use Redis. While degraded, one caller at most every ProbeInterval
// probes it (bounded by Timeout) and, when it answers, replays the outbox before the Store
// rejoins; every other caller goes straight to the policy, so an outage costs one round
// trip per interval, not one per request.
func (s *Store) up(ctx context.Context) bool {
	if !s.down.Load() {
		return true
	}
	now := time.Now().UnixNano()
	next := s.nextProbe.Load()
	if now < next || !s.nextProbe.CompareAndSwap(next, now+int64(s.probeEvery)) {
		return false
	}
	return s.rejoin(ctx, true)
}

// errRejoining is why a FailOpenLocal replica admits nothing during the quiet period of
// its rejoin (see rejoin).
var errRejoining = errors.New("redis answers again; waiting for every replica's local spend to reach it before admitting")

// errRejoined is reserveLocal's answer to a caller that found Redis down and arrives after
// the Store rejoined: Redis serves it. Served locally, it would start a new outage's local
// store, with a share of a remainder that Redis's totals have left behind.
var errRejoined = errors.New("redis answers again")

// localRes is a reservation served by the local fallback.
type localRes struct {
	mem     *quota.MemoryStore // the store of the outage that granted it
	budgets []quota.Quota      // its budget quotas, with their configured limits
	amount  quota.Amount
	at      time.Time // when it was granted: its day or month
	expires time.Time
	// promised: it has budgets, and so a slot in the outbox for its charge.
	promised bool
}

// hold returns r as a hold to install in Redis.
func (r *localRes) hold(id quota.ID) OpenHold {
	return OpenHold{ID: id, Quotas: r.budgets, Amount: r.amount, Opened: r.at}
}

// charge returns the outbox operation that charges amount to r's budgets in Redis.
func (s *Store) charge(id quota.ID, r *localRes, amount quota.Amount) *deferredOp {
	o := &deferredOp{id: id, mode: "c", actual: amount, nonce: s.ids.Next().String(), known: true,
		res: openRes{quotas: r.budgets, amount: r.amount}}
	for i := range r.budgets {
		q := &r.budgets[i]
		if q.Window.Kind == quota.Day || q.Window.Kind == quota.Month {
			if o.res.starts == nil {
				o.res.starts = make([]int64, len(r.budgets))
			}
			start, _ := q.Window.Span(r.at.UnixNano())
			o.res.starts[i] = start / int64(time.Second)
		}
	}
	return o
}

// shareKey names a budget's window in the local store: its quota key and window start.
type shareKey struct {
	key   string
	start int64
}

// resetLocal starts a new local store for the next outage: each outage's shares are taken
// from what Redis said last, which already counts what the previous one spent. The
// caller holds localMu.
func (s *Store) resetLocal() {
	s.local = quota.NewMemoryStore(quota.MemoryConfig{TTL: s.ttl, IdleTTL: s.idleTTL})
	s.shared = make(map[shareKey]struct{})
}

// markUp ends an outage: the Store up, and a new local store for the next outage, in one
// step under localMu, so that a reserve that found Redis down either reserved from this
// outage's local store before, or finds the Store up (reserveLocal). It reports whether
// the Store was down.
func (s *Store) markUp() bool {
	s.localMu.Lock()
	defer s.localMu.Unlock()
	if !s.down.CompareAndSwap(true, false) {
		return false
	}
	s.resetLocal()
	return true
}

// reserveLocal applies the policy to a reserve that Redis could not serve. It returns
// errRejoined, having done nothing, when the Store is up again by the time it would
// reserve locally: whether it is down and which local store it reserves from are read
// together, under localMu, as rejoin changes them.
func (s *Store) reserveLocal(ctx context.Context, req *quota.Request, dst []quota.Status, cause error) (quota.Reservation, []quota.Status, error) {
	if s.policy != FailOpenLocal {
		s.unavailable.Add(1)
		return quota.Reservation{}, dst, &UnavailableError{Policy: s.policy, Err: cause}
	}
	if !s.down.Load() {
		return quota.Reservation{}, dst, errRejoined
	}
	if s.quietUntil.Load() != 0 {
		s.unavailable.Add(1)
		return quota.Reservation{}, dst, &UnavailableError{Policy: s.policy, Err: errRejoining}
	}
	var budgets []quota.Quota
	for _, q := range req.Quotas {
		if q.Window.Kind.IsBudget() {
			budgets = append(budgets, q)
		}
	}
	promised := len(budgets) > 0
	if promised && !s.box.promise() {
		s.unavailable.Add(1)
		return quota.Reservation{}, dst, &UnavailableError{Policy: s.policy,
			Err: fmt.Errorf("%w; and the outbox is full (%d): no more local budget reservations until Redis answers", cause, s.box.max)}
	}
	now := time.Now()
	s.localMu.Lock()
	if !s.down.Load() {
		s.localMu.Unlock()
		if promised {
			s.box.unpromise()
		}
		return quota.Reservation{}, dst, errRejoined
	}
	mem := s.local
	quotas := s.localQuotas(mem, req.Quotas, now)
	s.localMu.Unlock()
	r, dst, err := mem.Reserve(ctx, &quota.Request{Quotas: quotas, Amount: req.Amount}, dst)
	if err != nil {
		if promised {
			s.box.unpromise()
		}
		return r, dst, err
	}
	s.localReserves.Add(1)
	s.localMu.Lock()
	if len(s.localIDs) >= 4096 {
		s.pruneLocal(now)
	}
	s.localIDs[r.ID] = &localRes{mem: mem, budgets: budgets, amount: req.Amount, at: now, expires: r.ExpiresAt, promised: promised}
	s.nLocal.Store(int64(len(s.localIDs)))
	s.localMu.Unlock()
	s.kick()
	return r, dst, nil
}

func (s *Store) statusLocal(ctx context.Context, quotas []quota.Quota, dst []quota.Status, cause error) ([]quota.Status, error) {
	if s.policy != FailOpenLocal {
		s.unavailable.Add(1)
		return dst, &UnavailableError{Policy: s.policy, Err: cause}
	}
	now := time.Now()
	s.localMu.Lock()
	mem := s.local
	qs := s.localQuotas(mem, quotas, now)
	s.localMu.Unlock()
	return mem.Status(ctx, qs, dst)
}

// localQuotas returns qs as the local store counts them, this replica's share of each: a
// rate's or a concurrency quota's limit divided by Config.Replicas (at least 1 unit); a
// budget with its configured limit, but starting from a use that leaves this replica its
// part of what remained at its last contact with Redis (see startShare). The caller holds
// localMu.
func (s *Store) localQuotas(mem *quota.MemoryStore, qs []quota.Quota, now time.Time) []quota.Quota {
	out := make([]quota.Quota, len(qs))
	for i, q := range qs {
		if q.Window.Kind.IsBudget() {
			s.startShare(mem, &q, now)
		} else {
			q.Limit = max(q.Limit/s.replicas, 1)
			if q.Burst > 0 {
				q.Burst = max(q.Burst/s.replicas, 1)
			}
		}
		out[i] = q
	}
	return out
}

// startShare sets a budget's starting use in the local store, once per outage and window:
// this replica may spend remaining / Replicas locally, where remaining is what Redis said
// was left of it (in the current window) in its last answer to this replica, or the whole
// limit when it never said. The caller holds localMu.
func (s *Store) startShare(mem *quota.MemoryStore, q *quota.Quota, now time.Time) {
	var start int64
	if q.Window.Kind == quota.Day || q.Window.Kind == quota.Month {
		start, _ = q.Window.Span(now.UnixNano())
	}
	k := shareKey{q.Key, start}
	if _, ok := s.shared[k]; ok {
		return
	}
	s.shared[k] = struct{}{}
	remaining, seen := s.seen.remaining(q.Key, start)
	if !seen {
		remaining = q.Limit
	}
	share := max(min(remaining, q.Limit), 0) / s.replicas
	mem.Restore(now, *q, q.Limit-share)
	level := slog.LevelDebug
	if len(s.shared) <= 8 {
		level = slog.LevelInfo
	}
	s.log.Log(context.Background(), level, "redis quota store: local share of a budget while Redis is down",
		"quota", q.Name, "key", q.Key, "limit", q.Limit, "remaining_at_last_contact", remaining, "seen", seen,
		"replicas", s.replicas, "share", share)
}

// takeLocal reports whether id was reserved locally and not installed in Redis, and forgets
// it: a local reservation settles locally, and its charge reaches Redis through the outbox.
func (s *Store) takeLocal(id quota.ID) (*localRes, bool) {
	if s.nLocal.Load() == 0 {
		return nil, false
	}
	s.localMu.Lock()
	r, ok := s.localIDs[id]
	delete(s.localIDs, id)
	s.nLocal.Store(int64(len(s.localIDs)))
	s.localMu.Unlock()
	return r, ok
}

func (s *Store) isLocal(id quota.ID) bool {
	if s.nLocal.Load() == 0 {
		return false
	}
	s.localMu.Lock()
	defer s.localMu.Unlock()
	_, ok := s.localIDs[id]
	return ok
}

// finishLocal settles or releases a local reservation in its store and journals what it
// spent for Redis: the actual amount, or the worst case when the local store had already
// charged it at its expiry.
func (s *Store) finishLocal(ctx context.Context, id quota.ID, r *localRes, actual *quota.Amount, dst []quota.Status) ([]quota.Status, error) {
	var err error
	if actual == nil {
		err = r.mem.Release(ctx, id)
	} else {
		dst, err = r.mem.Settle(ctx, id, *actual, dst)
	}
	switch {
	case errors.Is(err, quota.ErrUnknownReservation):
		s.journal(id, r, r.amount, true)
	case err == nil && actual != nil:
		s.journal(id, r, *actual, true)
	default:
		s.journal(id, r, quota.Amount{}, false)
	}
	return dst, err
}

// journal puts the charge of a local reservation in its promised outbox slot, or gives the
// slot back when there is nothing to charge.
func (s *Store) journal(id quota.ID, r *localRes, amount quota.Amount, charged bool) {
	if !r.promised {
		return
	}
	spent := false
	for i := range r.budgets {
		if amount.Of(r.budgets[i].Unit) != 0 {
			spent = true
		}
	}
	if !charged || !spent {
		s.box.unpromise()
		return
	}
	s.box.add(s.charge(id, r, amount), true)
	s.deferred.Add(1)
	s.kick()
}

// pruneLocal forgets local reservations past their expiry: the fallback store has charged
// them at their worst case, which is journaled for Redis. Without it the ids of callers
// that vanished during an outage would stay forever. The caller holds localMu.
func (s *Store) pruneLocal(now time.Time) {
	for id, r := range s.localIDs {
		if !now.Before(r.expires) {
			delete(s.localIDs, id)
			s.journal(id, r, r.amount, true)
		}
	}
}

// installLocal installs in Redis the local reservations still open that count against a
// budget, each holding its worst case until its expiry, so that the fleet sees them and
// their settles (which then go to Redis) refund the difference. One past its expiry is
// charged at its worst case instead. It reports how many it installed, and false when
// Redis did not take them all.
func (s *Store) installLocal(ctx context.Context) (int, bool) {
	type open struct {
		id quota.ID
		r  *localRes
	}
	var todo []open
	s.localMu.Lock()
	for id, r := range s.localIDs {
		if r.promised {
			todo = append(todo, open{id, r})
		}
	}
	s.localMu.Unlock()
	if len(todo) == 0 {
		return 0, true
	}
	now := s.now()
	var l loader
	installed := 0
	for _, o := range todo {
		h := o.r.hold(o.id)
		if s.loadHold(&l, &h, o.r.expires, now) {
			installed++
		}
	}
	keys := []string{s.names.state(), s.names.index(), s.names.lock()}
	for _, b := range l.done() {
		args := []any{"", s.rebuildTimeout.Milliseconds(), "l", 0, b}
		_, err := s.long().run(ctx, loadScript, keys, args)
		if isLost(err) {
			if err = s.recoverState(ctx); err == nil {
				_, err = s.long().run(ctx, loadScript, keys, args)
			}
		}
		if err != nil {
			if s.outage(ctx, err) {
				s.setCause(err)
			}
			return 0, false
		}
	}
	s.localMu.Lock()
	for _, o := range todo {
		if s.localIDs[o.id] == o.r {
			delete(s.localIDs, o.id)
			s.box.unpromise()
		}
	}
	s.nLocal.Store(int64(len(s.localIDs)))
	s.localMu.Unlock()
	return installed, true
}

// remainders remembers, under FailOpenLocal, what Redis last said remained of each budget
// (quota key and window) in its answers to this Store: the base of the local shares.
type remainders struct {
	mu sync.Mutex
	m  map[string]remainder
}

type remainder struct {
	start int64 // the window's start (unix ns); 0 for a lifetime budget
	left  int64
}

// maxRemainders bounds the map; when full it starts over (those budgets then start an
// outage from limit / Replicas).
const maxRemainders = 1 << 16

// note records a budget's state from a reply, under FailOpenLocal only.
func (r *remainders) note(p Policy, q *quota.Quota, st *quota.State) {
	if p != FailOpenLocal || !q.Window.Kind.IsBudget() {
		return
	}
	if q.Window.Kind != quota.Lifetime && st.Start == 0 {
		return // a window that ended: nothing said about the current one
	}
	r.mu.Lock()
	if r.m == nil || len(r.m) >= maxRemainders {
		r.m = make(map[string]remainder)
	}
	r.m[q.Key] = remainder{start: st.Start, left: q.Limit - st.Used - st.Held}
	r.mu.Unlock()
}

// remaining returns what Redis last said remained of the budget key in the window starting
// at start, and whether it said anything about that window.
func (r *remainders) remaining(key string, start int64) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[key]
	if !ok || e.start != start {
		return 0, false
	}
	return e.left, true
}
