package redisstore

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// syncBuffer is a bytes.Buffer safe for the Store's goroutines to log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.b.String(), s)
}

// TestLocalReserveAfterTheRejoin: a caller that found Redis down and reaches the local
// store only once the Store has rejoined (its check and the rejoin interleave) is served
// by Redis. It used to reserve from the next outage's fresh local store, with a new share
// of a remainder that Redis's totals had left behind, while Redis was up; a fleet test saw
// it as a second "local share" for one outage.
func TestLocalReserveAfterTheRejoin(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	var logs syncBuffer
	s, _, c := newStore(t, srv, Config{Policy: FailOpenLocal, Replicas: 2, Timeout: time.Second,
		ProbeInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	q := budget("usd", 1000)
	req := &quota.Request{Quotas: []quota.Quota{q}, Amount: usd(50)}
	r, _, err := s.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Settle(ctx, r.ID, usd(50), nil); err != nil {
		t.Fatal(err)
	}
	resume := pause(t, c)
	if _, err := s.Status(ctx, []quota.Quota{q}, nil); err != nil || !s.Degraded() {
		t.Fatalf("Status with Redis paused = %v (degraded %v), want the local status", err, s.Degraded())
	}
	r, _, err = s.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatalf("local reserve: %v", err)
	}
	if _, err := s.Settle(ctx, r.ID, usd(50), nil); err != nil {
		t.Fatalf("local settle: %v", err)
	}
	resume()
	probeNow(s)
	if s.rejoin(ctx, true) {
		t.Fatal("rejoined at once under fail_open_local, want a quiet period first")
	}
	endQuiet(t, s)

	// The caller that found the Store degraded just before the rejoin completed.
	if _, _, err := s.reserveLocal(ctx, req, nil, errors.New("no answer")); !errors.Is(err, errRejoined) {
		t.Errorf("local reserve after the rejoin = %v, want errRejoined (Redis serves it)", err)
	}
	if st := s.Stats(); st.LocalReserves != 1 || st.OpenLocal != 0 {
		t.Errorf("Stats = %+v, want 1 local reserve (the outage's), none open", st)
	}
	if n := logs.count("local share of a budget"); n != 1 {
		t.Errorf("%d local shares logged, want 1 (one budget, one outage)", n)
	}
	// Through Reserve, the same caller is served by Redis.
	if _, _, err := s.Reserve(ctx, req, nil); err != nil {
		t.Fatalf("Reserve after the rejoin: %v", err)
	}
	if st := status(t, s, q); st.Used != 150 || st.Held != 50 {
		t.Errorf("Redis: used %d (held %d), want 150 (held 50): 50 before, 50 local, 50 now", st.Used, st.Held)
	}
}
