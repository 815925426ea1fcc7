package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migrations returns the steps of the schema: element i takes a file from version i to i+1;
// PRAGMA user_version holds the version a file is at. A released step is never edited, only
// appended to (and schemaVersion raised with it).
func migrations() []string {
	return []string{
		// 1: the usage table. ts is unix nanoseconds UTC; days are computed in Go so that any
		// zone, DST included, groups correctly. The indexes serve the restore at start (a time
		// range, grouped) and `tollgate usage` filtered by tenant, session or agent.
		`CREATE TABLE usage (
		id                  INTEGER PRIMARY KEY,
		ts                  INTEGER NOT NULL,
		request_id          TEXT    NOT NULL,
		tenant              TEXT    NOT NULL,
		key_id              TEXT    NOT NULL,
		agent               TEXT    NOT NULL,
		session             TEXT    NOT NULL,
		route               TEXT    NOT NULL,
		provider            TEXT    NOT NULL,
		model               TEXT    NOT NULL,
		input_tokens        INTEGER NOT NULL,
		cached_input_tokens INTEGER NOT NULL,
		output_tokens       INTEGER NOT NULL,
		micro_usd           INTEGER NOT NULL,
		outcome             TEXT    NOT NULL,
		fallback_reason     TEXT    NOT NULL,
		latency_ns          INTEGER NOT NULL,
		attempt             INTEGER NOT NULL
	);
	CREATE INDEX usage_ts ON usage (ts);
	CREATE INDEX usage_tenant_ts ON usage (tenant, ts);
	CREATE INDEX usage_session_ts ON usage (session, ts);
	CREATE INDEX usage_agent_ts ON usage (agent, ts);`,
	}
}

// schemaVersion is the version this code reads and writes: len(migrations()).
const schemaVersion = 1

// insertRows is how many records one prepared INSERT writes. A batch goes in as many
// multi-row statements as fit and the rest one row at a time: per statement, database/sql
// and the driver cost about as much as SQLite's own work for a row (see BenchmarkAppend).
const insertRows = 32

// insertColumns is the number of parameters per record.
const insertColumns = 17

// insertSQL returns an INSERT of n records, insertColumns parameters each.
func insertSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO usage (ts, request_id, tenant, key_id, agent, session, route,
	provider, model, input_tokens, cached_input_tokens, output_tokens, micro_usd, outcome,
	fallback_reason, latency_ns, attempt) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	return b.String()
}

// migrate brings the file to schemaVersion. It runs in one immediate transaction, so two
// processes opening a new file at once cannot both create the table.
func migrate(ctx context.Context, db *sql.DB) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("ledger: read schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("ledger: file at version %d, this build knows %d: %w", v, schemaVersion, ErrSchemaVersion)
	}
	steps := migrations()
	for ; v < schemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			return fmt.Errorf("ledger: migrate to version %d: %w", v+1, err)
		}
	}
	// PRAGMA takes no bound parameters; v is an int we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		return fmt.Errorf("ledger: write schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger: commit migration: %w", err)
	}
	return nil
}
