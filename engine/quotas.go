package engine

import (
	"sync"

	"github.com/tollgate/tollgate/quota"
)

// quotaSet is what the rules put on one label set: every quota, and the budgets among them
// (what the planner clamps and downgrades by).
type quotaSet struct {
	all, budget []quota.Quota
	lease       bool // some quota is a concurrency lease
}

// quotaCache remembers the quotas of recent label sets. Building a quota's key is a string
// concatenation per rule; agents repeat their labels, so most requests find theirs here.
// The sets are shared and read-only. The cache is bounded: when full it starts over, which
// costs a few rebuilds and never a wrong answer.
type quotaCache struct {
	rules quota.Rules
	mu    sync.Mutex
	m     map[quota.Labels]*quotaSet
}

const quotaCacheSize = 8192

func (c *quotaCache) get(l quota.Labels) *quotaSet {
	c.mu.Lock()
	s, ok := c.m[l]
	c.mu.Unlock()
	if ok {
		return s
	}
	s = &quotaSet{all: c.rules.For(make([]quota.Quota, 0, len(c.rules)), l)}
	for _, q := range s.all {
		if q.Window.Kind.IsBudget() && q.Unit != quota.Requests {
			s.budget = append(s.budget, q)
		}
		s.lease = s.lease || q.Window.Kind == quota.Lease
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= quotaCacheSize {
		c.m = make(map[quota.Labels]*quotaSet)
	}
	c.m[l] = s
	c.mu.Unlock()
	return s
}
