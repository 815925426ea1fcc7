package retry

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/llm"
)

// recorder is an fn for Do that fails with errs in turn (nil once they run out) and records
// how long after start each attempt began, by the bubble's clock.
type recorder struct {
	start time.Time
	errs  []error
	at    []time.Duration
}

func (r *recorder) fn(ctx context.Context) error {
	r.at = append(r.at, time.Since(r.start))
	if len(r.errs) == 0 {
		return nil
	}
	err := r.errs[0]
	r.errs = r.errs[1:]
	return err
}

func TestPolicyDo(t *testing.T) {
	t.Parallel()
	over := upstream(llm.KindOverloaded)
	bad := upstream(llm.KindBadRequest)
	limited := &llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: 3 * time.Second}
	p := Policy{MaxAttempts: 4, Initial: time.Second, Max: 4 * time.Second, Multiplier: 2, Rand: fixed(0.5)}
	tests := []struct {
		name       string
		p          Policy
		timeout    time.Duration // 0 for no ctx deadline
		errs       []error
		wantAt     []time.Duration
		wantReason string // "" for success or a final error returned unchanged
		wantErr    error  // the error that errors.Is must find; nil for success
	}{
		{"success at once", p, 0, nil, []time.Duration{0}, "", nil},
		{"backoff then success", p, 0, []error{over, over},
			[]time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond}, "", nil},
		{"server wait then success", p, 0, []error{limited},
			[]time.Duration{0, 3 * time.Second}, "", nil},
		{"final at once", p, 0, []error{bad}, []time.Duration{0}, "", bad},
		{"final after a retry", p, 0, []error{over, bad}, []time.Duration{0, 500 * time.Millisecond}, "", bad},
		{"attempts exhausted", p, 0, []error{over, over, over, over, over},
			[]time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond},
			ReasonAttempts, over},
		{"ctx deadline stops before the wait", p, 2 * time.Second, []error{over, over, over},
			[]time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond}, ReasonDeadline, over},
		{"server wait over cap", Policy{MaxServerWait: 2 * time.Second}, 0, []error{limited},
			[]time.Duration{0}, ReasonServerLong, limited},
		{"zero waits", Policy{Rand: fixed(0)}, 0, []error{over, over, over},
			[]time.Duration{0, 0, 0}, ReasonAttempts, over},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx := t.Context()
				if tt.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.timeout)
					defer cancel()
				}
				r := &recorder{start: time.Now(), errs: tt.errs}
				err := tt.p.Do(ctx, nil, r.fn)
				if diff := cmp.Diff(tt.wantAt, r.at); diff != "" {
					t.Errorf("attempt times mismatch (-want +got):\n%s", diff)
				}
				if tt.wantErr == nil {
					if err != nil {
						t.Errorf("Do() = %v, want nil", err)
					}
					return
				}
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Do() = %v, want it to wrap %v", err, tt.wantErr)
				}
				var g *GiveUpError
				switch {
				case tt.wantReason == "" && err != tt.wantErr:
					t.Errorf("Do() = %v, want the final error unchanged", err)
				case tt.wantReason != "" && !errors.As(err, &g):
					t.Errorf("Do() = %v, want a *GiveUpError", err)
				case tt.wantReason != "" && (g.Reason != tt.wantReason || g.Attempts != len(tt.wantAt)):
					t.Errorf("Do() gave up with %s after %d, want %s after %d", g.Reason, g.Attempts, tt.wantReason, len(tt.wantAt))
				}
			})
		})
	}
}

func TestPolicyDoCancel(t *testing.T) {
	t.Parallel()
	over := upstream(llm.KindOverloaded)
	p := Policy{Initial: 10 * time.Second, Max: 10 * time.Second, Rand: fixed(0.5)}

	t.Run("during the wait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			start := time.Now()
			done := make(chan error)
			go func() { done <- p.Do(ctx, nil, func(context.Context) error { return over }) }()
			time.Sleep(time.Second) // inside the bubble: advances the fake clock only
			cancel()
			err := <-done
			if got := time.Since(start); got != time.Second {
				t.Errorf("Do returned %v after start, want %v, at the cancel", got, time.Second)
			}
			if !errors.Is(err, context.Canceled) || !errors.Is(err, over) {
				t.Errorf("Do() = %v, want it to wrap context.Canceled and the last error", err)
			}
		})
	})

	t.Run("before the first attempt", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			calls := 0
			err := p.Do(ctx, nil, func(context.Context) error { calls++; return nil })
			if calls != 0 || !errors.Is(err, context.Canceled) {
				t.Errorf("Do on a cancelled ctx = %v after %d calls, want context.Canceled after 0", err, calls)
			}
		})
	})

	t.Run("during an attempt", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			calls := 0
			err := p.Do(ctx, nil, func(context.Context) error {
				calls++
				cancel()
				return over
			})
			if calls != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, over) {
				t.Errorf("Do = %v after %d calls, want context.Canceled and the last error after 1", err, calls)
			}
		})
	})
}

func TestPolicyDoBudget(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// A floor of 1 retry per 10s window and no traffic share worth one retry: the
		// first Do may retry once, the second not at all.
		b, err := NewBudget(BudgetConfig{Ratio: 0.01, Window: 10 * time.Second, MinPerSecond: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		over := upstream(llm.KindOverloaded)
		p := Policy{MaxAttempts: 5, Rand: fixed(0)}
		for i, wantAttempts := range []int{2, 1} {
			calls := 0
			err := p.Do(t.Context(), b, func(context.Context) error { calls++; return over })
			var g *GiveUpError
			if !errors.As(err, &g) || g.Reason != ReasonBudget || calls != wantAttempts {
				t.Errorf("Do #%d = %v after %d calls, want a budget give-up after %d", i, err, calls, wantAttempts)
			}
		}
	})
}

func TestPolicyDoInvalid(t *testing.T) {
	t.Parallel()
	calls := 0
	err := Policy{MaxAttempts: -1}.Do(t.Context(), nil, func(context.Context) error { calls++; return nil })
	if err == nil || calls != 0 {
		t.Errorf("Do with an invalid Policy = %v after %d calls, want an error after 0", err, calls)
	}
}

func TestPolicyBackOffAdapter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := Policy{MaxAttempts: 3, Initial: time.Second, Rand: fixed(0.5)}
		r := &recorder{start: time.Now(), errs: []error{errors.New("a"), errors.New("b"), errors.New("c")}}
		_, err := backoff.Retry(t.Context(), func() (struct{}, error) {
			return struct{}{}, r.fn(t.Context())
		}, backoff.WithBackOff(p.BackOff()))
		if err == nil || err.Error() != "c" {
			t.Errorf("backoff.Retry = %v, want the third error", err)
		}
		want := []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond}
		if diff := cmp.Diff(want, r.at); diff != "" {
			t.Errorf("attempt times mismatch (-want +got):\n%s", diff)
		}
	})

	bo := Policy{MaxAttempts: 2, Rand: fixed(0)}.BackOff()
	for round := range 2 {
		if got := bo.NextBackOff(); got != 0 {
			t.Errorf("round %d: first NextBackOff = %v, want 0", round, got)
		}
		if got := bo.NextBackOff(); got != backoff.Stop {
			t.Errorf("round %d: second NextBackOff = %v, want Stop", round, got)
		}
		bo.Reset()
	}
}
