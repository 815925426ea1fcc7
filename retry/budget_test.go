package retry

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustBudget(t testing.TB, c BudgetConfig) *Budget {
	t.Helper()
	b, err := NewBudget(c)
	if err != nil {
		t.Fatalf("NewBudget(%+v) = %v", c, err)
	}
	return b
}

func TestBudgetConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		c       BudgetConfig
		wantErr string
	}{
		{"zero", BudgetConfig{}, ""},
		{"explicit", BudgetConfig{Ratio: 0.2, Window: time.Minute, MinPerSecond: 5}, ""},
		{"ratio one", BudgetConfig{Ratio: 1}, ""},
		{"no floor", BudgetConfig{MinPerSecond: -1}, ""},
		{"ratio percent", BudgetConfig{Ratio: 10}, "BudgetConfig.Ratio"},
		{"ratio negative", BudgetConfig{Ratio: -0.1}, "BudgetConfig.Ratio"},
		{"ratio NaN", BudgetConfig{Ratio: math.NaN()}, "BudgetConfig.Ratio"},
		{"window negative", BudgetConfig{Window: -time.Second}, "BudgetConfig.Window"},
		{"window too short to slice", BudgetConfig{Window: 5}, "BudgetConfig.Window"},
		{"floor NaN", BudgetConfig{MinPerSecond: math.NaN()}, "BudgetConfig.MinPerSecond"},
		{"floor Inf", BudgetConfig{MinPerSecond: math.Inf(1)}, "BudgetConfig.MinPerSecond"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.c.Validate()
			_, nerr := NewBudget(tt.c)
			switch {
			case tt.wantErr == "" && (err != nil || nerr != nil):
				t.Errorf("Validate() = %v, NewBudget error = %v, want nil", err, nerr)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.wantErr)
			case tt.wantErr != "" && nerr == nil:
				t.Errorf("NewBudget(%+v) error = nil, want %v", tt.c, err)
			}
		})
	}
}

// tryN calls TryRetry n times at now and returns how many were allowed.
func tryN(b *Budget, now time.Time, n int) int {
	ok := 0
	for range n {
		if b.TryRetry(now) {
			ok++
		}
	}
	return ok
}

func TestBudgetStorm(t *testing.T) {
	t.Parallel()
	const n = 10000
	cfg := BudgetConfig{Ratio: 0.1, Window: 10 * time.Second, MinPerSecond: 1}
	floor := cfg.MinPerSecond * cfg.Window.Seconds()
	b := mustBudget(t, cfg)

	// A storm: n first attempts fail at once and every one of them wants a retry, from
	// concurrent goroutines.
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range n / 8 {
				b.Request(t0)
			}
		})
	}
	wg.Wait()
	for range 8 {
		wg.Go(func() { allowed.Add(int64(tryN(b, t0.Add(time.Second), n/8))) })
	}
	wg.Wait()
	bound := cfg.Ratio*n + floor
	if got := float64(allowed.Load()); got > bound || got < bound-1 {
		t.Errorf("storm of %d failures got %v retries, want at most Ratio*N+floor = %v (and no fewer than 1 below)", n, got, bound)
	}

	// Inside the window, nothing more.
	if got := tryN(b, t0.Add(9*time.Second), 100); got != 0 {
		t.Errorf("retries later in the window = %d, want 0", got)
	}
	// Once the window has rolled past the storm, the floor is back, and new traffic earns
	// its share again.
	later := t0.Add(cfg.Window + time.Second)
	if got, want := tryN(b, later, 100), int(floor); got != want {
		t.Errorf("retries after the window = %d, want the floor %d", got, want)
	}
	for range 100 {
		b.Request(later)
	}
	if got, want := tryN(b, later, 100), 10; got != want {
		t.Errorf("retries after 100 new requests = %d, want %d", got, want)
	}
}

func TestBudgetSteps(t *testing.T) {
	t.Parallel()
	// Window 10s in 1s slices, 50% of requests, no floor: every step is exact.
	b := mustBudget(t, BudgetConfig{Ratio: 0.5, Window: 10 * time.Second, MinPerSecond: -1})
	type step struct {
		at       time.Duration
		requests int
		tries    int
		want     int
	}
	steps := []step{
		{at: 0, tries: 1, want: 0},                            // no traffic, no floor
		{at: 0, requests: 4, tries: 3, want: 2},               // 50% of 4
		{at: 3 * time.Second, requests: 2, tries: 5, want: 1}, // 6 requests earn 3, 2 used
		{at: 9 * time.Second, tries: 1, want: 0},              // the t=0 slice still counts
		{at: 10 * time.Second, tries: 5, want: 0},             // t=0 slice gone: 2 requests earn 1, 1 used
		{at: 12 * time.Second, requests: 2, tries: 5, want: 1},
		{at: 13 * time.Second, tries: 5, want: 0},
		{at: 23 * time.Second, tries: 1, want: 0},               // everything expired, nothing earned
		{at: 23 * time.Second, requests: 10, tries: 9, want: 5}, // a fresh window
		{at: 20 * time.Second, requests: 2, tries: 2, want: 1},  // a time that went backwards counts as now
	}
	for _, s := range steps {
		for range s.requests {
			b.Request(t0.Add(s.at))
		}
		if got := tryN(b, t0.Add(s.at), s.tries); got != s.want {
			t.Errorf("at %v after %d requests: %d of %d retries allowed, want %d", s.at, s.requests, got, s.tries, s.want)
		}
	}
}

func TestBudgetDefaultFloor(t *testing.T) {
	t.Parallel()
	b := mustBudget(t, BudgetConfig{})
	want := int(DefaultBudgetMinPerSecond * DefaultBudgetWindow.Seconds())
	if got := tryN(b, t0, 100); got != want {
		t.Errorf("zero-config budget with no traffic allowed %d retries, want the floor %d", got, want)
	}
}

func TestBudgetNil(t *testing.T) {
	t.Parallel()
	var b *Budget
	b.Request(t0)
	if !b.TryRetry(t0) {
		t.Error("nil Budget TryRetry = false, want true")
	}
}

func TestBudgetBeforeEpoch(t *testing.T) {
	t.Parallel()
	b := mustBudget(t, BudgetConfig{Ratio: 1, Window: 10 * time.Second, MinPerSecond: -1})
	old := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	b.Request(old)
	if got := tryN(b, old, 2); got != 1 {
		t.Errorf("retries before 1970 = %d, want 1", got)
	}
	if got := tryN(b, old.Add(time.Minute), 1); got != 0 {
		t.Errorf("retries a window later = %d, want 0", got)
	}
}

func BenchmarkBudgetTryRetry(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		bud := mustBudget(b, BudgetConfig{Ratio: 1})
		now := t0
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(time.Microsecond)
			bud.Request(now)
			bud.TryRetry(now)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		bud := mustBudget(b, BudgetConfig{Ratio: 1})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			now := t0
			for pb.Next() {
				now = now.Add(time.Microsecond)
				bud.TryRetry(now)
			}
		})
	})
}
