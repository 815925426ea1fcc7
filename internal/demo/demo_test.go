package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/quota"
)

// TestRun runs a short demo on each path (agents through the gateway over HTTP, and
// in-process) at zero latency with budgets so small that a few calls exhaust
// each session, and a hidden limit of one request a minute on gpt-4o-mini, then checks the
// report's invariants and that budget stops and upstream 429s happened. Both are certain
// whatever the scheduling: the second call to gpt-4o-mini is refused upstream, and a
// session of $0.001 cannot pay for more than a few calls. It asserts invariants and "at
// least one", never counts that depend on scheduling.
func TestRun(t *testing.T) {
	for _, direct := range []bool{false, true} {
		name := "gateway"
		if direct {
			name = "direct"
		}
		t.Run(name, func(t *testing.T) { testRun(t, direct) })
	}
}

func testRun(t *testing.T, direct bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	var out bytes.Buffer
	rep, err := Run(context.Background(), Config{
		Duration: 2 * time.Second,
		Direct:   direct,
		Agents:   8,
		Sessions: 3,
		Seed:     7,
		Out:      &out,
		HTML:     path,
		Latency:  &emulator.Latency{},
		Think:    10 * time.Millisecond,
		// Failures before the first byte only: a dropped connection can cut a stream after
		// its 200, which the engine charges at its worst case and the emulator not at all,
		// and this test checks that both count the same spend.
		Faults: &emulator.Faults{ServerError: 0.02, Overloaded: 0.01},
		Models: []Model{
			{Name: "gpt-4o", Upstream: emulator.Limits{RPM: 10_000}},
			{Name: "gpt-4o-mini", Upstream: emulator.Limits{RPM: 1, Hidden: true}},
			{Name: "claude-haiku-4-5"},
		},
		Budgets: Budgets{SessionMin: 1_000, SessionMax: 1_000, Daily: 1_000_000},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Log(out.String())
	if err := rep.Check(); err != nil {
		t.Errorf("Check() = %v, want nil", err)
	}
	if rep.OpenReservations != 0 || rep.StoreHolds != 0 {
		t.Errorf("open reservations %d, store holds %d, want 0 and 0", rep.OpenReservations, rep.StoreHolds)
	}
	if got := rep.Answered + rep.Errored; got != rep.Started {
		t.Errorf("answered %d + errored %d = %d, want started %d", rep.Answered, rep.Errored, got, rep.Started)
	}
	for _, s := range rep.Spend {
		if s.Used > s.Budget || s.Settled > s.Budget {
			t.Errorf("session %s used %d (settled %d) of a budget of %d", s.Session, s.Used, s.Settled, s.Budget)
		}
	}
	var calls int64
	for _, m := range rep.Models {
		calls += m.Requests
	}
	if d := rep.Engine - rep.Upstream; d < -calls || d > calls {
		t.Errorf("engine settled %d micro-USD, emulator counted %d: differ by more than %d calls' rounding", rep.Engine, rep.Upstream, calls)
	}
	atLeastOne := []struct {
		name string
		got  int64
	}{
		{"requests started", rep.Started},
		{"budget stops", rep.BudgetStops},
		{"upstream 429s", rep.Upstream429},
		{"emulator 429s", rep.Emulator429},
	}
	for _, c := range atLeastOne {
		if c.got < 1 {
			t.Errorf("%s = %d, want at least 1", c.name, c.got)
		}
	}
	if !direct {
		// Through the gateway a budget stop can only be the SDK's error: a 429 with code
		// insufficient_quota, which the agent must have recognised.
		httpAtLeastOne := []struct {
			name string
			got  int64
		}{
			{"budget refusals seen as SDK errors", rep.BudgetErrors},
			{"HTTP 200s", rep.HTTPStatus[200]},
			{"HTTP 429s", rep.HTTPStatus[429]},
			{"gateway requests", rep.GatewayRequests},
		}
		for _, c := range httpAtLeastOne {
			if c.got < 1 {
				t.Errorf("%s = %d, want at least 1", c.name, c.got)
			}
		}
		var calls int64
		for _, n := range rep.HTTPStatus {
			calls += n
		}
		if calls != rep.Started {
			t.Errorf("HTTP statuses sum to %d, want one per started request, %d", calls, rep.Started)
		}
		if !strings.HasPrefix(rep.GatewayURL, "http://127.0.0.1:") || !strings.Contains(out.String(), "gateway "+rep.GatewayURL) {
			t.Errorf("report of a gateway run: GatewayURL = %q, and the text must name it", rep.GatewayURL)
		}
	}
	if rep.Latency.N < 1 || rep.Latency.P99 < rep.Latency.P50 {
		t.Errorf("latency = %+v, want answers with p99 >= p50", rep.Latency)
	}
	if len(rep.Spend) != 3 {
		t.Errorf("report has %d sessions, want 3", len(rep.Spend))
	}

	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("HTML report: %v", err)
	}
	for _, id := range []string{`id="chart-throughput"`, `id="chart-spend"`, `id="chart-wait"`} {
		if !bytes.Contains(html, []byte(id)) {
			t.Errorf("HTML report has no %s", id)
		}
	}
	for _, ext := range []string{"http://", "https://", "<script", "<link"} {
		if bytes.Contains(html, []byte(ext)) {
			t.Errorf("HTML report contains %q: it must be self-contained", ext)
		}
	}
	for _, want := range []string{"invariants", "queue wait", "session", rep.Spend[0].Session} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCheck(t *testing.T) {
	good := func() *Report {
		return &Report{Started: 10, Answered: 8, Errored: 2, Engine: 500, Upstream: 500,
			Models: []ModelFigures{{Model: "gpt-4o", Requests: 5, MicroUSD: 500}},
			Spend:  []SessionFigures{{Session: "s1", Budget: 1000, Used: 500, Settled: 500}},
			Daily:  BudgetFigures{Name: "day", Limit: 2000, Used: 500}}
	}
	tests := []struct {
		name   string
		break_ func(r *Report)
		want   string // a substring of the error; "" for none
	}{
		{"all good", func(*Report) {}, ""},
		{"rounding within one micro-USD per call", func(r *Report) { r.Upstream = 495 }, ""},
		{"session overspend", func(r *Report) { r.Spend[0].Used, r.Spend[0].Settled = 1001, 1001 }, "overspend: session s1"},
		{"store and events disagree", func(r *Report) { r.Spend[0].Settled = 400 }, "spend mismatch: session s1"},
		{"day overspend", func(r *Report) { r.Daily.Used = 2001 }, "overspend: tenant day"},
		{"emulator over the day", func(r *Report) { r.Upstream, r.Engine = 2500, 2500 }, "overspend: the emulator"},
		{"under-charged", func(r *Report) { r.Upstream = 600 }, "under-charged"},
		{"over-charged", func(r *Report) { r.Engine = 600 }, "spend mismatch: the engine"},
		{"over-charged after cancellations", func(r *Report) { r.Engine, r.Cancelled = 600, 1 }, ""},
		{"over-charged after a cut stream", func(r *Report) { r.Engine, r.StreamsCut = 600, 1 }, ""},
		{"leaked reservation", func(r *Report) { r.OpenReservations = 1 }, "leaked reservations"},
		{"store hold", func(r *Report) { r.StoreHolds = 1 }, "leaked reservations"},
		{"lost request", func(r *Report) { r.Answered = 7 }, "lost requests: 10 started, 7 answered, 2 errored"},
		{"gateway counted every request", func(r *Report) { r.GatewayURL, r.GatewayRequests = "http://127.0.0.1:1/v1", 10 }, ""},
		{"gateway missed a request", func(r *Report) { r.GatewayURL, r.GatewayRequests = "http://127.0.0.1:1/v1", 9 },
			"lost requests: the agents started 10, the gateway counted 9"},
		{"gateway missed a request cancelled at the end", func(r *Report) {
			r.GatewayURL, r.GatewayRequests, r.Cancelled = "http://127.0.0.1:1/v1", 9, 1
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.break_(r)
			err := r.Check()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Check() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestBudgetStopped(t *testing.T) {
	// The reason the engine records when the store refuses the last model for the budget.
	budget := fallback.Attempt{Model: "gpt-4o-mini", Result: fallback.Skipped,
		Reason: "budget exhausted: session-usd [session=s1] ($0.01 lifetime)", Err: fmt.Errorf("reserve: %w", quota.ErrBudget)}
	tests := []struct {
		name string
		o    fallback.Outcome
		want bool
	}{
		{"served by a model", fallback.Outcome{Served: "gpt-4o", Attempts: []fallback.Attempt{{Model: "gpt-4o", Result: fallback.Served}}}, false},
		{"static after the budget", fallback.Outcome{Served: "static", Attempts: []fallback.Attempt{
			{Model: "gpt-4o", Result: fallback.Skipped, Reason: "worst case $0.01 > $0.005 left", Err: engine.ErrDowngraded},
			budget, {Model: "cached", Result: fallback.Skipped}, {Model: "static", Result: fallback.Served}}}, true},
		{"static after failures", fallback.Outcome{Served: "static", Attempts: []fallback.Attempt{
			{Model: "gpt-4o", Result: fallback.Failed, Reason: "503 overloaded"},
			{Model: "gpt-4o-mini", Result: fallback.Skipped, Reason: "cooldown"}, {Model: "static", Result: fallback.Served}}}, false},
		{"static after a request larger than the whole budget", fallback.Outcome{Served: "static", Attempts: []fallback.Attempt{
			{Model: "gpt-4o-mini", Result: fallback.Skipped, Reason: "too large", Err: quota.ErrTooLarge},
			{Model: "static", Result: fallback.Served}}}, true},
		{"cached after a downgrade that failed", fallback.Outcome{Served: "cached", Attempts: []fallback.Attempt{
			{Model: "gpt-4o", Result: fallback.Skipped, Reason: "budget: x", Err: engine.ErrDowngraded},
			{Model: "gpt-4o-mini", Result: fallback.Failed, Reason: "429"}, {Model: "cached", Result: fallback.Served}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := budgetStopped(&tt.o); got != tt.want {
				t.Errorf("budgetStopped(%v) = %v, want %v", &tt.o, got, tt.want)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	s := make([]time.Duration, 100)
	for i := range s {
		s[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}}
	for _, tt := range tests {
		if got := quantile(s, tt.q); got != tt.want {
			t.Errorf("quantile(1..100ms, %v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(nil) = %v, want 0", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero is valid", Config{}, ""},
		{"negative duration", Config{Duration: -1}, "Config.Duration"},
		{"negative agents", Config{Agents: -1}, "Config.Agents"},
		{"budgets inverted", Config{Budgets: Budgets{SessionMin: 10, SessionMax: 5}}, "SessionMin"},
		{"repeated model", Config{Models: []Model{{Name: "gpt-4o"}, {Name: "gpt-4o"}}}, "Config.Models[1]"},
		{"faults over 1", Config{Faults: &emulator.Faults{ServerError: 0.8, Drop: 0.5}}, "Config.Faults"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Run(context.Background(), Config{Agents: -1}); err == nil || !strings.Contains(err.Error(), "Config.Agents") {
		t.Errorf("Run with a bad Config = %v, want the Validate error", err)
	}
}
