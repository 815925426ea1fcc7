// Package fallback decides where a request may go: routes (ordered chains of models ending,
// optionally, in a cached or static answer), per-deployment cooldowns (a circuit breaker
// fed by 429s and failures), and the Outcome that records which step served and why the
// others did not.
//
// The engine walks a Route's Steps in order. For each model step it asks Cooldowns.Allow
// for the step's deployment, checks the context window and the budget, calls, reports the
// result to the done func Allow returned, and records each step in an Outcome.
package fallback

import (
	"errors"
	"fmt"
	"strings"
)

// StepKind says what a Step does.
type StepKind int

// The kinds of step. The zero StepKind is StepModel.
const (
	StepModel  StepKind = iota // call a model
	StepCached                 // serve a cached answer to the same request, stale if need be
	StepStatic                 // serve a configured static answer
)

func (k StepKind) String() string {
	switch k {
	case StepModel:
		return "model"
	case StepCached:
		return "cached"
	case StepStatic:
		return "static"
	}
	return fmt.Sprintf("StepKind(%d)", int(k))
}

// Step is one stage of a Route.
type Step struct {
	// Model is the model id for a StepModel; empty for the others.
	Model string
	// Provider names the upstream ("openai", "anthropic"); empty lets the engine infer it
	// from the model.
	Provider string
	Kind     StepKind
	// Message is the answer text of a StepStatic.
	Message string
}

// Deployment returns the step's cooldown key, "provider/model", or the model alone when
// Provider is empty.
func (s Step) Deployment() string { return Deployment(s.Provider, s.Model) }

// String returns the step in ParseChain's compact form.
func (s Step) String() string {
	if s.Kind == StepModel {
		return s.Deployment()
	}
	return s.Kind.String()
}

// Deployment names one provider's model, the unit that cools down: "openai/gpt-4o".
func Deployment(provider, model string) string {
	if provider == "" {
		return model
	}
	return provider + "/" + model
}

// Route is a named fallback chain and its policies.
type Route struct {
	Name  string
	Steps []Step
	// CacheFirst asks for a fresh cache lookup before the first paid call.
	CacheFirst bool
	// ClampMaxTokens lets a model step run with max_tokens lowered to what the remaining
	// budget can pay for, instead of skipping the step.
	ClampMaxTokens bool
}

// ErrInvalidRoute is wrapped by every error of Route.Validate and ParseChain.
var ErrInvalidRoute = errors.New("fallback: invalid route")

// Validate checks the route. The rules:
//   - Name is not empty and Steps has at least one model step;
//   - a model step has a well-formed Model (and Provider, if set), and no deployment
//     appears twice (repeating one is the retry layer's job, not the chain's);
//   - cached and static are last resorts: once one appears only cached or static may
//     follow, each at most once, and static, which always answers, comes last;
//   - a static step has a Message;
//   - no unknown StepKind.
func (r Route) Validate() error {
	if r.Name == "" {
		return fmt.Errorf("%w: empty Name", ErrInvalidRoute)
	}
	if err := validateSteps(r.Steps); err != nil {
		return fmt.Errorf("route %q: %w", r.Name, err)
	}
	for i, s := range r.Steps {
		if s.Kind == StepStatic && s.Message == "" {
			return fmt.Errorf("route %q: %w: step %d: static step without a Message", r.Name, ErrInvalidRoute, i)
		}
	}
	return nil
}

// validateSteps checks everything but static messages, which ParseChain cannot carry.
func validateSteps(steps []Step) error {
	if len(steps) == 0 {
		return fmt.Errorf("%w: no steps", ErrInvalidRoute)
	}
	seen := make(map[string]bool, len(steps))
	models := 0
	lastResort := false
	for i, s := range steps {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: step %d (%s): %s", ErrInvalidRoute, i, s, fmt.Sprintf(format, a...))
		}
		switch s.Kind {
		case StepModel:
			if lastResort {
				return bad("a model step after cached or static is never reached")
			}
			if err := checkName(s.Model); err != nil {
				return bad("model %v", err)
			}
			if s.Provider != "" {
				if err := checkName(s.Provider); err != nil {
					return bad("provider %v", err)
				}
				if strings.Contains(s.Provider, "/") {
					return bad("provider %q contains '/'", s.Provider)
				}
			}
			if d := s.Deployment(); seen[d] {
				return bad("deployment %q appears twice", d)
			} else {
				seen[d] = true
			}
			models++
		case StepCached, StepStatic:
			if s.Model != "" || s.Provider != "" {
				return bad("%s step with a model", s.Kind)
			}
			if seen[s.Kind.String()] {
				return bad("%s appears twice", s.Kind)
			}
			seen[s.Kind.String()] = true
			if s.Kind == StepStatic && i != len(steps)-1 {
				return bad("static always answers, so it must be the last step")
			}
			lastResort = true
		default:
			return bad("unknown step kind")
		}
	}
	if models == 0 {
		return fmt.Errorf("%w: no model step", ErrInvalidRoute)
	}
	return nil
}

// checkName accepts the characters of real model ids ("gpt-4o-2024-08-06",
// "claude-3-5-haiku@20241022", "ft:gpt-4o-mini:org::id", "meta-llama/llama-3.1-8b").
func checkName(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	if len(s) > 256 {
		return fmt.Errorf("is longer than 256 bytes")
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.ContainsRune("-_.:@/+", c)
		if !ok {
			return fmt.Errorf("%q has an invalid character %q", s, c)
		}
	}
	if strings.Contains(s, "->") {
		return fmt.Errorf("%q contains \"->\"", s)
	}
	return nil
}

// ParseChain parses the compact form of a chain: steps separated by "->", each either
// "cached", "static", "provider/model" or a bare "model" (the engine infers the provider).
// Whitespace around steps is ignored. A provider is split off at the first '/'. The result
// obeys the ordering rules of Route.Validate; static steps come back without a Message,
// which the configuration supplies.
//
//	gpt-4o -> openai/gpt-4o-mini -> anthropic/claude-3-5-haiku -> cached -> static
func ParseChain(s string) ([]Step, error) {
	parts := strings.Split(s, "->")
	steps := make([]Step, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			return nil, fmt.Errorf("%w: step %d is empty in %q", ErrInvalidRoute, i, s)
		case p == "cached":
			steps = append(steps, Step{Kind: StepCached})
		case p == "static":
			steps = append(steps, Step{Kind: StepStatic})
		default:
			st, err := parseModel(p)
			if err != nil {
				return nil, fmt.Errorf("%w: step %d: %w", ErrInvalidRoute, i, err)
			}
			steps = append(steps, st)
		}
	}
	if err := validateSteps(steps); err != nil {
		return nil, err
	}
	return steps, nil
}

func parseModel(p string) (Step, error) {
	if err := checkName(p); err != nil {
		return Step{}, fmt.Errorf("model %w", err)
	}
	provider, model, found := strings.Cut(p, "/")
	if !found {
		return Step{Model: p}, nil
	}
	if provider == "" || model == "" {
		return Step{}, fmt.Errorf("%q is not provider/model", p)
	}
	return Step{Provider: provider, Model: model}, nil
}
