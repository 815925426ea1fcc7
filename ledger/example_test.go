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
	// SESSION  COST_USD  REQUESTS  ERRORS  FALLBACKS  INPUT  CACHED  OUTPUT
	// run-2    0.0225           1       0          0   5000       0    1000
	// run-1    0.006285         3       1          0   3000       0     550
	// TOTAL    0.028785         4       1          0   8000       0    1550
}
