package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger.db")
	want := []Record{
		rec("r1", 0, "acme", "s1", 1500),
		rec("r2", time.Second, "acme", "s2", 2500),
		{Time: t0.Add(2 * time.Second), RequestID: "r3", Tenant: "globex", Model: "claude-haiku-4-5",
			Provider: "anthropic", Outcome: OutcomeError, FallbackReason: "rate_limited", Attempt: 2,
			InputTokens: 7, OutputTokens: 0, MicroUSD: 0, Latency: 3 * time.Second},
	}

	l := open(t, Config{Path: path})
	appendAll(t, l, want...)
	flush(t, l)
	if err := l.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	l = open(t, Config{Path: path})
	if diff := cmp.Diff(want, readAll(t, l)); diff != "" {
		t.Errorf("records after reopen (-want +got):\n%s", diff)
	}
	// A reopened file keeps taking records after the old ones.
	appendAll(t, l, rec("r4", 3*time.Second, "acme", "s1", 1))
	flush(t, l)
	if got := len(readAll(t, l)); got != 4 {
		t.Errorf("records after second append = %d, want 4", got)
	}
}

// TestRoundTripBatches writes batches that mix the multi-row INSERT with single rows and
// checks every field and the order.
func TestRoundTripBatches(t *testing.T) {
	t.Parallel()
	for _, n := range []int{insertRows - 1, insertRows, 2*insertRows + 5, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			l := open(t, Config{Path: ":memory:", CommitInterval: time.Hour, MaxBatch: 1000})
			want := make([]Record, n)
			for i := range want {
				want[i] = Record{Time: t0.Add(time.Duration(i) * time.Millisecond), RequestID: fmt.Sprint("r", i),
					Tenant: fmt.Sprint("t", i%3), Key: fmt.Sprint("k", i), Agent: fmt.Sprint("a", i%5),
					Session: fmt.Sprint("s", i%7), Route: "r", Provider: "p", Model: fmt.Sprint("m", i%2),
					InputTokens: int64(i), CachedInputTokens: int64(i / 2), OutputTokens: int64(2 * i),
					MicroUSD: int64(1000 + i), Outcome: OutcomeOK, FallbackReason: fmt.Sprint("f", i%4),
					Latency: time.Duration(i) * time.Microsecond, Attempt: 1 + i%3}
			}
			appendAll(t, l, want...)
			flush(t, l)
			if diff := cmp.Diff(want, readAll(t, l)); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if got := l.Stats().Batches; got != 1 {
				t.Errorf("Batches = %d, want 1", got)
			}
		})
	}
}

func TestOpenConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for success
	}{
		{"memory", Config{Path: ":memory:"}, ""},
		{"no path", Config{}, "Config.Path is required"},
		{"query in path", Config{Path: "a.db?mode=ro"}, "Config.Path"},
		{"negative interval", Config{Path: ":memory:", CommitInterval: -1}, "Config.CommitInterval"},
		{"negative batch", Config{Path: ":memory:", MaxBatch: -1}, "Config.MaxBatch"},
		{"negative queue", Config{Path: ":memory:", QueueSize: -1}, "Config.QueueSize"},
		{"negative busy", Config{Path: ":memory:", BusyTimeout: -1}, "Config.BusyTimeout"},
		{"missing dir", Config{Path: filepath.Join(t.TempDir(), "no", "such", "dir", "l.db")}, "ledger:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := Open(context.Background(), tt.cfg)
			if err == nil {
				defer l.Close(context.Background())
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Open() = %v, want success", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Open() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	if got := len(migrations()); got != schemaVersion {
		t.Fatalf("len(migrations()) = %d, want schemaVersion %d", got, schemaVersion)
	}
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, Config{Path: path})
	var v int
	if err := l.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != schemaVersion {
		t.Errorf("user_version = %d, want %d", v, schemaVersion)
	}
	var mode string
	if err := l.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var sync int
	if err := l.db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if sync != 2 {
		t.Errorf("synchronous = %d, want 2 (FULL)", sync)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A file from a newer build is refused, not rewritten.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(context.Background(), Config{Path: path}); !errors.Is(err, ErrSchemaVersion) {
		t.Errorf("Open(newer file) = %v, want ErrSchemaVersion", err)
	}
}

// TestGroupCommit counts transactions: with a commit interval that never elapses during
// the test, only MaxBatch and Flush start one.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		maxBatch    int
		appends     int
		flushes     int // Flush calls after the appends
		wantBatches int64
	}{
		{"under one batch", 10, 7, 1, 1},
		{"exact batches", 10, 30, 1, 3},
		{"batches and a tail", 10, 35, 1, 4},
		{"flush of nothing starts no transaction", 10, 0, 3, 0},
		{"repeated flush", 10, 5, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := open(t, Config{Path: ":memory:", CommitInterval: time.Hour, MaxBatch: tt.maxBatch})
			for i := range tt.appends {
				appendAll(t, l, rec(fmt.Sprint(i), time.Duration(i), "acme", "s", 1))
			}
			for range tt.flushes {
				flush(t, l)
			}
			got := l.Stats()
			want := Stats{Appended: int64(tt.appends), Committed: int64(tt.appends), Batches: tt.wantBatches}
			got.LastBatch, got.LastCommitLatency = 0, 0
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Stats() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCommitInterval checks, on a fake clock, that a record waits CommitInterval and no
// longer before it is committed, without any Flush.
func TestCommitInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l, err := Open(context.Background(), Config{Path: ":memory:", CommitInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close(context.Background())

		appendAll(t, l, rec("a", 0, "acme", "s", 1))
		time.Sleep(40 * time.Millisecond)
		appendAll(t, l, rec("b", 0, "acme", "s", 1))
		time.Sleep(59 * time.Millisecond)
		synctest.Wait()
		if got := l.Stats().Committed; got != 0 {
			t.Fatalf("Committed 99ms after the first append = %d, want 0", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := l.Stats(); got.Committed != 2 || got.Batches != 1 {
			t.Fatalf("100ms after the first append: Committed = %d, Batches = %d, want 2, 1", got.Committed, got.Batches)
		}

		// The next record starts a new interval of its own.
		time.Sleep(time.Hour)
		appendAll(t, l, rec("c", 0, "acme", "s", 1))
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if got := l.Stats(); got.Committed != 3 || got.Batches != 2 {
			t.Fatalf("after the third record: Committed = %d, Batches = %d, want 3, 2", got.Committed, got.Batches)
		}
	})
}

func TestClose(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger.db")
	ctx := context.Background()
	l, err := Open(ctx, Config{Path: path, CommitInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		appendAll(t, l, rec(fmt.Sprint(i), 0, "acme", "s", 1))
	}
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if got := l.Stats(); got.Committed != 200 || got.Pending != 0 {
		t.Errorf("Stats() after Close: Committed = %d, Pending = %d, want 200, 0", got.Committed, got.Pending)
	}

	tests := []struct {
		name string
		call func() error
	}{
		{"Append", func() error { return l.Append(rec("late", 0, "acme", "s", 1)) }},
		{"Flush", func() error { return l.Flush(ctx) }},
		{"Close", func() error { return l.Close(ctx) }},
		{"SumSince", func() error { _, err := l.SumSince(ctx, time.Time{}, ByNone); return err }},
		{"Query", func() error { _, err := l.Query(ctx, Query{}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" after Close", func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s() = %v, want ErrClosed", tt.name, err)
			}
		})
	}

	// Close committed everything it had, although the interval never elapsed.
	l = open(t, Config{Path: path})
	sums, err := l.SumSince(ctx, time.Time{}, ByNone)
	if err != nil {
		t.Fatal(err)
	}
	if got := sums[""].Requests; got != 200 {
		t.Errorf("records after Close and reopen = %d, want 200", got)
	}
}

// TestCommitFailure holds the file's write lock from another connection, as a second
// process would: commits fail, the records stay pending (none dropped), the queue fills and
// Append reports ErrBackpressure; once the lock is released, Flush commits every accepted
// record exactly once.
func TestCommitFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, Config{Path: path, CommitInterval: time.Hour, MaxBatch: 4, QueueSize: 4,
		AppendWait: -1, BusyTimeout: time.Millisecond})

	other, err := sql.Open("sqlite", path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}

	appendAll(t, l, rec("0", 0, "acme", "s", 1))
	if err := l.Flush(ctx); err == nil || !strings.Contains(err.Error(), "ledger: begin") {
		t.Fatalf("Flush() with the file locked = %v, want a begin error", err)
	}
	accepted := 1
	var rejected error
	// The batch holds 4 and the queue 4 more; the 10th append cannot fit anywhere.
	for i := 1; i < 10 && rejected == nil; i++ {
		if rejected = l.Append(rec(fmt.Sprint(i), 0, "acme", "s", 1)); rejected == nil {
			accepted++
		}
	}
	if !errors.Is(rejected, ErrBackpressure) {
		t.Fatalf("Append() while commits fail = %v, want ErrBackpressure", rejected)
	}
	if got := l.Stats(); got.Failures < 1 || got.Rejected != 1 || got.Committed != 0 || got.Pending != int64(accepted) {
		t.Fatalf("Stats() while commits fail = %+v, want Failures >= 1, Rejected 1, Committed 0, Pending %d", got, accepted)
	}

	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	flush(t, l)
	got := readAll(t, l)
	if len(got) != accepted {
		t.Fatalf("records after the lock is released = %d, want %d", len(got), accepted)
	}
	for i, r := range got {
		if r.RequestID != fmt.Sprint(i) {
			t.Fatalf("record %d has RequestID %q, want %q (order kept, no duplicates)", i, r.RequestID, fmt.Sprint(i))
		}
	}
}

// TestCloseGivesUp: when the file stays locked, Close returns when its context ends and
// says how many records it could not commit.
func TestCloseGivesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(ctx, Config{Path: path, CommitInterval: time.Hour, BusyTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()

	appendAll(t, l, rec("a", 0, "acme", "s", 1), rec("b", 0, "acme", "s", 1))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = l.Close(cctx)
	if err == nil || !strings.Contains(err.Error(), "2 records not committed") || !errors.Is(err, context.Canceled) {
		t.Errorf("Close(cancelled ctx) with the file locked = %v, want 2 records not committed and context.Canceled", err)
	}
}

// TestConcurrentAppend appends from many goroutines while others flush and query; run it
// with -race.
func TestConcurrentAppend(t *testing.T) {
	t.Parallel()
	const writers, each = 8, 150
	l := open(t, Config{MaxBatch: 64, QueueSize: 64})
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := rec(fmt.Sprintf("%d-%d", w, i), time.Duration(i), fmt.Sprint("tenant-", w%4), fmt.Sprint("s-", w), 3)
				for {
					err := l.Append(r)
					if err == nil {
						break
					}
					if !errors.Is(err, ErrBackpressure) {
						t.Errorf("Append() = %v", err)
						return
					}
				}
				if i%50 == 0 {
					if err := l.Flush(ctx); err != nil {
						t.Errorf("Flush() = %v", err)
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := l.SumSince(ctx, time.Time{}, ByTenant); err != nil {
				t.Errorf("SumSince() = %v", err)
			}
			_ = l.Stats()
		}
	})
	wg.Wait()
	flush(t, l)

	sums, err := l.SumSince(ctx, time.Time{}, ByTenant)
	if err != nil {
		t.Fatal(err)
	}
	for tenant, s := range sums {
		if want := int64(writers / 4 * each); s.Requests != want || s.MicroUSD != 3*want {
			t.Errorf("SumSince()[%s] = %+v, want %d requests and %d micro-USD", tenant, s, want, 3*want)
		}
	}
	if len(sums) != 4 {
		t.Errorf("SumSince() has %d tenants, want 4", len(sums))
	}
	if got := l.Stats(); got.Committed != writers*each || got.Pending != 0 {
		t.Errorf("Stats() = %+v, want Committed %d, Pending 0", got, writers*each)
	}
}

func TestAppendZeroTime(t *testing.T) {
	t.Parallel()
	l := open(t, Config{Path: ":memory:"})
	before := time.Now()
	appendAll(t, l, Record{RequestID: "x", MicroUSD: 5})
	flush(t, l)
	got := readAll(t, l)
	if len(got) != 1 || got[0].Time.Before(before.Truncate(0).Add(-time.Second)) {
		t.Errorf("record with zero Time stored as %+v, want stamped with the current time", got)
	}
}
