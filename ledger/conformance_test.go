package ledger_test

import (
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/ledger/ledgertest"
)

// TestConformance runs the one suite against both backends: a new SQLite file, and a new
// database on a real PostgreSQL (internal/pgtest), per test.
func TestConformance(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		ledgertest.Run(t, func(t *testing.T) ledger.Config {
			return ledger.Config{Path: filepath.Join(t.TempDir(), "ledger.db")}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		ledgertest.Run(t, func(t *testing.T) ledger.Config {
			return ledger.Config{Backend: ledger.Postgres, URL: pgtest.Database(t)}
		})
	})
}
