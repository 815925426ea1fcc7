package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/metrics"
)

// exchange is one request's record, for its access log line and metrics. The handler's
// goroutine writes it; the settled fields are written by the engine's Settled event,
// which arrives on the same goroutine (inside Do, or inside the stream's Recv or Close)
// but is guarded all the same, since a Recorder's guarantees are the engine's to keep.
type exchange struct {
	wf      *wireFormat
	start   time.Time
	id      string // the request id, also the ledger's
	key     *keys.Key
	live    *live // the settings the request started with
	ident   llm.Identity
	route   string // the request's model field once known to exist
	res     *engine.Result
	model   string // the model that served, as X-Tollgate-Model says
	outcome string
	status  int
	source  string // who refused a failed request: "tollgate" or "upstream"
	err     string // the message the caller got

	mu       sync.Mutex
	settled  bool
	usage    llm.Usage
	microUSD int64
}

// begin starts the record of a request and makes it findable by its id for the engine's
// Settled event.
func (g *Gateway) begin(wf *wireFormat) *exchange {
	x := &exchange{wf: wf, start: time.Now(), id: llm.NewRequestID(), live: g.live.Load()}
	if g.tracked {
		g.inflight.Store(x.id, x)
	}
	return x
}

// Observe takes the engine's events for the access log: the Settled event of a request in
// flight carries the tokens and cost that its line reports (for a stream, known at its
// end). Give it to engine.Config.OnEvent beside metrics.Metrics.Observe; without it the
// access log has no tokens or cost. It does not block.
func (g *Gateway) Observe(ev engine.Event) {
	if ev.Kind != engine.Settled {
		return
	}
	v, ok := g.inflight.Load(ev.RequestID)
	if !ok {
		return
	}
	x := v.(*exchange)
	x.mu.Lock()
	x.settled = true
	x.usage = x.usage.Add(ev.Usage)
	x.microUSD += ev.MicroUSD
	x.mu.Unlock()
}

// record counts a request and writes its access log line, once the answer (a stream to
// its end) is written.
func (g *Gateway) record(ctx context.Context, x *exchange) {
	d := time.Since(x.start)
	if g.tracked {
		g.inflight.Delete(x.id)
	}
	mr := metrics.Request{Format: string(x.wf.format), Route: x.route, Outcome: x.outcome, Source: x.source, Duration: d}
	if x.key != nil {
		mr.Tenant = x.key.Tenant
	}
	if res := x.res; res != nil {
		mr.Model = res.Model
		if res.Response != nil && res.Response.Cached {
			mr.Model = res.Response.Model
		}
		mr.FellBack, mr.FallbackWhy = res.Outcome.FellBack(), res.Outcome.FallbackWhy
		if x.status == http.StatusOK {
			mr.Statuses = res.Statuses
		}
	}
	g.metrics.Request(&mr)
	x.live.access.write(ctx, x, d)
}

// accessLog writes one line per request: every failed one, at a bounded rate per tenant
// and outcome, and a sample of the answered ones.
type accessLog struct {
	log *slog.Logger
	// every is the sampling of answered requests: one line in every; 0 logs none.
	every uint64
	n     atomic.Uint64
	limit *refusalLimiter
}

func newAccessLog(log *slog.Logger, sample float64, interval time.Duration) *accessLog {
	a := &accessLog{log: log, limit: newRefusalLimiter(interval, time.Now)}
	switch {
	case sample < 0:
	case sample == 0 || sample >= 1:
		a.every = 1
	default:
		a.every = uint64(1/sample + 0.5)
	}
	return a
}

// write logs x: a failure if its refusal limiter allows, an answer if it is sampled.
func (a *accessLog) write(ctx context.Context, x *exchange, d time.Duration) {
	failed := x.status != http.StatusOK || x.err != ""
	var suppressed int64
	if failed {
		var ok bool
		if ok, suppressed = a.limit.allow(x.ident.Tenant, x.outcome); !ok {
			return
		}
	} else if a.every == 0 || (a.every > 1 && a.n.Add(1)%a.every != 1) {
		return
	}
	level := slogLevel(x.status)
	if !a.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 24)
	attrs = append(attrs, slog.String("request_id", x.id), slog.String("format", string(x.wf.format)),
		slog.Int("status", x.status), slog.String("outcome", x.outcome))
	if x.key != nil {
		attrs = append(attrs, slog.String("tenant", x.ident.Tenant), slog.String("key", x.ident.Key))
	}
	if x.ident.Session != "" {
		attrs = append(attrs, slog.String("session", x.ident.Session))
	}
	if x.ident.Agent != "" {
		attrs = append(attrs, slog.String("agent", x.ident.Agent))
	}
	if x.route != "" {
		attrs = append(attrs, slog.String("route", x.route))
	}
	if res := x.res; res != nil {
		if x.model != "" {
			attrs = append(attrs, slog.String("model", x.model))
		}
		if res.Provider != "" {
			attrs = append(attrs, slog.String("provider", res.Provider))
		}
		if out := &res.Outcome; len(out.Attempts) > 1 || out.FallbackWhy != 0 {
			attrs = append(attrs, slog.String("fallback", out.FallbackWhy.String()),
				slog.String("fallback_reason", out.FallbackReason), slog.Int("attempts", len(out.Attempts)))
		}
		if res.MaxTokens > 0 {
			attrs = append(attrs, slog.Int("max_tokens", res.MaxTokens))
		}
		attrs = append(attrs, slog.Duration("queue_wait", res.Waited))
	}
	x.mu.Lock()
	if x.settled {
		attrs = append(attrs, slog.Int64("input_tokens", x.usage.InputTokens),
			slog.Int64("output_tokens", x.usage.OutputTokens), slog.Int64("micro_usd", x.microUSD))
	}
	x.mu.Unlock()
	attrs = append(attrs, slog.Duration("latency", d))
	if failed {
		attrs = append(attrs, slog.String("source", x.source), slog.String("err", x.err))
		if suppressed > 0 {
			attrs = append(attrs, slog.Int64("suppressed", suppressed))
		}
	}
	a.log.LogAttrs(ctx, level, "request", attrs...)
}

// refusalLimiter lets one failure line through per (tenant, outcome) per interval and
// counts the others, so that a flood of refusals (a spent budget answering thousands of
// retries a second) writes a few lines a minute that say how many they stand for.
type refusalLimiter struct {
	interval time.Duration
	now      func() time.Time
	mu       sync.Mutex
	keys     map[refusalKey]*refusalState
}

type refusalKey struct{ tenant, outcome string }

type refusalState struct {
	next       time.Time // when the next line may be written
	suppressed int64     // failures not logged since the last line
}

// maxRefusalKeys bounds the limiter's memory. Tenants come from the configured keys and
// outcomes from a fixed set, so it is never reached in practice; if it is, the limiter
// starts over, which lets one more line per key through.
const maxRefusalKeys = 4096

func newRefusalLimiter(interval time.Duration, now func() time.Time) *refusalLimiter {
	return &refusalLimiter{interval: interval, now: now, keys: map[refusalKey]*refusalState{}}
}

// allow reports whether a failure of tenant and outcome is logged now and, if it is, how
// many of the same were suppressed since the last line.
func (l *refusalLimiter) allow(tenant, outcome string) (bool, int64) {
	if l.interval <= 0 {
		return true, 0
	}
	now := l.now()
	k := refusalKey{tenant, outcome}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[k]
	if st == nil {
		if len(l.keys) >= maxRefusalKeys {
			clear(l.keys)
		}
		l.keys[k] = &refusalState{next: now.Add(l.interval)}
		return true, 0
	}
	if now.Before(st.next) {
		st.suppressed++
		return false, 0
	}
	n := st.suppressed
	st.suppressed, st.next = 0, now.Add(l.interval)
	return true, n
}
