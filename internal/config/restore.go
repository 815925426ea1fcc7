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

// restoreBudgets sets the counters of every budget rule (day, month, lifetime) in mem to
// what the ledger recorded in the rule's current window at now, so that a restart does not
// reset today's spend. Rates and leases are not restored: a rate refills within its period
// and no call is in flight after a restart.
//
// The ledger groups by one label and filters by the others, which covers every scope with
// at most one "*" label; a fixed provider label is matched by grouping on it when the scope
// has no "*" label. Other rules are returned in notRestored with the reason, and start from
// zero.
func restoreBudgets(ctx context.Context, l budgetSource, mem *quota.MemoryStore, rules quota.Rules, now time.Time) (restored []Restored, notRestored []string, err error) {
	for i := range rules {
		r := &rules[i]
		if !r.Window.Kind.IsBudget() {
			continue
		}
		q, pick, why := ledgerQuery(r, now)
		if why != "" {
			notRestored = append(notRestored, r.Name+": "+why)
			continue
		}
		rows, err := l.Query(ctx, q)
		if err != nil {
			return nil, nil, fmt.Errorf("quota %q: %w", r.Name, err)
		}
		for _, row := range rows {
			if pick != "" && row.Group != pick {
				continue
			}
			labels := fixedLabels(r.Scope)
			if q.By != ledger.ByNone && pick == "" {
				// Ledger dimensions and quota labels share their names.
				if err := labels.SetLabel(string(q.By), row.Group); err != nil {
					return nil, nil, err
				}
			}
			qq, ok := r.For(labels)
			if !ok {
				continue // records without the label (say, no session) are not in this quota
			}
			used := amountOf(r.Unit, row.Sum)
			if used <= 0 {
				continue
			}
			mem.Restore(now, qq, used)
			restored = append(restored, Restored{Quota: qq, Used: used})
		}
	}
	return restored, notRestored, nil
}

// ledgerQuery returns the query that sums r's current window, and the group to pick from
// its result ("" for all), or why r cannot be restored.
func ledgerQuery(r *quota.Rule, now time.Time) (q ledger.Query, pick, why string) {
	loc := r.Window.Location
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	switch r.Window.Kind {
	case quota.Day:
		q.Since = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	case quota.Month:
		q.Since = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
	}
	s := r.Scope
	each := 0
	for dim, val := range map[string]string{"provider": s.Provider, "model": s.Model, "tenant": s.Tenant,
		"key": s.Key, "agent": s.Agent, "session": s.Session} {
		if val == quota.Each {
			each++
			q.By = ledger.Dim(dim)
		}
	}
	if each > 1 {
		return q, "", "its scope has more than one \"*\" label, which the ledger cannot group by"
	}
	if s.Provider != "" && s.Provider != quota.Each {
		if each > 0 {
			return q, "", "its scope fixes the provider beside a \"*\" label, which the ledger cannot filter by"
		}
		q.By, pick = ledger.ByProvider, s.Provider
	}
	for _, f := range []struct {
		dst *string
		val string
	}{{&q.Model, s.Model}, {&q.Tenant, s.Tenant}, {&q.Key, s.Key}, {&q.Agent, s.Agent}, {&q.Session, s.Session}} {
		if f.val != quota.Each {
			*f.dst = f.val
		}
	}
	return q, pick, ""
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
