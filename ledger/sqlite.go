package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"

	// The pure-Go SQLite driver: no cgo, so tollgate stays one static binary.
	_ "modernc.org/sqlite"
)

// sqliteBackend is the ledger in one SQLite file, written by one process: the writing
// Ledger holds an exclusive lock on Path + ".lock" from Open to Close (the kernel drops it
// when the process dies), so every hold in the file at Open was left by a process that is
// gone.
type sqliteBackend struct {
	db       *sql.DB
	instance string
	lock     *os.File // nil for ":memory:" and read-only

	insert, insertN *sql.Stmt // 1 and insertRows usage rows
	insertHold      *sql.Stmt
	deleteHold      *sql.Stmt
}

var sqliteDialect = &dialect{backend: SQLite, readTx: &sql.TxOptions{ReadOnly: true}}

func openSQLite(ctx context.Context, cfg Config) (_ *sqliteBackend, err error) {
	memory := cfg.Path == ":memory:"
	b := &sqliteBackend{instance: cfg.Instance}
	defer func() {
		if err != nil {
			_ = b.close()
		}
	}()
	if !memory && !cfg.ReadOnly {
		if b.lock, err = lockFile(cfg.Path + ".lock"); err != nil {
			return nil, fmt.Errorf("ledger: %s: %w", cfg.Path, err)
		}
	}
	pragmas := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()),
		"_pragma=journal_mode(WAL)",
		// See the package doc: an fsync per group commit is cheap and survives power loss.
		"_pragma=synchronous(FULL)",
		// The writer takes the write lock at BEGIN, so that a busy file waits under
		// busy_timeout instead of failing at the first INSERT.
		"_txlock=immediate",
	}
	if b.db, err = sql.Open("sqlite", cfg.Path+"?"+strings.Join(pragmas, "&")); err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", cfg.Path, err)
	}
	if memory {
		// Every connection to ":memory:" is a separate empty database: keep exactly one.
		b.db.SetMaxOpenConns(1)
	} else {
		b.db.SetMaxOpenConns(4)
		var mode string
		if err := b.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			return nil, fmt.Errorf("ledger: open %s: %w", cfg.Path, err)
		}
		if !strings.EqualFold(mode, "wal") {
			cfg.Logger.Warn("ledger: WAL mode unavailable; readers will block the writer", "path", cfg.Path, "journal_mode", mode)
		}
	}
	if cfg.ReadOnly {
		return b, ensureSchema(ctx, b.db, sqliteDialect)
	}
	if err := migrate(ctx, b.db, sqliteDialect); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&b.insert, insertSQL(1)},
		{&b.insertN, insertSQL(insertRows)},
		{&b.insertHold, `INSERT INTO holds (id, request_id, owner, tenant, key_id, agent, session, route,
			provider, model, attempt, input_tokens, output_tokens, micro_usd, opened_ns)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING`},
		{&b.deleteHold, "DELETE FROM holds WHERE id = ?"},
	} {
		if *p.dst, err = b.db.PrepareContext(ctx, p.query); err != nil {
			return nil, fmt.Errorf("ledger: prepare: %w", err)
		}
	}
	return b, nil
}

func (b *sqliteBackend) queryDB() *sql.DB { return b.db }

func (b *sqliteBackend) heartbeat(context.Context) error { return nil }

// insertRows is how many records one prepared INSERT writes. A batch goes in as many
// multi-row statements as fit and the rest one row at a time: per statement, database/sql
// and the driver cost about as much as SQLite's own work for a row (see BenchmarkAppend).
const insertRows = 32

// usageColumns are the columns of a usage row as write and the orphan charges fill them.
const usageColumns = `ts, request_id, tenant, key_id, agent, session, route, provider, model,
	input_tokens, cached_input_tokens, output_tokens, micro_usd, outcome, fallback_reason,
	latency_ns, attempt, upstream_request_id, hold_id, cache_write_tokens, cache_write_1h_tokens,
	reasoning_tokens`

// insertColumns is the number of usageColumns: the parameters per record.
const insertColumns = 22

// insertSQL returns an INSERT of n records, insertColumns parameters each.
func insertSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO usage (" + usageColumns + ") VALUES ")
	row := "(" + strings.Repeat("?,", insertColumns-1) + "?)"
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	return b.String()
}

// recordArgs appends r's values in usageColumns order.
func recordArgs(args []any, r *Record) []any {
	return append(args, r.Time.UnixNano(), r.RequestID, r.Tenant, r.Key, r.Agent,
		r.Session, r.Route, r.Provider, r.Model, r.InputTokens, r.CachedInputTokens,
		r.OutputTokens, r.MicroUSD, r.Outcome, r.FallbackReason, int64(r.Latency), r.Attempt,
		r.UpstreamRequestID, r.HoldID, r.CacheWriteTokens, r.CacheWrite1hTokens, r.ReasoningTokens)
}

func (b *sqliteBackend) write(ctx context.Context, bt *batch) (unmatched int, err error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("ledger: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if len(bt.holds) > 0 {
		st := tx.StmtContext(ctx, b.insertHold)
		for i := range bt.holds {
			h := &bt.holds[i]
			if _, err := st.ExecContext(ctx, h.HoldID, h.RequestID, b.instance, h.Tenant, h.Key, h.Agent,
				h.Session, h.Route, h.Provider, h.Model, h.Attempt, h.InputTokens, h.OutputTokens,
				h.MicroUSD, h.Time.UnixNano()); err != nil {
				return 0, fmt.Errorf("ledger: insert hold: %w", err)
			}
		}
	}
	args := make([]any, 0, insertColumns*min(len(bt.records), insertRows))
	for rest := bt.records; len(rest) > 0; {
		stmt, n := b.insertN, insertRows
		if len(rest) < insertRows {
			stmt, n = b.insert, 1
		}
		args = args[:0]
		for i := range n {
			args = recordArgs(args, &rest[i])
		}
		if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, args...); err != nil {
			return 0, fmt.Errorf("ledger: insert: %w", err)
		}
		rest = rest[n:]
	}
	del := tx.StmtContext(ctx, b.deleteHold)
	closeHold := func(id string) error {
		res, err := del.ExecContext(ctx, id)
		if err != nil {
			return fmt.Errorf("ledger: close hold: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			unmatched++
		}
		return nil
	}
	for i := range bt.records {
		if id := bt.records[i].HoldID; id != "" {
			if err := closeHold(id); err != nil {
				return 0, err
			}
		}
	}
	for _, id := range bt.closes {
		if err := closeHold(id); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("ledger: commit: %w", err)
	}
	return unmatched, nil
}

// chargeSQL is the orphan charge of the holds matching where: each becomes a usage row at
// its worst case, stamped with its open time. Both backends use it.
func chargeSQL(where string) string {
	return `INSERT INTO usage (` + usageColumns + `) ` + orphanSelect + ` FROM holds WHERE ` + where +
		` ORDER BY opened_ns, id`
}

// orphanSelect selects a hold row as its orphan charge, in usageColumns order: the worst
// case at the open time, outcome orphaned, the hold's id in hold_id.
const orphanSelect = `SELECT opened_ns, request_id, tenant, key_id, agent, session, route, provider, model,
	input_tokens, 0, output_tokens, micro_usd, '` + OutcomeOrphaned + `', '', 0, attempt, '', id, 0, 0, 0`

// charge charges and deletes the holds matching where, in one transaction (the file's
// write lock makes it exactly once).
func (b *sqliteBackend) charge(ctx context.Context, where string, args ...any) (n int, err error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("ledger: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	res, err := tx.ExecContext(ctx, chargeSQL(where), args...)
	if err != nil {
		return 0, fmt.Errorf("ledger: charge orphaned holds: %w", err)
	}
	charged, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, "DELETE FROM holds WHERE "+where, args...); err != nil {
		return 0, fmt.Errorf("ledger: close orphaned holds: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("ledger: commit: %w", err)
	}
	return int(charged), nil
}

func (b *sqliteBackend) recoverHolds(ctx context.Context, atOpen bool) (int, error) {
	if atOpen {
		return b.charge(ctx, "1 = 1")
	}
	// After Open no other process can have written a hold (the lock), so this finds
	// nothing unless the file was edited by hand.
	return b.charge(ctx, "owner <> ?", b.instance)
}

func (b *sqliteBackend) retire(ctx context.Context) (int, error) {
	return b.charge(ctx, "owner = ?", b.instance)
}

func (b *sqliteBackend) close() error {
	var first error
	for _, st := range []*sql.Stmt{b.insert, b.insertN, b.insertHold, b.deleteHold} {
		if st == nil {
			continue
		}
		if err := st.Close(); err != nil && first == nil {
			first = fmt.Errorf("ledger: close statement: %w", err)
		}
	}
	if b.db != nil {
		if err := b.db.Close(); err != nil && first == nil {
			first = fmt.Errorf("ledger: close database: %w", err)
		}
	}
	if b.lock != nil {
		// Closing the descriptor drops the lock.
		if err := b.lock.Close(); err != nil && first == nil {
			first = fmt.Errorf("ledger: unlock: %w", err)
		}
		b.lock = nil
	}
	return first
}
