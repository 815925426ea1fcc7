package learn_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/llm"
)

// TestControlLoopReplicas runs the control loop with three replicas that learn apart and
// share through a real Redis: what one learns, the others use.
func TestControlLoopReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := redis.NewClient(srv.Options())
	t.Cleanup(func() { client.Close() })
	for i, sc := range []scenario{
		// The fleet's startup burst, before any replica learned the limit, spends the
		// provider's window; its refusals must not cut the limit the headers state.
		{name: "3 replicas, requests, headers", format: llm.OpenAI, model: "gpt-4o-mini",
			phases: []phase{{emulator.Limits{RPM: 120}, run}}},
		{name: "3 replicas, requests, hidden, 429 states limit", format: llm.OpenAI, model: "gpt-4o-mini",
			phases: []phase{{hide(emulator.Limits{RPM: 120}), run}}},
		// The raise to 200 is stated by nothing: headers are hidden, and no refusal comes
		// while the limit holds at 60. Probing above the stated limit finds it.
		{name: "3 replicas, requests 120→60→200, hidden, 429 states limit", format: llm.OpenAI, model: "gpt-4o-mini",
			phases: []phase{{hide(emulator.Limits{RPM: 120}), run}, {hide(emulator.Limits{RPM: 60}), run}, raised},
			warmup: []time.Duration{2: raisedWarmup}},
		{name: "3 replicas, requests 120→60→200, headers", format: llm.OpenAI, model: "gpt-4o-mini",
			phases: []phase{{emulator.Limits{RPM: 120}, run}, {emulator.Limits{RPM: 60}, run}, {emulator.Limits{RPM: 200}, run}}},
		{name: "3 replicas, requests, hidden", format: llm.OpenAI, model: "gpt-4o-mini", dialect: "azure",
			phases: []phase{{hide(emulator.Limits{RPM: 120}), run}}},
		{name: "3 replicas, tokens, hidden", format: llm.OpenAI, model: "gpt-4o-mini", dialect: "azure",
			phases: []phase{{hide(emulator.Limits{TPM: 60_000}), run}}},
		{name: "3 replicas, requests 120→60→200, hidden", format: llm.OpenAI, model: "gpt-4o-mini", dialect: "azure",
			phases: []phase{{hide(emulator.Limits{RPM: 120}), run}, {hide(emulator.Limits{RPM: 60}), run}, {hide(emulator.Limits{RPM: 200}), run}}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			shared, err := learn.NewRedis(client, learn.RedisConfig{Prefix: fmt.Sprintf("test%d:", i)})
			if err != nil {
				t.Fatal(err)
			}
			sc.agents, sc.maxTokens, sc.replicas, sc.shared = 21, 256, 3, shared
			s := newSim(t, &sc, learn.Config{})
			for i, r := range s.run(time.Minute) {
				var lim []string
				for _, l := range r.learned {
					lim = append(lim, fmt.Sprintf("%s %d (%s)", l.Dim, l.Limit, l.Source))
				}
				t.Logf("| %s | %d | %.1f%% | %.2f%% | %d | %s | %s |", sc.name, i+1, 100*r.used, 100*r.refused, r.calls, whole(r), strings.Join(lim, ", "))
				wantStated(t, i+1, r.learned)
				if r.used < 0.97 || r.refused > 0.01 {
					t.Errorf("phase %d: %.1f%% of the capacity used, %.2f%% of %d calls refused; want at least 97%% and at most 1%%",
						i+1, 100*r.used, 100*r.refused, r.calls)
				}
			}
			// Every replica enforces what the fleet learned.
			want := s.ls[0].Status()
			for i, l := range s.ls[1:] {
				got := l.Status()
				for j := range min(len(got), len(want)) {
					if got[j].Limit != want[j].Limit {
						t.Errorf("replica %d: %s limit %d, replica 0: %d", i+1, got[j].Dim, got[j].Limit, want[j].Limit)
					}
				}
			}
		})
	}
}
