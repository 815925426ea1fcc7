package config

import (
	"os"
	"testing"

	"github.com/tollgate/tollgate/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
