package fallback

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/llm"
)

// TestBreakersReset: Breakers lists the deployments that failed with their state, and
// Reset closes one at once, ignoring results of calls made before it.
func TestBreakersReset(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	c := NewCooldowns(CooldownConfig{Cooldown: 10 * time.Second, FailureThreshold: 2})
	fail := func(dep string, err error) {
		t.Helper()
		done, _, ok := c.Allow(dep, t0)
		if !ok {
			t.Fatalf("Allow(%s) refused", dep)
		}
		done(err, t0)
	}
	limited := &llm.Error{Kind: llm.KindRateLimited, RetryAfter: 30 * time.Second}
	server := &llm.Error{Kind: llm.KindServer}
	fail("openai/gpt-4o", limited)
	fail("anthropic/claude-sonnet-4-5", server)
	fail("openai/gpt-4o-mini", errors.New("not an upstream error: ignored"))

	want := []Breaker{
		{Deployment: "anthropic/claude-sonnet-4-5", State: Closed, Failures: 1},
		{Deployment: "openai/gpt-4o", State: Open, Until: t0.Add(30 * time.Second), Trips: 1},
	}
	if diff := cmp.Diff(want, c.Breakers(t0)); diff != "" {
		t.Errorf("Breakers() (-want +got):\n%s", diff)
	}
	want[1].State, want[1].Until = HalfOpen, time.Time{}
	if diff := cmp.Diff(want, c.Breakers(t0.Add(31*time.Second))); diff != "" {
		t.Errorf("Breakers() after the open period (-want +got):\n%s", diff)
	}

	late, _, ok := c.Allow("anthropic/claude-sonnet-4-5", t0)
	if !ok {
		t.Fatal("Allow() refused")
	}
	if !c.Reset("openai/gpt-4o") || !c.Reset("anthropic/claude-sonnet-4-5") {
		t.Error("Reset() of a deployment with state = false")
	}
	if c.Reset("openai/never-failed") {
		t.Error("Reset() of a deployment without state = true")
	}
	if got := c.State("openai/gpt-4o", t0); got != Closed {
		t.Errorf("State() after Reset = %v, want closed", got)
	}
	late(server, t0) // made before the reset: must not count
	fail("anthropic/claude-sonnet-4-5", server)
	if got := c.State("anthropic/claude-sonnet-4-5", t0); got != Closed {
		t.Errorf("State() = %v after one failure since the reset (threshold 2), want closed: the late result counted", got)
	}
}
