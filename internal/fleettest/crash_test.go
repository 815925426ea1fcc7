package fleettest

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/ledger"
)

// TestKillNineChargesInFlightCalls kills a gateway (memory store, a ledger file, a daily
// USD budget) with SIGKILL while 16 clients keep it busy, starts it again on the same
// configuration and ledger, and lets the clients spend the rest of the day's budget. The
// calls in flight at the kill, which the upstream may have billed, are charged from their
// holds at their worst case when the ledger opens; nothing the upstream billed is missing
// from the ledger; the restarted gateway restores the day's spend, orphan charges
// included; and by the ledger's books the budget ends within its limit.
func TestKillNineChargesInFlightCalls(t *testing.T) {
	const (
		workers = 16
		killAt  = 200 // upstream arrivals before the kill
		limit   = 250_000
	)
	up := startUpstream(t, emulator.Config{Seed: 5, Output: emulator.Output{MinTokens: 20, MaxTokens: 60},
		Latency: emulator.Latency{FirstToken: 20 * time.Millisecond, TokensPerSecond: 1000}})
	dir := t.TempDir()
	cfg := fleetConfig{
		upstream: up.baseURL(),
		quotas: `
- name: fleet-daily-usd
  unit: usd
  limit: "0.25"
  window: day
`,
		ledgerPath:     filepath.Join(dir, "gateway.db"),
		commitInterval: "100ms",
	}
	path := cfg.write(t, dir, "gateway")
	g := startGateway(t, "gateway", path)

	killed := make(chan struct{})
	var once sync.Once
	up.onArrival(func(n int) {
		if n >= killAt {
			once.Do(func() {
				_ = g.cmd.Process.Kill()
				close(killed)
			})
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := newClient(t)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil && g.alive() {
				if r := chat(ctx, c, g.url(), "fleet", 64); r.err != nil {
					return // the gateway is gone
				}
			}
		})
	}
	select {
	case <-killed:
	case <-ctx.Done():
		t.Fatalf("the upstream saw fewer than %d requests before the deadline", killAt)
	}
	<-g.done
	wg.Wait()
	up.onArrival(nil)
	atKill := up.Stats().Total

	restart := time.Now()
	g2 := startGateway(t, "gateway-restarted", path)
	orphans, ok := g2.hasLog("ledger: charged holds left open by a process that is gone, at their worst case")
	if !ok {
		t.Fatalf("the restarted gateway charged no orphaned hold: the calls in flight at the kill are not in its books")
	}
	l, _ := g2.hasLog("tollgate: listening")
	if n, _ := l.fields["budgets_restored"].(float64); n != 1 {
		t.Errorf("the restarted gateway restored %v budgets, want 1: %s", l.fields["budgets_restored"], l.raw)
	}
	// The first answer after the restart reports what the budget has left: the restored
	// spend, orphan charges included, is what the ledger held before it.
	first := chat(ctx, c, g2.url(), "fleet", 64)
	if first.status != http.StatusOK {
		t.Fatalf("after the restart: %v, want 200", &first)
	}
	remaining, err := budgetRemaining(first.header)
	if err != nil {
		t.Fatal(err)
	}
	firstBills := up.BillsFor(first.header.Get("X-Request-Id"))
	if len(firstBills) != 1 {
		t.Fatalf("bills of the first request after the restart: %+v, want 1", firstBills)
	}
	firstCost := firstBills[0].CostMicroUSD

	// Spend the rest of the day: every client goes on until the budget refuses it.
	var refused sync.WaitGroup
	for range workers {
		refused.Go(func() {
			for ctx.Err() == nil {
				r := chat(ctx, c, g2.url(), "fleet", 64)
				if r.isBudgetRefusal() {
					return
				}
				if r.status != http.StatusOK {
					t.Errorf("after the restart: %v, want 200 or the budget's refusal", &r)
					return
				}
			}
		})
	}
	refused.Wait()
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if err := g2.stop(sctx); err != nil {
		t.Fatal(err)
	}

	bills := up.Bills()
	books := openBooks(t, cfg.ledgerPath, bills, restart)
	billed := up.Stats().Total
	t.Logf("killed after %d upstream answers ($%.6f billed); the restart charged %v orphaned holds; in all the upstream billed $%.6f for %d calls and the ledger holds $%.6f in %d records (%d orphaned, $%.6f)",
		atKill.Served, float64(atKill.CostMicroUSD)/1e6, orphans.fields["holds"], float64(billed.CostMicroUSD)/1e6,
		billed.Served, float64(books.total.MicroUSD)/1e6, books.total.Requests, books.orphaned, float64(books.orphanedUSD)/1e6)
	if books.total.MicroUSD > limit {
		t.Errorf("the ledger's books hold %d µUSD for the day, over the budget's limit of %d", books.total.MicroUSD, limit)
	}
	if books.total.MicroUSD < billed.CostMicroUSD {
		t.Errorf("the ledger holds %d µUSD, less than the %d µUSD the upstream billed", books.total.MicroUSD, billed.CostMicroUSD)
	}
	if n, _ := orphans.fields["holds"].(float64); books.orphaned == 0 || int(n) != books.orphaned {
		t.Errorf("%d orphaned records, the restart logged %v charged holds; want the same, at least one", books.orphaned, orphans.fields["holds"])
	}
	for _, b := range bills {
		if got := books.byRequest[b.ClientRequestID]; got < b.CostMicroUSD {
			t.Errorf("request %s: the upstream billed %d µUSD (%s), the ledger charges %d", b.ClientRequestID, b.CostMicroUSD, b.End, got)
		}
	}
	if restored := limit - remaining - firstCost; restored != books.beforeRestart {
		t.Errorf("the restarted gateway restored %d µUSD of spend, want %d: what the ledger held at its start", restored, books.beforeRestart)
	}
}

// books is a gateway's ledger read after it has exited.
type books struct {
	total         ledger.Sum
	beforeRestart int64 // µUSD of the records stamped before the restart, orphan charges included
	orphaned      int
	orphanedUSD   int64
	byRequest     map[string]int64 // µUSD charged per request id, for the requests billed
}

func openBooks(t testing.TB, path string, bills []emulator.Bill, restart time.Time) *books {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := ledger.Open(ctx, ledger.Config{Path: path, ReadOnly: true})
	if err != nil {
		t.Fatalf("open ledger %s: %v", path, err)
	}
	defer l.Close(ctx)
	sum := func(q ledger.Query) ledger.Row {
		rows, err := l.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			return ledger.Row{}
		}
		return rows[0]
	}
	b := &books{byRequest: map[string]int64{}}
	b.total = sum(ledger.Query{}).Sum
	b.beforeRestart = sum(ledger.Query{Until: restart}).MicroUSD
	o := sum(ledger.Query{Outcome: ledger.OutcomeOrphaned})
	b.orphaned, b.orphanedUSD = int(o.Requests), o.MicroUSD
	for _, bill := range bills {
		if _, done := b.byRequest[bill.ClientRequestID]; done {
			continue
		}
		recs, err := l.Request(ctx, bill.ClientRequestID)
		if err != nil {
			t.Fatal(err)
		}
		b.byRequest[bill.ClientRequestID] = 0
		for _, r := range recs {
			b.byRequest[bill.ClientRequestID] += r.MicroUSD
		}
	}
	return b
}
