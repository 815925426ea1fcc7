package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/quota"
)

// Client is the part of a go-redis client that a Store uses. *redis.Client, *redis.Ring
// and *redis.ClusterClient all satisfy it.
type Client interface {
	redis.Scripter
	Ping(ctx context.Context) *redis.StatusCmd
}

// Store is a quota.Store in Redis, shared by every gateway replica that uses the same Redis
// and slot group. Each Reserve, Settle, Release, Renew and Status is one script, so one
// round trip and one atomic step on the server. It is safe for concurrent use. While
// operations wait in its outbox for Redis to answer, a goroutine of its own replays them;
// Close stops it.
type Store struct {
	bounded
	ids   *quota.IDGen
	names keyNames
	cal   calendar
	open  pending

	timeout, ttl, leaseTTL, idleTTL, probeEvery time.Duration
	rebuildTimeout                              time.Duration
	policy                                      Policy
	replicas                                    int64
	log                                         *slog.Logger
	source                                      Source
	onEvent                                     func(Event)

	// The fleet's epoch (rebuild.go): the last one seen, the one whose loss was logged
	// (plus one; 0 none), when a failed rebuild may be tried again (unix ns).
	epoch, lostSeen, nextRebuild atomic.Int64
	rebuilding                   chan struct{} // one rebuild at a time in this process

	// The outbox and its background replay (outbox.go). rejoinReplayed, rejoinInstalled
	// and rejoinVoided count what a rejoin under way applied; drainMu guards them.
	box                         outbox
	quietUntil                  atomic.Int64 // unix ns; 0 outside a FailOpenLocal rejoin
	rejoinReplayed              int
	rejoinInstalled             int
	rejoinVoided                int
	drainMu                     sync.Mutex
	flushMu                     sync.Mutex
	flushing, closed            bool
	stop                        chan struct{}
	flushWG                     sync.WaitGroup
	dropLogged                  atomic.Bool
	deferred, replayed          atomic.Uint64
	dropped, rebuilds           atomic.Uint64
	dataLosses, rebuildFailures atomic.Uint64
	lastRebuild                 atomic.Int64

	// offset shifts the clock of every script and of the calendar windows; tests in this
	// package set it to step past a TTL without sleeping. skew shifts the client's clock
	// alone, as a replica's clock that is off. Both are always zero otherwise.
	offset, skew time.Duration

	down      atomic.Bool
	nextProbe atomic.Int64 // unix ns
	causeMu   sync.Mutex
	cause     error

	// The local fallback of FailOpenLocal (degraded.go): the store of the current outage,
	// its reservations, the shares of budgets it started from, and what Redis last said
	// remained of each budget.
	localMu  sync.Mutex
	local    *quota.MemoryStore
	localIDs map[quota.ID]*localRes
	shared   map[shareKey]struct{}
	nLocal   atomic.Int64
	seen     remainders

	transitions, localReserves, unavailable atomic.Uint64
}

var _ quota.Store = (*Store)(nil)

// New returns a Store over client. It loads the scripts once, best effort and bounded by
// cfg.Timeout: a Redis that is down at start is not an error (the policy applies per call,
// and EVALSHA falls back to EVAL when the script cache is empty).
//
// For cfg.Timeout to bound socket reads too, create the client with ContextTimeoutEnabled:
// true; otherwise each call runs on a helper goroutine that the Store abandons at the
// deadline, which costs about a microsecond more per call.
func New(client Client, cfg Config) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Store{
		bounded: newBounded(client, cfg.Timeout), ids: quota.NewIDGen(),
		names:   keyNames{prefix: "{" + cfg.SlotGroup + "}:"},
		timeout: cfg.Timeout, ttl: cfg.TTL, leaseTTL: cfg.LeaseTTL, idleTTL: cfg.IdleTTL,
		probeEvery: cfg.ProbeInterval, rebuildTimeout: cfg.RebuildTimeout, policy: cfg.Policy,
		replicas: int64(cfg.Replicas), log: cfg.Logger, source: cfg.Source, onEvent: cfg.OnEvent,
		box: newOutbox(cfg.Outbox), stop: make(chan struct{}), rebuilding: make(chan struct{}, 1),
		localIDs: make(map[quota.ID]*localRes),
	}
	s.resetLocal() // no other goroutine has s yet
	s.load(allScripts...)
	return s, nil
}

// callerDone returns the caller's ctx error, counting a deadline that has passed but whose
// timer has not yet fired (a socket deadline taken from ctx fires an instant earlier).
func callerDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// callError is a failed round trip: no reply, or an error reply.
type callError struct{ err error }

func (e *callError) Error() string { return e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

func (s *Store) now() time.Time { return time.Now().Add(s.offset) }

// Reserve implements quota.Store in one round trip.
func (s *Store) Reserve(ctx context.Context, req *quota.Request, dst []quota.Status) (quota.Reservation, []quota.Status, error) {
	if err := ctx.Err(); err != nil {
		return quota.Reservation{}, dst, fmt.Errorf("redisstore: reserve: %w", err)
	}
	if hasDuplicate(req.Quotas) {
		return quota.Reservation{}, dst, errors.New("redisstore: reserve: duplicate quota key in one request")
	}
	if !s.up(ctx) {
		r, out, err := s.reserveLocal(ctx, req, dst, s.lastCause())
		if !errors.Is(err, errRejoined) {
			return r, out, err
		}
		// Redis answered while this caller was on its way to the local store.
	}
	r, out, err := s.reserveRedis(ctx, req, dst)
	if isLost(err) {
		// Redis lost the state: no budget is admitted before it is rebuilt.
		if err = s.recoverState(ctx); err == nil {
			r, out, err = s.reserveRedis(ctx, req, dst)
			if isLost(err) {
				err = &RebuildingError{}
			}
		}
	}
	if err != nil && s.outage(ctx, err) {
		s.markDown(err)
		r, out, err2 := s.reserveLocal(ctx, req, dst, err)
		if errors.Is(err2, errRejoined) {
			// Another caller's probe found Redis answering in the meantime; this caller
			// does not try again.
			s.unavailable.Add(1)
			err2 = &UnavailableError{Policy: s.policy, Err: err}
		}
		return r, out, err2
	}
	return r, out, err
}

// maxExact is 2^53: the scripts' numbers are doubles, exact below it. Limits and amounts
// above it are passed as 2^53, which no realistic use reaches.
const maxExact = 1 << 53

func exact(n int64) int64 { return min(n, maxExact) }

func (s *Store) reserveRedis(ctx context.Context, req *quota.Request, dst []quota.Status) (quota.Reservation, []quota.Status, error) {
	now := s.now().Add(s.skew).UnixNano()
	r, out, serverNow, err := s.reserveAt(ctx, req, dst, now)
	if serverNow != 0 {
		// The client's clock put a calendar quota in another window than the server's
		// TIME: send again with the server's time, which decides.
		r, out, serverNow, err = s.reserveAt(ctx, req, dst, serverNow)
		if serverNow != 0 {
			err = errors.New("redisstore: reserve: the calendar window moved while reserving")
		}
	}
	return r, out, err
}

// reserveAt makes one reserve call with the calendar windows that contain now (unix ns).
// When the server's clock is in another window it returns the server's time instead.
func (s *Store) reserveAt(ctx context.Context, req *quota.Request, dst []quota.Status, now int64) (quota.Reservation, []quota.Status, int64, error) {
	id := s.ids.Next()
	keys := []string{s.names.state(), s.names.index()}
	args := make([]any, 3, 3+3*len(req.Quotas))
	p := newPack(16 + 16*len(req.Quotas))
	p.int(s.offset.Microseconds())
	p.int(s.ttl.Microseconds())
	p.int(s.leaseTTL.Microseconds())
	p.int(int64(len(req.Quotas)))
	hold := newPack(32 * len(req.Quotas))
	calendar := false
	// quotas are req.Quotas as decided: a Live quota resolved to its limit in force (see
	// resolveLive); floors are the Live quotas' TAT floors as offsets from now.
	quotas := req.Quotas
	var floors []int64
	for i := range req.Quotas {
		q := &req.Quotas[i]
		f := s.names.fields(q)
		n := req.Amount.Of(q.Unit)
		k := q.Window.Kind
		p.int(int64(k))
		var start, stop int64
		switch k {
		case quota.Rate:
			var fl int64
			if q.Live != nil {
				if floors == nil {
					quotas, floors = slices.Clone(req.Quotas), make([]int64, len(req.Quotas))
				}
				quotas[i], fl = resolveLive(q, n, now)
				floors[i] = fl
				q = &quotas[i]
			}
			tol := q.Interval(q.Capacity())
			if tol >= maxExact || int64(q.Window.Period) >= maxExact {
				return quota.Reservation{}, dst, 0, fmt.Errorf("redisstore: quota %q: rate period %v too long for exact script math (max about 100 days)", q.Name, q.Window.Period)
			}
			p.int(exact(n))
			p.int(exact(q.Capacity()))
			p.int(exact(q.Interval(n)))
			p.int(tol)
			p.int(exact(fl))
			args = append(args, f.base)
		case quota.Day, quota.Month:
			calendar = true
			w := s.cal.around(q.Window, now)
			start, stop = w[1]/int64(time.Second), w[2]/1000
			p.int(exact(n))
			p.int(exact(q.Limit))
			p.int(w[1] / 1000)
			p.int(stop)
			name := window(f.base, start)
			args = append(args, name+"u", name+"h")
		case quota.Lifetime:
			p.int(exact(n))
			p.int(exact(q.Limit))
			idle := q.IdleTTL(s.idleTTL)
			if idle < 0 {
				p.int(-1)
			} else {
				p.int(max(idle.Milliseconds(), 1))
			}
			args = append(args, f.u, f.h, f.x)
		case quota.Lease:
			p.int(exact(q.Limit))
			n = 1
			args = append(args, f.base)
		default:
			return quota.Reservation{}, dst, 0, fmt.Errorf("redisstore: quota %q: invalid window kind %d", q.Name, k)
		}
		hold.int(int64(k))
		hold.str(f.base)
		hold.int(exact(n))
		hold.int(int64(q.Unit))
		hold.int(start)
		hold.int(stop)
	}
	args[0], args[1], args[2] = holdID(id), p.bytes(), hold.bytes()
	v, err := s.run(ctx, reserveScript, keys, args)
	if err != nil {
		if unanswered(err) {
			s.void(id, req, now, err)
		}
		return quota.Reservation{}, dst, 0, fmt.Errorf("redisstore: reserve: %w", err)
	}
	res, ok := v.([]any)
	if ok && len(res) == 2 && toInt(res[0]) == 3 {
		return quota.Reservation{}, dst, toInt(res[1]) * 1000, nil
	}
	if !ok || len(res) != 3+3*len(req.Quotas) {
		return quota.Reservation{}, dst, 0, fmt.Errorf("redisstore: reserve: unexpected reply %v", v)
	}
	code, nowUS, epoch := toInt(res[0]), toInt(res[1]), toInt(res[len(res)-1])
	s.sawEpoch(ctx, epoch)
	t := nowUS * 1000
	var refused *quota.ExceededError
	var warned uint64
	var starts []int64
	if calendar && code != 0 {
		starts = make([]int64, len(req.Quotas))
	}
	n0 := len(dst)
	dst = slices.Grow(dst, len(req.Quotas))
	for i := range quotas {
		q := &quotas[i]
		st := s.state(q, res[2+3*i:5+3*i])
		if floors != nil && floors[i] > 0 {
			// As the script decided: the TAT is at least the floor.
			st.TAT = max(st.TAT, t+floors[i])
		}
		s.seen.note(s.policy, q, &st)
		n := req.Amount.Of(q.Unit)
		if code == 0 {
			e := st.Check(q, n, t)
			if e != nil && q.Live != nil {
				q.Live.Refused()
			}
			refused = quota.Worst(refused, e)
		} else if i < 64 && q.Warns(st.Used+st.Held-n, n) {
			warned |= 1 << i
		}
		if starts != nil {
			starts[i] = st.Start / int64(time.Second)
		}
		dst = st.AppendStatus(dst, q, t)
	}
	if code == 0 {
		if refused == nil {
			return quota.Reservation{}, dst[:n0], 0, errors.New("redisstore: reserve: the script refused what the quotas' states allow")
		}
		return quota.Reservation{}, dst, 0, refused
	}
	expires := time.UnixMicro(nowUS + s.ttl.Microseconds())
	// A Live quota settles at the limit it was reserved at: the refund undoes exactly
	// what the reserve took, however the Live moved since.
	s.open.put(id, openRes{quotas: quotas, amount: req.Amount, starts: starts, expires: expires.UnixNano(), epoch: epoch})
	return quota.Reservation{ID: id, ExpiresAt: expires, Warned: warned}, dst, 0, nil
}

// unanswered reports whether a failed call may have been sent and got no reply (a
// timeout, a lost connection, the caller giving up): the script may then have run, or may
// still run when Redis reads it. An error reply, a connection that could not be made and a
// pool with no connection to give mean that the call never ran.
func unanswered(err error) bool {
	var rerr redis.Error
	var nerr *net.OpError
	switch {
	case errors.As(err, &rerr), errors.As(err, &nerr) && nerr.Op == "dial",
		errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrClosed):
		return false
	}
	return true
}

// void keeps in the outbox the release of reservation id, whose reserve (of req, with the
// calendar windows around now, unix ns) got no reply. The script may have run all the
// same: Redis answered too late, or reads the call when it resumes from a pause. Nobody
// would settle that reservation, and it would hold its worst case and its leases until its
// TTL: on a nearly spent budget, that held amount turns what the settled use refuses at
// once (quota.ErrBudget) into a transient refusal that callers queue on for nothing.
// Applied when Redis answers (lua/settle.lua, mode 'v'), the void releases the
// reservation if it was made, and otherwise takes its id for the hold TTL, so that the
// reserve, should it still arrive, finds its id taken and changes nothing. A full outbox
// drops it (logged): the reservation is then charged at its worst case when it expires,
// as before.
func (s *Store) void(id quota.ID, req *quota.Request, now int64, cause error) {
	r := openRes{quotas: req.Quotas, amount: req.Amount}
	for i := range req.Quotas {
		q := &req.Quotas[i]
		if q.Window.Kind == quota.Day || q.Window.Kind == quota.Month {
			if r.starts == nil {
				r.starts = make([]int64, len(req.Quotas))
			}
			r.starts[i] = s.cal.around(q.Window, now)[1] / int64(time.Second)
		}
	}
	_ = s.deferOp(deferredOp{id: id, mode: "v", nonce: s.ids.Next().String(), res: r, known: true}, cause)
}

// state reads one quota's three numbers of a script's reply (see reserve.lua).
func (s *Store) state(q *quota.Quota, v []any) quota.State {
	var st quota.State
	switch q.Window.Kind {
	case quota.Rate:
		if tat, ok := v[0].(string); ok && tat != "" {
			st.TAT, _ = strconv.ParseInt(tat, 10, 64)
		}
	case quota.Lease:
		st.Held = toInt(v[0])
	default:
		st.Used, st.Held = toInt(v[0]), toInt(v[1])
		if start := toInt(v[2]); start != 0 {
			st.Start = start * int64(time.Second)
			st.End = s.cal.end(q.Window, st.Start)
		}
	}
	return st
}

func hasDuplicate(qs []quota.Quota) bool {
	for i := 1; i < len(qs); i++ {
		for j := range i {
			if qs[i].Key == qs[j].Key {
				return true
			}
		}
	}
	return false
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// Settle implements quota.Store in one round trip. A retry of the same call by the client
// library (after a read timeout) is recognised by a per-call nonce and charges nothing more.
// The statuses are appended for reservations this Store made. When Redis cannot take it
// (unreachable, or its state being rebuilt), the settle goes to the outbox, to be applied
// when Redis answers, and Settle returns nil with no statuses; a second settle of the same
// reservation meanwhile returns quota.ErrUnknownReservation. Only a full outbox makes it
// fail with ErrUnavailable (see the package documentation).
func (s *Store) Settle(ctx context.Context, id quota.ID, actual quota.Amount, dst []quota.Status) ([]quota.Status, error) {
	return s.finish(ctx, id, &actual, dst)
}

// Release implements quota.Store in one round trip; like Settle, it goes to the outbox
// when Redis cannot take it.
func (s *Store) Release(ctx context.Context, id quota.ID) error {
	_, err := s.finish(ctx, id, nil, nil)
	return err
}

func (s *Store) finish(ctx context.Context, id quota.ID, actual *quota.Amount, dst []quota.Status) ([]quota.Status, error) {
	mode := "s"
	if actual == nil {
		mode = "r"
	}
	if lr, ok := s.takeLocal(id); ok {
		return s.finishLocal(ctx, id, lr, actual, dst)
	}
	if err := ctx.Err(); err != nil {
		return dst, fmt.Errorf("redisstore: %s %s: %w", opName(mode), id, err)
	}
	if s.box.has(id) {
		// Settled or released already; the outbox applies it when Redis answers.
		return dst, fmt.Errorf("redisstore: %s %s: %w", opName(mode), id, quota.ErrUnknownReservation)
	}
	r, known := s.open.take(id)
	o := deferredOp{id: id, mode: mode, nonce: s.ids.Next().String(), res: r, known: known}
	if actual != nil {
		o.actual = *actual
	}
	if !s.up(ctx) {
		return dst, s.deferOp(o, s.lastCause())
	}
	res, err := s.runOp(ctx, &o)
	if isLost(err) {
		// Redis lost the state: once it is rebuilt, this reservation is found again (its
		// hold was in the ledger) or charged as what it is, a reservation of an earlier
		// epoch. Until then the outbox keeps it.
		if err = s.recoverState(ctx); err == nil {
			res, err = s.runOp(ctx, &o)
		}
		var re *RebuildingError
		if isLost(err) || errors.As(err, &re) {
			return dst, s.deferOp(o, err)
		}
	}
	if err != nil {
		if s.outage(ctx, err) {
			s.markDown(err)
			return dst, s.deferOp(o, err)
		}
		if known {
			s.open.put(id, r) // the call may not have run: a retry must still know it
		}
		return dst, fmt.Errorf("redisstore: %s %s: %w", opName(mode), id, err)
	}
	if len(res) == 0 || toInt(res[0]) != 1 {
		return dst, fmt.Errorf("redisstore: %s %s: %w", opName(mode), id, quota.ErrUnknownReservation)
	}
	if !known || actual == nil || len(res) != 2+3*len(r.quotas) {
		return dst, nil
	}
	t := toInt(res[1]) * 1000
	dst = slices.Grow(dst, len(r.quotas))
	for i := range r.quotas {
		q := &r.quotas[i]
		v := res[2+3*i : 5+3*i]
		var st quota.State
		switch {
		case q.Window.Kind != quota.Day && q.Window.Kind != quota.Month:
			st = s.state(q, v)
		case toInt(v[2]) == 0:
			// The hold's window, still current.
			st = quota.State{Used: toInt(v[0]), Held: toInt(v[1]), Start: r.starts[i] * int64(time.Second)}
			st.End = s.cal.end(q.Window, st.Start)
		}
		// Otherwise the hold's window has ended: the next one is reported unused.
		s.seen.note(s.policy, q, &st)
		dst = st.AppendStatus(dst, q, t)
	}
	return dst, nil
}

// settleArgs are the settle script's arguments for o (lua/settle.lua).
func (s *Store) settleArgs(o *deferredOp) []any {
	r, a := &o.res, o.actual
	args := make([]any, 4, 4+2*len(r.quotas))
	p := newPack(32 + 24*len(r.quotas))
	p.int(s.offset.Microseconds())
	p.int(exact(a.Requests))
	p.int(exact(a.InputTokens))
	p.int(exact(a.OutputTokens))
	p.int(exact(a.MicroUSD))
	p.int(r.epoch)
	p.int(s.ttl.Microseconds())
	for i := range r.quotas {
		q := &r.quotas[i]
		f := s.names.fields(q)
		k := q.Window.Kind
		p.int(int64(k))
		switch k {
		case quota.Rate:
			// The exact change of the TAT, computed here with 128-bit math; an OutputAtCap
			// rate keeps the output cap that the call did not use (quota.Quota.Settled).
			p.int(q.Interval(q.Settled(r.amount, a)) - q.Interval(r.amount.Of(q.Unit)))
			args = append(args, f.base)
		case quota.Lease:
			args = append(args, f.base)
		case quota.Lifetime:
			p.int(exact(r.amount.Of(q.Unit)))
			p.int(exact(a.Of(q.Unit)))
			p.int(0)
			args = append(args, f.u, f.h)
		default:
			start := r.starts[i] * int64(time.Second)
			p.int(exact(r.amount.Of(q.Unit)))
			p.int(exact(a.Of(q.Unit)))
			p.int(s.cal.end(q.Window, start) / 1000)
			name := window(f.base, r.starts[i])
			args = append(args, name+"u", name+"h")
		}
	}
	args[0], args[1], args[2], args[3] = holdID(o.id), o.nonce, o.mode, p.bytes()
	if !o.known {
		args = args[:4]
	}
	return args
}

// Renew extends a reservation's concurrency leases to LeaseTTL from now (never past the
// reservation's own expiry), in one round trip. A call that may outlive LeaseTTL must renew
// more often than that, or its slots are given to others. It returns
// quota.ErrUnknownReservation for a settled, released or expired reservation and
// ErrLeaseLost when a lease had already lapsed. Reservations served locally (fail-open)
// need no renewal.
func (s *Store) Renew(ctx context.Context, id quota.ID) error {
	if s.isLocal(id) {
		return nil
	}
	if s.box.has(id) {
		return fmt.Errorf("redisstore: renew %s: %w", id, quota.ErrUnknownReservation)
	}
	if !s.up(ctx) {
		s.unavailable.Add(1)
		return fmt.Errorf("redisstore: renew %s: %w", id, &UnavailableError{Policy: s.policy, Err: s.lastCause()})
	}
	r, _ := s.open.get(id)
	keys := []string{s.names.state(), s.names.index()}
	args := []any{s.leaseTTL.Microseconds(), s.offset.Microseconds(), holdID(id), r.epoch}
	v, err := s.run(ctx, renewScript, keys, args)
	if isLost(err) {
		if err = s.recoverState(ctx); err == nil {
			v, err = s.run(ctx, renewScript, keys, args)
		}
	}
	if err != nil {
		if s.outage(ctx, err) {
			s.markDown(err)
			s.unavailable.Add(1)
			err = &UnavailableError{Policy: s.policy, Err: err}
		}
		return fmt.Errorf("redisstore: renew %s: %w", id, err)
	}
	switch toInt(v) {
	case 1:
		return nil
	case -1:
		return fmt.Errorf("redisstore: renew %s: %w", id, ErrLeaseLost)
	}
	return fmt.Errorf("redisstore: renew %s: %w", id, quota.ErrUnknownReservation)
}

// Status implements quota.Store in one round trip. It first charges reservations past
// their expiry (what the next Reserve would do), so they are reported as used, not held.
func (s *Store) Status(ctx context.Context, quotas []quota.Quota, dst []quota.Status) ([]quota.Status, error) {
	if err := ctx.Err(); err != nil {
		return dst, fmt.Errorf("redisstore: status: %w", err)
	}
	if !s.up(ctx) {
		return s.statusLocal(ctx, quotas, dst, s.lastCause())
	}
	out, err := s.statusRedis(ctx, quotas, dst)
	if isLost(err) {
		if err = s.recoverState(ctx); err == nil {
			out, err = s.statusRedis(ctx, quotas, dst)
		}
	}
	if err != nil && s.outage(ctx, err) {
		s.markDown(err)
		return s.statusLocal(ctx, quotas, dst, err)
	}
	return out, err
}

func (s *Store) statusRedis(ctx context.Context, quotas []quota.Quota, dst []quota.Status) ([]quota.Status, error) {
	now := s.now().UnixNano()
	keys := []string{s.names.state(), s.names.index()}
	args := make([]any, 1, 1+len(quotas))
	p := newPack(8 + 8*len(quotas))
	p.int(s.offset.Microseconds())
	p.int(int64(len(quotas)))
	for i := range quotas {
		q := &quotas[i]
		name := s.names.field(q)
		p.int(int64(q.Window.Kind))
		if q.Window.Kind == quota.Day || q.Window.Kind == quota.Month {
			for _, b := range s.cal.around(q.Window, now) {
				p.int(b / 1000)
			}
		}
		args = append(args, name)
	}
	args[0] = p.bytes()
	v, err := s.run(ctx, statusScript, keys, args)
	if err != nil {
		return dst, fmt.Errorf("redisstore: status: %w", err)
	}
	res, ok := v.([]any)
	if !ok || len(res) != 2+3*len(quotas) {
		return dst, fmt.Errorf("redisstore: status: unexpected reply %v", v)
	}
	s.sawEpoch(ctx, toInt(res[len(res)-1]))
	t := toInt(res[0]) * 1000
	dst = slices.Grow(dst, len(quotas))
	for i := range quotas {
		q := &quotas[i]
		st := s.state(q, res[1+3*i:4+3*i])
		if q.Live != nil && q.Window.Kind == quota.Rate {
			r, fl := resolveLive(q, 0, now)
			st.TAT = max(st.TAT, t+fl)
			dst = st.AppendStatus(dst, &r, t)
			continue
		}
		dst = st.AppendStatus(dst, q, t)
	}
	return dst, nil
}

// resolveLive returns Live rate quota q as a reservation of n units at now (unix ns, the
// client's clock) is decided: with the Live's limit and burst (quota.Quota.Resolve), and
// the Live's TAT floor as an offset from now, 0 when the floor is not ahead of now. The
// scripts apply the offset to the server's TIME: a floor is the provider's word on its
// state at the instant this process heard it, which replicas' clocks must not shift.
func resolveLive(q *quota.Quota, n, now int64) (quota.Quota, int64) {
	r, floor := q.Resolve(n)
	return r, max(floor-now, 0)
}

// outage reports whether err means Redis is unreachable or unable to serve, as opposed to
// the caller giving up (its ctx) or a reply that Redis did give (a script error).
func (s *Store) outage(ctx context.Context, err error) bool {
	return callerDone(ctx) == nil && unreachable(err)
}
