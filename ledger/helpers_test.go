package ledger

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// open opens a ledger on a new file in t's temp dir (unless cfg.Path is set) and closes it at
// the end of the test.
func open(t testing.TB, cfg Config) *Ledger {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "ledger.db")
	}
	l, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%+v) = %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close() = %v", err)
		}
	})
	return l
}

// t0 is the fixed instant the tests' records are stamped from.
var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// rec returns a record at t0+d for session s with cost usd micro-USD.
func rec(id string, d time.Duration, tenant, session string, usd int64) Record {
	return Record{
		Time: t0.Add(d), RequestID: id, Tenant: tenant, Key: "k-" + tenant, Agent: "agent-1",
		Session: session, Route: "default", Provider: "openai", Model: "gpt-4o-mini",
		InputTokens: 100, CachedInputTokens: 10, OutputTokens: 20, MicroUSD: usd,
		Outcome: OutcomeOK, Latency: 250 * time.Millisecond, Attempt: 1,
	}
}

func appendAll(t testing.TB, l *Ledger, recs ...Record) {
	t.Helper()
	for _, r := range recs {
		if err := l.Append(r); err != nil {
			t.Fatalf("Append(%s) = %v", r.RequestID, err)
		}
	}
}

func flush(t testing.TB, l *Ledger) {
	t.Helper()
	if err := l.Flush(context.Background()); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
}

// readAll returns every stored record in insertion order.
func readAll(t testing.TB, l *Ledger) []Record {
	t.Helper()
	rows, err := l.be.queryDB().Query(`SELECT ` + usageColumns + ` FROM usage ORDER BY id`)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		if err := scanRecord(rows, &r); err != nil {
			t.Fatalf("scan: %v", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	return out
}

// abandon stops l as a killed process would stop: its connections and the file's lock
// go first, so nothing queued is committed and its open holds are not charged.
func abandon(t testing.TB, l *Ledger) {
	t.Helper()
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	if l.keepCancel != nil {
		l.keepCancel()
		<-l.keepDone
	}
	if err := l.be.close(); err != nil {
		t.Errorf("abandon: %v", err)
	}
	close(l.abort) // the writer's last commits fail at once, and it exits
	close(l.stop)
	<-l.done
}
