package metrics

import (
	"testing"
	"time"

	"github.com/tollgate/tollgate/ledger"
)

// TestLedgerLag steps the lag through scrapes at fixed instants: it grows only while
// records wait and no commit happened since the last scrape.
func TestLedgerLag(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := &ledgerCollector{}
	steps := []struct {
		at                 time.Duration
		committed, pending int64
		want               time.Duration
	}{
		{0, 0, 0, 0},                                // nothing written
		{15 * time.Second, 10, 3, 0},                // commits go on
		{30 * time.Second, 10, 5, 15 * time.Second}, // no commit since the last scrape
		{45 * time.Second, 10, 9, 30 * time.Second}, // stuck: the alert's case
		{60 * time.Second, 19, 0, 0},                // caught up
		{75 * time.Second, 19, 2, 0},                // new records, first scrape to see them
		{90 * time.Second, 21, 1, 0},                // a commit happened
		{95 * time.Second, 21, 1, 5 * time.Second},
	}
	for _, st := range steps {
		got := c.lagAt(ledger.Stats{Committed: st.committed, Pending: st.pending}, t0.Add(st.at))
		if got != st.want {
			t.Errorf("lag at %v (committed %d, pending %d) = %v, want %v", st.at, st.committed, st.pending, got, st.want)
		}
	}
}
