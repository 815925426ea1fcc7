package quota

import (
	"errors"
	"testing"
	"time"
)

// step is one operation at a fixed instant. Reserve steps remember their reservation so a
// later step can settle it by index.
type step struct {
	at        time.Duration // since the test's epoch
	op        string        // "reserve", "settle", "release"; for a Live quota "set", "floor"
	n         int64         // amount (reserve: worst case; settle: actual); set: limit; floor: room
	ref       int           // settle/release: index of the reserve step; set: burst
	wantErr   error
	wantWait  time.Duration // reserve refused: RetryAfter
	wantReset time.Time     // reserve refused: ResetAt (zero: not checked)
	warn      string        // "yes" or "no": whether the reservation crossed WarnAt; "": not checked
}

func runSteps(t *testing.T, epoch time.Time, q Quota, steps []step) {
	t.Helper()
	s := NewMemoryStore(MemoryConfig{TTL: 400 * 24 * time.Hour})
	ids := make([]ID, len(steps))
	for i, st := range steps {
		now := epoch.Add(st.at)
		amt := Amount{Requests: st.n, InputTokens: st.n, MicroUSD: st.n}
		switch st.op {
		case "reserve":
			r, _, err := s.ReserveAt(now, &Request{Quotas: []Quota{q}, Amount: amt}, nil)
			if !errors.Is(err, st.wantErr) || (err == nil) != (st.wantErr == nil) {
				t.Fatalf("step %d: Reserve(%d) at %v = %v, want %v", i, st.n, st.at, err, st.wantErr)
			}
			if err != nil {
				var e *ExceededError
				if !errors.As(err, &e) {
					t.Fatalf("step %d: error %T is not *ExceededError", i, err)
				}
				if e.RetryAfter != st.wantWait {
					t.Errorf("step %d: RetryAfter = %v, want %v", i, e.RetryAfter, st.wantWait)
				}
				if !st.wantReset.IsZero() && !e.ResetAt.Equal(st.wantReset) {
					t.Errorf("step %d: ResetAt = %v, want %v", i, e.ResetAt, st.wantReset)
				}
				continue
			}
			ids[i] = r.ID
			if got := r.Warned&1 != 0; st.warn != "" && got != (st.warn == "yes") {
				t.Errorf("step %d: Warned = %v, want %v", i, got, st.warn)
			}
		case "settle":
			if _, err := s.SettleAt(now, ids[st.ref], amt, nil); err != nil {
				t.Fatalf("step %d: Settle: %v", i, err)
			}
		case "release":
			if err := s.ReleaseAt(now, ids[st.ref]); err != nil {
				t.Fatalf("step %d: Release: %v", i, err)
			}
		case "set":
			q.Live.Set(st.n, int64(st.ref))
		case "floor":
			limit, burst := q.Live.Limit()
			q.Live.RaiseFloor(FloorFor(now, st.n, limit, burst, q.Window.Period))
		}
	}
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestRateWindow(t *testing.T) {
	t.Parallel()
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		q     Quota
		steps []step
	}{
		{"burst then refill", Quota{Key: "r", Unit: Requests, Limit: 60, Window: PerMinute()}, []step{
			{at: 0, op: "reserve", n: 60},
			{at: 0, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: time.Second},
			{at: 500 * time.Millisecond, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: 500 * time.Millisecond},
			{at: time.Second, op: "reserve", n: 1},
			{at: time.Second, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: time.Second},
			{at: time.Minute + time.Second, op: "reserve", n: 60},
		}},
		{"small burst", Quota{Key: "r", Unit: Requests, Limit: 10, Burst: 2, Window: Rolling(time.Second)}, []step{
			{at: 0, op: "reserve", n: 2},
			{at: 0, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: 100 * time.Millisecond},
			{at: 100 * time.Millisecond, op: "reserve", n: 1},
			{at: 0, op: "reserve", n: 3, wantErr: ErrTooLarge},
		}},
		{"settle refunds tokens", Quota{Key: "r", Unit: Tokens, Limit: 1000, Window: PerMinute()}, []step{
			{at: 0, op: "reserve", n: 1000},
			{at: 0, op: "reserve", n: 100, wantErr: ErrExceeded, wantWait: 6 * time.Second},
			{at: 0, op: "settle", ref: 0, n: 400},
			{at: 0, op: "reserve", n: 600},
			{at: 0, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: 60 * time.Millisecond},
		}},
		{"settle charges extra", Quota{Key: "r", Unit: Tokens, Limit: 1000, Window: PerMinute()}, []step{
			{at: 0, op: "reserve", n: 100},
			{at: 0, op: "settle", ref: 0, n: 1000},
			{at: 0, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: 60 * time.Millisecond},
		}},
		{"release returns all", Quota{Key: "r", Unit: Requests, Limit: 1, Window: PerMinute()}, []step{
			{at: 0, op: "reserve", n: 1},
			{at: 0, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: time.Minute},
			{at: 0, op: "release", ref: 0},
			{at: 0, op: "reserve", n: 1},
		}},
		{"no 2x burst at window edge", Quota{Key: "r", Unit: Requests, Limit: 100, Window: PerMinute()}, []step{
			{at: 59 * time.Second, op: "reserve", n: 100},
			{at: 61 * time.Second, op: "reserve", n: 100, wantErr: ErrExceeded, wantWait: 58 * time.Second},
			{at: 61 * time.Second, op: "reserve", n: 3},
			{at: 61 * time.Second, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: 400 * time.Millisecond},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runSteps(t, epoch, tt.q, tt.steps)
		})
	}
}

func TestLiveRate(t *testing.T) {
	t.Parallel()
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	live := func(limit, burst int64) Quota {
		return Quota{Key: "l", Unit: Tokens, Limit: Unlimited, Window: PerMinute(), Live: NewLive(limit, burst)}
	}
	tests := []struct {
		name  string
		q     Quota
		steps []step
	}{
		{"unknown limit refuses nothing", live(0, 0), []step{
			{at: 0, op: "reserve", n: 1_000_000},
			{at: 0, op: "reserve", n: 1_000_000},
			{at: 0, op: "set", n: 60},
			// What went through unlimited left nanoseconds of debt at the new rate.
			{at: time.Millisecond, op: "reserve", n: 60},
			{at: time.Millisecond, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: time.Second},
		}},
		{"floor empties the rate, which refills from there", live(60, 0), []step{
			{at: 0, op: "floor", n: 0},
			{at: 0, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: time.Second},
			{at: 10 * time.Second, op: "reserve", n: 10},
			{at: 10 * time.Second, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: time.Second},
			// A lower floor is no news.
			{at: 20 * time.Second, op: "floor", n: 55},
			{at: 20 * time.Second, op: "reserve", n: 10},
			{at: 20 * time.Second, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: time.Second},
		}},
		{"limit cut waiting requests see it", live(600, 0), []step{
			{at: 0, op: "reserve", n: 600},
			{at: 0, op: "reserve", n: 10, wantErr: ErrExceeded, wantWait: time.Second},
			{at: 0, op: "set", n: 60},
			// The debt is time: a second at 600 a minute is a second at 60 a minute.
			{at: 0, op: "reserve", n: 10, wantErr: ErrExceeded, wantWait: 10 * time.Second},
			{at: time.Minute + 10*time.Second, op: "reserve", n: 10},
		}},
		{"small burst paces, a large request waits for a full rate", live(60, 5), []step{
			{at: 0, op: "reserve", n: 5},
			{at: 0, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: time.Second},
			{at: time.Second, op: "reserve", n: 1},
			{at: time.Second, op: "reserve", n: 20, wantErr: ErrExceeded, wantWait: 5 * time.Second},
			{at: 6 * time.Second, op: "reserve", n: 20},
			{at: 6 * time.Second, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: 16 * time.Second},
		}},
		{"refund at the reserve's limit", live(60, 0), []step{
			{at: 0, op: "reserve", n: 60},
			{at: 0, op: "set", n: 120},
			{at: 0, op: "settle", ref: 0, n: 30},
			// 30 left at 60 a minute: 30s of debt, 60 of 120 at the new limit.
			{at: 0, op: "reserve", n: 60},
			{at: 0, op: "reserve", n: 1, wantErr: ErrExceeded, wantWait: 500 * time.Millisecond},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runSteps(t, epoch, tt.q, tt.steps)
		})
	}
}

func TestCalendarWindow(t *testing.T) {
	t.Parallel()
	paris := mustLoad(t, "Europe/Paris")
	ny := mustLoad(t, "America/New_York")
	tests := []struct {
		name  string
		epoch time.Time
		q     Quota
		steps []step
	}{
		{"midnight in Paris", time.Date(2026, 6, 10, 23, 0, 0, 0, paris),
			Quota{Key: "d", Unit: MicroUSD, Limit: 100, Window: Daily(paris)}, []step{
				{at: 0, op: "reserve", n: 70, warn: "no"},
				{at: 0, op: "reserve", n: 20, warn: "yes"},
				{at: 0, op: "settle", ref: 0, n: 70},
				{at: 0, op: "settle", ref: 1, n: 20},
				{at: 59 * time.Minute, op: "reserve", n: 11, wantErr: ErrBudget, wantWait: time.Minute,
					wantReset: time.Date(2026, 6, 11, 0, 0, 0, 0, paris)},
				{at: 59*time.Minute + 59*time.Second, op: "reserve", n: 10},
				{at: time.Hour, op: "reserve", n: 100},
				{at: time.Hour, op: "reserve", n: 101, wantErr: ErrTooLarge},
			}},
		{"spring forward: a 23-hour day", time.Date(2026, 3, 8, 0, 0, 0, 0, ny),
			Quota{Key: "d", Unit: MicroUSD, Limit: 10, Window: Daily(ny)}, []step{
				{at: 0, op: "reserve", n: 10},
				{at: 0, op: "settle", ref: 0, n: 10},
				{at: 22*time.Hour + 59*time.Minute, op: "reserve", n: 1, wantErr: ErrBudget, wantWait: time.Minute,
					wantReset: time.Date(2026, 3, 9, 0, 0, 0, 0, ny)},
				{at: 23 * time.Hour, op: "reserve", n: 10},
			}},
		{"fall back: a 25-hour day", time.Date(2026, 11, 1, 0, 0, 0, 0, ny),
			Quota{Key: "d", Unit: MicroUSD, Limit: 10, Window: Daily(ny)}, []step{
				{at: 0, op: "reserve", n: 10},
				{at: 0, op: "settle", ref: 0, n: 10},
				{at: 24 * time.Hour, op: "reserve", n: 1, wantErr: ErrBudget, wantWait: time.Hour,
					wantReset: time.Date(2026, 11, 2, 0, 0, 0, 0, ny)},
				{at: 25 * time.Hour, op: "reserve", n: 10},
			}},
		{"month end in a leap February", time.Date(2028, 2, 29, 23, 30, 0, 0, paris),
			Quota{Key: "m", Unit: MicroUSD, Limit: 5, Window: Monthly(paris)}, []step{
				{at: 0, op: "reserve", n: 5},
				{at: 0, op: "settle", ref: 0, n: 5},
				{at: 0, op: "reserve", n: 1, wantErr: ErrBudget, wantWait: 30 * time.Minute,
					wantReset: time.Date(2028, 3, 1, 0, 0, 0, 0, paris)},
				{at: 30 * time.Minute, op: "reserve", n: 5},
			}},
		{"open holds wait, settled use is final", time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC),
			Quota{Key: "d", Unit: MicroUSD, Limit: 100, Window: Daily(nil)}, []step{
				{at: 0, op: "reserve", n: 80},
				{at: 0, op: "reserve", n: 30, wantErr: ErrExceeded},
				{at: 0, op: "settle", ref: 0, n: 60},
				{at: 0, op: "reserve", n: 30},
				{at: 0, op: "reserve", n: 11, wantErr: ErrExceeded},
				{at: 0, op: "settle", ref: 3, n: 30},
				{at: 0, op: "reserve", n: 11, wantErr: ErrBudget, wantWait: 12 * time.Hour},
			}},
		{"a hold from yesterday does not charge today", time.Date(2026, 1, 1, 23, 59, 0, 0, time.UTC),
			Quota{Key: "d", Unit: MicroUSD, Limit: 100, Window: Daily(nil)}, []step{
				{at: 0, op: "reserve", n: 100},
				{at: 2 * time.Minute, op: "reserve", n: 100},
				{at: 2 * time.Minute, op: "settle", ref: 0, n: 100},
				{at: 2 * time.Minute, op: "reserve", n: 1, wantErr: ErrExceeded},
			}},
		{"lifetime kept forever never resets", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Quota{Key: "l", Unit: Tokens, Limit: 50, Window: Window{Kind: Lifetime, Idle: -1}}, []step{
				{at: 0, op: "reserve", n: 50},
				{at: 0, op: "settle", ref: 0, n: 50},
				{at: 1000 * time.Hour, op: "reserve", n: 1, wantErr: ErrBudget},
			}},
		{"lifetime by default lasts 30 idle days", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Quota{Key: "l", Unit: Tokens, Limit: 50, Window: Forever()}, []step{
				{at: 0, op: "reserve", n: 30},
				{at: 0, op: "settle", ref: 0, n: 30},
				{at: 20 * 24 * time.Hour, op: "reserve", n: 20},
				{at: 20 * 24 * time.Hour, op: "settle", ref: 2, n: 20},
				{at: 49*24*time.Hour + 23*time.Hour, op: "reserve", n: 1, wantErr: ErrBudget},
				{at: 50 * 24 * time.Hour, op: "reserve", n: 50},
			}},
		{"an idle session's budget is forgotten", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Quota{Key: "l", Unit: Tokens, Limit: 50, Window: Window{Kind: Lifetime, Idle: time.Hour}}, []step{
				{at: 0, op: "reserve", n: 50},
				{at: 2 * time.Hour, op: "reserve", n: 1, wantErr: ErrExceeded}, // held: not idle
				{at: 2 * time.Hour, op: "settle", ref: 0, n: 50},
				{at: 2*time.Hour + 59*time.Minute, op: "reserve", n: 1, wantErr: ErrBudget},
				{at: 3 * time.Hour, op: "reserve", n: 50},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runSteps(t, tt.epoch, tt.q, tt.steps)
		})
	}
}

func TestLease(t *testing.T) {
	t.Parallel()
	q := Quota{Key: "c", Unit: Concurrent, Limit: 2, Window: Leased()}
	runSteps(t, time.Unix(0, 0), q, []step{
		{op: "reserve", n: 1},
		{op: "reserve", n: 1},
		{op: "reserve", n: 1, wantErr: ErrExceeded},
		{op: "settle", ref: 0, n: 1},
		{op: "reserve", n: 1},
		{op: "release", ref: 1},
		{op: "reserve", n: 1},
		{op: "reserve", n: 1, wantErr: ErrExceeded},
	})
}

func TestCalendarWindowBounds(t *testing.T) {
	t.Parallel()
	tokyo := mustLoad(t, "Asia/Tokyo")
	ny := mustLoad(t, "America/New_York")
	tests := []struct {
		kind       Kind
		loc        *time.Location
		now        time.Time
		start, end time.Time
	}{
		{Day, tokyo, time.Date(2026, 12, 31, 23, 59, 59, 0, tokyo), time.Date(2026, 12, 31, 0, 0, 0, 0, tokyo), time.Date(2027, 1, 1, 0, 0, 0, 0, tokyo)},
		{Month, tokyo, time.Date(2026, 12, 15, 0, 0, 0, 0, tokyo), time.Date(2026, 12, 1, 0, 0, 0, 0, tokyo), time.Date(2027, 1, 1, 0, 0, 0, 0, tokyo)},
		{Day, ny, time.Date(2026, 3, 8, 3, 30, 0, 0, ny), time.Date(2026, 3, 8, 0, 0, 0, 0, ny), time.Date(2026, 3, 9, 0, 0, 0, 0, ny)},
		{Day, nil, time.Date(2026, 5, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 6, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		s, e := Window{Kind: tt.kind, Location: tt.loc}.Span(tt.now.UnixNano())
		if s != tt.start.UnixNano() || e != tt.end.UnixNano() {
			t.Errorf("Span(%v, %v, %v) = %v, %v; want %v, %v", tt.kind, tt.loc, tt.now,
				time.Unix(0, s), time.Unix(0, e), tt.start, tt.end)
		}
	}
}
