package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/llm"
)

// The tests below step the breakers' clock with Cooldowns.offset, which every script adds
// to the server's TIME. Steps stay a second or more away from every boundary, so the real
// time a test takes (milliseconds) cannot move a decision.

var testCooldown = fallback.CooldownConfig{Cooldown: 10 * time.Second, FailureThreshold: 3,
	MaxCooldown: 80 * time.Second, ProbeTimeout: 20 * time.Second}

// replicas returns n Cooldowns on srv, each with its own client and round-trip counter,
// sharing one slot group of their own: n gateway replicas.
func replicas(t testing.TB, srv *redistest.Server, n int, cfg CooldownsConfig) ([]*Cooldowns, []*recorder) {
	t.Helper()
	if cfg.CooldownConfig == (fallback.CooldownConfig{}) {
		cfg.CooldownConfig = testCooldown
	}
	if cfg.SlotGroup == "" {
		cfg.SlotGroup = fmt.Sprintf("cd%d", groups.Add(1))
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second // see newStore
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	cs := make([]*Cooldowns, n)
	recs := make([]*recorder, n)
	for i := range n {
		opt := srv.Options()
		opt.PoolSize = 64
		opt.DialerRetries = 1
		c := redis.NewClient(opt)
		t.Cleanup(func() { _ = c.Close() })
		recs[i] = &recorder{}
		c.AddHook(recs[i])
		cfg := cfg
		cfg.Fallback = nil // each replica has its own local breakers
		var err error
		if cs[i], err = NewCooldowns(c, cfg); err != nil {
			t.Fatal(err)
		}
	}
	return cs, recs
}

// at moves every replica's clock to offset d past the test's start.
func at(cs []*Cooldowns, d time.Duration) {
	for _, c := range cs {
		c.offset = d
	}
}

func rateLimited(retryAfter time.Duration) error {
	return &llm.Error{Kind: llm.KindRateLimited, Provider: "openai", Status: 429, RetryAfter: retryAfter}
}

var (
	errServer = &llm.Error{Kind: llm.KindServer, Provider: "openai", Status: 500}
	errAuth   = &llm.Error{Kind: llm.KindAuth, Provider: "openai", Status: 401}
	errBad    = &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Status: 400}
)

// TestCooldownsShared runs one breaker as two replicas: a 429 seen by A keeps B away for
// the server's Retry-After, one probe goes through across both, its success closes both.
func TestCooldownsShared(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cs, _ := replicas(t, srv, 2, CooldownsConfig{StateMaxAge: -1})
	a, b := cs[0], cs[1]
	const dep = "openai/gpt-4o"
	now := time.Now()

	done, _, ok := a.Allow(dep, now)
	if !ok {
		t.Fatal("A.Allow on a new deployment = not ok")
	}
	done(rateLimited(30*time.Second), now)

	if st := b.State(dep, now); st != fallback.Open {
		t.Errorf("B.State after A's 429 = %v, want open", st)
	}
	_, until, ok := b.Allow(dep, now)
	if ok {
		t.Fatal("B.Allow after A's 429 = ok, want cooling down")
	}
	// The server's clock ran on a little between the two calls: until is at most 30s away.
	if left := until.Sub(now); left > 30*time.Second || left < 29*time.Second {
		t.Errorf("B.Allow until = now+%v, want the 30s Retry-After", left)
	}

	at(cs, 29*time.Second)
	if _, _, ok := b.Allow(dep, now); ok {
		t.Error("B.Allow 29s into a 30s Retry-After = ok")
	}

	at(cs, 31*time.Second)
	const callers = 32
	var granted atomic.Int64
	var probe atomic.Pointer[func(error, time.Time)]
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			if d, _, ok := cs[i%2].Allow(dep, now); ok {
				granted.Add(1)
				probe.Store(&d)
			}
		})
	}
	wg.Wait()
	if g := granted.Load(); g != 1 {
		t.Fatalf("%d of %d concurrent half-open callers across two replicas got a probe, want 1", g, callers)
	}
	for i, c := range cs {
		if st := c.State(dep, now); st != fallback.HalfOpen {
			t.Errorf("replica %d State with the probe out = %v, want half-open", i, st)
		}
	}
	(*probe.Load())(nil, now)
	for i, c := range cs {
		if st := c.State(dep, now); st != fallback.Closed {
			t.Errorf("replica %d State after the probe's success = %v, want closed", i, st)
		}
		if _, _, ok := c.Allow(dep, now); !ok {
			t.Errorf("replica %d Allow after the probe's success = not ok", i)
		}
	}
}

// TestCooldownsLateDone: a call that started before a trip reports after the deployment has
// tripped, probed and closed again; its generation is gone, so its 429 changes nothing.
func TestCooldownsLateDone(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cs, _ := replicas(t, srv, 2, CooldownsConfig{StateMaxAge: -1})
	a, b := cs[0], cs[1]
	const dep = "anthropic/claude"
	now := time.Now()

	late, _, ok := a.Allow(dep, now)
	if !ok {
		t.Fatal("A.Allow = not ok")
	}
	d, _, _ := b.Allow(dep, now)
	d(errAuth, now) // open for MaxCooldown (80s)
	at(cs, 79*time.Second)
	if _, _, ok := a.Allow(dep, now); ok {
		t.Error("A.Allow 79s after an auth failure = ok, want open for MaxCooldown")
	}
	// The late result of the older generation does not touch the open breaker either.
	late(nil, now)
	if st := a.State(dep, now); st != fallback.Open {
		t.Errorf("State after a late success of an old generation = %v, want still open", st)
	}
	at(cs, 81*time.Second)
	probe, _, ok := b.Allow(dep, now)
	if !ok {
		t.Fatal("B.Allow after MaxCooldown = not ok, want the probe")
	}
	probe(nil, now)
	late2, _, _ := a.Allow(dep, now) // allowed while closed, at the new generation
	late2(errServer, now)
	if st := b.State(dep, now); st != fallback.Closed {
		t.Errorf("one server error after the close = %v, want closed (threshold 3)", st)
	}
}

type step struct {
	at   time.Duration
	op   string // "allow" (call id), "done" (call id, err), "state"
	call int
	err  error
}

// TestCooldownsMatchMemory runs each scenario on fallback.Cooldowns and on the Redis
// breaker and requires the same answers at every step: the scripts are the memory
// breaker's rules.
func TestCooldownsMatchMemory(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	allow := func(at time.Duration, call int) step { return step{at: at, op: "allow", call: call} }
	done := func(at time.Duration, call int, err error) step {
		return step{at: at, op: "done", call: call, err: err}
	}
	state := func(at time.Duration) step { return step{at: at, op: "state"} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"failures open at the threshold", []step{
			allow(0, 1), allow(0, 2), allow(0, 3), done(0, 1, errServer), done(0, 2, errServer), state(0),
			done(0, 3, errServer), state(0), allow(9*time.Second, 4), allow(11*time.Second, 5), state(12 * time.Second)}},
		{"a success resets the failures", []step{
			allow(0, 1), allow(0, 2), allow(0, 3), allow(0, 4), done(0, 1, errServer), done(0, 2, errServer),
			done(0, 3, nil), done(0, 4, errServer), state(0), allow(0, 5), done(0, 5, errServer), state(0)}},
		{"final and foreign errors do not count", []step{
			allow(0, 1), done(0, 1, errBad), allow(0, 2), done(0, 2, context.Canceled),
			allow(0, 3), done(0, 3, errors.New("eof")), state(0), allow(0, 4)}},
		{"429 without Retry-After opens for the backoff, then doubles", []step{
			allow(0, 1), done(0, 1, rateLimited(0)), allow(9*time.Second, 2), allow(11*time.Second, 3),
			done(11*time.Second, 3, rateLimited(0)), allow(30*time.Second, 4), state(32 * time.Second),
			allow(32*time.Second, 5), done(32*time.Second, 5, errServer), allow(71*time.Second, 6), allow(73*time.Second, 7),
			done(73*time.Second, 7, nil), state(73 * time.Second), allow(73*time.Second, 8), done(73*time.Second, 8, rateLimited(0)),
			allow(82*time.Second, 9), allow(84*time.Second, 10)}},
		{"Retry-After is capped at MaxCooldown", []step{
			allow(0, 1), done(0, 1, rateLimited(time.Hour)), allow(79*time.Second, 2), allow(81*time.Second, 3)}},
		{"auth opens for MaxCooldown", []step{
			allow(0, 1), done(0, 1, errAuth), allow(79*time.Second, 2), state(79 * time.Second), allow(81*time.Second, 3)}},
		{"one probe; a neutral result frees the slot", []step{
			allow(0, 1), done(0, 1, rateLimited(5*time.Second)), allow(6*time.Second, 2), allow(6*time.Second, 3),
			state(6 * time.Second), done(6*time.Second, 2, errBad), allow(7*time.Second, 4), allow(7*time.Second, 5),
			done(7*time.Second, 4, nil), state(7 * time.Second)}},
		{"a lost probe is replaced after ProbeTimeout and its late result ignored", []step{
			allow(0, 1), done(0, 1, rateLimited(5*time.Second)), allow(6*time.Second, 2), allow(25*time.Second, 3),
			allow(27*time.Second, 4), done(27*time.Second, 2, nil), state(27 * time.Second), done(27*time.Second, 4, errServer),
			allow(28*time.Second, 5), state(28 * time.Second), allow(48*time.Second, 6), allow(50*time.Second, 7)}},
		{"late results of an old generation are ignored", []step{
			allow(0, 1), allow(0, 2), done(0, 2, rateLimited(5*time.Second)), done(0, 1, nil), state(1 * time.Second),
			allow(6*time.Second, 3), done(6*time.Second, 3, errServer), done(6*time.Second, 1, nil),
			allow(6*time.Second, 4), state(6 * time.Second)}},
		{"done twice counts once", []step{
			allow(0, 1), allow(0, 2), done(0, 1, errServer), done(0, 1, errServer), done(0, 2, errServer), done(0, 1, errServer), state(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs, _ := replicas(t, srv, 1, CooldownsConfig{StateMaxAge: -1})
			r := cs[0]
			mem := fallback.NewCooldowns(testCooldown)
			base := time.Now()
			const dep = "openai/gpt-4o"
			memDone := map[int]func(error, time.Time){}
			redisDone := map[int]func(error, time.Time){}
			for i, s := range tt.steps {
				r.offset = s.at
				now := base.Add(s.at)
				switch s.op {
				case "allow":
					md, _, mok := mem.Allow(dep, now)
					rd, _, rok := r.Allow(dep, now)
					if rok != mok {
						t.Fatalf("step %d (allow %d at %v): redis ok = %v, want %v as in memory", i, s.call, s.at, rok, mok)
					}
					if s.call != 0 && mok {
						memDone[s.call], redisDone[s.call] = md, rd
					}
				case "done":
					if md := memDone[s.call]; md != nil {
						md(s.err, now)
						redisDone[s.call](s.err, now)
					}
				case "state":
					if got, want := r.State(dep, now), mem.State(dep, now); got != want {
						t.Fatalf("step %d (state at %v): redis = %v, want %v as in memory", i, s.at, got, want)
					}
				}
			}
		})
	}
}

// TestCooldownsRoundTrips counts round trips: Allow one, done one, State none within
// StateMaxAge of the last look, else one.
func TestCooldownsRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cs, recs := replicas(t, srv, 1, CooldownsConfig{})
	c, rec := cs[0], recs[0]
	const dep = "openai/gpt-4o"
	now := time.Now()
	var done func(error, time.Time)
	steps := []struct {
		name string
		op   func()
		want int64
	}{
		{"State, nothing seen yet", func() { c.State(dep, now) }, 1},
		{"State, seen now", func() { c.State(dep, now.Add(time.Second)) }, 0},
		{"State, seen over StateMaxAge ago", func() { c.State(dep, now.Add(1500*time.Millisecond)) }, 1},
		{"Allow, clean", func() { done, _, _ = c.Allow(dep, now) }, 1},
		{"success", func() { done(nil, now) }, 1},
		{"Allow", func() { done, _, _ = c.Allow(dep, now) }, 1},
		{"failure", func() { done(errServer, now) }, 1},
		{"Allow, a failure on record", func() { done, _, _ = c.Allow(dep, now) }, 1},
		{"success resets it", func() { done(nil, now) }, 1},
		{"Allow", func() { done, _, _ = c.Allow(dep, now) }, 1},
		{"429", func() { done(rateLimited(time.Minute), now) }, 1},
		{"State, open as seen by done", func() {
			if st := c.State(dep, now.Add(500*time.Millisecond)); st != fallback.Open {
				t.Errorf("State = %v, want open", st)
			}
		}, 0},
		{"Allow, open", func() { c.Allow(dep, now) }, 1},
	}
	for _, st := range steps {
		before := rec.trips.Load()
		st.op()
		if got := rec.trips.Load() - before; got != st.want {
			t.Errorf("%s took %d round trips, want %d", st.name, got, st.want)
		}
	}
}

// TestCooldownsStateSeen: State's local copy turns open into half-open when the open period
// it saw ends, in the caller's clock.
func TestCooldownsStateSeen(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cs, _ := replicas(t, srv, 1, CooldownsConfig{StateMaxAge: time.Minute})
	c := cs[0]
	const dep = "openai/gpt-4o"
	now := time.Now()
	done, _, _ := c.Allow(dep, now)
	done(rateLimited(10*time.Second), now)
	for _, tc := range []struct {
		after time.Duration
		want  fallback.State
	}{{0, fallback.Open}, {9 * time.Second, fallback.Open}, {11 * time.Second, fallback.HalfOpen}} {
		if got := c.State(dep, now.Add(tc.after)); got != tc.want {
			t.Errorf("State %v after a 10s 429 = %v, want %v", tc.after, got, tc.want)
		}
	}
}

// countingHandler counts log records by level.
type countingHandler struct {
	warn, info atomic.Int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	switch r.Level {
	case slog.LevelWarn:
		h.warn.Add(1)
	case slog.LevelInfo:
		h.info.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestCooldownsRedisDown: with Redis stopped each replica falls back to its own breakers,
// logs once, and rejoins when Redis answers again.
func TestCooldownsRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	logs := &countingHandler{}
	cs, _ := replicas(t, srv, 1, CooldownsConfig{StateMaxAge: -1, Logger: slog.New(logs), ProbeInterval: time.Hour})
	c := cs[0]
	const dep = "openai/gpt-4o"
	now := time.Now()
	held, _, ok := c.Allow(dep, now) // allowed by Redis
	if !ok {
		t.Fatal("Allow = not ok")
	}
	srv.Stop()

	done, _, ok := c.Allow(dep, now)
	if !ok || !c.Degraded() {
		t.Fatalf("Allow with Redis stopped = ok %v, degraded %v; want the local breaker's ok", ok, c.Degraded())
	}
	done(rateLimited(time.Minute), now)
	if _, _, ok := c.Allow(dep, now); ok {
		t.Error("Allow after a local 429 = ok, want the local breaker open")
	}
	if st := c.State(dep, now); st != fallback.Open {
		t.Errorf("State while degraded = %v, want the local open", st)
	}
	held(errServer, now) // Redis's call reports while Redis is down: counted locally
	if got := logs.warn.Load(); got != 1 {
		t.Errorf("%d warnings logged for one outage, want 1", got)
	}

	c.l.nextProbe.Store(0) // the probe is due: the next call tries Redis
	srv.Restart(t)
	if _, _, ok := c.Allow(dep, now); !ok || c.Degraded() {
		t.Errorf("Allow after the restart = ok %v, degraded %v; want Redis's closed breaker", ok, c.Degraded())
	}
	if got := logs.info.Load(); got != 1 {
		t.Errorf("%d info lines after the rejoin, want 1", got)
	}
}

// TestCooldownsSlowRedis: a Redis that accepts and never answers costs each call at most
// Timeout, then the local breakers serve.
func TestCooldownsSlowRedis(t *testing.T) {
	t.Parallel()
	addr := slowServer(t)
	for _, ctxAware := range []bool{true, false} {
		t.Run(map[bool]string{true: "context-aware client", false: "client ignoring contexts"}[ctxAware], func(t *testing.T) {
			c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: ctxAware, MaxRetries: -1, ReadTimeout: 200 * time.Millisecond})
			defer c.Close()
			cd, err := NewCooldowns(c, CooldownsConfig{SlotGroup: "slow", Timeout: 20 * time.Millisecond, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			done, _, ok := cd.Allow("openai/gpt-4o", now)
			if !ok || !cd.Degraded() {
				t.Fatalf("Allow against a hung Redis = ok %v, degraded %v; want the local breaker's ok", ok, cd.Degraded())
			}
			done(nil, now)
			if st := cd.State("openai/gpt-4o", now); st != fallback.Closed {
				t.Errorf("State = %v, want closed", st)
			}
		})
	}
}

func TestCooldownsConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  CooldownsConfig
		ok   bool
	}{
		{"zero", CooldownsConfig{}, true},
		{"braces", CooldownsConfig{SlotGroup: "a{b"}, false},
		{"negative timeout", CooldownsConfig{Timeout: -1}, false},
		{"tiny idle", CooldownsConfig{IdleTTL: time.Microsecond}, false},
		{"negative probe interval", CooldownsConfig{ProbeInterval: -1}, false},
		{"bad breaker", CooldownsConfig{CooldownConfig: fallback.CooldownConfig{Cooldown: time.Hour, MaxCooldown: time.Minute}}, false},
		{"negative StateMaxAge is allowed", CooldownsConfig{StateMaxAge: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
	if _, err := NewCooldowns(nil, CooldownsConfig{}); err == nil {
		t.Error("NewCooldowns(nil client) = nil error")
	}
}

// TestCooldownsKeyTTL: a tripped breaker lives past its open period and ProbeTimeout plus
// IdleTTL, so it cannot vanish while it matters; every key is in the slot group's slot.
func TestCooldownsKeyTTL(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cs, recs := replicas(t, srv, 1, CooldownsConfig{IdleTTL: time.Minute})
	c := cs[0]
	now := time.Now()
	done, _, _ := c.Allow("openai/gpt-4o", now)
	done(rateLimited(30*time.Second), now)
	rc := redis.NewClient(srv.Options())
	defer rc.Close()
	ttl, err := rc.PTTL(ctx, c.key("openai/gpt-4o")).Result()
	if err != nil {
		t.Fatal(err)
	}
	// 30s open + 20s ProbeTimeout + 1m idle, less the moment since.
	if want := 110 * time.Second; ttl > want || ttl < want-5*time.Second {
		t.Errorf("PTTL = %v, want about %v", ttl, want)
	}
	recs[0].mu.Lock()
	defer recs[0].mu.Unlock()
	for _, keys := range recs[0].keys {
		for _, k := range keys {
			if slot(k) != slot(c.prefix) {
				t.Errorf("key %q in slot %d, want the slot group's %d", k, slot(k), slot(c.prefix))
			}
		}
	}
}

// BenchmarkCooldownsCall is the breaker's cost per upstream call on a healthy deployment, as
// the engine pays it: State (answered locally), Allow and done, two round trips.
func BenchmarkCooldownsCall(b *testing.B) {
	srv := redistest.Start(b)
	cs, recs := replicas(b, srv, 1, CooldownsConfig{Timeout: time.Second})
	c := cs[0]
	b.ReportAllocs()
	before := recs[0].trips.Load()
	for b.Loop() {
		now := time.Now()
		c.State("openai/gpt-4o", now)
		done, _, ok := c.Allow("openai/gpt-4o", now)
		if !ok {
			b.Fatal("not allowed")
		}
		done(nil, now)
	}
	b.ReportMetric(float64(recs[0].trips.Load()-before)/float64(b.N), "trips/op")
}

// TestSharedOnCluster runs the breaker and the cache through a redis.ClusterClient against a
// real Redis Cluster node, whose own key checks then apply to every script.
func TestSharedOnCluster(t *testing.T) {
	t.Parallel()
	srv := redistest.StartCluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr()}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	cd, err := NewCooldowns(c, CooldownsConfig{CooldownConfig: testCooldown, Timeout: time.Minute, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	done, _, ok := cd.Allow("openai/gpt-4o", now)
	if !ok {
		t.Fatal("Allow = not ok")
	}
	done(errAuth, now)
	if _, _, ok := cd.Allow("openai/gpt-4o", now); ok || cd.Degraded() {
		t.Errorf("Allow after an auth failure = ok %v, degraded %v; want refused by Redis", ok, cd.Degraded())
	}
	rc, err := NewCache(c, CacheConfig{Timeout: time.Minute, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	k := testKey(t, "cluster")
	if err := rc.Put(ctx, k, testResponse(), t0); err != nil {
		t.Fatal(err)
	}
	if _, fresh, ok := rc.Get(ctx, k, t0); !ok || !fresh {
		t.Errorf("Get = fresh %v ok %v, want a fresh hit", fresh, ok)
	}
}

// TestCooldownsBreakersReset lists and resets the fleet's breakers as an operator does: a
// deployment opened by replica A is listed by replica B, as the memory breakers list it;
// B's reset closes it for both, a result of a call let through before the reset is
// ignored, and a reset of a deployment without state reports none. On a single Redis and
// on a Cluster node (the list scans the slot group's node).
func TestCooldownsBreakersReset(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) Client
	}{
		{"single", func(t *testing.T) Client {
			c := redis.NewClient(redistest.Start(t).Options())
			t.Cleanup(func() { _ = c.Close() })
			return c
		}},
		{"cluster", func(t *testing.T) Client {
			srv := redistest.StartCluster(t)
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr()}, ContextTimeoutEnabled: true})
			t.Cleanup(func() { _ = c.Close() })
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := tc.client(t)
			group := fmt.Sprintf("br%d", groups.Add(1))
			var cs []*Cooldowns
			for range 2 {
				c, err := NewCooldowns(client, CooldownsConfig{CooldownConfig: testCooldown, SlotGroup: group, StateMaxAge: -1,
					Timeout: 5 * time.Second, Logger: quietLogger()})
				if err != nil {
					t.Fatal(err)
				}
				cs = append(cs, c)
			}
			a, b := cs[0], cs[1]
			mem := fallback.NewCooldowns(testCooldown)
			now := time.Now()
			late, _, _ := a.Allow("openai/gpt-4o", now)
			for _, br := range []allower{a, mem} {
				for _, f := range []struct {
					dep string
					err error
				}{{"openai/gpt-4o", rateLimited(30 * time.Second)}, {"anthropic/claude", errServer}, {"x/[odd]*?", errServer}} {
					done, _, ok := br.Allow(f.dep, now)
					if !ok {
						t.Fatalf("Allow(%s) = not ok", f.dep)
					}
					done(f.err, now)
				}
			}
			got, want := b.Breakers(now), mem.Breakers(now)
			if diff := cmpBreakers(got, want); diff != "" {
				t.Errorf("B.Breakers() against the memory breakers' (-want +got):\n%s", diff)
			}
			if !b.Reset("openai/gpt-4o") || !mem.Reset("openai/gpt-4o") {
				t.Fatal("Reset of an open breaker = false, want true")
			}
			late(errServer, now) // let through before the reset: ignored
			for i, c := range cs {
				if st := c.State("openai/gpt-4o", now); st != fallback.Closed {
					t.Errorf("replica %d State after B's reset = %v, want closed", i, st)
				}
			}
			if diff := cmpBreakers(a.Breakers(now), mem.Breakers(now)); diff != "" {
				t.Errorf("A.Breakers() after the reset (-want +got):\n%s", diff)
			}
			if b.Reset("openai/never-failed") {
				t.Error("Reset of a deployment without state = true")
			}
		})
	}
}

// allower is what TestCooldownsBreakersReset drives on both implementations.
type allower interface {
	Allow(deployment string, now time.Time) (func(error, time.Time), time.Time, bool)
}

// cmpBreakers compares breakers, with open-until times within a second (the server's
// clock ran on between the calls).
func cmpBreakers(got, want []fallback.Breaker) string {
	return cmp.Diff(want, got, cmp.Comparer(func(x, y time.Time) bool {
		d := x.Sub(y)
		return d < time.Second && d > -time.Second
	}))
}
