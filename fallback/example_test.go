package fallback_test

import (
	"fmt"
	"time"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
)

func Example() {
	steps, err := fallback.ParseChain("openai/gpt-4o -> openai/gpt-4o-mini -> cached -> static")
	if err != nil {
		fmt.Println(err)
		return
	}
	steps[len(steps)-1].Message = "The assistant is busy; please try again shortly."
	routes, err := fallback.NewRoutes(fallback.Route{Name: "default", Steps: steps})
	if err != nil {
		fmt.Println(err)
		return
	}
	cooldowns := fallback.NewCooldowns(fallback.CooldownConfig{})
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	// An earlier call to gpt-4o was refused with a 429 asking for 3 seconds.
	done, _, _ := cooldowns.Allow("openai/gpt-4o", now)
	done(&llm.Error{Kind: llm.KindRateLimited, Provider: "openai", Status: 429, RetryAfter: 3 * time.Second}, now)

	// The next request walks the chain.
	route, _ := routes.Lookup("default")
	var out fallback.Outcome
	for _, step := range route.Steps {
		if step.Kind != fallback.StepModel {
			break
		}
		done, until, ok := cooldowns.Allow(step.Deployment(), now)
		if !ok {
			out.Record(fallback.Attempt{Model: step.Model, Provider: step.Provider, Result: fallback.Skipped,
				Reason: "cooldown until " + until.Format(time.TimeOnly)})
			continue
		}
		done(nil, now) // the upstream answered
		out.Record(fallback.Attempt{Model: step.Model, Provider: step.Provider, Result: fallback.Served})
		break
	}
	fmt.Println(out.String())
	fmt.Println(cooldowns.State("openai/gpt-4o", now.Add(3*time.Second)))
	// Output:
	// served=gpt-4o-mini stale=false clamped=0 fallback="openai/gpt-4o: cooldown until 12:00:03" attempts=[openai/gpt-4o skipped (cooldown until 12:00:03); openai/gpt-4o-mini served]
	// half-open
}
