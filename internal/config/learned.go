package config

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/tollgate/tollgate/admin"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/learn"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/quota"
)

// learnConfig returns learned_limits as a learn.Config, without the logger and the
// shared state, which Build adds.
func (c *Config) learnConfig() learn.Config {
	l := c.LearnedLimits
	return learn.Config{Interval: l.Interval.D(), Increase: l.Increase, MaxIncrease: l.MaxIncrease,
		Decrease: l.Decrease, Margin: l.Margin, Hold: l.Hold.D()}
}

// learnedLimits checks the learned_limits section.
func (v *validator) learnedLimits() {
	l := v.c.LearnedLimits
	switch l.Mode {
	case "", LearnEnforce, LearnObserve, LearnOff:
	default:
		v.problem("learned_limits.mode", "unknown mode %q: want enforce, observe or off", l.Mode)
	}
	v.nonNegative("learned_limits.interval", l.Interval)
	v.nonNegative("learned_limits.hold", l.Hold)
	v.nonNegative("learned_limits.sync", l.Sync)
	for _, f := range []struct {
		path   string
		v      float64
		ok     bool
		within string
	}{
		{"learned_limits.increase", l.Increase, l.Increase >= 0 && l.Increase <= 1, "[0, 1]"},
		{"learned_limits.max_increase", l.MaxIncrease, l.MaxIncrease >= 0 && l.MaxIncrease <= 1, "[0, 1]"},
		{"learned_limits.decrease", l.Decrease, l.Decrease >= 0 && l.Decrease < 1, "[0, 1)"},
		{"learned_limits.margin", l.Margin, l.Margin >= 0 && l.Margin < 1, "[0, 1)"},
	} {
		if !f.ok || math.IsNaN(f.v) {
			v.problem(f.path, "want a fraction in %s, got %v", f.within, f.v)
		}
	}
}

// buildLearned makes the learner set of learned_limits and the engine's view of it: every
// upstream learns unless its learn_limits is false, each under the AccountID of its API
// key. With Redis, the replicas share what they learn (learn.RedisShared), and b runs the
// loop that syncs it until Close. It returns the zero engine.Learned when mode is off.
func (c *Config) buildLearned(b *Built, r *resolved, logger *slog.Logger) (engine.Learned, error) {
	mode := c.LearnMode()
	if mode == LearnOff {
		return engine.Learned{}, nil
	}
	lc := c.learnConfig()
	lc.Logger = logger
	if b.redis != nil {
		sh, err := learn.NewRedis(b.redis, learn.RedisConfig{})
		if err != nil {
			return engine.Learned{}, fmt.Errorf("config: learned_limits: %w", err)
		}
		lc.Shared = sh
	}
	set, err := learn.New(lc)
	if err != nil {
		return engine.Learned{}, fmt.Errorf("config: learned_limits: %w", err)
	}
	ups := map[string]learn.Upstream{}
	for _, name := range sortedKeys(r.upstreams) {
		u := c.Upstreams[name]
		if u.LearnLimits != nil && !*u.LearnLimits {
			continue
		}
		key, _ := c.secret(u.APIKeyEnv)
		f := llm.OpenAI
		if r.upstreams[name] == pricing.ProviderAnthropic {
			f = llm.Anthropic
		}
		ups[name] = learn.Upstream{Provider: name, Account: learn.AccountID(key), Format: f}
	}
	b.Learned = set
	if lc.Shared != nil {
		ctx, cancel := context.WithCancel(context.Background())
		every := c.LearnedLimits.Sync.D()
		if every <= 0 {
			every = DefaultLearnSync
		}
		var wg sync.WaitGroup
		wg.Go(func() { _ = set.Run(ctx, every) })
		b.stopLearn = func() { cancel(); wg.Wait() }
	}
	return engine.Learned{Set: set, Observe: mode == LearnObserve, Upstreams: ups}, nil
}

// learnedView lists the learned limits for the admin API, the dashboard and `tollgate
// status`, each with the configured rate of the same deployment and unit.
type learnedView struct {
	set   *learn.Set
	rules quota.Rules
}

// LearnedLimits implements admin.LearnedLimits: one row per learned dimension whose limit
// is known.
func (v learnedView) LearnedLimits() []admin.LearnedLimit {
	var out []admin.LearnedLimit
	for _, r := range v.set.Status() {
		if r.Limit <= 0 {
			continue
		}
		out = append(out, admin.LearnedLimit{Deployment: r.Upstream.Provider + "/" + r.Model, Unit: r.Dim.String(),
			PerMinute: float64(r.Limit), Configured: v.configured(r.Upstream.Provider, r.Model, r.Dim.Unit()),
			Source: r.Source.String(), Updated: r.Updated})
	}
	return out
}

// configured returns the lowest per-minute rate that the rules put on every request to
// provider and model in unit; 0 when none does.
func (v learnedView) configured(provider, model string, unit quota.Unit) float64 {
	best := 0.0
	for i := range v.rules {
		q := &v.rules[i]
		s := q.Scope
		if q.Window.Kind != quota.Rate || q.Unit != unit || q.Window.Period <= 0 ||
			!matches(s.Provider, provider) || !matches(s.Model, model) ||
			s.Tenant != "" || s.Key != "" || s.Agent != "" || s.Session != "" {
			continue
		}
		perMin := float64(q.Limit) * float64(time.Minute) / float64(q.Window.Period)
		if best == 0 || perMin < best {
			best = perMin
		}
	}
	return best
}

// matches reports whether a rule's label value (a value, quota.Each or "") covers v.
func matches(rule, v string) bool { return rule == "" || rule == quota.Each || rule == v }
