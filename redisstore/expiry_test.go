package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// The tests below step the store's clock with Store.offset, which every script adds to the
// server's TIME (and the client to its calendar math). Steps are minutes or days while the
// test itself takes milliseconds, so real time passing cannot change an outcome: no sleeps,
// no polling, no wall-clock thresholds.

func TestReservationExpiry(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, _, _ := newStore(t, srv, Config{TTL: time.Minute})
	usd := budget("usd", 100)
	conc := leaseQ("conc", 1)
	req := &quota.Request{Quotas: []quota.Quota{usd, conc}, Amount: quota.Amount{MicroUSD: 40}}
	r, _, err := s.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.offset = 59 * time.Second
	if _, _, err := s.Reserve(ctx, req, nil); !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("before expiry: Reserve = %v, want ErrExceeded (lease held)", err)
	}
	// Past the TTL: the abandoned reservation's lease is back, its worst case is charged.
	s.offset = time.Minute + time.Second
	if st := status(t, s, usd); st.Used != 40 || st.Held != 0 {
		t.Errorf("Status after expiry = used %d held %d, want used 40 held 0 (charged, not held)", st.Used, st.Held)
	}
	r2, _, err := s.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatalf("after expiry: Reserve = %v, want the lease back", err)
	}
	if _, err := s.Settle(ctx, r.ID, quota.Amount{}, nil); !errors.Is(err, quota.ErrUnknownReservation) {
		t.Errorf("settling an expired reservation = %v, want ErrUnknownReservation", err)
	}
	if _, err := s.Settle(ctx, r2.ID, quota.Amount{MicroUSD: 10}, nil); err != nil {
		t.Fatal(err)
	}
	if st := status(t, s, usd); st.Used != 50 || st.Held != 0 {
		t.Errorf("Used, Held = %d, %d, want 50, 0 (40 charged on expiry + 10 settled)", st.Used, st.Held)
	}
}

func TestLeaseLapsesAndRenews(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, _, _ := newStore(t, srv, Config{LeaseTTL: 10 * time.Second})
	conc := leaseQ("conc", 1)
	req := &quota.Request{Quotas: []quota.Quota{conc}, Amount: quota.Amount{Requests: 1}}
	steps := []struct {
		name   string
		offset time.Duration
		renew  bool
		want   error // of a second Reserve at offset
	}{
		{"held", 9 * time.Second, false, quota.ErrExceeded},
		{"renewed at 9s holds to 19s", 9 * time.Second, true, quota.ErrExceeded},
		{"still held at 18s", 18 * time.Second, false, quota.ErrExceeded},
		{"lapsed at 20s: a crashed replica's slot is back", 20 * time.Second, false, nil},
	}
	r, _, err := s.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	var second quota.ID
	for _, st := range steps {
		s.offset = st.offset
		if st.renew {
			if err := s.Renew(ctx, r.ID); err != nil {
				t.Fatalf("%s: Renew = %v", st.name, err)
			}
			continue
		}
		r2, _, err := s.Reserve(ctx, req, nil)
		if !errors.Is(err, st.want) || (st.want == nil && err != nil) {
			t.Fatalf("%s: Reserve = %v, want %v", st.name, err, st.want)
		}
		second = r2.ID
	}
	if err := s.Renew(ctx, r.ID); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Renew after the lease lapsed = %v, want ErrLeaseLost", err)
	}
	if _, err := s.Settle(ctx, second, quota.Amount{Requests: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx, second); !errors.Is(err, quota.ErrUnknownReservation) {
		t.Errorf("Renew after settle = %v, want ErrUnknownReservation", err)
	}
}

func TestCalendarWindowResets(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// A TTL past the next midnight, so that yesterday's hold is still open (not expired) today.
	s, _, _ := newStore(t, srv, Config{TTL: 48 * time.Hour})
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	daily := quota.Quota{Name: "daily", Key: "daily", Unit: quota.MicroUSD, Limit: 100, Window: quota.Daily(tokyo)}
	req := func(n int64) *quota.Request {
		return &quota.Request{Quotas: []quota.Quota{daily}, Amount: quota.Amount{MicroUSD: n}}
	}
	r, _, err := s.Reserve(ctx, req(60), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Settle(ctx, r.ID, quota.Amount{MicroUSD: 60}, nil); err != nil {
		t.Fatal(err)
	}
	open, _, err := s.Reserve(ctx, req(30), nil) // held across midnight
	if err != nil {
		t.Fatal(err)
	}
	// 60 settled + 20 fits the limit: only the open hold is in the way, so it is transient.
	if _, _, err := s.Reserve(ctx, req(20), nil); !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("Reserve(20) with 60 used and 30 held = %v, want ErrExceeded", err)
	}
	_, _, err = s.Reserve(ctx, req(50), nil)
	var e *quota.ExceededError
	if !errors.As(err, &e) || !errors.Is(err, quota.ErrBudget) {
		t.Fatalf("Reserve(50) with 60 used and 30 held = %v, want ErrBudget", err)
	}
	_, end := daily.Window.Span(time.Now().UnixNano())
	wantReset := time.Unix(0, end).In(tokyo)
	if !e.ResetAt.Equal(wantReset) || e.ResetAt.Location() != tokyo || e.ResetAt.Hour() != 0 {
		t.Errorf("ResetAt = %v, want %v (Tokyo midnight)", e.ResetAt, wantReset)
	}
	if e.Used != 90 || e.RetryAfter <= 0 {
		t.Errorf("refusal used %d, retry after %v; want 90 and a positive wait", e.Used, e.RetryAfter)
	}

	// One second past Tokyo midnight: a new day.
	s.offset = time.Until(wantReset) + time.Second
	if st := status(t, s, daily); st.Used != 0 || !st.ResetAt.Equal(wantReset.AddDate(0, 0, 1)) {
		t.Errorf("next day: Status = used %d reset %v, want 0 and %v", st.Used, st.ResetAt, wantReset.AddDate(0, 0, 1))
	}
	r, _, err = s.Reserve(ctx, req(100), nil)
	if err != nil {
		t.Fatalf("next day: Reserve(100) = %v, want room", err)
	}
	// Settling yesterday's hold must not touch today's window.
	if _, err := s.Settle(ctx, open.ID, quota.Amount{MicroUSD: 30}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Settle(ctx, r.ID, quota.Amount{MicroUSD: 70}, nil); err != nil {
		t.Fatal(err)
	}
	if st := status(t, s, daily); st.Used != 70 || st.Held != 0 {
		t.Errorf("next day: Used, Held = %d, %d, want 70, 0", st.Used, st.Held)
	}
}

// TestRateSettleExact checks the script's settle math against the memory store's integer
// math by reading the raw TAT: a settle moves it by exactly
// interval(actual) - interval(worst), including amounts whose products pass 2^53.
func TestRateSettleExact(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, _, c := newStore(t, srv, Config{})
	tests := []struct {
		name          string
		limit         int64
		period        time.Duration
		worst, actual int64
	}{
		{"refund", 7, time.Hour, 5, 2},
		{"charge more", 7, time.Hour, 2, 6},
		{"release", 30_000, time.Minute, 1000, 0},
		{"large tokens", 30_000_001, time.Minute, 200_000, 123_457},
		{"products past 2^53", 1_000_000_007, time.Hour, 10_000_000, 9_999_999},
		{"odd period", 3, 1234567891 * time.Nanosecond, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := quota.Quota{Name: "tpm", Key: "tpm-" + tt.name, Unit: quota.Tokens, Limit: tt.limit, Window: quota.Rolling(tt.period)}
			r, _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{InputTokens: tt.worst}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			field := s.names.field(&q)
			before, err := c.HGet(ctx, s.names.state(), field).Int64()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Settle(ctx, r.ID, quota.Amount{InputTokens: tt.actual}, nil); err != nil {
				t.Fatal(err)
			}
			after, err := c.HGet(ctx, s.names.state(), field).Int64()
			if err != nil {
				t.Fatal(err)
			}
			want := q.Interval(tt.actual) - q.Interval(tt.worst)
			if got := after - before; got != want {
				t.Errorf("TAT moved by %d ns, want %d", got, want)
			}
		})
	}
}
