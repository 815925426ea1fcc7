package fallback

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []Step
		wantErr string
	}{
		{in: "gpt-4o", want: []Step{{Model: "gpt-4o"}}},
		{in: "gpt-4o -> gpt-4o-mini -> claude-3-5-haiku -> cached -> static", want: []Step{
			{Model: "gpt-4o"}, {Model: "gpt-4o-mini"}, {Model: "claude-3-5-haiku"},
			{Kind: StepCached}, {Kind: StepStatic}}},
		{in: "openai/gpt-4o->anthropic/claude-3-5-haiku@20241022", want: []Step{
			{Provider: "openai", Model: "gpt-4o"}, {Provider: "anthropic", Model: "claude-3-5-haiku@20241022"}}},
		{in: "  openrouter/meta-llama/llama-3.1-8b  ->\tcached ", want: []Step{
			{Provider: "openrouter", Model: "meta-llama/llama-3.1-8b"}, {Kind: StepCached}}},
		{in: "ft:gpt-4o-mini:org::abc -> static", want: []Step{
			{Model: "ft:gpt-4o-mini:org::abc"}, {Kind: StepStatic}}},
		{in: "openai/gpt-4o -> azure/gpt-4o", want: []Step{
			{Provider: "openai", Model: "gpt-4o"}, {Provider: "azure", Model: "gpt-4o"}}},
		{in: "", wantErr: "step 0 is empty"},
		{in: "gpt-4o ->", wantErr: "step 1 is empty"},
		{in: "gpt-4o -> -> gpt-4o-mini", wantErr: "step 1 is empty"},
		{in: "gpt 4o", wantErr: "invalid character"},
		{in: "gpt-4o -> gpt-4o", wantErr: "appears twice"},
		{in: "/gpt-4o", wantErr: "not provider/model"},
		{in: "openai/", wantErr: "not provider/model"},
		{in: "cached", wantErr: "no model step"},
		{in: "static", wantErr: "no model step"},
		{in: "gpt-4o -> static -> cached", wantErr: "must be the last"},
		{in: "gpt-4o -> cached -> gpt-4o-mini", wantErr: "never reached"},
		{in: "gpt-4o -> cached -> cached", wantErr: "cached appears twice"},
		{in: "gpt-4o > gpt-4o-mini", wantErr: "invalid character"},
		{in: "gpt-4o -> gpt-4o-mini- > x", wantErr: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseChain(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidRoute) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseChain(%q) = %v, %v, want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseChain(%q) error: %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseChain(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestRouteValidate(t *testing.T) {
	t.Parallel()
	m := func(model string) Step { return Step{Model: model, Provider: "openai"} }
	static := Step{Kind: StepStatic, Message: "try later"}
	tests := []struct {
		name    string
		r       Route
		wantErr string
	}{
		{"one model", Route{Name: "r", Steps: []Step{m("gpt-4o")}}, ""},
		{"full chain", Route{Name: "r", CacheFirst: true, ClampMaxTokens: true,
			Steps: []Step{m("gpt-4o"), m("gpt-4o-mini"), {Kind: StepCached}, static}}, ""},
		{"empty name", Route{Steps: []Step{m("gpt-4o")}}, "empty Name"},
		{"no steps", Route{Name: "r"}, "no steps"},
		{"static without message", Route{Name: "r", Steps: []Step{m("gpt-4o"), {Kind: StepStatic}}}, "without a Message"},
		{"static not last", Route{Name: "r", Steps: []Step{m("gpt-4o"), static, {Kind: StepCached}}}, "last step"},
		{"model after cached", Route{Name: "r", Steps: []Step{m("a"), {Kind: StepCached}, m("b")}}, "never reached"},
		{"unknown kind", Route{Name: "r", Steps: []Step{m("a"), {Kind: 7}}}, "unknown step kind"},
		{"empty model", Route{Name: "r", Steps: []Step{{Provider: "openai"}}}, "is empty"},
		{"provider with slash", Route{Name: "r", Steps: []Step{{Provider: "a/b", Model: "m"}}}, "contains '/'"},
		{"cached with model", Route{Name: "r", Steps: []Step{m("a"), {Kind: StepCached, Model: "x"}}}, "with a model"},
		{"duplicate deployment", Route{Name: "r", Steps: []Step{m("a"), m("a")}}, "appears twice"},
		{"same model two providers", Route{Name: "r", Steps: []Step{m("a"), {Provider: "azure", Model: "a"}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.r.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRoute) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %v, want ErrInvalidRoute containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRoutesLookup(t *testing.T) {
	t.Parallel()
	steps, err := ParseChain("openai/gpt-4o -> anthropic/claude-3-5-haiku -> static")
	if err != nil {
		t.Fatal(err)
	}
	steps[2].Message = "busy"
	rs, err := NewRoutes(Route{Name: "smart", Steps: steps, CacheFirst: true})
	if err != nil {
		t.Fatalf("NewRoutes() error: %v", err)
	}
	tests := []struct {
		name   string
		want   Route
		wantOK bool
	}{
		{"smart", Route{Name: "smart", Steps: steps, CacheFirst: true}, true},
		{"gpt-4o-mini", Route{Name: "gpt-4o-mini", Steps: []Step{{Model: "gpt-4o-mini"}}}, true},
		{"openai/gpt-4o-mini", Route{Name: "openai/gpt-4o-mini", Steps: []Step{{Provider: "openai", Model: "gpt-4o-mini"}}}, true},
		{"", Route{}, false},
		{"no spaces allowed", Route{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := rs.Lookup(tt.name)
			if ok != tt.wantOK {
				t.Fatalf("Lookup(%q) ok = %v, want %v", tt.name, ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%q) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}

	t.Run("copy", func(t *testing.T) {
		t.Parallel()
		r, _ := rs.Lookup("smart")
		r.Steps[0].Model = "changed"
		if again, _ := rs.Lookup("smart"); again.Steps[0].Model != "gpt-4o" {
			t.Errorf("Lookup after caller mutation = %q, want gpt-4o", again.Steps[0].Model)
		}
	})
	t.Run("zero Routes", func(t *testing.T) {
		t.Parallel()
		var zero *Routes
		if _, ok := zero.Lookup("gpt-4o"); !ok {
			t.Error("nil Routes Lookup(gpt-4o) ok = false, want true")
		}
	})
}

func TestNewRoutesErrors(t *testing.T) {
	t.Parallel()
	good := Route{Name: "a", Steps: []Step{{Model: "gpt-4o"}}}
	if _, err := NewRoutes(good, good); !errors.Is(err, ErrInvalidRoute) {
		t.Errorf("NewRoutes(duplicate) = %v, want ErrInvalidRoute", err)
	}
	if _, err := NewRoutes(Route{Name: "b"}); !errors.Is(err, ErrInvalidRoute) {
		t.Errorf("NewRoutes(empty route) = %v, want ErrInvalidRoute", err)
	}
}

// FuzzParseChain checks that ParseChain never panics, that what it accepts passes the
// structural rules, and that the compact form of its result parses back to the same steps.
func FuzzParseChain(f *testing.F) {
	for _, s := range []string{
		"gpt-4o -> gpt-4o-mini -> claude-3-5-haiku -> cached -> static",
		"openai/gpt-4o->anthropic/claude-3-5-haiku", "a/b/c", "->", "cached", "x -> static -> cached",
		"ft:gpt-4o-mini:org::abc", " a ->\tb ", "a - > b", "é",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		steps, err := ParseChain(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRoute) {
				t.Fatalf("ParseChain(%q) error = %v, want ErrInvalidRoute", s, err)
			}
			return
		}
		if err := validateSteps(steps); err != nil {
			t.Fatalf("ParseChain(%q) returned invalid steps: %v", s, err)
		}
		parts := make([]string, len(steps))
		for i, st := range steps {
			parts[i] = st.String()
		}
		again, err := ParseChain(strings.Join(parts, " -> "))
		if err != nil {
			t.Fatalf("round trip of %q: %v", s, err)
		}
		if diff := cmp.Diff(steps, again); diff != "" {
			t.Fatalf("round trip of %q mismatch (-first +second):\n%s", s, diff)
		}
	})
}
