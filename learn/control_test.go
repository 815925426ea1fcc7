package learn_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/llm"
)

const run = 11 * time.Minute // a warm-up window, then ten measured

// raised is a raise to 200 RPM that nothing states (headers hidden, and no refusal while
// the limit holds under it): the learner finds it by probing above the limit a refusal's
// message stated, after holding it for Config.Hold (3 minutes) and climbing in steps
// (under 2 minutes from 60). Its warm-up window covers both; ten minutes are measured.
var raised = phase{hide(emulator.Limits{RPM: 200}), raisedWarmup + 10*time.Minute}

const raisedWarmup = 6 * time.Minute

func hide(l emulator.Limits) emulator.Limits { l.Hidden = true; return l }

var scenarios = []scenario{
	{name: "requests, headers", format: llm.OpenAI, model: "gpt-4o-mini",
		phases: []phase{{emulator.Limits{RPM: 120}, run}}},
	{name: "requests, hidden, 429 states limit", format: llm.OpenAI, model: "gpt-4o-mini",
		phases: []phase{{hide(emulator.Limits{RPM: 120}), run}}},
	{name: "requests, hidden, 429 names unit", format: llm.OpenAI, model: "gpt-4o-mini", dialect: "azure",
		phases: []phase{{hide(emulator.Limits{RPM: 120}), run}}},
	{name: "requests, hidden, bare 429", format: llm.OpenAI, model: "gpt-4o-mini", strip: true,
		phases: []phase{{hide(emulator.Limits{RPM: 120}), run}}},
	{name: "tokens, headers", format: llm.OpenAI, model: "gpt-4o-mini",
		phases: []phase{{emulator.Limits{TPM: 60_000}, run}}},
	{name: "tokens, hidden, 429 names unit", format: llm.OpenAI, model: "gpt-4o-mini", dialect: "azure",
		phases: []phase{{hide(emulator.Limits{TPM: 60_000}), run}}},
	{name: "both, headers", format: llm.OpenAI, model: "gpt-4o-mini",
		phases: []phase{{emulator.Limits{RPM: 120, TPM: 60_000}, run}}},
	{name: "both, hidden, 429 names unit", format: llm.OpenAI, model: "gpt-4o-mini", dialect: "azure",
		phases: []phase{{hide(emulator.Limits{RPM: 120, TPM: 60_000}), run}}},
	{name: "anthropic in+out, headers", format: llm.Anthropic, model: "claude-sonnet-4-5",
		phases: []phase{{emulator.Limits{RPM: 1000, ITPM: 30_000, OTPM: 12_000}, run}}},
	{name: "anthropic in+out, hidden", format: llm.Anthropic, model: "claude-sonnet-4-5",
		phases: []phase{{hide(emulator.Limits{RPM: 1000, ITPM: 30_000, OTPM: 12_000}), run}}},
	{name: "anthropic in+out, hidden, bare 429", format: llm.Anthropic, model: "claude-sonnet-4-5", strip: true,
		phases: []phase{{hide(emulator.Limits{RPM: 1000, ITPM: 30_000, OTPM: 12_000}), run}}},
	{name: "requests 120→60→200, headers", format: llm.OpenAI, model: "gpt-4o-mini",
		phases: []phase{{emulator.Limits{RPM: 120}, run}, {emulator.Limits{RPM: 60}, run}, {emulator.Limits{RPM: 200}, run}}},
	{name: "requests 120→60→200, hidden, 429 states limit", format: llm.OpenAI, model: "gpt-4o-mini",
		phases: []phase{{hide(emulator.Limits{RPM: 120}), run}, {hide(emulator.Limits{RPM: 60}), run}, raised},
		warmup: []time.Duration{2: raisedWarmup}},
	{name: "requests 120→60→200, hidden", format: llm.OpenAI, model: "gpt-4o-mini", dialect: "azure",
		phases: []phase{{hide(emulator.Limits{RPM: 120}), run}, {hide(emulator.Limits{RPM: 60}), run}, {hide(emulator.Limits{RPM: 200}), run}}},
}

// wantStated checks that every limit the provider's headers stated is the one enforced at
// the end of phase (refusals say its window is spent, and never cut it), and that a limit
// stated only by a refusal's message is enforced at least: it is probed above, to find a
// raise that nothing would state, and cut back no lower than the statement.
func wantStated(t *testing.T, phase int, learned []learn.Limit) {
	t.Helper()
	for _, l := range learned {
		switch {
		case l.Stated == 0:
		case l.Source == learn.SourceHeaders && (l.Limit != l.Stated || l.Decreases != 0):
			t.Errorf("phase %d: %s limit %d (%s, %d cuts), want the stated %d and no cut", phase, l.Dim, l.Limit, l.Source, l.Decreases, l.Stated)
		case l.Limit < l.Stated:
			t.Errorf("phase %d: %s limit %d (%s), want at least the stated %d", phase, l.Dim, l.Limit, l.Source, l.Stated)
		}
	}
}

// whole renders the figures of a phase that follows a change of the limits, warm-up
// included: what adapting cost.
func whole(r result) string {
	if r.whole == nil {
		return ""
	}
	return fmt.Sprintf("%.1f%%, %.2f%%", 100*r.whole.used, 100*r.whole.refused)
}

func TestControlLoop(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.agents, sc.maxTokens = 20, 256
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
		})
	}
}

// TestControlLoopDemand: the targets hold from a demand just above the limit to one many
// times over it, and a demand under the limit teaches nothing and is never held back.
func TestControlLoopDemand(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		agents int
		limits emulator.Limits
		desc   string
	}{
		{3, emulator.Limits{RPM: 120}, "120 RPM"},
		{100, emulator.Limits{RPM: 120}, "120 RPM"},
		{3, emulator.Limits{TPM: 60_000}, "60k TPM"},
		{100, emulator.Limits{TPM: 60_000}, "60k TPM"},
		{50, emulator.Limits{RPM: 500}, "500 RPM"},
		{2, emulator.Limits{RPM: 1000}, "1000 RPM, demand under it"},
	} {
		name := fmt.Sprintf("%d agents, %s, hidden", c.agents, c.desc)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc := scenario{name: name, format: llm.OpenAI, model: "gpt-4o-mini", dialect: "azure",
				phases: []phase{{hide(c.limits), run}}, agents: c.agents, maxTokens: 256}
			s := newSim(t, &sc, learn.Config{})
			r := s.run(time.Minute)[0]
			t.Logf("| %s | %.1f%% | %.2f%% | %d |", name, 100*r.used, 100*r.refused, r.calls)
			if c.agents == 2 {
				if len(r.learned) != 0 || r.refused != 0 {
					t.Errorf("under the limit: learned %+v, %.2f%% refused; want nothing", r.learned, 100*r.refused)
				}
				return
			}
			if r.used < 0.97 || r.refused > 0.01 {
				t.Errorf("%.1f%% of the capacity used, %.2f%% of %d calls refused; want at least 97%% and at most 1%%",
					100*r.used, 100*r.refused, r.calls)
			}
		})
	}
}
