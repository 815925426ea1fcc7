package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

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
		{"unknown backend", Config{Backend: "mysql", Path: ":memory:"}, "Config.Backend"},
		{"postgres without URL", Config{Backend: Postgres}, "Config.URL"},
		{"postgres bad URL", Config{Backend: Postgres, URL: "postgres://u:secret@[::1"}, "postgres URL"},
		{"negative timeout", Config{Path: ":memory:", Timeout: -1}, "Config.Timeout"},
		{"negative heartbeat", Config{Path: ":memory:", HeartbeatTTL: -1}, "Config.HeartbeatTTL"},
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

func TestMigrations(t *testing.T) {
	t.Parallel()
	for _, b := range []Backend{SQLite, Postgres} {
		steps, err := loadMigrations(b)
		if err != nil {
			t.Fatalf("loadMigrations(%s) = %v", b, err)
		}
		if len(steps) != schemaVersion {
			t.Errorf("%s has %d migrations, want schemaVersion %d", b, len(steps), schemaVersion)
		}
	}
}

// v1File writes a ledger file as tollgate wrote it before the version table: the usage
// table of schema 1, its version in PRAGMA user_version only, and one record.
func v1File(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	steps, err := loadMigrations(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{steps[0].sql, "PRAGMA user_version = 1",
		`INSERT INTO usage (ts, request_id, tenant, key_id, agent, session, route, provider, model,
			input_tokens, cached_input_tokens, output_tokens, micro_usd, outcome, fallback_reason, latency_ns, attempt)
			VALUES (1795780800000000000, 'old-1', 'acme', 'k', 'a', 's1', 'default', 'openai', 'gpt-4o',
			100, 10, 20, 1500, 'ok', '', 250000000, 1)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestUpgradeV1File opens a file of schema 1, as the previous release left it: it is
// upgraded in place, its records keep their values and gain empty request ids, holds
// work, and the versions are recorded in ledger_migrations and user_version.
func TestUpgradeV1File(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	v1File(t, path)

	l := open(t, Config{Path: path})
	want := []Record{{Time: time.Unix(0, 1795780800000000000).UTC(), RequestID: "old-1", Tenant: "acme", Key: "k",
		Agent: "a", Session: "s1", Route: "default", Provider: "openai", Model: "gpt-4o", InputTokens: 100,
		CachedInputTokens: 10, OutputTokens: 20, MicroUSD: 1500, Outcome: "ok", Latency: 250 * time.Millisecond, Attempt: 1}}
	got, err := l.Request(ctx, "old-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the old record after the upgrade (-want +got):\n%s", diff)
	}
	if err := l.OpenHold(ctx, Hold{ID: "h", RequestID: "new-1", MicroUSD: 9}); err != nil {
		t.Fatalf("OpenHold() on an upgraded file = %v", err)
	}
	r := rec("new-1", 0, "acme", "s1", 7)
	r.HoldID, r.UpstreamRequestID = "h", "chatcmpl-up"
	appendAll(t, l, r)
	flush(t, l)
	if got, err := l.Request(ctx, "chatcmpl-up"); err != nil || len(got) != 1 || got[0].HoldID != "h" {
		t.Errorf("Request(upstream id) on an upgraded file = %+v, %v", got, err)
	}

	db := l.be.queryDB()
	rows, err := db.Query("SELECT version, name FROM ledger_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, fmt.Sprint(v, " ", name))
	}
	rows.Close()
	if diff := cmp.Diff([]string{"1 usage", "2 requests_and_holds", "3 keys_and_budgets", "4 usage_detail"}, versions); diff != "" {
		t.Errorf("ledger_migrations (-want +got):\n%s", diff)
	}
	var uv int
	if err := db.QueryRow("PRAGMA user_version").Scan(&uv); err != nil || uv != schemaVersion {
		t.Errorf("user_version = %d, %v; want %d", uv, err, schemaVersion)
	}
}

func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, Config{Path: path})
	db := l.be.queryDB()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != schemaVersion {
		t.Errorf("user_version = %d, want %d", v, schemaVersion)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var sync int
	if err := db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if sync != 2 {
		t.Errorf("synchronous = %d, want 2 (FULL)", sync)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A file from a newer build is refused, not rewritten, however it says so.
	for _, q := range []string{fmt.Sprintf("PRAGMA user_version = %d", schemaVersion+1),
		fmt.Sprintf("INSERT INTO ledger_migrations VALUES (%d, 'future', 0)", schemaVersion+1)} {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if _, err := Open(context.Background(), Config{Path: path}); !errors.Is(err, ErrSchemaVersion) {
			t.Errorf("Open(newer file: %s) = %v, want ErrSchemaVersion", q, err)
		}
		if _, err := Open(context.Background(), Config{Path: path, ReadOnly: true}); !errors.Is(err, ErrSchemaVersion) {
			t.Errorf("Open(newer file: %s, ReadOnly) = %v, want ErrSchemaVersion", q, err)
		}
	}
}

// TestLocked: one writing process per SQLite file. A second writer fails with ErrLocked
// while the first is open, a reader does not, and the lock goes with Close.
func TestLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, Config{Path: path})
	if _, err := Open(ctx, Config{Path: path}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open() = %v, want ErrLocked", err)
	}
	r := open(t, Config{Path: path, ReadOnly: true})
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	open(t, Config{Path: path})
}

// TestReopenChargesHolds: a SQLite ledger that did not close (its process died; here its
// writer is stopped without Close's charges) leaves its holds in the file; the next Open
// charges every one at its worst case before it returns, once.
func TestReopenChargesHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, Config{Path: path})
	for i := range 3 {
		if err := l.OpenHold(ctx, Hold{ID: fmt.Sprint("h", i), RequestID: fmt.Sprint("r", i), Tenant: "acme",
			MicroUSD: 1000, OutputTokens: 4096, Opened: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	abandon(t, l)

	l = open(t, Config{Path: path})
	if got := l.Stats().Orphaned; got != 3 {
		t.Errorf("Orphaned at Open = %d, want 3", got)
	}
	sums, err := l.SumSince(ctx, t0, ByTenant)
	if err != nil {
		t.Fatal(err)
	}
	if got := sums["acme"]; got.Requests != 3 || got.MicroUSD != 3000 || got.OutputTokens != 3*4096 {
		t.Errorf("acme after recovery = %+v, want 3 charges of 1000 micro-USD and 4096 output tokens", got)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	l = open(t, Config{Path: path})
	if got := l.Stats().Orphaned; got != 0 {
		t.Errorf("Orphaned at the second Open = %d, want 0 (charged once)", got)
	}
	if sums, _ := l.SumSince(ctx, t0, ByTenant); sums["acme"].Requests != 3 {
		t.Errorf("acme after a second reopen = %+v, want the same 3 charges", sums["acme"])
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
	// Should the test fail while the file is locked, release it before the Ledger's own
	// cleanup (registered earlier, so run later) closes it: Close commits what is queued.
	t.Cleanup(func() { _ = lock.Rollback() })

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
