package ledger

import (
	"context"
	"database/sql"
	"embed"

	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// The schema of each backend is an ordered set of SQL files, migrations/<backend>/NNNN_name.sql,
// version NNNN counting from 1 without gaps. A released file is never edited, only
// followed by a new one; both backends keep the same version numbers for the same
// features. The table ledger_migrations lists the versions a database has applied.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the steps of backend b in order and checks their numbering.
func loadMigrations(b Backend) ([]migration, error) {
	dir := path.Join("migrations", string(b))
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("ledger: migrations of %s: %w", b, err)
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("ledger: migration file %s/%s is not NNNN_name.sql", dir, e.Name())
		}
		if v != len(out)+1 {
			return nil, fmt.Errorf("ledger: migration %s/%s has version %d, want %d", dir, e.Name(), v, len(out)+1)
		}
		data, err := migrationFiles.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(data)})
	}
	return out, nil
}

// schemaVersion is the version this code reads and writes.
const schemaVersion = 4

// migrate brings db to the newest version in one transaction, serialized against other
// processes doing the same: SQLite's write lock (the transaction begins IMMEDIATE) or a
// PostgreSQL advisory lock. A database newer than this build fails with ErrSchemaVersion.
func migrate(ctx context.Context, db *sql.DB, d *dialect) (err error) {
	steps, err := loadMigrations(d.backend)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if d.backend == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", advisoryMigrate); err != nil {
			return fmt.Errorf("ledger: lock for migration: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS ledger_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_ns BIGINT  NOT NULL)`); err != nil {
		return fmt.Errorf("ledger: create ledger_migrations: %w", err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM ledger_migrations").Scan(&v); err != nil {
		return fmt.Errorf("ledger: read schema version: %w", err)
	}
	record := func(m migration) error {
		_, err := tx.ExecContext(ctx, d.rebind("INSERT INTO ledger_migrations (version, name, applied_ns) VALUES (?, ?, ?)"),
			m.version, m.name, time.Now().UnixNano())
		return err
	}
	if d.backend == SQLite {
		// Files written before the version table kept their version in PRAGMA
		// user_version only (1: the usage table); it is also what older builds check to
		// refuse a newer file, so it is kept in step below.
		var uv int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&uv); err != nil {
			return fmt.Errorf("ledger: read schema version: %w", err)
		}
		if uv > len(steps) {
			return fmt.Errorf("ledger: file at version %d, this build knows %d: %w", uv, len(steps), ErrSchemaVersion)
		}
		for ; v < uv; v++ {
			if err := record(steps[v]); err != nil {
				return fmt.Errorf("ledger: record schema version %d: %w", v+1, err)
			}
		}
	}
	if v > len(steps) {
		return fmt.Errorf("ledger: database at version %d, this build knows %d: %w", v, len(steps), ErrSchemaVersion)
	}
	for ; v < len(steps); v++ {
		if _, err := tx.ExecContext(ctx, steps[v].sql); err != nil {
			return fmt.Errorf("ledger: migrate to version %d (%s): %w", v+1, steps[v].name, err)
		}
		if err := record(steps[v]); err != nil {
			return fmt.Errorf("ledger: record schema version %d: %w", v+1, err)
		}
	}
	if d.backend == SQLite {
		// PRAGMA takes no bound parameters; v is an int we computed.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
			return fmt.Errorf("ledger: write schema version: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger: commit migration: %w", err)
	}
	return nil
}

// currentVersion returns the schema version of db without writing: 0 for an empty
// database.
func currentVersion(ctx context.Context, db *sql.DB, d *dialect) (int, error) {
	var v int
	if d.backend == SQLite {
		err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
		return v, err
	}
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT to_regclass('ledger_migrations') IS NOT NULL").Scan(&exists); err != nil || !exists {
		return 0, err
	}
	err := db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM ledger_migrations").Scan(&v)
	return v, err
}

// ensureSchema migrates db unless it is at schemaVersion already, in which case a
// read-only user can open it.
func ensureSchema(ctx context.Context, db *sql.DB, d *dialect) error {
	v, err := currentVersion(ctx, db, d)
	if err != nil {
		return fmt.Errorf("ledger: read schema version: %w", err)
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("ledger: database at version %d, this build knows %d: %w", v, schemaVersion, ErrSchemaVersion)
	}
	return migrate(ctx, db, d)
}

// Keys of PostgreSQL advisory locks: an arbitrary constant per purpose ("tg" and a number).
const (
	advisoryMigrate int64 = 0x7467_0001
	advisoryRecover int64 = 0x7467_0002
)

// dialect is what differs between the backends' SQL for the shared queries.
type dialect struct {
	backend Backend
	// readTx are the options of a read transaction: one snapshot for every statement.
	readTx *sql.TxOptions
}

// rebind turns the ? placeholders of query into $1, $2... for PostgreSQL. The queries
// given to it have no '?' in literals.
func (d *dialect) rebind(query string) string {
	if d.backend != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
