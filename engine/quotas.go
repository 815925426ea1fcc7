package engine

import (
	"sync"

	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/quota"
)

// Quotas puts quotas on a request's labels in place of Config.Rules alone: the rules'
// quotas and what the operator changed at run time, such as a virtual key's own budget and
// a budget's limit raised or lowered for one tenant or key. *keys.Registry is one.
type Quotas interface {
	// For appends to dst the quotas that apply to a request labelled l, given the rules.
	For(dst []quota.Quota, rules quota.Rules, l quota.Labels) []quota.Quota
	// Generation returns a number that changes whenever For's answers may have: the
	// engine keeps For's answers until it does. It is called on every attempt and must be
	// cheap (an atomic load).
	Generation() uint64
}

// quotaSet is what the rules put on one label set: every quota, and the budgets among them
// (what the planner clamps and downgrades by).
type quotaSet struct {
	all, budget []quota.Quota
	lease       bool // some quota is a concurrency lease
	// learner learns the limits of the set's upstream and model; nil when they are not
	// learned.
	learner *learn.Learner
}

// quotaCache remembers the quotas of recent label sets. Building a quota's key is a string
// concatenation per rule; agents repeat their labels, so most requests find theirs here.
// The sets are shared and read-only. The cache is bounded: when full it starts over, which
// costs a few rebuilds and never a wrong answer. With a Quotas source it starts over when
// the source's generation changes, so that a budget changed at run time applies to the
// next attempt.
type quotaCache struct {
	rules   quota.Rules
	src     Quotas   // nil: the rules alone
	learned *Learned // never nil
	mu      sync.Mutex
	m       map[quota.Labels]*quotaSet
	gen     uint64 // src's generation that m was built at
}

const quotaCacheSize = 8192

func (c *quotaCache) get(l quota.Labels) *quotaSet {
	var gen uint64
	if c.src != nil {
		gen = c.src.Generation()
	}
	c.mu.Lock()
	s, ok := c.m[l]
	if ok && gen != c.gen {
		ok = false
	}
	c.mu.Unlock()
	if ok {
		return s
	}
	s = &quotaSet{all: make([]quota.Quota, 0, len(c.rules)+5)}
	if c.src != nil {
		// Read after gen: the answer is at least as new as gen, never older.
		s.all = c.src.For(s.all, c.rules, l)
	} else {
		s.all = c.rules.For(s.all, l)
	}
	for _, q := range s.all {
		if q.Window.Kind.IsBudget() && q.Unit != quota.Requests {
			s.budget = append(s.budget, q)
		}
		s.lease = s.lease || q.Window.Kind == quota.Lease
	}
	s.all, s.learner = c.learned.learnedQuotas(s.all, l.Provider, l.Model)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= quotaCacheSize || gen != c.gen {
		c.m = make(map[quota.Labels]*quotaSet)
		c.gen = gen
	}
	c.m[l] = s
	c.mu.Unlock()
	return s
}
