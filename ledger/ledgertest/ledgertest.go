// Package ledgertest is the conformance suite of the ledger's backends: every test here
// runs against SQLite and PostgreSQL alike, through the public API only, so that both
// keep the same records, the same queries and the same guarantees for holds.
//
//	func TestConformance(t *testing.T) {
//		ledgertest.Run(t, func(t *testing.T) ledger.Config {
//			return ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db")}
//		})
//	}
package ledgertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/ledger"
)

// NewConfig returns the Config of a new, empty ledger for t. Opening the same Config again
// (after Close) must reopen the same ledger; the suite sets the tuning fields it needs
// (CommitInterval, MaxBatch...) on top.
type NewConfig func(t *testing.T) ledger.Config

// Run runs every conformance test as a subtest of t, in parallel.
func Run(t *testing.T, newConfig NewConfig) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, NewConfig)
	}{
		{"RoundTrip", testRoundTrip},
		{"RoundTripBatches", testRoundTripBatches},
		{"GroupCommit", testGroupCommit},
		{"Close", testClose},
		{"ConcurrentAppend", testConcurrentAppend},
		{"AppendZeroTime", testAppendZeroTime},
		{"SumSinceByDay", testSumSinceByDay},
		{"SumSince", testSumSince},
		{"Query", testQuery},
		{"Request", testRequest},
		{"HoldDurable", testHoldDurable},
		{"HoldSettleAndRelease", testHoldSettleAndRelease},
		{"HoldCharged", testHoldCharged},
		{"HoldInvalid", testHoldInvalid},
		{"HoldsConcurrent", testHoldsConcurrent},
		{"ReadOnly", testReadOnly},
		{"Keys", testKeys},
		{"BudgetOverrides", testBudgetOverrides},
		{"SettingsConcurrent", testSettingsConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newConfig)
		})
	}
}

// open opens cfg and closes it at the end of the test (unless the test closed it).
func open(t testing.TB, cfg ledger.Config) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil && !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("Close() = %v", err)
		}
	})
	return l
}

func closeLedger(t testing.TB, l *ledger.Ledger) {
	t.Helper()
	if err := l.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
}

// t0 is the fixed instant the tests' records are stamped from.
var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// rec returns a record at t0+d for session s with cost usd micro-USD.
func rec(id string, d time.Duration, tenant, session string, usd int64) ledger.Record {
	return ledger.Record{
		Time: t0.Add(d), RequestID: id, Tenant: tenant, Key: "k-" + tenant, Agent: "agent-1",
		Session: session, Route: "default", Provider: "openai", Model: "gpt-4o-mini",
		InputTokens: 100, CachedInputTokens: 10, CacheWriteTokens: 30, CacheWrite1hTokens: 5, OutputTokens: 20,
		ReasoningTokens: 8, MicroUSD: usd,
		Outcome: ledger.OutcomeOK, Latency: 250 * time.Millisecond, Attempt: 1,
	}
}

func appendAll(t testing.TB, l *ledger.Ledger, recs ...ledger.Record) {
	t.Helper()
	for _, r := range recs {
		if err := l.Append(r); err != nil {
			t.Fatalf("Append(%s) = %v", r.RequestID, err)
		}
	}
}

func flush(t testing.TB, l *ledger.Ledger) {
	t.Helper()
	if err := l.Flush(context.Background()); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
}

// request returns the records of request id.
func request(t testing.TB, l *ledger.Ledger, id string) []ledger.Record {
	t.Helper()
	got, err := l.Request(context.Background(), id)
	if err != nil {
		t.Fatalf("Request(%s) = %v", id, err)
	}
	return got
}

// total sums every record.
func total(t testing.TB, l *ledger.Ledger) ledger.Sum {
	t.Helper()
	sums, err := l.SumSince(context.Background(), time.Time{}, ledger.ByNone)
	if err != nil {
		t.Fatalf("SumSince() = %v", err)
	}
	return sums[""]
}

func openHolds(t testing.TB, l *ledger.Ledger) []ledger.Hold {
	t.Helper()
	hs, err := l.OpenHolds(context.Background())
	if err != nil {
		t.Fatalf("OpenHolds() = %v", err)
	}
	return hs
}
