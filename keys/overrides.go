package keys

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/quota"
)

// Override replaces the limit of a budget rule for one instance of its scope: "tenant
// alpha's daily budget is $80 today", where the rule says $50 for every tenant.
type Override struct {
	// Rule is the budget rule's name; Scope the label values of the instance (only the
	// rule's own labels, as quota.Rule.For keeps them).
	Rule  string
	Scope quota.Labels
	// QuotaKey is the Quota.Key of the instance, which Apply matches.
	QuotaKey string
	// Limit replaces the rule's, in its unit (micro-USD for usd).
	Limit   int64
	Note    string
	Updated time.Time
}

// snapshot is what the Registry's readers see; it is never modified once stored.
type snapshot struct {
	gen       uint64
	byHash    map[[32]byte]*Key // valid keys only
	byID      map[string]*Key   // every key, revoked included
	list      []*Key
	overrides map[string]Override
	loc       *time.Location
}

// build makes the snapshot of static keys and stored settings. Stored entries that
// conflict with static keys or cannot be read are left out and returned as problems: a
// row the code cannot trust grants nothing.
func build(static []Key, st ledger.Settings, loc *time.Location) (*snapshot, []error) {
	s := &snapshot{byHash: make(map[[32]byte]*Key, len(static)+len(st.Keys)),
		byID: make(map[string]*Key, len(static)+len(st.Keys)), overrides: make(map[string]Override, len(st.Overrides)), loc: loc}
	var problems []error
	add := func(k *Key) {
		s.byID[k.ID] = k
		s.list = append(s.list, k)
		if k.Active() {
			s.byHash[k.Hash] = k
		}
	}
	for i := range static {
		k := static[i]
		add(&k)
	}
	for _, rec := range st.Keys {
		k, err := fromRecord(rec)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if other := s.byID[k.ID]; other != nil {
			problems = append(problems, fmt.Errorf("keys: stored key %s has the id of a configuration key: %w", k.ID, ErrExists))
			continue
		}
		if other := s.byHash[k.Hash]; other != nil && k.Active() {
			problems = append(problems, fmt.Errorf("keys: stored key %s has the secret of key %s: %w", k.ID, other.ID, ErrExists))
			continue
		}
		add(&k)
	}
	for _, o := range st.Overrides {
		ov := Override{Rule: o.Rule, QuotaKey: o.QuotaKey, Limit: o.Limit, Note: o.Note, Updated: o.Updated}
		if err := parseScope(o.Scope, &ov.Scope); err != nil {
			problems = append(problems, fmt.Errorf("keys: stored override %s: %w", o.QuotaKey, err))
			continue
		}
		s.overrides[o.QuotaKey] = ov
	}
	return s, problems
}

// parseScope reads a quota.Labels.String form ("tenant=alpha,key=k1") into l.
func parseScope(s string, l *quota.Labels) error {
	if s == "" {
		return nil
	}
	for part := range strings.SplitSeq(s, ",") {
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("scope %q: %q is not label=value", s, part)
		}
		if err := l.SetLabel(name, value); err != nil {
			return fmt.Errorf("scope %q: %w", s, err)
		}
	}
	return nil
}

// Apply replaces the limit of each quota in qs that has an override, in place, and
// returns how many it replaced. It takes no lock; without overrides it costs one atomic
// load.
func (r *Registry) Apply(qs []quota.Quota) int {
	s := r.snap.Load()
	if len(s.overrides) == 0 {
		return 0
	}
	return s.apply(qs)
}

func (s *snapshot) apply(qs []quota.Quota) int {
	n := 0
	for i := range qs {
		if o, ok := s.overrides[qs[i].Key]; ok && qs[i].Window.Kind.IsBudget() {
			qs[i].Limit = o.Limit
			n++
		}
	}
	return n
}

// For appends to dst the quotas that apply to a request labelled l: those rules puts on
// it, then the budget of the key l.Key names (when it is valid and has one), with every
// override applied. It is what the engine calls instead of rules.For; results may be
// cached until Generation changes.
func (r *Registry) For(dst []quota.Quota, rules quota.Rules, l quota.Labels) []quota.Quota {
	s := r.snap.Load()
	start := len(dst)
	dst = rules.For(dst, l)
	if l.Key != "" {
		if k := s.byID[l.Key]; k != nil && k.Active() {
			if q, ok := k.BudgetQuota(s.loc); ok {
				dst = append(dst, q)
			}
		}
	}
	if len(s.overrides) > 0 {
		s.apply(dst[start:])
	}
	return dst
}

// Overrides returns the budget overrides, by quota key.
func (r *Registry) Overrides() []Override {
	s := r.snap.Load()
	out := make([]Override, 0, len(s.overrides))
	for _, o := range s.overrides {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Override) int { return cmp.Compare(a.QuotaKey, b.QuotaKey) })
	return out
}

// SetOverride sets the limit of rule's instance for scope to limit (in the rule's unit),
// stores it, and returns it. It takes effect here when SetOverride returns and on other
// replicas within Config.Refresh; meanwhile they keep the previous limit, so a lowered
// limit can be exceeded up to the previous one for that long. rule must be a budget (day,
// month or lifetime window); scope must give a value (not "*") to each of the rule's
// labels, as a request of that instance would.
func (r *Registry) SetOverride(ctx context.Context, rule quota.Rule, scope quota.Labels, limit int64, note string) (Override, error) {
	if r.cfg.Store == nil {
		return Override{}, fmt.Errorf("keys: set override: %w", ErrNoStore)
	}
	if !rule.Window.Kind.IsBudget() {
		return Override{}, fmt.Errorf("keys: rule %s has a %s window, not a budget's: %w", rule.Name, rule.Window.Kind, ErrInvalid)
	}
	if limit <= 0 {
		return Override{}, fmt.Errorf("keys: override of %s: limit %d is not positive: %w", rule.Name, limit, ErrInvalid)
	}
	if err := checkText("note", note, 1024, false); err != nil {
		return Override{}, fmt.Errorf("keys: override of %s: %w", rule.Name, err)
	}
	for _, v := range []string{scope.Provider, scope.Model, scope.Tenant, scope.Key, scope.Agent, scope.Session} {
		if v == quota.Each || strings.ContainsAny(v, ",=") {
			return Override{}, fmt.Errorf("keys: override of %s: scope value %q: name one instance: %w", rule.Name, v, ErrInvalid)
		}
	}
	q, ok := rule.For(scope)
	if !ok {
		return Override{}, fmt.Errorf("keys: override of %s: scope {%s} is not an instance of the rule's {%s}: %w",
			rule.Name, scope, rule.Scope, ErrInvalid)
	}
	o := Override{Rule: rule.Name, Scope: q.Scope, QuotaKey: q.Key, Limit: limit, Note: note, Updated: r.cfg.Now().UTC()}
	if err := r.cfg.Store.SetBudgetOverride(ctx, ledger.BudgetOverride{QuotaKey: o.QuotaKey, Rule: o.Rule,
		Scope: o.Scope.String(), Limit: o.Limit, Note: o.Note, Updated: o.Updated}); err != nil {
		return Override{}, fmt.Errorf("keys: override of %s: %w", rule.Name, err)
	}
	_ = r.load(ctx, true)
	return o, nil
}

// DeleteOverride removes the override of quotaKey, so that its rule's limit applies
// again, and reports whether there was one.
func (r *Registry) DeleteOverride(ctx context.Context, quotaKey string) (bool, error) {
	if r.cfg.Store == nil {
		return false, fmt.Errorf("keys: delete override: %w", ErrNoStore)
	}
	found, err := r.cfg.Store.DeleteBudgetOverride(ctx, quotaKey)
	if err != nil {
		return false, fmt.Errorf("keys: delete override %s: %w", quotaKey, err)
	}
	_ = r.load(ctx, true)
	return found, nil
}
