package demo_test

import (
	"fmt"

	"github.com/tollgate/tollgate/internal/demo"
)

// Check names every invariant a run broke; a report of a run that kept them all passes.
func ExampleReport_Check() {
	r := &demo.Report{
		Started: 12, Answered: 10, Errored: 1,
		Spend:            []demo.SessionFigures{{Session: "s1", Budget: 50_000, Used: 50_100, Settled: 50_100}},
		Daily:            demo.BudgetFigures{Name: "tenant demo today", Limit: 700_000, Used: 50_100},
		Engine:           50_100,
		Upstream:         50_100,
		OpenReservations: 1,
	}
	fmt.Println(r.Check())
	// Output:
	// overspend: session s1 used $0.0501 (settled $0.0501) of a $0.05 budget
	// leaked reservations: engine.Open() = 1, store holds = 0
	// lost requests: 12 started, 10 answered, 1 errored
}

// A progress snapshot renders as the line printed every few seconds when the output is
// not a terminal.
func ExampleProgress_Line() {
	p := demo.Progress{Elapsed: 20e9, Duration: 40e9, Started: 310, Done: 300, Upstream429: 4, Retries: 9,
		Fallbacks: 22, Downgrades: 5, BudgetStops: 2, MicroUSD: 123_456}
	fmt.Println(p.Line())
	// Output:
	// ████████████░░░░░░░░░░░░ 20.0s/40s · done 300 · spent $0.123456 · 429s absorbed 4 · retries 9 · fallbacks 22 · downgrades 5 · budget stops 2 · errors 0
}
