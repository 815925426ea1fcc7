package fallback

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/llm"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const dep = "openai/gpt-4o"

func err429(retryAfter time.Duration) error {
	return &llm.Error{Kind: llm.KindRateLimited, Provider: "openai", Status: 429, RetryAfter: retryAfter}
}

func kindErr(k llm.Kind) error { return &llm.Error{Kind: k, Provider: "openai"} }

// op is one step of a cooldown scenario at a fixed instant (offset from t0):
//   - allow: Allow at the instant; the call gets the next index; wantOK and wantUntil
//     (offset; 0 means zero time) are checked;
//   - done: the done of call number call reports err at the instant;
//   - state: State at the instant must be wantState.
type op struct {
	at        time.Duration
	kind      string
	call      int
	err       error
	wantOK    bool
	wantUntil time.Duration
	wantState State
}

func allowOK(at time.Duration) op { return op{at: at, kind: "allow", wantOK: true} }
func allowNo(at, until time.Duration) op {
	return op{at: at, kind: "allow", wantOK: false, wantUntil: until}
}
func done(at time.Duration, call int, err error) op {
	return op{at: at, kind: "done", call: call, err: err}
}
func state(at time.Duration, s State) op { return op{at: at, kind: "state", wantState: s} }

const s = time.Second

func TestCooldownScenarios(t *testing.T) {
	t.Parallel()
	cfg := CooldownConfig{Cooldown: 10 * s, FailureThreshold: 3, MaxCooldown: 60 * s, ProbeTimeout: 30 * s}
	tests := []struct {
		name string
		ops  []op
	}{
		{"429 with Retry-After opens for it, probe success closes", []op{
			allowOK(0), // call 0
			done(1*s, 0, err429(7*s)),
			state(1*s, Open),
			allowNo(5*s, 8*s),
			state(8*s, HalfOpen),
			allowOK(8 * s),           // call 1: the probe
			allowNo(9*s, 38*s),       // others wait while it is out
			allowNo(37*s, 38*s),      //
			done(10*s, 1, nil),       // probe succeeds
			state(10*s, Closed),      //
			allowOK(10 * s),          // call 2
			done(11*s, 2, err429(0)), // no Retry-After: first backoff period again
			allowNo(12*s, 21*s),
		}},
		{"429 Retry-After capped at MaxCooldown", []op{
			allowOK(0),
			done(0, 0, err429(time.Hour)),
			allowNo(1*s, 60*s),
		}},
		{"consecutive failures open after the threshold", []op{
			allowOK(0), allowOK(0), allowOK(0), // calls 0..2
			done(1*s, 0, kindErr(llm.KindOverloaded)),
			done(1*s, 1, kindErr(llm.KindServer)),
			state(1*s, Closed),
			done(2*s, 2, kindErr(llm.KindTimeout)),
			state(2*s, Open),
			allowNo(3*s, 12*s),
		}},
		{"a success resets the failure count", []op{
			allowOK(0), allowOK(0), allowOK(0), allowOK(0), allowOK(0), // calls 0..4
			done(1*s, 0, kindErr(llm.KindConnection)),
			done(1*s, 1, kindErr(llm.KindConnection)),
			done(1*s, 2, nil),
			done(2*s, 3, kindErr(llm.KindConnection)),
			done(2*s, 4, kindErr(llm.KindConnection)),
			state(2*s, Closed),
		}},
		{"probe failure re-opens with doubling backoff up to the cap", []op{
			allowOK(0),
			done(0, 0, err429(0)), // open 10s
			allowNo(1*s, 10*s),
			allowOK(10 * s), // call 1 probe
			done(11*s, 1, kindErr(llm.KindOverloaded)), // open 20s
			allowNo(12*s, 31*s),
			allowOK(31 * s),                        // call 2 probe
			done(31*s, 2, kindErr(llm.KindServer)), // open 40s
			allowNo(32*s, 71*s),
			allowOK(71 * s),                         // call 3 probe
			done(71*s, 3, kindErr(llm.KindTimeout)), // 80s capped to 60s
			allowNo(72*s, 131*s),
			allowOK(131 * s), // call 4 probe
			done(131*s, 4, nil),
			state(131*s, Closed),
			allowOK(131 * s), // call 5: backoff was reset by the success
			done(131*s, 5, err429(0)),
			allowNo(132*s, 141*s),
		}},
		{"late results from an older generation are ignored", []op{
			allowOK(0), allowOK(0), allowOK(0), // calls 0..2, all in the first closed generation
			done(1*s, 0, err429(5*s)), // opens until 6s
			done(2*s, 1, nil),         // late success must not close it
			state(2*s, Open),
			allowOK(6 * s),                            // call 3: probe
			done(7*s, 2, kindErr(llm.KindOverloaded)), // late failure must not re-open it
			state(7*s, HalfOpen),
			allowNo(7*s, 36*s), // the probe is still out
			done(8*s, 3, nil),
			state(8*s, Closed),
		}},
		{"final errors do not count", []op{
			allowOK(0), allowOK(0), allowOK(0), allowOK(0), allowOK(0), allowOK(0),
			done(1*s, 0, kindErr(llm.KindBadRequest)),
			done(1*s, 1, kindErr(llm.KindContextLength)),
			done(1*s, 2, kindErr(llm.KindTooLarge)),
			done(1*s, 3, kindErr(llm.KindUnknown)),
			done(1*s, 4, context.Canceled),
			done(1*s, 5, fmt.Errorf("wrapped: %w", kindErr(llm.KindBadRequest))),
			state(1*s, Closed),
			allowOK(1 * s),
		}},
		{"final errors between failures do not reset the count", []op{
			allowOK(0), allowOK(0), allowOK(0), allowOK(0),
			done(1*s, 0, kindErr(llm.KindServer)),
			done(1*s, 1, kindErr(llm.KindBadRequest)),
			done(1*s, 2, kindErr(llm.KindServer)),
			done(1*s, 3, fmt.Errorf("attempt 2: %w", kindErr(llm.KindServer))),
			state(1*s, Open),
		}},
		{"auth and exhausted quota open for MaxCooldown", []op{
			allowOK(0),
			done(0, 0, kindErr(llm.KindAuth)),
			allowNo(1*s, 60*s),
			allowOK(60 * s),
			done(60*s, 1, kindErr(llm.KindQuotaExhausted)),
			allowNo(61*s, 120*s),
		}},
		{"a neutral probe result frees the probe slot", []op{
			allowOK(0),
			done(0, 0, err429(0)),
			allowOK(10 * s), // call 1 probe
			allowNo(10*s, 40*s),
			done(11*s, 1, kindErr(llm.KindContextLength)),
			state(11*s, HalfOpen),
			allowOK(11 * s), // call 2: next probe
			allowNo(11*s, 41*s),
		}},
		{"a lost probe is replaced after ProbeTimeout and its late result ignored", []op{
			allowOK(0),
			done(0, 0, err429(0)),
			allowOK(10 * s),     // call 1 probe, never answered in time
			allowNo(39*s, 40*s), //
			allowOK(40 * s),     // call 2 replaces it
			done(41*s, 1, kindErr(llm.KindOverloaded)),
			state(41*s, HalfOpen),
			done(42*s, 2, nil),
			state(42*s, Closed),
		}},
		{"done twice counts once", []op{
			allowOK(0), allowOK(0),
			done(1*s, 0, kindErr(llm.KindServer)),
			done(1*s, 0, kindErr(llm.KindServer)),
			done(1*s, 0, kindErr(llm.KindServer)),
			done(1*s, 1, kindErr(llm.KindServer)),
			state(1*s, Closed),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewCooldowns(cfg)
			var calls []func(error, time.Time)
			for i, o := range tt.ops {
				now := t0.Add(o.at)
				switch o.kind {
				case "allow":
					d, until, ok := c.Allow(dep, now)
					var wantUntil time.Time
					if !o.wantOK {
						wantUntil = t0.Add(o.wantUntil)
					}
					if ok != o.wantOK || !until.Equal(wantUntil) {
						t.Fatalf("op %d: Allow(+%v) = until +%v, %v; want until +%v, %v",
							i, o.at, until.Sub(t0), ok, wantUntil.Sub(t0), o.wantOK)
					}
					if ok {
						calls = append(calls, d)
					}
				case "done":
					calls[o.call](o.err, now)
				case "state":
					if got := c.State(dep, now); got != o.wantState {
						t.Fatalf("op %d: State(+%v) = %v, want %v", i, o.at, got, o.wantState)
					}
				}
			}
		})
	}
}

func TestCooldownsIndependentDeployments(t *testing.T) {
	t.Parallel()
	c := NewCooldowns(CooldownConfig{})
	d, _, _ := c.Allow("openai/gpt-4o", t0)
	d(err429(0), t0)
	if got := c.State("openai/gpt-4o", t0); got != Open {
		t.Errorf("State(openai/gpt-4o) = %v, want open", got)
	}
	if _, _, ok := c.Allow("azure/gpt-4o", t0); !ok {
		t.Error("Allow(azure/gpt-4o) = false, want true: deployments cool down separately")
	}
	if _, until, _ := c.Allow("openai/gpt-4o", t0); !until.Equal(t0.Add(DefaultCooldown)) {
		t.Errorf("until = %v, want the default cooldown %v", until, t0.Add(DefaultCooldown))
	}
}

func TestCooldownsNoStateForNeutralResults(t *testing.T) {
	t.Parallel()
	c := NewCooldowns(CooldownConfig{})
	for i := range 100 {
		d, _, _ := c.Allow(fmt.Sprintf("openai/no-such-model-%d", i), t0)
		d(kindErr(llm.KindBadRequest), t0)
	}
	if got := len(c.m); got != 0 {
		t.Errorf("deployments with state = %d, want 0", got)
	}
}

func TestCooldownConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     CooldownConfig
		wantErr string
	}{
		{"zero", CooldownConfig{}, ""},
		{"negative cooldown", CooldownConfig{Cooldown: -1}, "Cooldown"},
		{"negative threshold", CooldownConfig{FailureThreshold: -1}, "FailureThreshold"},
		{"negative max", CooldownConfig{MaxCooldown: -1}, "MaxCooldown"},
		{"negative probe timeout", CooldownConfig{ProbeTimeout: -1}, "ProbeTimeout"},
		{"max below cooldown", CooldownConfig{Cooldown: time.Minute, MaxCooldown: time.Second}, "MaxCooldown"},
		{"cooldown above default max", CooldownConfig{Cooldown: time.Hour}, "MaxCooldown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate() = %v, want error naming %q", err, tt.wantErr)
			}
		})
	}
}

// TestCooldownsConcurrent drives one deployment from many goroutines through trips and
// probes (under -race it checks the locking), then checks that when many callers arrive
// at once at a half-open deployment exactly one of them gets the probe.
func TestCooldownsConcurrent(t *testing.T) {
	t.Parallel()
	c := NewCooldowns(CooldownConfig{Cooldown: s, FailureThreshold: 2, MaxCooldown: 4 * s})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 400 {
				now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
				c.State(dep, now)
				d, _, ok := c.Allow(dep, now)
				if !ok {
					continue
				}
				var err error
				switch (g + i) % 4 {
				case 0:
					err = kindErr(llm.KindServer)
				case 1:
					err = err429(time.Duration(i%3) * s)
				}
				d(err, now)
			}
		})
	}
	wg.Wait()

	c = NewCooldowns(CooldownConfig{Cooldown: s})
	d, _, _ := c.Allow(dep, t0)
	d(err429(0), t0)
	probeAt := t0.Add(s)
	var (
		mu      sync.Mutex
		allowed int
	)
	for range 16 {
		wg.Go(func() {
			if _, _, ok := c.Allow(dep, probeAt); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 1 {
		t.Errorf("half-open Allow succeeded %d times, want exactly 1", allowed)
	}
}

func BenchmarkAllowClosed(b *testing.B) {
	c := NewCooldowns(CooldownConfig{})
	b.ReportAllocs()
	for b.Loop() {
		d, _, _ := c.Allow(dep, t0)
		d(nil, t0)
	}
}

func BenchmarkAllowOpen(b *testing.B) {
	c := NewCooldowns(CooldownConfig{})
	d, _, _ := c.Allow(dep, t0)
	d(err429(time.Hour), t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := c.Allow(dep, t0); ok {
			b.Fatal("allowed")
		}
	}
}
