package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

func rpmQ(key string, limit int64) quota.Quota {
	return quota.Quota{Name: key, Key: key, Unit: quota.Requests, Limit: limit, Window: quota.Rolling(time.Hour)}
}

func TestFailClosed(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	s, _, _ := newStore(t, srv, Config{})
	req := &quota.Request{Quotas: []quota.Quota{rpmQ("rpm", 100)}, Amount: quota.Amount{Requests: 1}}
	r, _, err := s.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	_, _, err = s.Reserve(ctx, req, nil)
	t.Logf("refused in %v", time.Since(start)) // figures only; tests assert no timings
	var ue *UnavailableError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) || ue.Policy != FailClosed {
		t.Fatalf("Reserve with Redis stopped = %v, want *UnavailableError (fail_closed)", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "redis unavailable: ") || !strings.HasSuffix(msg, "; policy fail_closed") {
		t.Errorf("message %q does not say why and which policy", msg)
	}
	if !s.Degraded() {
		t.Error("Degraded() = false after an outage")
	}
	// Degraded: further calls fail at once without a round trip (the probe is not due).
	if _, _, err := s.Reserve(ctx, req, nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("second Reserve = %v, want ErrUnavailable", err)
	}
	// A settle is not lost: the outbox keeps it for Redis, once.
	if _, err := s.Settle(ctx, r.ID, quota.Amount{Requests: 1}, nil); err != nil {
		t.Errorf("Settle with Redis stopped = %v, want nil (kept in the outbox)", err)
	}
	if _, err := s.Settle(ctx, r.ID, quota.Amount{Requests: 1}, nil); !errors.Is(err, quota.ErrUnknownReservation) {
		t.Errorf("second Settle with Redis stopped = %v, want ErrUnknownReservation", err)
	}
	if _, err := s.Status(ctx, req.Quotas, nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Status with Redis stopped = %v, want ErrUnavailable", err)
	}
	if st := s.Stats(); st.Transitions != 1 || st.Unavailable != 3 || !st.Degraded || st.Outbox != 1 || st.Deferred != 1 {
		t.Errorf("Stats = %+v, want 1 transition, 3 unavailable, degraded, 1 deferred in the outbox", st)
	}
}

func TestFailOpenLocalAndRejoin(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	// ProbeInterval of 1ns: every call while degraded may probe, so the rejoin is seen at
	// the first call after the restart without waiting a second.
	// A generous Timeout: the probe after the restart must not lose a race with -race and
	// the other parallel tests for the CPU.
	s, _, _ := newStore(t, srv, Config{Policy: FailOpenLocal, Replicas: 4, ProbeInterval: time.Nanosecond, Timeout: 5 * time.Second})
	rpm := rpmQ("rpm", 8)
	req := &quota.Request{Quotas: []quota.Quota{rpm}, Amount: quota.Amount{Requests: 1}}
	redisRes, _, err := s.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	// Each of 4 replicas gets 8/4 = 2 locally.
	var local []quota.ID
	for i := range 2 {
		r, _, err := s.Reserve(ctx, req, nil)
		if err != nil {
			t.Fatalf("local reserve %d = %v, want granted", i, err)
		}
		local = append(local, r.ID)
	}
	_, _, err = s.Reserve(ctx, req, nil)
	var e *quota.ExceededError
	if !errors.As(err, &e) || !errors.Is(err, quota.ErrExceeded) || e.Quota.Limit != 2 {
		t.Fatalf("third local reserve = %v, want ErrExceeded against the local share of 2", err)
	}
	if !s.Degraded() {
		t.Error("Degraded() = false while serving locally")
	}
	if st, err := s.Status(ctx, []quota.Quota{rpm}, nil); err != nil || st[0].Used != 2 || st[0].Quota.Limit != 2 {
		t.Errorf("local Status = %+v, %v; want 2 used of 2", st, err)
	}
	if _, err := s.Settle(ctx, redisRes.ID, quota.Amount{Requests: 1}, nil); err != nil {
		t.Errorf("settling a Redis reservation during the outage = %v, want nil (kept in the outbox)", err)
	}

	srv.Restart(t)
	if s.rejoin(ctx, true) {
		t.Fatal("rejoined at once under fail_open_local, want a quiet period first")
	}
	endQuiet(t, s)
	r, _, err := s.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatalf("Reserve after restart = %v", err)
	}
	if s.Degraded() {
		t.Error("Degraded() = true after Redis answered again")
	}
	if st := status(t, s, rpm); st.Used != 1 || st.Quota.Limit != 8 {
		t.Errorf("after rejoin Status = used %d of %d, want 1 of 8 (from Redis)", st.Used, st.Quota.Limit)
	}
	if _, err := s.Settle(ctx, r.ID, quota.Amount{Requests: 1}, nil); err != nil {
		t.Errorf("settling the Redis reservation = %v", err)
	}
	// Local reservations settle locally, even after the rejoin, exactly once.
	for _, id := range local {
		if _, err := s.Settle(ctx, id, quota.Amount{Requests: 1}, nil); err != nil {
			t.Errorf("settling local %s after rejoin = %v", id, err)
		}
		if _, err := s.Settle(ctx, id, quota.Amount{Requests: 1}, nil); !errors.Is(err, quota.ErrUnknownReservation) {
			t.Errorf("settling local %s twice = %v, want ErrUnknownReservation", id, err)
		}
	}
	if st := s.Stats(); st.Transitions != 1 || st.LocalReserves != 2 || st.OpenLocal != 0 || st.Outbox != 0 || st.Replayed != 1 {
		t.Errorf("Stats = %+v, want 1 transition, 2 local reserves, 0 open, the deferred settle replayed", st)
	}
}

// TestSlowRedis points the store at a server that accepts and never answers. Each call ends
// at the store's timeout or the caller's deadline, whichever is first, whether or not the
// client honours context deadlines itself.
func TestSlowRedis(t *testing.T) {
	t.Parallel()
	addr := slowServer(t)
	for _, ctxAware := range []bool{true, false} {
		t.Run(map[bool]string{true: "context-aware client", false: "client ignoring contexts"}[ctxAware], func(t *testing.T) {
			// A short ReadTimeout only so that the calls the store abandons end soon after it.
			c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: ctxAware, MaxRetries: -1, ReadTimeout: 200 * time.Millisecond})
			defer c.Close()
			s, err := New(c, Config{SlotGroup: "slow", Timeout: 20 * time.Millisecond, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			req := &quota.Request{Quotas: []quota.Quota{rpmQ("rpm", 10)}, Amount: quota.Amount{Requests: 1}}
			_, _, err = s.Reserve(ctx, req, nil)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Reserve against a hung Redis = %v, want ErrUnavailable", err)
			}
			// A caller whose own deadline passes first gets its own error, not an outage.
			s2, _ := New(c, Config{SlotGroup: "slow", Timeout: time.Hour, Logger: quietLogger()})
			cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
			defer cancel()
			_, _, err = s2.Reserve(cctx, req, nil)
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) || s2.Degraded() {
				t.Fatalf("Reserve past the caller's deadline = %v (degraded %v), want the caller's DeadlineExceeded only", err, s2.Degraded())
			}
		})
	}
}

func TestRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, rec, _ := newStore(t, srv, Config{})
	quotas := []quota.Quota{rpmQ("rpm", 1000), leaseQ("conc", 10), budget("usd", 1_000_000),
		{Name: "daily", Key: "daily", Unit: quota.MicroUSD, Limit: 1_000_000, Window: quota.Daily(nil)},
		{Name: "tpm", Key: "tpm", Unit: quota.Tokens, Limit: 100_000, Window: quota.PerMinute()}}
	req := &quota.Request{Quotas: quotas, Amount: quota.Amount{Requests: 1, InputTokens: 100, OutputTokens: 100, MicroUSD: 100}}
	steps := []struct {
		name string
		op   func(id *quota.ID) error
	}{
		{"reserve", func(id *quota.ID) error { r, _, err := s.Reserve(ctx, req, nil); *id = r.ID; return err }},
		{"settle", func(id *quota.ID) error {
			_, err := s.Settle(ctx, *id, quota.Amount{Requests: 1, MicroUSD: 50}, nil)
			return err
		}},
		{"reserve again", func(id *quota.ID) error { r, _, err := s.Reserve(ctx, req, nil); *id = r.ID; return err }},
		{"renew", func(id *quota.ID) error { return s.Renew(ctx, *id) }},
		{"release", func(id *quota.ID) error { return s.Release(ctx, *id) }},
		{"status", func(*quota.ID) error { _, err := s.Status(ctx, quotas, nil); return err }},
	}
	var id quota.ID
	for _, st := range steps {
		before := rec.trips.Load()
		if err := st.op(&id); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := rec.trips.Load() - before; got != 1 {
			t.Errorf("%s took %d round trips, want 1", st.name, got)
		}
	}
}

// TestRetriedSettleChargesOnce replays a settle as go-redis would after a read timeout: the
// same script call, same nonce, twice. The second run reports success and charges nothing.
func TestRetriedSettleChargesOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, _, c := newStore(t, srv, Config{})
	q := budget("usd", 1000)
	r, _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{MicroUSD: 100}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := newPack(16)
	for _, n := range []int64{0, 0, 0, 0, 70} { // offset, the actual amounts
		p.int(n)
	}
	// As a Store that does not know the reservation sends it: no fields, no rate changes.
	args := []any{holdID(r.ID), "nonce-1", "s", p.bytes()}
	for i := range 2 {
		got, err := settleScript.Run(ctx, c, []string{s.names.state(), s.names.index()}, args...).Slice()
		if err != nil || len(got) == 0 || got[0] != int64(1) {
			t.Fatalf("run %d of the same settle = %v, %v; want 1 (settled)", i+1, got, err)
		}
	}
	if _, err := s.Settle(ctx, r.ID, quota.Amount{MicroUSD: 70}, nil); !errors.Is(err, quota.ErrUnknownReservation) {
		t.Errorf("a different settle call = %v, want ErrUnknownReservation", err)
	}
	if st := status(t, s, q); st.Used != 70 {
		t.Errorf("Used = %d, want 70 (charged once)", st.Used)
	}
}
