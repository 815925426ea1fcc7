package config

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/quota"
)

// Restored is one budget counter read back from the ledger at start.
type Restored struct {
	// Quota is the quota instance: its rule name, key and scope.
	Quota quota.Quota
	// Used is its settled use in the current window, in the quota's unit.
	Used int64
}

// budgetSource is what restoring needs of a ledger.
type budgetSource interface {
	Query(ctx context.Context, q ledger.Query) ([]ledger.Row, error)
}

// restoreBudgets reads, for every budget rule (day, month, lifetime), what the ledger
// recorded in the rule's current window at now for each of its quotas, and hands each
// quota with use to set: into a memory store at start, so that a restart does not reset
// today's spend, or into Redis when its state is rebuilt. Rates and leases are not
// restored: a rate refills within its period and no call is in flight after a restart.
//
// The ledger groups by one label at a time and filters by the others (but not by
// provider), so a scope with several "*" labels is read level by level: group by the first,
// then, within each of its values, by the next. The provider label, which cannot be
// filtered on, is always the last level.
func restoreBudgets(ctx context.Context, l budgetSource, set func(q quota.Quota, used int64), rules quota.Rules, now time.Time) ([]Restored, error) {
	var restored []Restored
	for i := range rules {
		r := &rules[i]
		if !r.Window.Kind.IsBudget() {
			continue
		}
		rs := ruleRestore{l: l, set: set, rule: r, now: now}
		if err := rs.walk(ctx, 0, rs.base(), fixedLabels(r.Scope)); err != nil {
			return nil, fmt.Errorf("quota %q: %w", r.Name, err)
		}
		restored = append(restored, rs.restored...)
	}
	return restored, nil
}

// ruleRestore reads one rule's counters back.
type ruleRestore struct {
	l        budgetSource
	set      func(q quota.Quota, used int64)
	rule     *quota.Rule
	now      time.Time
	levels   []ledger.Dim // the "*" labels (provider last), then a fixed provider
	restored []Restored
}

// base returns the query of the rule's window and fixed labels, and sets the levels.
func (rs *ruleRestore) base() ledger.Query {
	var q ledger.Query
	r := rs.rule
	loc := r.Window.Location
	if loc == nil {
		loc = time.UTC
	}
	t := rs.now.In(loc)
	switch r.Window.Kind {
	case quota.Day:
		q.Since = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	case quota.Month:
		q.Since = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
	}
	s := r.Scope
	for _, f := range []struct {
		dim ledger.Dim
		dst *string
		val string
	}{{ledger.ByModel, &q.Model, s.Model}, {ledger.ByTenant, &q.Tenant, s.Tenant}, {ledger.ByKey, &q.Key, s.Key},
		{ledger.ByAgent, &q.Agent, s.Agent}, {ledger.BySession, &q.Session, s.Session}} {
		if f.dim == ledger.ByTenant && r.ScopedByTenant() {
			// An agent's or session's quota is kept per tenant (quota.Rule.ScopedByTenant).
			// Records without a tenant cannot be told apart by the ledger's filters and are
			// not restored; the gateway's keys always have one.
			f.val = quota.Each
		}
		if f.val == quota.Each {
			rs.levels = append(rs.levels, f.dim)
		} else {
			*f.dst = f.val
		}
	}
	if s.Provider != "" {
		rs.levels = append(rs.levels, ledger.ByProvider)
	}
	return q
}

// walk groups q by the level-th label and, for each value, restores the quota (last level)
// or narrows q to that value and goes one level down.
func (rs *ruleRestore) walk(ctx context.Context, level int, q ledger.Query, labels quota.Labels) error {
	if level == len(rs.levels) {
		rows, err := rs.l.Query(ctx, q)
		if err != nil {
			return err
		}
		for _, row := range rows {
			rs.restore(labels, row.Sum)
		}
		return nil
	}
	dim := rs.levels[level]
	q.By = dim
	rows, err := rs.l.Query(ctx, q)
	if err != nil {
		return err
	}
	for _, row := range rows {
		if row.Group == "" {
			continue // records without the label are not in a quota scoped by it
		}
		if dim == ledger.ByProvider && rs.rule.Scope.Provider != quota.Each && row.Group != rs.rule.Scope.Provider {
			continue
		}
		l := labels
		// Ledger dimensions and quota labels share their names.
		if err := l.SetLabel(string(dim), row.Group); err != nil {
			return err
		}
		if level == len(rs.levels)-1 {
			rs.restore(l, row.Sum)
			continue
		}
		sub := q
		setFilter(&sub, dim, row.Group)
		if err := rs.walk(ctx, level+1, sub, l); err != nil {
			return err
		}
	}
	return nil
}

func (rs *ruleRestore) restore(labels quota.Labels, sum ledger.Sum) {
	q, ok := rs.rule.For(labels)
	if !ok {
		return
	}
	used := amountOf(rs.rule.Unit, sum)
	if used <= 0 {
		return
	}
	rs.set(q, used)
	rs.restored = append(rs.restored, Restored{Quota: q, Used: used})
}

// setFilter narrows q to records whose dim is value. Provider is never narrowed: it is
// always the last level.
func setFilter(q *ledger.Query, dim ledger.Dim, value string) {
	switch dim {
	case ledger.ByModel:
		q.Model = value
	case ledger.ByTenant:
		q.Tenant = value
	case ledger.ByKey:
		q.Key = value
	case ledger.ByAgent:
		q.Agent = value
	case ledger.BySession:
		q.Session = value
	}
}

// fixedLabels returns the scope's fixed values: what every request in the quota carries.
func fixedLabels(s quota.Labels) quota.Labels {
	for _, p := range []*string{&s.Provider, &s.Model, &s.Tenant, &s.Key, &s.Agent, &s.Session} {
		if *p == quota.Each {
			*p = ""
		}
	}
	return s
}

// amountOf returns the part of a ledger sum that a quota counting u holds.
func amountOf(u quota.Unit, s ledger.Sum) int64 {
	return quota.Amount{Requests: s.Requests, InputTokens: s.InputTokens, OutputTokens: s.OutputTokens,
		MicroUSD: s.MicroUSD}.Of(u)
}
