package quota

import (
	"fmt"
	"strings"
)

// Labels identify who and what a request is: the dimensions a quota's scope is made of.
type Labels struct {
	Provider string
	Model    string
	Tenant   string
	Key      string // virtual key id
	Agent    string
	Session  string
}

// Each is the Rule scope value meaning "a separate quota for each distinct value".
const Each = "*"

var dimNames = [...]string{"provider", "model", "tenant", "key", "agent", "session"}

func (l *Labels) dims() [6]*string {
	return [6]*string{&l.Provider, &l.Model, &l.Tenant, &l.Key, &l.Agent, &l.Session}
}

// String renders the non-empty labels as "provider=openai,model=gpt-4o"; "" is global.
func (l Labels) String() string {
	var b strings.Builder
	for i, v := range l.dims() {
		if *v == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(dimNames[i])
		b.WriteByte('=')
		b.WriteString(*v)
	}
	return b.String()
}

// SetLabel sets the dimension named name ("provider", "model", "tenant", "key", "agent",
// "session") to value.
func (l *Labels) SetLabel(name, value string) error {
	for i, n := range dimNames {
		if n == name {
			*l.dims()[i] = value
			return nil
		}
	}
	return fmt.Errorf("unknown scope label %q (want one of %s)", name, strings.Join(dimNames[:], ", "))
}

// Rule is a quota template. Its Scope says which requests it applies to and how they are
// grouped: for each label, "" means the label is not part of the scope, Each ("*") means one
// quota per distinct value, and any other value means only requests with that value. A Rule
// with an empty Scope is one global quota.
type Rule struct {
	Name        string
	Scope       Labels
	Unit        Unit
	Limit       int64
	Window      Window
	Burst       int64
	WarnAt      float64
	DowngradeAt float64
}

// Validate reports the first problem with r.
func (r *Rule) Validate() error {
	if r.Name == "" {
		return fmt.Errorf("quota rule: empty name")
	}
	if strings.ContainsAny(r.Name, "|{}") {
		return fmt.Errorf("quota rule %q: name must not contain '|', '{' or '}'", r.Name)
	}
	q := Quota{Name: r.Name, Key: r.Name, Unit: r.Unit, Limit: r.Limit, Window: r.Window,
		Burst: r.Burst, WarnAt: r.WarnAt, DowngradeAt: r.DowngradeAt}
	return q.Validate()
}

// ScopedByTenant reports whether r's quotas are kept per tenant although its Scope does not
// name the tenant: a rule scoped by agent or session. Agent and session ids are names that
// callers choose (X-Session-Id), so two tenants may pick the same one; keyed by the id alone,
// one tenant's requests would spend another's budget. Such a rule's quota key and scope
// include the request's tenant when it has one (see For).
func (r *Rule) ScopedByTenant() bool {
	return r.Scope.Tenant == "" && (r.Scope.Agent != "" || r.Scope.Session != "")
}

// tenantDim is the index of the tenant in Labels.dims.
const tenantDim = 2

// For returns the concrete quota that r puts on a request labelled l, and false when r does
// not apply to it (a fixed label differs, or an Each label is empty in l).
//
// The key is the rule name followed by the scope's values, so that rules never share state
// by accident and the same scope instance always maps to the same key. A rule scoped by
// agent or session (ScopedByTenant) is scoped within the request's tenant as well: its key
// and Scope carry the tenant when l has one, and it applies alike to a request without one.
func (r *Rule) For(l Labels) (Quota, bool) {
	var scope Labels
	var b strings.Builder
	b.Grow(len(r.Name) + 32)
	b.WriteString(r.Name)
	sd, ld, dd := r.Scope.dims(), l.dims(), scope.dims()
	byTenant := r.ScopedByTenant()
	for i, want := range sd {
		if *want == "" {
			if i == tenantDim && byTenant && l.Tenant != "" {
				scope.Tenant = l.Tenant
				b.WriteString("|tenant=")
				b.WriteString(l.Tenant)
			}
			continue
		}
		got := *ld[i]
		if got == "" || (*want != Each && *want != got) {
			return Quota{}, false
		}
		*dd[i] = got
		b.WriteByte('|')
		b.WriteString(dimNames[i])
		b.WriteByte('=')
		b.WriteString(got)
	}
	return Quota{
		Name: r.Name, Key: b.String(), Scope: scope, Unit: r.Unit, Limit: r.Limit,
		Window: r.Window, Burst: r.Burst, WarnAt: r.WarnAt, DowngradeAt: r.DowngradeAt,
	}, true
}

// Rules is an ordered set of rules.
type Rules []Rule

// For appends to dst the quotas that apply to a request labelled l, in rule order.
func (rs Rules) For(dst []Quota, l Labels) []Quota {
	for i := range rs {
		if q, ok := rs[i].For(l); ok {
			dst = append(dst, q)
		}
	}
	return dst
}
