package demo

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/pricing"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// tenant is the one tenant of the demo; its daily budget covers every session.
const tenant = "demo"

// Run starts the emulator on a loopback port, builds the engine over the real provider
// adapters pointed at it, starts the gateway over the engine on another loopback port, runs
// the agent swarm against the gateway (official OpenAI SDK, one virtual key per session;
// with cfg.Direct, against the engine in-process) for cfg.Duration with live progress on
// cfg.Out, waits for the requests in flight and the gateway's drain, then prints the report (and writes the HTML
// report when cfg.HTML is set). It returns the report whatever its invariants say: call
// Report.Check for them. An error means the run itself could not be set up or reported.
//
// Cancelling ctx ends the run early: agents stop, requests in flight are cancelled, and the
// report covers what happened until then.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()

	// The emulator outlives a cancelled ctx until the agents have stopped, so that requests
	// in flight end with an answer or a cancellation, not a refused connection.
	srv, err := emulator.Start(context.WithoutCancel(ctx), emulatorConfig(cfg), "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	defer srv.Close()

	// One transport for both adapters, closed at the end so that no keep-alive
	// connection outlives the run.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 256
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport}
	oai, err := openai.New(openai.Config{BaseURL: srv.URL() + "/v1", APIKey: "sk-demo", HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	ant, err := anthropic.New(anthropic.Config{BaseURL: srv.URL(), APIKey: "sk-ant-demo", HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}

	sessions := sessionBudgets(cfg)
	rules, err := rules(cfg, sessions)
	if err != nil {
		return nil, err
	}
	routes, err := fallback.NewRoutes(
		fallback.Route{Name: routeSmart, CacheFirst: true, ClampMaxTokens: true, Steps: []fallback.Step{
			{Model: "gpt-4o"}, {Model: "gpt-4o-mini"}, {Kind: fallback.StepCached},
			{Kind: fallback.StepStatic, Message: "The service is busy; here is a short answer from the playbook."}}},
		fallback.Route{Name: routeFast, CacheFirst: true, ClampMaxTokens: true, Steps: []fallback.Step{
			{Model: "gpt-4o-mini"}, {Model: "claude-haiku-4-5"}, {Kind: fallback.StepCached}}},
	)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	store := quota.NewMemoryStore(quota.MemoryConfig{})
	start := time.Now()
	col := newCollector(start)
	eng, err := engine.New(engine.Config{
		Providers: map[string]llm.Provider{"openai": oai, "anthropic": ant},
		Routes:    routes,
		Rules:     rules,
		Store:     store,
		Queue:     queue.Config{MaxWait: cfg.MaxWait},
		Cooldown:  fallback.CooldownConfig{Cooldown: 5 * time.Second, MaxCooldown: 20 * time.Second},
		Cache:     cache.New(cache.Config{}),
		OnEvent:   col.on,
		// Budget warnings are counted from events; a log line would tear the progress bar.
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}

	counts := &agentCounts{}
	agents := swarm(cfg, sessions, counts)
	var c client = engineClient{eng: eng}
	var gw *gatewayRun
	if !cfg.Direct {
		gw, err = startGateway(ctx, eng, sessions)
		if err != nil {
			return nil, err
		}
		defer gw.stop()
		c = gw.client
	}
	stopAt := start.Add(cfg.Duration)
	drainCtx, cancelDrain := context.WithDeadline(ctx, stopAt.Add(cfg.Drain))
	defer cancelDrain()
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Go(func() { a.run(drainCtx, c, stopAt) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	p := progressPrinter{cfg: cfg, col: col, counts: counts, start: start}
	p.loop(done)

	// The gateway drains first: every agent has its answer, but a handler may still be
	// settling the reservation of one it just sent. Serve returns once none runs.
	var view *gatewayView
	if gw != nil {
		view = gw.stop()
	}
	_ = eng.Close()
	// The adapters' idle connections go first: one dialled for a request cancelled before
	// it was sent is new to the emulator, whose Shutdown would wait 5s for it to speak.
	transport.CloseIdleConnections()
	// Shutdown, not Close: a handler counts an answer just after writing it, so the
	// counters are final only once every handler has returned.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	_ = srv.Shutdown(shutdownCtx)
	cancel()
	rep := buildReport(ctx, cfg, reportInputs{start: start, eng: eng, store: store, emu: srv.Stats(),
		col: col, counts: counts, sessions: sessions, agents: agents, rules: rules, gateway: view})
	rep.WriteText(cfg.Out)
	if cfg.HTML != "" {
		if err := rep.WriteHTMLFile(cfg.HTML); err != nil {
			return rep, err
		}
		rep.HTMLPath = cfg.HTML
		fmt.Fprintf(cfg.Out, "\nHTML report: %s\n", cfg.HTML)
	}
	return rep, nil
}

// sessionBudget is one session's lifetime budget.
type sessionBudget struct {
	name   string
	budget int64
}

func sessionBudgets(cfg Config) []sessionBudget {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5e55))
	out := make([]sessionBudget, cfg.Sessions)
	span := cfg.Budgets.SessionMax - cfg.Budgets.SessionMin
	for i := range out {
		b := cfg.Budgets.SessionMin
		if span > 0 {
			// Budgets in whole tenths of a cent, so that the report reads well.
			b += rng.Int64N(span+1) / 1000 * 1000
		}
		out[i] = sessionBudget{name: fmt.Sprintf("s%d", i+1), budget: b}
	}
	return out
}

func swarm(cfg Config, sessions []sessionBudget, counts *agentCounts) []*agent {
	faq := faqPrompts(cfg.Seed, 12)
	out := make([]*agent, cfg.Agents)
	for i := range out {
		out[i] = &agent{id: i, name: fmt.Sprintf("agent-%02d", i+1), session: sessions[i%len(sessions)].name,
			priority: priorities[i/len(sessions)%len(priorities)], rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1)),
			think: cfg.Think, faq: faq, counts: counts}
	}
	return out
}

func emulatorConfig(cfg Config) emulator.Config {
	defaults := emulator.DefaultModels()
	models := map[string]emulator.Model{}
	for _, m := range cfg.Models {
		em := defaults[m.Name]
		lim := m.Upstream
		em.Limits = &lim
		models[m.Name] = em
	}
	return emulator.Config{Seed: cfg.Seed, Models: models, Faults: *cfg.Faults, Latency: *cfg.Latency,
		Output: emulator.Output{MinTokens: 30, MaxTokens: 400}}
}

// rules are the demo's quotas: per-model rates, a global concurrency limit, one lifetime
// budget per session and the tenant's daily budget.
func rules(cfg Config, sessions []sessionBudget) (quota.Rules, error) {
	prices := pricing.Default()
	var rs quota.Rules
	for _, m := range cfg.Models {
		pm, err := prices.Lookup(m.Name)
		if err != nil {
			return nil, fmt.Errorf("demo: Config.Models: %w", err)
		}
		scope := quota.Labels{Provider: pm.Provider, Model: pm.Name}
		if m.RPM > 0 {
			rs = append(rs, quota.Rule{Name: "rpm", Scope: scope, Unit: quota.Requests, Limit: m.RPM, Window: quota.PerMinute()})
		}
		if m.TPM > 0 {
			rs = append(rs, quota.Rule{Name: "tpm", Scope: scope, Unit: quota.Tokens, Limit: m.TPM, Window: quota.PerMinute()})
		}
	}
	rs = append(rs, quota.Rule{Name: "in-flight", Unit: quota.Concurrent, Limit: int64(cfg.Concurrency), Window: quota.Leased()})
	b := cfg.Budgets
	for _, s := range sessions {
		rs = append(rs, quota.Rule{Name: "session-usd", Scope: quota.Labels{Session: s.name}, Unit: quota.MicroUSD,
			Limit: s.budget, Window: quota.Forever(), WarnAt: b.WarnAt, DowngradeAt: b.DowngradeAt})
	}
	rs = append(rs, quota.Rule{Name: "tenant-day-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD,
		Limit: b.Daily, Window: quota.Daily(time.UTC), WarnAt: b.WarnAt, DowngradeAt: b.DowngradeAt})
	for i := range rs {
		if err := rs[i].Validate(); err != nil {
			return nil, fmt.Errorf("demo: rule %d: %w", i, err)
		}
	}
	return rs, nil
}
