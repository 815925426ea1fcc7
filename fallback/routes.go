package fallback

import (
	"fmt"
	"slices"
)

// Routes is a registry of named routes. It is immutable after NewRoutes and safe for
// concurrent use. The zero Routes has no named routes; its Lookup still resolves model names.
type Routes struct {
	byName map[string]Route
}

// NewRoutes validates the routes and indexes them by name. Names must be unique.
func NewRoutes(routes ...Route) (*Routes, error) {
	m := make(map[string]Route, len(routes))
	for _, r := range routes {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		if _, dup := m[r.Name]; dup {
			return nil, fmt.Errorf("%w: route %q defined twice", ErrInvalidRoute, r.Name)
		}
		r.Steps = slices.Clone(r.Steps)
		m[r.Name] = r
	}
	return &Routes{byName: m}, nil
}

// Lookup returns the route called name. A name that is not a route but is a well-formed
// model ("gpt-4o" or "openai/gpt-4o") is a one-step route to that model, with no cache or
// clamping policy. ok is false only for a name that is neither. The returned Steps are the
// caller's own copy.
func (rs *Routes) Lookup(name string) (Route, bool) {
	if rs != nil {
		if r, ok := rs.byName[name]; ok {
			r.Steps = slices.Clone(r.Steps)
			return r, true
		}
	}
	st, err := parseModel(name)
	if err != nil {
		return Route{}, false
	}
	return Route{Name: name, Steps: []Step{st}}, true
}
