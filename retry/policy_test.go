package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/llm"
)

// fixed returns a Rand that always draws r.
func fixed(r float64) func() float64 { return func() float64 { return r } }

func upstream(k llm.Kind) error {
	return &llm.Error{Kind: k, Provider: "openai", Status: 500}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		p       Policy
		wantErr string // a substring naming the field; "" for valid
	}{
		{"zero", Policy{}, ""},
		{"explicit", Policy{MaxAttempts: 5, Initial: time.Second, Max: 10 * time.Second, Multiplier: 1.5, MaxServerWait: time.Minute}, ""},
		{"one attempt", Policy{MaxAttempts: 1}, ""},
		{"multiplier one", Policy{Multiplier: 1}, ""},
		{"negative attempts", Policy{MaxAttempts: -1}, "Policy.MaxAttempts"},
		{"negative initial", Policy{Initial: -time.Second}, "Policy.Initial"},
		{"negative max", Policy{Max: -time.Second}, "Policy.Max"},
		{"multiplier below one", Policy{Multiplier: 0.5}, "Policy.Multiplier"},
		{"multiplier negative", Policy{Multiplier: -2}, "Policy.Multiplier"},
		{"multiplier NaN", Policy{Multiplier: math.NaN()}, "Policy.Multiplier"},
		{"multiplier Inf", Policy{Multiplier: math.Inf(1)}, "Policy.Multiplier"},
		{"negative server wait", Policy{MaxServerWait: -1}, "Policy.MaxServerWait"},
		{"max below initial", Policy{Initial: 2 * time.Second, Max: time.Second}, "Policy.Max"},
		{"default max below initial", Policy{Initial: time.Minute}, "Policy.Max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestPolicyCeiling(t *testing.T) {
	t.Parallel()
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{-3, 100 * time.Millisecond}, // below 1 counts as the first retry
		{0, 100 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{64, time.Second},
		{100000, time.Second}, // Multiplier^n is +Inf
	}
	for _, tt := range tests {
		if got := p.Ceiling(tt.n); got != tt.want {
			t.Errorf("Ceiling(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	if got, want := (Policy{}).Ceiling(1), DefaultInitial; got != want {
		t.Errorf("zero Policy Ceiling(1) = %v, want %v", got, want)
	}
	if got, want := (Policy{}).Ceiling(100), DefaultMax; got != want {
		t.Errorf("zero Policy Ceiling(100) = %v, want %v", got, want)
	}
}

func TestPolicyBackoffJitterBounds(t *testing.T) {
	t.Parallel()
	base := Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	tests := []struct {
		name string
		r    float64
		n    int
		want time.Duration
	}{
		{"draw 0 waits nothing", 0, 3, 0},
		{"draw half of first", 0.5, 1, 50 * time.Millisecond},
		{"draw half of third", 0.5, 3, 200 * time.Millisecond},
		{"draw near 1 stays below ceiling", 0.999, 2, 199800 * time.Microsecond},
		{"draw capped by Max", 0.25, 10, 250 * time.Millisecond},
		{"rand above 1 clamps to ceiling", 7, 1, 100 * time.Millisecond},
		{"rand negative clamps to 0", -1, 1, 0},
		{"rand NaN clamps to 0", math.NaN(), 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := base
			p.Rand = fixed(tt.r)
			if got := p.Backoff(tt.n); got != tt.want {
				t.Errorf("Backoff(%d) with Rand %v = %v, want %v", tt.n, tt.r, got, tt.want)
			}
		})
	}

	// With the default Rand, every draw lies in [0, ceiling).
	for n := 1; n <= 8; n++ {
		ceiling := base.Ceiling(n)
		for range 1000 {
			if got := base.Backoff(n); got < 0 || got >= ceiling {
				t.Fatalf("Backoff(%d) = %v, want in [0, %v)", n, got, ceiling)
			}
		}
	}
}

func TestPolicyNext(t *testing.T) {
	t.Parallel()
	p := Policy{
		MaxAttempts:   3,
		Initial:       time.Second,
		Max:           10 * time.Second,
		Multiplier:    2,
		MaxServerWait: 30 * time.Second,
		Rand:          fixed(0.5),
	}
	serverWait := func(k llm.Kind, d time.Duration) error {
		return &llm.Error{Kind: k, Provider: "anthropic", Status: 429, RetryAfter: d}
	}
	noDeadline := time.Time{}
	tests := []struct {
		name     string
		attempt  int
		err      error
		deadline time.Time
		want     Decision
	}{
		{"success", 1, nil, noDeadline, Decision{Reason: ReasonSuccess}},

		// Every kind.
		{"unknown", 1, upstream(llm.KindUnknown), noDeadline, Decision{Reason: ReasonFinal}},
		{"rate limited", 1, upstream(llm.KindRateLimited), noDeadline, Decision{Retry: true, Wait: 500 * time.Millisecond, Reason: ReasonBackoff}},
		{"overloaded", 1, upstream(llm.KindOverloaded), noDeadline, Decision{Retry: true, Wait: 500 * time.Millisecond, Reason: ReasonBackoff}},
		{"server", 1, upstream(llm.KindServer), noDeadline, Decision{Retry: true, Wait: 500 * time.Millisecond, Reason: ReasonBackoff}},
		{"timeout", 1, upstream(llm.KindTimeout), noDeadline, Decision{Retry: true, Wait: 500 * time.Millisecond, Reason: ReasonBackoff}},
		{"connection", 1, upstream(llm.KindConnection), noDeadline, Decision{Retry: true, Wait: 500 * time.Millisecond, Reason: ReasonBackoff}},
		{"context length", 1, upstream(llm.KindContextLength), noDeadline, Decision{Reason: ReasonFinal}},
		{"bad request", 1, upstream(llm.KindBadRequest), noDeadline, Decision{Reason: ReasonFinal}},
		{"auth", 1, upstream(llm.KindAuth), noDeadline, Decision{Reason: ReasonFinal}},
		{"quota exhausted", 1, upstream(llm.KindQuotaExhausted), noDeadline, Decision{Reason: ReasonFinal}},
		{"too large", 1, upstream(llm.KindTooLarge), noDeadline, Decision{Reason: ReasonFinal}},
		{"quota exhausted with retry-after", 1, serverWait(llm.KindQuotaExhausted, time.Second), noDeadline, Decision{Reason: ReasonFinal}},

		// Errors that are not upstream failures.
		{"own budget refusal", 1, errors.New("tollgate: budget exhausted"), noDeadline, Decision{Reason: ReasonFinal}},
		{"context canceled", 1, context.Canceled, noDeadline, Decision{Reason: ReasonFinal}},
		{"wrapped upstream", 1, fmt.Errorf("call: %w", upstream(llm.KindOverloaded)), noDeadline, Decision{Retry: true, Wait: 500 * time.Millisecond, Reason: ReasonBackoff}},

		// Backoff grows with the attempt.
		{"second retry", 2, upstream(llm.KindServer), noDeadline, Decision{Retry: true, Wait: time.Second, Reason: ReasonBackoff}},
		{"attempt 0 counts as first", 0, upstream(llm.KindServer), noDeadline, Decision{Retry: true, Wait: 500 * time.Millisecond, Reason: ReasonBackoff}},

		// Attempts exhausted.
		{"attempts exhausted", 3, upstream(llm.KindServer), noDeadline, Decision{Reason: ReasonAttempts}},
		{"attempts beyond", 9, upstream(llm.KindServer), noDeadline, Decision{Reason: ReasonAttempts}},
		{"final wins over attempts", 3, upstream(llm.KindAuth), noDeadline, Decision{Reason: ReasonFinal}},

		// Server wait against the cap.
		{"server wait", 1, serverWait(llm.KindRateLimited, 7*time.Second), noDeadline, Decision{Retry: true, Wait: 7 * time.Second, Reason: ReasonServer}},
		{"server wait beyond backoff max", 2, serverWait(llm.KindRateLimited, 25*time.Second), noDeadline, Decision{Retry: true, Wait: 25 * time.Second, Reason: ReasonServer}},
		{"server wait at cap", 1, serverWait(llm.KindRateLimited, 30*time.Second), noDeadline, Decision{Retry: true, Wait: 30 * time.Second, Reason: ReasonServer}},
		{"server wait over cap", 1, serverWait(llm.KindRateLimited, 31*time.Second), noDeadline, Decision{Reason: ReasonServerLong}},
		{"server wait zero uses backoff", 1, serverWait(llm.KindOverloaded, 0), noDeadline, Decision{Retry: true, Wait: 500 * time.Millisecond, Reason: ReasonBackoff}},
		{"server wait negative uses backoff", 1, serverWait(llm.KindOverloaded, -time.Second), noDeadline, Decision{Retry: true, Wait: 500 * time.Millisecond, Reason: ReasonBackoff}},
		{"attempts before server wait", 3, serverWait(llm.KindRateLimited, time.Second), noDeadline, Decision{Reason: ReasonAttempts}},

		// Deadline cutoff.
		{"deadline after wait", 1, upstream(llm.KindServer), t0.Add(501 * time.Millisecond), Decision{Retry: true, Wait: 500 * time.Millisecond, Reason: ReasonBackoff}},
		{"deadline at end of wait", 1, upstream(llm.KindServer), t0.Add(500 * time.Millisecond), Decision{Reason: ReasonDeadline}},
		{"deadline within wait", 1, upstream(llm.KindServer), t0.Add(100 * time.Millisecond), Decision{Reason: ReasonDeadline}},
		{"deadline passed", 1, upstream(llm.KindServer), t0.Add(-time.Second), Decision{Reason: ReasonDeadline}},
		{"deadline within server wait", 1, serverWait(llm.KindRateLimited, 7*time.Second), t0.Add(5 * time.Second), Decision{Reason: ReasonDeadline}},
		{"server cap before deadline", 1, serverWait(llm.KindRateLimited, time.Hour), t0.Add(time.Second), Decision{Reason: ReasonServerLong}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := p.Next(tt.attempt, tt.err, t0, tt.deadline)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Next(%d, %v, t0, %v) mismatch (-want +got):\n%s", tt.attempt, tt.err, tt.deadline, diff)
			}
		})
	}
}

func TestPolicyNextZeroValue(t *testing.T) {
	t.Parallel()
	p := Policy{Rand: fixed(1)} // every default but the draw, taken at its ceiling
	err := upstream(llm.KindOverloaded)
	want := []Decision{
		{Retry: true, Wait: DefaultInitial, Reason: ReasonBackoff},
		{Retry: true, Wait: 2 * DefaultInitial, Reason: ReasonBackoff},
		{Reason: ReasonAttempts},
	}
	for i, w := range want {
		if got := p.Next(i+1, err, t0, time.Time{}); got != w {
			t.Errorf("Next(%d) = %+v, want %+v", i+1, got, w)
		}
	}
	long := &llm.Error{Kind: llm.KindRateLimited, RetryAfter: DefaultMaxServerWait + time.Nanosecond}
	if got := p.Next(1, long, t0, time.Time{}); got.Reason != ReasonServerLong {
		t.Errorf("Next with RetryAfter just over the default cap = %+v, want reason %s", got, ReasonServerLong)
	}
}

func BenchmarkPolicyNext(b *testing.B) {
	p := Policy{}
	err := upstream(llm.KindOverloaded)
	deadline := t0.Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		p.Next(1, err, t0, deadline)
	}
}
