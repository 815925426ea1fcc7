package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/metrics"
)

// Gateway is tollgate's HTTP server. It is an http.Handler, safe for concurrent use; Serve
// and ListenAndServe run it on a listener with timeouts and graceful shutdown.
type Gateway struct {
	cfg     Config
	eng     *engine.Engine
	keys    KeyFinder
	models  map[string]int // Config.Models, with the largest max_tokens of each (resolve)
	metrics *metrics.Metrics
	log     *slog.Logger
	mux     *http.ServeMux
	// live holds what Update changes; each request reads it once.
	live atomic.Pointer[live]
	// tracked says whether requests are tracked for the engine's Settled event: only when
	// the logger writes Info lines, the only ones with tokens to report.
	tracked bool
	// inflight finds a request's exchange by its id, for the engine's Settled event.
	inflight sync.Map

	draining atomic.Bool
	mu       sync.Mutex // guards active and idle
	active   int
	idle     chan struct{} // closed when active drops to 0 while draining
}

var _ http.Handler = (*Gateway)(nil)

// New validates cfg and returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g := &Gateway{cfg: cfg, eng: cfg.Engine, keys: cfg.Keys, metrics: cfg.Metrics, log: cfg.Logger}
	g.tracked = cfg.Logger.Enabled(context.Background(), slog.LevelInfo)
	g.live.Store(newLive(cfg.Logger, cfg.Settings()))
	if g.metrics == nil {
		var tenants []string
		if lister, ok := cfg.Keys.(interface{ Keys() []keys.Key }); ok {
			for _, k := range lister.Keys() {
				tenants = append(tenants, k.Tenant)
			}
		}
		m, err := metrics.New(metrics.Config{Routes: cfg.Models, Tenants: tenants, Prices: cfg.Engine.Pricing()})
		if err != nil {
			return nil, fmt.Errorf("gateway: metrics: %w", err)
		}
		g.metrics = m
	}
	g.metrics.WatchQueue(cfg.Engine.Queue())
	if len(cfg.Models) > 0 {
		g.models = make(map[string]int, len(cfg.Models))
		for _, m := range cfg.Models {
			maxOut, _ := g.routeMaxOutput(m)
			g.models[m] = maxOut
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { g.complete(w, r, openAIWire) })
	mux.HandleFunc("POST /v1/messages", func(w http.ResponseWriter, r *http.Request) { g.complete(w, r, anthropicWire) })
	mux.HandleFunc("POST /v1/responses", func(w http.ResponseWriter, r *http.Request) { g.complete(w, r, responsesWire) })
	mux.HandleFunc("POST /v1/embeddings", func(w http.ResponseWriter, r *http.Request) { g.complete(w, r, embeddingsWire) })
	mux.HandleFunc("POST /v1/messages/count_tokens", g.countTokens)
	mux.HandleFunc("GET /v1/models", g.listModels)
	mux.HandleFunc("GET /v1/models/{id...}", g.getModel)
	mux.HandleFunc("GET /healthz", g.healthz)
	mux.HandleFunc("GET /readyz", g.readyz)
	if cfg.ServeMetrics {
		mux.Handle("GET /metrics", g.metrics.Handler())
	}
	mux.HandleFunc("/", g.notFound)
	g.mux = mux
	return g, nil
}

// Metrics returns the gateway's metrics.
func (g *Gateway) Metrics() *metrics.Metrics { return g.metrics }

// live is what Update swaps: the access log (its sampling and refusal limiter) and the
// status of budget refusals.
type live struct {
	settings     Settings
	access       *accessLog
	budgetStatus int
}

func newLive(log *slog.Logger, s Settings) *live {
	interval := s.RefusalLogInterval
	if interval == 0 {
		interval = DefaultRefusalLogInterval
	}
	return &live{settings: s, access: newAccessLog(log, s.AccessLogSample, interval), budgetStatus: s.BudgetStatus}
}

// Update changes the settings of a Gateway that serves: requests that start after it
// returns use s, those in flight finish with what they started with. The refusal limiter
// starts over. It fails, changing nothing, when s is invalid. It is safe for concurrent
// use.
func (g *Gateway) Update(s Settings) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("gateway: update: %w", err)
	}
	g.live.Store(newLive(g.log, s))
	return nil
}

// ServeHTTP serves one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.active++
	g.mu.Unlock()
	defer g.done()
	g.mux.ServeHTTP(w, r)
}

func (g *Gateway) done() {
	g.mu.Lock()
	g.active--
	if g.active == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	g.mu.Unlock()
}

// ListenAndServe listens on addr and calls Serve.
func (g *Gateway) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	return g.Serve(ctx, ln)
}

// handlerGrace bounds the wait for handlers after their connections were cut at the end of
// ShutdownTimeout: they only have to notice the cancellation and settle.
const handlerGrace = 5 * time.Second

// Serve serves on ln until ctx is cancelled, then shuts down gracefully: /readyz turns 503,
// no new connection is accepted, and in-flight requests (streams included) may finish for
// up to Config.ShutdownTimeout; those still running then are cut, which cancels them so
// that their reservations settle. Serve returns once every handler has returned (or
// handlerGrace after the cut), so that the caller may close the engine and flush its
// ledger. It returns nil after a clean drain, an error when requests had to be cut, and
// the server's error if serving failed.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: g.cfg.ReadHeaderTimeout,
		ReadTimeout:       g.cfg.ReadTimeout,
		IdleTimeout:       g.cfg.IdleTimeout,
		// No WriteTimeout: a stream lasts as long as it lasts; Config.RequestTimeout bounds
		// each request instead.
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gateway: serve: %w", err)
	case <-ctx.Done():
	}
	g.draining.Store(true)
	g.log.Info("gateway: shutting down", "drain", g.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		err = fmt.Errorf("gateway: shutdown: requests still running after %v were cut: %w", g.cfg.ShutdownTimeout, err)
		_ = srv.Close()
	}
	<-errc
	if !g.waitIdle(handlerGrace) {
		g.log.Error("gateway: handlers still running after shutdown", "grace", handlerGrace)
	}
	return err
}

// waitIdle waits until no handler runs, for at most d.
func (g *Gateway) waitIdle(d time.Duration) bool {
	g.mu.Lock()
	if g.active == 0 {
		g.mu.Unlock()
		return true
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ok"}` + "\n"))
}

func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	type report struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks,omitempty"`
	}
	rep := report{Status: "ready"}
	status := http.StatusOK
	if g.draining.Load() {
		rep.Status, status = "shutting down", http.StatusServiceUnavailable
	}
	for name, check := range g.cfg.Ready {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		err := check(ctx)
		cancel()
		if rep.Checks == nil {
			rep.Checks = map[string]string{}
		}
		rep.Checks[name] = "ok"
		if err != nil {
			rep.Checks[name] = err.Error()
			if status == http.StatusOK {
				rep.Status, status = "not ready", http.StatusServiceUnavailable
			}
		}
	}
	writeJSON(w, status, rep)
}

func (g *Gateway) notFound(w http.ResponseWriter, r *http.Request) {
	f := llm.OpenAI
	if r.Header.Get("Anthropic-Version") != "" || strings.HasPrefix(r.URL.Path, "/v1/messages") {
		f = llm.Anthropic
	}
	e := &apiError{status: http.StatusNotFound, oaType: "invalid_request_error", anType: "not_found_error",
		outcome: outcomeNotFound, msg: "tollgate serves POST /v1/chat/completions, /v1/responses, /v1/embeddings, " +
			"/v1/messages and /v1/messages/count_tokens, and GET /v1/models and /v1/models/{id}; not " +
			headerValue(r.Method+" "+r.URL.Path)}
	switch r.URL.Path {
	case "/v1/chat/completions", "/v1/messages", "/v1/models", "/v1/responses", "/v1/embeddings", "/v1/messages/count_tokens":
		e.status, e.msg = http.StatusMethodNotAllowed, "method "+headerValue(r.Method)+" not allowed on "+r.URL.Path
	}
	writeError(w, f, e, g.live.Load().budgetStatus)
}
