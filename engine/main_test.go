package engine_test

import (
	"os"
	"testing"

	"github.com/tollgate/tollgate/internal/pgtest"
)

// TestMain stops the PostgreSQL server that the hold benchmarks start on first use.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
