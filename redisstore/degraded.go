package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// Stats are a Store's counters since New. All fields only grow except Degraded.
type Stats struct {
	// Degraded is true while Redis is considered down (see Store.Degraded).
	Degraded bool
	// Transitions counts the times the Store went from Redis to degraded.
	Transitions uint64
	// LocalReserves counts reservations granted by the local fallback (FailOpenLocal).
	LocalReserves uint64
	// Unavailable counts operations that failed with ErrUnavailable.
	Unavailable uint64
	// OpenLocal is the number of local reservations not yet settled, released or forgotten
	// after their expiry.
	OpenLocal int64
}

// Degraded reports whether Redis is considered down: operations then fail with
// ErrUnavailable (FailClosed) or run on the local fallback (FailOpenLocal) without trying
// Redis, except for one health probe at most every Config.ProbeInterval.
func (s *Store) Degraded() bool { return s.down.Load() }

// Stats returns the Store's counters. It is safe for concurrent use.
func (s *Store) Stats() Stats {
	return Stats{
		Degraded: s.down.Load(), Transitions: s.transitions.Load(),
		LocalReserves: s.localReserves.Load(), Unavailable: s.unavailable.Load(),
		OpenLocal: s.nLocal.Load(),
	}
}

// markDown records an outage; the first one after a healthy spell is logged.
func (s *Store) markDown(err error) {
	s.causeMu.Lock()
	s.cause = err
	s.causeMu.Unlock()
	s.nextProbe.Store(time.Now().Add(s.probeEvery).UnixNano())
	if s.down.CompareAndSwap(false, true) {
		s.transitions.Add(1)
		s.log.Warn("redis quota store degraded", "policy", s.policy.String(), "replicas", s.replicas, "err", err)
	}
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
// pings it (bounded by Timeout); every other caller goes straight to the policy, so an
// outage costs one round trip per interval, not one per request.
func (s *Store) up(ctx context.Context) bool {
	if !s.down.Load() {
		return true
	}
	now := time.Now().UnixNano()
	next := s.nextProbe.Load()
	if now < next || !s.nextProbe.CompareAndSwap(next, now+int64(s.probeEvery)) {
		return false
	}
	_, err := s.call(ctx, func(ctx context.Context) (any, error) { return s.c.Ping(ctx).Result() })
	if err != nil {
		if ctx.Err() == nil {
			s.causeMu.Lock()
			s.cause = err
			s.causeMu.Unlock()
		}
		return false
	}
	if s.down.CompareAndSwap(true, false) {
		s.log.Info("redis quota store rejoined", "policy", s.policy.String())
	}
	return true
}

// reserveLocal applies the policy to a reserve that Redis could not serve.
func (s *Store) reserveLocal(ctx context.Context, req *quota.Request, dst []quota.Status, cause error) (quota.Reservation, []quota.Status, error) {
	if s.policy != FailOpenLocal {
		s.unavailable.Add(1)
		return quota.Reservation{}, dst, &UnavailableError{Policy: s.policy, Err: cause}
	}
	r, dst, err := s.local.Reserve(ctx, s.share(req), dst)
	if err != nil {
		return r, dst, err
	}
	s.localReserves.Add(1)
	s.localMu.Lock()
	if len(s.localIDs) >= 4096 {
		s.pruneLocal(time.Now())
	}
	s.localIDs[r.ID] = r.ExpiresAt
	s.nLocal.Store(int64(len(s.localIDs)))
	s.localMu.Unlock()
	return r, dst, nil
}

func (s *Store) statusLocal(ctx context.Context, quotas []quota.Quota, dst []quota.Status, cause error) ([]quota.Status, error) {
	if s.policy != FailOpenLocal {
		s.unavailable.Add(1)
		return dst, &UnavailableError{Policy: s.policy, Err: cause}
	}
	return s.local.Status(ctx, s.shareQuotas(quotas), dst)
}

// share is req with every limit divided among the replicas: this replica's local share.
func (s *Store) share(req *quota.Request) *quota.Request {
	return &quota.Request{Quotas: s.shareQuotas(req.Quotas), Amount: req.Amount}
}

func (s *Store) shareQuotas(qs []quota.Quota) []quota.Quota {
	out := make([]quota.Quota, len(qs))
	for i, q := range qs {
		q.Limit = max(q.Limit/s.replicas, 1)
		if q.Burst > 0 {
			q.Burst = max(q.Burst/s.replicas, 1)
		}
		out[i] = q
	}
	return out
}

// forgetLocal reports whether id was reserved locally, and forgets it: a local reservation
// settles locally even after Redis is back.
func (s *Store) forgetLocal(id quota.ID) bool {
	if s.nLocal.Load() == 0 {
		return false
	}
	s.localMu.Lock()
	_, ok := s.localIDs[id]
	delete(s.localIDs, id)
	s.nLocal.Store(int64(len(s.localIDs)))
	s.localMu.Unlock()
	return ok
}

// pruneLocal forgets local reservations past their expiry: the fallback store has settled
// them at their worst case, and a settle would be refused anyway. Without it the ids of
// callers that vanished during an outage would stay forever.
func (s *Store) pruneLocal(now time.Time) {
	for id, exp := range s.localIDs {
		if !now.Before(exp) {
			delete(s.localIDs, id)
		}
	}
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
