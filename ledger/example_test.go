package ledger_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tollgate/tollgate/ledger"
)

// A gateway appends one record per settled attempt and closes the ledger on SIGTERM; the
// next start rebuilds today's spend per tenant from the file, and `tollgate usage --by
// session` prints the same data as a table.
func Example() {
	dir, err := os.MkdirTemp("", "ledger-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	cfg := ledger.Config{Path: filepath.Join(dir, "spend.db"), Location: time.UTC}

	l, err := ledger.Open(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		session, model string
		in, out, usd   int64
		outcome        string
	}{
		{"run-1", "gpt-4o", 1200, 300, 6_000, ledger.OutcomeOK},
		{"run-1", "gpt-4o", 900, 0, 0, ledger.OutcomeError},
		{"run-1", "gpt-4o-mini", 900, 250, 285, ledger.OutcomeOK},
		{"run-2", "gpt-4o", 5000, 1000, 22_500, ledger.OutcomeOK},
	} {
		err := l.Append(ledger.Record{
			Time: day.Add(time.Duration(i) * time.Hour), RequestID: fmt.Sprint("req-", i),
			Tenant: "acme", Session: r.session, Provider: "openai", Model: r.model,
			InputTokens: r.in, OutputTokens: r.out, MicroUSD: r.usd, Outcome: r.outcome, Attempt: 1,
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := l.Close(ctx); err != nil { // commits everything appended
		fmt.Println(err)
		return
	}

	// The next start.
	l, err = ledger.Open(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close(ctx)
	today, err := l.SumSince(ctx, day, ledger.ByTenant)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("acme today: %d requests, $%s\n\n", today["acme"].Requests, ledger.FormatUSD(today["acme"].MicroUSD))

	rows, err := l.Query(ctx, ledger.Query{By: ledger.BySession, Since: day})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := ledger.WriteTable(os.Stdout, rows); err != nil {
		fmt.Println(err)
	}
	// Output:
	// acme today: 4 requests, $0.028785
	//
	// SESSION  COST_USD  REQUESTS  ERRORS  FALLBACKS  INPUT  CACHED  WRITE_5M  WRITE_1H  OUTPUT  REASONING
	// run-2    0.0225           1       0          0   5000       0         0         0    1000          0
	// run-1    0.006285         3       1          0   3000       0         0         0     550          0
	// TOTAL    0.028785         4       1          0   8000       0         0         0    1550          0
}

// A hold journals a call's worst case before the call; the settle closes it. A hold its
// process never settles (here: still open at Close; likewise after a crash, at the next
// Open) is charged at its worst case, once.
func ExampleLedger_OpenHold() {
	dir, err := os.MkdirTemp("", "ledger-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	cfg := ledger.Config{Path: filepath.Join(dir, "spend.db")}
	l, err := ledger.Open(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for _, id := range []string{"call-1", "call-2", "call-3"} {
		// Durable when it returns: only then may the upstream call start.
		err := l.OpenHold(ctx, ledger.Hold{ID: "hold-" + id, RequestID: id, Tenant: "acme", Model: "gpt-4o",
			InputTokens: 1200, OutputTokens: 4096, MicroUSD: 43_960, Opened: at})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	// call-1 answered: its record closes its hold. call-2 was never sent: released.
	if err := l.Append(ledger.Record{Time: at.Add(time.Second), RequestID: "call-1", HoldID: "hold-call-1",
		UpstreamRequestID: "chatcmpl-123", Tenant: "acme", Model: "gpt-4o", InputTokens: 1200, OutputTokens: 250,
		MicroUSD: 5_500, Outcome: ledger.OutcomeOK, Attempt: 1}); err != nil {
		fmt.Println(err)
		return
	}
	if err := l.CloseHold("hold-call-2"); err != nil {
		fmt.Println(err)
		return
	}
	if err := l.Close(ctx); err != nil { // call-3 is still open: charged now
		fmt.Println(err)
		return
	}

	l, err = ledger.Open(ctx, ledger.Config{Path: cfg.Path, ReadOnly: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close(ctx)
	for _, id := range []string{"chatcmpl-123", "call-2", "call-3"} {
		recs, err := l.Request(ctx, id)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, r := range recs {
			fmt.Printf("%s: %s, $%s\n", r.RequestID, r.Outcome, ledger.FormatUSD(r.MicroUSD))
		}
		if len(recs) == 0 {
			fmt.Printf("%s: nothing charged\n", id)
		}
	}
	// Output:
	// call-1: ok, $0.0055
	// call-2: nothing charged
	// call-3: orphaned, $0.04396
}
