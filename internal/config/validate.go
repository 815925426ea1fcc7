package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
)

// resolved is a configuration converted to the library's types, as far as it is valid.
// Validate keeps its problems; Build uses the rest.
type resolved struct {
	loc       *time.Location
	prices    *pricing.Table
	upstreams map[string]string // name -> provider ("openai" | "anthropic")
	routes    []fallback.Route
	rules     quota.Rules
	hashes    map[int][32]byte // keys[i] -> hash, for keys given by key_sha256
	cacheOn   bool
	policy    redisstore.Policy
	problems  []Problem
}

// Validate reports every problem with the configuration: those found while decoding
// (unknown fields, wrong types) and every invalid, missing or inconsistent value, each
// with its position and field path, ordered by position. An empty result means Build will
// not fail on the configuration itself (it may still fail on a missing secret or an
// unreachable file). A missing secret is not a problem here: `config check` runs where the
// secrets may not be; Secrets reports them.
func (c *Config) Validate() []Problem { return c.resolve().problems }

func (c *Config) resolve() *resolved {
	v := &validator{c: c, r: &resolved{upstreams: map[string]string{}, hashes: map[int][32]byte{}}}
	v.top()
	v.upstreams()
	v.prices()
	v.routes()
	v.quotas()
	v.keys()
	v.models()
	v.sections()
	v.redis()
	v.admin()
	v.learnedLimits()

	// A field that failed to decode is zero; whatever the checks above say about it again
	// ("is required") is noise.
	bad := make([]string, 0, len(c.decoded))
	for _, p := range c.decoded {
		if p.Path != "" {
			bad = append(bad, p.Path)
		}
	}
	if c.idx != nil {
		bad = append(bad, c.idx.undecoded...)
	}
	out := slices.Clone(c.decoded)
	for _, p := range v.r.problems {
		if !slices.ContainsFunc(bad, func(b string) bool { return within(p.Path, b) }) {
			out = append(out, p)
		}
	}
	sortProblems(out)
	v.r.problems = out
	return v.r
}

// within reports whether path is p or a field under it.
func within(path, p string) bool {
	return p == "" || path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[")
}

type validator struct {
	c *Config
	r *resolved
}

func (v *validator) add(path string, key bool, format string, args ...any) {
	var line, col int
	if key {
		line, col = v.c.idx.keyAt(path)
	} else {
		line, col = v.c.idx.at(path)
	}
	v.r.problems = append(v.r.problems, Problem{File: v.c.file, Line: line, Column: col, Path: path,
		Message: fmt.Sprintf(format, args...)})
}

// problem reports a problem with the value at path (or where it should be).
func (v *validator) problem(path, format string, args ...any) { v.add(path, false, format, args...) }

// nameProblem reports a problem with the key of a mapping entry: a bad name.
func (v *validator) nameProblem(path, format string, args ...any) { v.add(path, true, format, args...) }

func (v *validator) nonNegative(path string, d Duration) {
	if d < 0 {
		v.problem(path, "must not be negative, got %v", d.D())
	}
}

func (v *validator) top() {
	c := v.c
	if c.Listen != "" {
		v.checkListen("listen", c.Listen, DefaultListen)
	}
	v.r.loc = time.UTC
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil || c.Timezone == "Local" {
			v.problem("timezone", "unknown time zone %q: want an IANA name such as Europe/Paris or UTC", c.Timezone)
		} else {
			v.r.loc = loc
		}
	}
	if c.DefaultMaxTokens < 0 {
		v.problem("default_max_tokens", "must not be negative, got %d", c.DefaultMaxTokens)
	}
	v.nonNegative("request_timeout", c.RequestTimeout)
	v.nonNegative("abandon_timeout", c.AbandonTimeout)
	c.Timeouts.validate(v, "timeouts")
	v.nonNegative("shutdown_timeout", c.ShutdownTimeout)
	if c.BudgetStatus != 0 && c.BudgetStatus != 429 && c.BudgetStatus != 402 {
		v.problem("budget_status", "want 429 (the default) or 402, got %d", c.BudgetStatus)
	}
	if s := c.AccessLog.Sample; s != nil && (*s < 0 || *s > 1) {
		v.problem("access_log.sample", "want a share from 0 to 1, got %v", *s)
	}
	if c.envErr != nil {
		v.problem("env_file", "%v", c.envErr)
	}
}

// namePattern is what upstream, route and quota names may be: short ids that read well in
// paths, metrics and chains ("openai", "eu-anthropic", "smart", "gpt4o_rpm").
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (v *validator) upstreams() {
	c := v.c
	if len(c.Upstreams) == 0 {
		v.problem("upstreams", "at least one upstream is required")
	}
	for _, name := range sortedKeys(c.Upstreams) {
		u := c.Upstreams[name]
		p := "upstreams." + name
		if !namePattern.MatchString(name) || name == "cached" || name == "static" {
			v.nameProblem(p, "invalid upstream name %q: want letters, digits, '.', '_' or '-' (and not cached or static)", name)
		}
		prov := u.Provider
		if prov == "" && (name == pricing.ProviderOpenAI || name == pricing.ProviderAnthropic) {
			prov = name
		}
		switch prov {
		case pricing.ProviderOpenAI, pricing.ProviderAnthropic:
			v.r.upstreams[name] = prov
		case "":
			v.problem(p+".provider", "is required: openai or anthropic (it defaults to the upstream's name only when that is one of them)")
		default:
			v.problem(p+".provider", "unknown provider %q: want openai or anthropic", u.Provider)
		}
		if u.BaseURL != "" {
			pu, err := url.Parse(u.BaseURL)
			if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				v.problem(p+".base_url", "want an http(s) URL such as https://api.openai.com/v1")
			} else if pu.User != nil {
				v.problem(p+".base_url", "must not hold credentials: name the key's variable in api_key_env")
			}
		}
		switch {
		case u.APIKeyEnv == "":
			v.problem(p+".api_key_env", "is required: the name of the environment variable that holds the API key")
		case !validEnvName(u.APIKeyEnv):
			v.problem(p+".api_key_env", "%q is not an environment variable name (it must name the variable, not hold the key)", redactName(u.APIKeyEnv))
		}
		if u.Headroom < 0 || u.Headroom > 1 || math.IsNaN(u.Headroom) {
			v.problem(p+".headroom", "want a fraction in (0, 1], got %v", u.Headroom)
		}
		u.Timeouts.validate(v, p+".timeouts")
	}
}

// redactName shows a mistyped variable name only when it is short enough to be a name: a
// long value in api_key_env is more likely the key itself, pasted in the wrong place.
func redactName(s string) string {
	if len(s) > 32 || strings.HasPrefix(s, "sk-") {
		return "<redacted>"
	}
	return s
}

func (v *validator) prices() {
	c := v.c
	t := pricing.Default()
	if c.Prices.File != "" {
		ft, err := pricing.Load(c.path(c.Prices.File))
		if err != nil {
			v.problem("prices.file", "%s", strings.TrimPrefix(trimPricing(err.Error()), c.path(c.Prices.File)+": "))
		} else {
			t = t.With(ft)
		}
	}
	if n := &c.Prices.Models; n.Kind != 0 {
		if n.Kind != yaml.MappingNode {
			v.problem("prices.models", "want a mapping of model id to prices")
		} else {
			doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "models"}, n}}
			data, err := yaml.Marshal(doc)
			if err == nil {
				var it *pricing.Table
				if it, err = pricing.Parse(data); err == nil {
					t = t.With(it)
				}
			}
			if err != nil {
				v.priceProblem(err)
			}
		}
	}
	v.r.prices = t
}

var (
	rePricingLine  = regexp.MustCompile(`line \d+: `)
	rePricingModel = regexp.MustCompile(`model "([^"]*)"`)
)

func trimPricing(s string) string { return strings.TrimPrefix(s, "pricing: ") }

// priceProblem places an inline price error on its model: pricing.Parse's line numbers are
// those of the re-encoded section, not the file's, so they are dropped.
func (v *validator) priceProblem(err error) {
	msg := rePricingLine.ReplaceAllString(trimPricing(err.Error()), "")
	path := "prices.models"
	if m := rePricingModel.FindStringSubmatch(msg); m != nil {
		if _, ok := v.c.idx.byPathOK(path + "." + m[1]); ok {
			path += "." + m[1]
		}
	}
	v.problem(path, "%s", msg)
}

// lookupModel resolves a model id for the checks: its price entry, or a problem at path.
func (v *validator) lookupModel(path, id string) (pricing.Model, bool) {
	m, err := v.r.prices.Lookup(id)
	if err != nil {
		v.problem(path, "model %q has no price: add it under prices (an unpriced model cannot be budgeted)", id)
		return m, false
	}
	return m, true
}

func (v *validator) routes() {
	c := v.c
	usesCache := false
	for _, name := range sortedKeys(c.Routes) {
		rt := c.Routes[name]
		p := "routes." + name
		if !namePattern.MatchString(name) {
			v.nameProblem(p, "invalid route name %q: want letters, digits, '.', '_' or '-'", name)
			continue
		}
		if strings.TrimSpace(rt.Chain) == "" {
			v.problem(p+".chain", "is required: models in order, such as \"gpt-4o -> gpt-4o-mini -> static\"")
			continue
		}
		steps, err := fallback.ParseChain(rt.Chain)
		if err != nil {
			v.problem(p+".chain", "%s", strings.TrimPrefix(err.Error(), fallback.ErrInvalidRoute.Error()+": "))
			continue
		}
		hasStatic := false
		for i, s := range steps {
			switch s.Kind {
			case fallback.StepStatic:
				hasStatic = true
				steps[i].Message = rt.StaticMessage
			case fallback.StepCached:
				usesCache = true
			case fallback.StepModel:
				v.checkStep(p+".chain", s)
			}
		}
		switch {
		case hasStatic && rt.StaticMessage == "":
			v.problem(p+".static_message", "is required: the chain ends in static")
			continue
		case !hasStatic && rt.StaticMessage != "":
			v.problem(p+".static_message", "is set but the chain has no static step")
		}
		rt.Timeouts.validate(v, p+".timeouts")
		if rt.CacheFirst {
			usesCache = true
		}
		if (rt.CacheFirst || slices.ContainsFunc(steps, func(s fallback.Step) bool { return s.Kind == fallback.StepCached })) &&
			c.Cache.Enabled != nil && !*c.Cache.Enabled {
			v.problem(p, "uses the cache (cached step or cache_first) but cache.enabled is false")
		}
		r := fallback.Route{Name: name, Steps: steps, CacheFirst: rt.CacheFirst, ClampMaxTokens: rt.ClampMaxTokens}
		if err := r.Validate(); err != nil {
			v.problem(p, "%s", strings.TrimPrefix(err.Error(), fallback.ErrInvalidRoute.Error()+": "))
			continue
		}
		v.r.routes = append(v.r.routes, r)
	}
	v.r.cacheOn = usesCache
	if c.Cache.Enabled != nil {
		v.r.cacheOn = *c.Cache.Enabled
	}
}

// checkStep checks that a model step is priced and has an upstream that speaks its API.
func (v *validator) checkStep(path string, s fallback.Step) {
	m, ok := v.lookupModel(path, s.Model)
	up := s.Provider
	if up == "" {
		if !ok {
			return
		}
		up = m.Provider
	}
	kind, known := v.r.upstreams[up]
	if _, declared := v.c.Upstreams[up]; !declared {
		if s.Provider != "" {
			v.problem(path, "step %q: no upstream named %q", s.String(), up)
		} else {
			v.problem(path, "step %q: no upstream named %q, where %s models go; add one or write upstream/%s", s.String(), up, up, s.Model)
		}
		return
	}
	if ok && known && kind != m.Provider {
		v.problem(path, "step %q: %s is priced as an %s model but upstream %q speaks %s", s.String(), m.Name, m.Provider, up, kind)
	}
}

func (v *validator) quotas() {
	c := v.c
	seen := map[string]int{}
	for i, q := range c.Quotas {
		p := fmt.Sprintf("quotas[%d]", i)
		r := quota.Rule{Name: q.Name, WarnAt: q.WarnAt, DowngradeAt: q.DowngradeAt}
		ok := true
		fail := func(field, format string, args ...any) {
			v.problem(p+field, format, args...)
			ok = false
		}
		switch {
		case q.Name == "":
			fail(".name", "is required: it names the quota in errors, metrics and state keys")
		case !namePattern.MatchString(q.Name):
			fail(".name", "invalid quota name %q: want letters, digits, '.', '_' or '-'", q.Name)
		default:
			if j, dup := seen[q.Name]; dup {
				fail(".name", "%q is already the name of quotas[%d]: quotas with one name would share their counters", q.Name, j)
			}
			seen[q.Name] = i
		}
		for _, dim := range sortedKeys(q.Scope) {
			val := q.Scope[dim]
			fp := p + ".scope." + dim
			if err := r.Scope.SetLabel(dim, val); err != nil {
				v.nameProblem(fp, "unknown scope label %q: want provider, model, tenant, key, agent or session", dim)
				ok = false
				continue
			}
			switch {
			case val == "":
				fail(".scope."+dim, "is empty: want a value, or \"*\" for one quota per distinct value")
			case val == quota.Each:
			case dim == "model":
				if m, found := v.lookupModel(fp, val); found {
					// Requests are labelled with the model's canonical name.
					r.Scope.Model = m.Name
				} else {
					ok = false
				}
			case dim == "provider":
				if _, declared := c.Upstreams[val]; !declared {
					fail(".scope.provider", "no upstream named %q (the provider label is the upstream's name)", val)
				}
			}
		}
		unit, err := quota.ParseUnit(q.Unit)
		switch {
		case q.Unit == "":
			fail(".unit", "is required: requests, input_tokens, output_tokens, tokens, usd or concurrent")
		case err != nil:
			fail(".unit", "unknown unit %q: want requests, input_tokens, output_tokens, tokens, usd or concurrent", q.Unit)
		default:
			r.Unit = unit
		}
		win := q.Window
		if win == "" && unit == quota.Concurrent {
			win = "lease"
		}
		switch w, err := ParseWindow(win, v.r.loc); {
		case win == "":
			fail(".window", "is required: a rate period (minute, hour, 10s), day, month, lifetime or lease")
		case err != nil:
			fail(".window", "%v", err)
		default:
			r.Window = w
			switch {
			case unit == quota.Concurrent && w.Kind != quota.Lease:
				fail(".window", "concurrent counts calls in flight: its window is lease, not %q", q.Window)
			case unit != 0 && unit != quota.Concurrent && w.Kind == quota.Lease:
				fail(".window", "a lease counts calls in flight: use unit concurrent, or a rate or budget window for %s", q.Unit)
			}
		}
		if q.Limit == "" {
			fail(".limit", "is required")
		} else if n, err := ParseAmount(string(q.Limit), q.Unit); err != nil {
			fail(".limit", "%v", err)
		} else if n <= 0 {
			fail(".limit", "must be positive")
		} else {
			r.Limit = n
		}
		if q.Burst != "" {
			n, err := ParseAmount(string(q.Burst), q.Unit)
			switch {
			case err != nil:
				fail(".burst", "%v", err)
			case r.Window.Kind != 0 && r.Window.Kind != quota.Rate:
				fail(".burst", "applies to rate windows only, not %s", r.Window.Kind)
			default:
				r.Burst = n
			}
		}
		if q.WarnAt > 1 || math.IsNaN(q.WarnAt) {
			fail(".warn_at", "want a fraction of the limit in (0, 1], or a negative value to disable, got %v", q.WarnAt)
		}
		if q.DowngradeAt < 0 || q.DowngradeAt > 1 || math.IsNaN(q.DowngradeAt) {
			fail(".downgrade_at", "want a fraction of the limit in [0, 1], got %v", q.DowngradeAt)
		}
		if !ok {
			continue
		}
		if err := r.Validate(); err != nil {
			v.problem(p, "%v", err)
			continue
		}
		v.r.rules = append(v.r.rules, r)
	}
}

// models checks the gateway's list of callable models and routes.
func (v *validator) models() {
	seen := map[string]int{}
	for i, m := range v.c.Models {
		p := fmt.Sprintf("models[%d]", i)
		if j, dup := seen[m]; dup {
			v.problem(p, "%q is already models[%d]", m, j)
			continue
		}
		seen[m] = i
		if _, isRoute := v.c.Routes[m]; !isRoute {
			v.lookupModel(p, m)
		}
	}
}

func (v *validator) keys() {
	c := v.c
	if len(c.Keys) == 0 && c.Admin == nil {
		v.problem("keys", "at least one virtual key is required: agents authenticate with one (or add an admin section, "+
			"whose API creates keys at run time)")
	}
	ids := map[string]int{}
	hashes := map[[32]byte]int{}
	for i, k := range c.Keys {
		p := fmt.Sprintf("keys[%d]", i)
		switch {
		case k.ID == "":
			v.problem(p+".id", "is required")
		default:
			if j, dup := ids[k.ID]; dup {
				v.problem(p+".id", "%q is already the id of keys[%d]", k.ID, j)
			}
			ids[k.ID] = i
		}
		if k.Tenant == "" {
			v.problem(p+".tenant", "is required: who pays for the key's requests")
		}
		switch {
		case k.KeySHA256 != "" && k.KeyEnv != "":
			v.problem(p, "set one of key_sha256 and key_env, not both")
		case k.KeySHA256 == "" && k.KeyEnv == "":
			v.problem(p, "the secret is missing: set key_sha256 (hex SHA-256 of the secret) or key_env (the variable holding it)")
		case k.KeySHA256 != "":
			h, ok := parseHash(k.KeySHA256)
			if !ok {
				v.problem(p+".key_sha256", "want 64 hex digits (sha256sum of the secret); a secret itself belongs in key_env's variable")
				break
			}
			if j, dup := hashes[h]; dup {
				v.problem(p+".key_sha256", "equals the hash of keys[%d]: secrets must be unique", j)
			}
			hashes[h] = i
			v.r.hashes[i] = h
		case !validEnvName(k.KeyEnv):
			v.problem(p+".key_env", "%q is not an environment variable name", redactName(k.KeyEnv))
		}
		for j, m := range k.AllowedModels {
			if _, isRoute := c.Routes[m]; isRoute {
				continue
			}
			v.lookupModel(fmt.Sprintf("%s.allowed_models[%d]", p, j), m)
		}
		if k.MaxPriority < -1 || k.MaxPriority > 3 {
			v.problem(p+".max_priority", "want -1 (low) to 3 (critical), got %d", k.MaxPriority)
		}
	}
}

// sections checks the sections that map one to one onto a library Config.
func (v *validator) sections() {
	c := v.c
	q := c.Queue
	v.nonNegative("queue.max_wait", q.MaxWait)
	v.nonNegative("queue.recheck", q.Recheck)
	if q.MaxQueued < 0 {
		v.problem("queue.max_queued", "must not be negative, got %d", q.MaxQueued)
	}
	if q.MaxQueuedAll < 0 {
		v.problem("queue.max_queued_all", "must not be negative, got %d", q.MaxQueuedAll)
	}
	for _, t := range sortedKeys(q.Weights) {
		if q.Weights[t] <= 0 {
			v.problem("queue.weights."+t, "must be positive, got %d", q.Weights[t])
		}
	}

	r := c.Retry
	if r.MaxAttempts < 0 {
		v.problem("retry.max_attempts", "must not be negative, got %d", r.MaxAttempts)
	}
	v.nonNegative("retry.initial", r.Initial)
	v.nonNegative("retry.max", r.Max)
	v.nonNegative("retry.max_server_wait", r.MaxServerWait)
	if r.Multiplier != 0 && !(r.Multiplier >= 1 && !math.IsInf(r.Multiplier, 1)) {
		v.problem("retry.multiplier", "want a finite number of at least 1, got %v", r.Multiplier)
	} else if r.Initial >= 0 && r.Max >= 0 {
		if err := c.retryPolicy().Validate(); err != nil {
			v.problem("retry.max", "is below retry.initial (with defaults 500ms and 20s)")
		}
	}
	if r.ChainAttempts < 0 {
		v.problem("retry.chain_attempts", "must not be negative, got %d", r.ChainAttempts)
	}
	v.nonNegative("retry.fallback_after", r.FallbackAfter)

	b := c.RetryBudget
	if !(b.Ratio >= 0 && b.Ratio <= 1) {
		v.problem("retry_budget.ratio", "want a fraction in [0, 1] (0.1 is 10%%), got %v", b.Ratio)
	}
	if b.Window < 0 || (b.Window > 0 && b.Window.D() < time.Microsecond) {
		v.problem("retry_budget.window", "want a positive duration such as 10s, got %v", b.Window.D())
	}
	if math.IsNaN(b.MinPerSecond) || math.IsInf(b.MinPerSecond, 0) {
		v.problem("retry_budget.min_per_second", "must be finite")
	}

	cd := c.Cooldown
	v.nonNegative("cooldown.initial", cd.Initial)
	v.nonNegative("cooldown.max", cd.Max)
	v.nonNegative("cooldown.probe_timeout", cd.ProbeTimeout)
	if cd.FailureThreshold < 0 {
		v.problem("cooldown.failure_threshold", "must not be negative, got %d", cd.FailureThreshold)
	}
	if cd.Initial >= 0 && cd.Max >= 0 && cd.ProbeTimeout >= 0 && cd.FailureThreshold >= 0 {
		if err := c.cooldownConfig().Validate(); err != nil {
			v.problem("cooldown.max", "is below cooldown.initial (with defaults 30s and 5m)")
		}
	}

	v.nonNegative("cache.ttl", c.Cache.TTL)
	v.ledger()
}

func (v *validator) ledger() {
	lg := v.c.Ledger
	v.nonNegative("ledger.commit_interval", lg.CommitInterval)
	v.nonNegative("ledger.heartbeat_ttl", lg.HeartbeatTTL)
	if lg.MaxConns < 0 {
		v.problem("ledger.max_conns", "must not be negative, got %d", lg.MaxConns)
	}
	if strings.ContainsRune(lg.Path, '?') {
		v.problem("ledger.path", "must not contain '?'")
	}
	backend, err := ledger.ParseBackend(lg.Backend)
	if err != nil {
		v.problem("ledger.backend", "unknown backend %q: want sqlite or postgres", lg.Backend)
		return
	}
	for _, f := range []struct{ path, env string }{{"ledger.url_env", lg.URLEnv}, {"ledger.instance_env", lg.InstanceEnv}} {
		if f.env != "" && !validEnvName(f.env) {
			v.problem(f.path, "%q is not an environment variable name (letters, digits, _)", f.env)
		}
	}
	switch backend {
	case ledger.Postgres:
		if lg.URLEnv == "" {
			v.problem("ledger.url_env", "is required for backend postgres: the variable that holds the PostgreSQL URL")
		}
		if lg.Path != "" {
			v.problem("ledger.path", "is only for backend sqlite")
		}
	default:
		for _, f := range []struct {
			path string
			set  bool
		}{{"ledger.url_env", lg.URLEnv != ""}, {"ledger.instance_env", lg.InstanceEnv != ""},
			{"ledger.heartbeat_ttl", lg.HeartbeatTTL != 0}, {"ledger.recover_interval", lg.RecoverInterval != 0},
			{"ledger.max_conns", lg.MaxConns != 0}} {
			if f.set {
				v.problem(f.path, "is only for backend postgres")
			}
		}
	}
}

func (v *validator) redis() {
	rd := v.c.Redis
	if rd == nil {
		return
	}
	switch rd.Mode {
	case "", "single", "sentinel", "cluster":
	default:
		v.problem("redis.mode", "unknown mode %q: want single, sentinel or cluster", rd.Mode)
	}
	switch {
	case rd.URL == "" && len(rd.Addrs) == 0:
		v.problem("redis", "set url or addrs")
	case rd.URL != "" && len(rd.Addrs) > 0:
		v.problem("redis", "set url or addrs, not both")
	case rd.URL != "":
		// The URL may hold a password: never echo it.
		if rd.Mode == "sentinel" {
			v.problem("redis.url", "sentinel mode takes addrs (the sentinels) and master_name, not url")
		} else if _, err := rd.clientOptions(""); err != nil {
			v.problem("redis.url", "want a URL such as redis://host:6379/0 (rediss:// for TLS)")
		}
	default:
		for i, a := range rd.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				v.problem(fmt.Sprintf("redis.addrs[%d]", i), "want host:port, got %q", a)
			}
		}
		if (rd.Mode == "" || rd.Mode == "single") && len(rd.Addrs) > 1 {
			v.problem("redis.addrs", "single mode takes one address; set mode: cluster or sentinel for more")
		}
	}
	if rd.Mode == "sentinel" && rd.MasterName == "" {
		v.problem("redis.master_name", "is required in sentinel mode")
	}
	if rd.MasterName != "" && rd.Mode != "sentinel" {
		v.problem("redis.master_name", "applies to sentinel mode only")
	}
	if rd.DB < 0 {
		v.problem("redis.db", "must not be negative, got %d", rd.DB)
	}
	if rd.DB != 0 && rd.Mode == "cluster" {
		v.problem("redis.db", "a cluster has database 0 only")
	}
	if rd.PasswordEnv != "" && !validEnvName(rd.PasswordEnv) {
		v.problem("redis.password_env", "%q is not an environment variable name", redactName(rd.PasswordEnv))
	}
	v.nonNegative("redis.timeout", rd.Timeout)
	v.nonNegative("redis.lease_ttl", rd.LeaseTTL)
	v.nonNegative("redis.probe_interval", rd.ProbeInterval)
	v.nonNegative("redis.rebuild_timeout", rd.RebuildTimeout)
	if rd.Outbox < 0 {
		v.problem("redis.outbox", "must not be negative, got %d", rd.Outbox)
	}
	p, err := redisstore.ParsePolicy(rd.FailurePolicy)
	if err != nil {
		v.problem("redis.failure_policy", "unknown policy %q: want fail_closed or fail_open_local", rd.FailurePolicy)
	}
	v.r.policy = p
	if rd.Replicas < 0 {
		v.problem("redis.replicas", "must not be negative, got %d", rd.Replicas)
	}
	if strings.ContainsAny(rd.SlotGroup, "{}") {
		v.problem("redis.slot_group", "must not contain '{' or '}'")
	}
}

// byPathOK reports whether path exists in the file.
func (ix *index) byPathOK(path string) (entry, bool) {
	if ix == nil {
		return entry{}, false
	}
	e, ok := ix.byPath[path]
	return e, ok
}
