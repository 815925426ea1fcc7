package fleettest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/internal/pgtest"
)

// binary is the tollgate executable under test, built once by TestMain. Tests only read it.
var binary string

// TestMain builds cmd/tollgate once for every test: each test runs it as real processes, the
// way a fleet runs it. The binary is built with -race when the tests are, so that a data race
// inside a gateway fails the run as it would in the package's own tests. The fleets' shared
// ledger is a real PostgreSQL (internal/pgtest), started on first use and stopped at the end.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fleettest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleettest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "tollgate")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/tollgate/tollgate/cmd/tollgate")
	gobin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleettest: the go command is needed to build cmd/tollgate:", err)
		return 1
	}
	if out, err := exec.Command(gobin, args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "fleettest: go %v: %v\n%s", args, err, out)
		return 1
	}
	return pgtest.Main(m)
}
