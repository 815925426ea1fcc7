package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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
// round trip and one atomic step on the server. It is safe for concurrent use and starts no
// goroutines of its own, so it needs no Close.
type Store struct {
	bounded
	ids    *quota.IDGen
	prefix string // "{group}:"

	timeout, ttl, leaseTTL, idleTTL, probeEvery time.Duration
	policy                                      Policy
	replicas                                    int64
	log                                         *slog.Logger
	local                                       *quota.MemoryStore

	// offset shifts the clock of every script and of the calendar windows; tests in this
	// package set it to step past a TTL without sleeping. Always zero otherwise.
	offset time.Duration

	down      atomic.Bool
	nextProbe atomic.Int64 // unix ns
	causeMu   sync.Mutex
	cause     error

	localMu  sync.Mutex
	localIDs map[quota.ID]time.Time // local reservation -> its expiry
	nLocal   atomic.Int64

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
		bounded: newBounded(client, cfg.Timeout), ids: quota.NewIDGen(), prefix: "{" + cfg.SlotGroup + "}:",
		ttl: cfg.TTL, leaseTTL: cfg.LeaseTTL, idleTTL: cfg.IdleTTL,
		probeEvery: cfg.ProbeInterval, policy: cfg.Policy, replicas: int64(cfg.Replicas),
		log: cfg.Logger, local: cfg.Fallback, localIDs: make(map[quota.ID]time.Time),
	}
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

func (s *Store) holdKey(id quota.ID) string { return s.prefix + "r:" + id.String() }

// stateKey and holdsKey name a quota's keys. Every key starts with the slot group's hash tag.
func (s *Store) stateKey(q *quota.Quota) string {
	if q.Window.Kind == quota.Lease {
		return s.prefix + "l:" + q.Key
	}
	return s.prefix + "q:" + q.Key
}

func (s *Store) holdsKey(q *quota.Quota) string { return s.prefix + "x:" + q.Key }

func (s *Store) now() time.Time { return time.Now().Add(s.offset) }

// Reserve implements quota.Store in one round trip.
func (s *Store) Reserve(ctx context.Context, req *quota.Request) (quota.Reservation, error) {
	if err := ctx.Err(); err != nil {
		return quota.Reservation{}, fmt.Errorf("redisstore: reserve: %w", err)
	}
	if hasDuplicate(req.Quotas) {
		return quota.Reservation{}, errors.New("redisstore: reserve: duplicate quota key in one request")
	}
	if !s.up(ctx) {
		return s.reserveLocal(ctx, req, s.lastCause())
	}
	r, err := s.reserveRedis(ctx, req)
	if err != nil && s.outage(ctx, err) {
		s.markDown(err)
		return s.reserveLocal(ctx, req, err)
	}
	return r, err
}

func (s *Store) reserveRedis(ctx context.Context, req *quota.Request) (quota.Reservation, error) {
	id := s.ids.Next()
	now := s.now()
	keys := make([]string, 1, 1+2*len(req.Quotas))
	keys[0] = s.holdKey(id)
	args := make([]any, 0, 6+10*len(req.Quotas))
	args = append(args, id.String(), s.ttl.Microseconds(), s.leaseTTL.Microseconds(),
		s.idleTTL.Milliseconds(), s.offset.Microseconds(), len(req.Quotas))
	for i := range req.Quotas {
		q := &req.Quotas[i]
		keys = append(keys, s.stateKey(q), s.holdsKey(q))
		n := req.Amount.Of(q.Unit)
		k := q.Window.Kind
		switch k {
		case quota.Rate:
			p := q.Window.Period
			burst := burstOf(q)
			inc, tol := interval(n, q.Limit, p), interval(burst, q.Limit, p)
			if tol >= maxExact || int64(p) >= maxExact {
				return quota.Reservation{}, fmt.Errorf("redisstore: quota %q: rate period %v too long for exact script math (max about 100 days)", q.Name, p)
			}
			args = append(args, int64(k), int64(q.Unit), n, burst, int64(-1),
				min(inc, maxExact), tol, int64(p)/q.Limit, int64(p)%q.Limit, q.Limit)
		case quota.Day, quota.Month:
			w0, w1, w2, w3 := windows(k, q.Window.Location, now)
			args = append(args, int64(k), int64(q.Unit), n, q.Limit, warnAt(q), w0, w1, w2, w3, 0)
		case quota.Lifetime:
			args = append(args, int64(k), int64(q.Unit), n, q.Limit, warnAt(q), 0, 0, 0, 0, 0)
		case quota.Lease:
			args = append(args, int64(k), int64(q.Unit), n, q.Limit, int64(-1), 0, 0, 0, 0, 0)
		default:
			return quota.Reservation{}, fmt.Errorf("redisstore: quota %q: invalid window kind %d", q.Name, k)
		}
	}
	v, err := s.run(ctx, reserveScript, keys, args)
	if err != nil {
		return quota.Reservation{}, fmt.Errorf("redisstore: reserve: %w", err)
	}
	res, ok := v.([]any)
	if !ok || len(res) < 3 {
		return quota.Reservation{}, fmt.Errorf("redisstore: reserve: unexpected reply %v", v)
	}
	if toInt(res[0]) == 1 {
		return quota.Reservation{ID: id, ExpiresAt: time.UnixMicro(toInt(res[1])), Warned: uint64(toInt(res[2]))}, nil
	}
	if len(res) < 6 {
		return quota.Reservation{}, fmt.Errorf("redisstore: reserve: unexpected reply %v", v)
	}
	i := int(toInt(res[1])) - 1
	if i < 0 || i >= len(req.Quotas) {
		return quota.Reservation{}, fmt.Errorf("redisstore: reserve: refusal names quota %d of %d", i+1, len(req.Quotas))
	}
	return quota.Reservation{}, refusal(&req.Quotas[i], req.Amount, toInt(res[2]), toInt(res[3]), toInt(res[4]), toInt(res[5]))
}

// refusal turns the script's raw figures into the *quota.ExceededError the memory store
// would have returned.
func refusal(q *quota.Quota, a quota.Amount, code, used, waitNS, resetUS int64) error {
	kind := quota.ErrExceeded
	switch code {
	case 2:
		kind = quota.ErrBudget
	case 3:
		kind = quota.ErrTooLarge
	}
	if q.Window.Kind == quota.Rate {
		used = rateUsed(used, q.Limit, q.Window.Period)
	}
	var reset time.Time
	if resetUS > 0 {
		reset = inZone(time.UnixMicro(resetUS), q.Window.Location)
	}
	return quota.NewRefusal(*q, kind, used, a.Of(q.Unit), time.Duration(waitNS), reset)
}

func inZone(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		return t.UTC()
	}
	return t.In(loc)
}

func burstOf(q *quota.Quota) int64 {
	if q.Burst > 0 {
		return q.Burst
	}
	return q.Limit
}

// warnAt mirrors quota's rule: the WarnAt fraction of the limit, 0.8 by default, -1 off.
func warnAt(q *quota.Quota) int64 {
	f := q.WarnAt
	if f < 0 {
		return -1
	}
	if f == 0 {
		f = 0.8
	}
	return int64(f * float64(q.Limit))
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
func (s *Store) Settle(ctx context.Context, id quota.ID, actual quota.Amount) error {
	return s.finish(ctx, id, &actual)
}

// Release implements quota.Store in one round trip.
func (s *Store) Release(ctx context.Context, id quota.ID) error {
	return s.finish(ctx, id, nil)
}

func (s *Store) finish(ctx context.Context, id quota.ID, actual *quota.Amount) error {
	op := "settle"
	if actual == nil {
		op = "release"
	}
	if s.forgetLocal(id) {
		if actual == nil {
			return s.local.Release(ctx, id)
		}
		return s.local.Settle(ctx, id, *actual)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: %s %s: %w", op, id, err)
	}
	if !s.up(ctx) {
		s.unavailable.Add(1)
		return fmt.Errorf("redisstore: %s %s: %w", op, id, &UnavailableError{Policy: s.policy, Err: s.lastCause()})
	}
	args := make([]any, 7)
	args[0], args[1], args[2] = s.ids.Next().String(), s.offset.Microseconds(), "s"
	var a quota.Amount
	if actual == nil {
		args[2] = "r"
	} else {
		a = *actual
	}
	args[3], args[4], args[5], args[6] = a.Requests, a.InputTokens, a.OutputTokens, a.MicroUSD
	v, err := s.run(ctx, settleScript, []string{s.holdKey(id)}, args)
	if err != nil {
		if s.outage(ctx, err) {
			s.markDown(err)
			s.unavailable.Add(1)
			err = &UnavailableError{Policy: s.policy, Err: err}
		}
		return fmt.Errorf("redisstore: %s %s: %w", op, id, err)
	}
	if toInt(v) != 1 {
		return fmt.Errorf("redisstore: %s %s: %w", op, id, quota.ErrUnknownReservation)
	}
	return nil
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
	if !s.up(ctx) {
		s.unavailable.Add(1)
		return fmt.Errorf("redisstore: renew %s: %w", id, &UnavailableError{Policy: s.policy, Err: s.lastCause()})
	}
	v, err := s.run(ctx, renewScript, []string{s.holdKey(id)}, []any{s.leaseTTL.Microseconds(), s.offset.Microseconds()})
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

// Status implements quota.Store in one round trip. Holds past their expiry, not yet charged
// by a reserve, are reported as used rather than held: that is what they will become.
func (s *Store) Status(ctx context.Context, quotas []quota.Quota, dst []quota.Status) ([]quota.Status, error) {
	if err := ctx.Err(); err != nil {
		return dst, fmt.Errorf("redisstore: status: %w", err)
	}
	if !s.up(ctx) {
		return s.statusLocal(ctx, quotas, dst, s.lastCause())
	}
	out, err := s.statusRedis(ctx, quotas, dst)
	if err != nil && s.outage(ctx, err) {
		s.markDown(err)
		return s.statusLocal(ctx, quotas, dst, err)
	}
	return out, err
}

func (s *Store) statusRedis(ctx context.Context, quotas []quota.Quota, dst []quota.Status) ([]quota.Status, error) {
	now := s.now()
	keys := make([]string, 0, 2*len(quotas))
	args := make([]any, 0, 2+5*len(quotas))
	args = append(args, s.offset.Microseconds(), len(quotas))
	for i := range quotas {
		q := &quotas[i]
		keys = append(keys, s.stateKey(q), s.holdsKey(q))
		var w0, w1, w2, w3 int64
		if q.Window.Kind == quota.Day || q.Window.Kind == quota.Month {
			w0, w1, w2, w3 = windows(q.Window.Kind, q.Window.Location, now)
		}
		args = append(args, int64(q.Window.Kind), w0, w1, w2, w3)
	}
	v, err := s.run(ctx, statusScript, keys, args)
	if err != nil {
		return dst, fmt.Errorf("redisstore: status: %w", err)
	}
	res, ok := v.([]any)
	if !ok || len(res) != len(quotas)+1 {
		return dst, fmt.Errorf("redisstore: status: unexpected reply %v", v)
	}
	nowNS := toInt(res[0])
	for i := range quotas {
		q := &quotas[i]
		st := quota.Status{Quota: *q}
		f, _ := res[i+1].([]any)
		switch q.Window.Kind {
		case quota.Rate:
			if len(f) > 0 {
				if tat := toInt(f[0]); tat > nowNS {
					st.Used = rateUsed(tat-nowNS, q.Limit, q.Window.Period)
					st.ResetAt = time.Unix(0, tat)
				}
			}
			st.Remaining = max(burstOf(q)-st.Used, 0)
		case quota.Lease:
			if len(f) > 0 {
				st.Used = toInt(f[0])
				st.Held = st.Used
			}
		default:
			if len(f) >= 4 {
				st.Used = toInt(f[0]) + toInt(f[1])
				st.Held = toInt(f[1]) - toInt(f[2])
				if end := toInt(f[3]); end > 0 {
					st.ResetAt = inZone(time.UnixMicro(end), q.Window.Location)
				}
			}
		}
		if q.Window.Kind != quota.Rate {
			st.Remaining = max(q.Limit-st.Used, 0)
		}
		dst = append(dst, st)
	}
	return dst, nil
}

// outage reports whether err means Redis is unreachable or unable to serve, as opposed to
// the caller giving up (its ctx) or a reply that Redis did give (a script error).
func (s *Store) outage(ctx context.Context, err error) bool {
	var ce *callError
	if callerDone(ctx) != nil || !errors.As(err, &ce) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true
}
