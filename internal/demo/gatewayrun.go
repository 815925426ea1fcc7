package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/gateway"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/metrics"
)

// gatewayRun is the gateway of a run, serving on a loopback port, and the agents' client
// of it.
type gatewayRun struct {
	gw        *gateway.Gateway
	url       string // base URL, ending in /v1
	client    *gatewayClient
	transport *http.Transport
	cancel    context.CancelFunc
	served    chan error

	once sync.Once
	view *gatewayView
}

// gatewayView is what the gateway itself says about the run once drained.
type gatewayView struct {
	url string
	// outcomes are tollgate_requests_total from the gateway's own metrics, by outcome.
	outcomes map[string]int64
	// drainErr is Serve's error: requests were still running at the end of the drain.
	drainErr error
}

// startGateway starts the gateway over eng on 127.0.0.1:0 with one virtual key per
// session, all of the demo's tenant, and returns it with the agents' client.
func startGateway(ctx context.Context, eng *engine.Engine, sessions []sessionBudget) (*gatewayRun, error) {
	static := make([]keys.Key, len(sessions))
	secrets := make(map[string]string, len(sessions))
	for i, s := range sessions {
		// Loopback only and gone at the end of the run: the secrets need not be secret.
		secret := "tg-demo-" + s.name
		secrets[s.name] = secret
		// Every agent may ask for the priority it was dealt: the cap is not what the demo
		// shows.
		static[i] = keys.Key{ID: "demo-" + s.name, Tenant: tenant, Hash: keys.HashSecret(secret),
			MaxPriority: slices.Max(priorities[:])}
	}
	// Without a Store the registry holds these keys alone and runs nothing to close.
	reg, err := keys.Open(ctx, keys.Config{Static: static})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	gw, err := gateway.New(gateway.Config{Engine: eng, Keys: reg, Models: []string{routeSmart, routeFast},
		ShutdownTimeout: 5 * time.Second,
		// A log line per refused request would tear the progress display; the report
		// counts them instead.
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: gateway: %w", err)
	}
	// Serve's context is the run's, not the caller's: a cancelled run still drains the
	// gateway, so that every reservation settles before the report reads them.
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g := &gatewayRun{gw: gw, url: "http://" + ln.Addr().String() + "/v1", cancel: cancel, served: make(chan error, 1)}
	go func() { g.served <- gw.Serve(serveCtx, ln) }()

	g.transport = http.DefaultTransport.(*http.Transport).Clone()
	g.transport.MaxIdleConnsPerHost = 256
	g.client = newGatewayClient(g.url, secrets, &http.Client{Transport: g.transport})
	return g, nil
}

// stop drains the gateway, closes the agents' connections and returns the gateway's view.
// It may be called more than once; later calls return the first call's view.
func (g *gatewayRun) stop() *gatewayView {
	g.once.Do(func() {
		// Idle connections first: one dialled for a call cancelled before it was sent is
		// new to the server, whose Shutdown would wait 5s for it to speak.
		g.transport.CloseIdleConnections()
		g.cancel()
		err := <-g.served
		g.transport.CloseIdleConnections()
		g.view = &gatewayView{url: g.url, outcomes: requestOutcomes(g.gw.Metrics()), drainErr: err}
	})
	return g.view
}

// requestOutcomes sums the gateway's tollgate_requests_total by outcome.
func requestOutcomes(m *metrics.Metrics) map[string]int64 {
	out := map[string]int64{}
	mfs, err := m.Registry().Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "tollgate_requests_total" {
			continue
		}
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "outcome" {
					out[l.GetValue()] += int64(metric.GetCounter().GetValue())
				}
			}
		}
	}
	return out
}
