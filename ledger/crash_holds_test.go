package ledger

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/pgtest"
)

// The holds crash test re-executes this test binary as a child that reserves, holds and
// settles calls until it is killed; these variables tell TestMain to be that child.
const (
	envHoldsBackend = "LEDGER_HOLDS_CHILD_BACKEND"
	envHoldsTarget  = "LEDGER_HOLDS_CHILD_TARGET" // the SQLite path or the PostgreSQL URL
)

// The child's calls: each reserves holdWorst against a budget of holdLimit, and settles
// holdActual or releases (every releaseEvery-th call).
const (
	holdLimit    = 400_000
	holdWorst    = 10_000
	holdActual   = 3_000
	releaseEvery = 5
	holdWorkers  = 8
)

func holdID(i int64) string    { return fmt.Sprint("h-", i) }
func holdReqID(i int64) string { return fmt.Sprint("req-", i) }

// holdsChild plays a gateway: holdWorkers goroutines reserve a call's worst case against
// a budget (never more than holdLimit reserved and spent together), journal the hold, make
// the "call", and settle it (or release it). After each step it writes "O i", "S i" or
// "R i" to stdout in one unbuffered write, once the step's ledger call returned.
func holdsChild() {
	cfg := Config{Backend: Backend(os.Getenv(envHoldsBackend)), HeartbeatTTL: time.Hour}
	if cfg.Backend == Postgres {
		cfg.URL = os.Getenv(envHoldsTarget)
	} else {
		cfg.Path = os.Getenv(envHoldsTarget)
	}
	ctx := context.Background()
	l, err := Open(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var used int64 // reserved and settled: the budget's counter
	var seq atomic.Int64
	say := func(what string, i int64) {
		if _, err := os.Stdout.WriteString(fmt.Sprintf("%s %d\n", what, i)); err != nil {
			os.Exit(2)
		}
	}
	// Never outlive a parent that died before killing us.
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	for range holdWorkers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				mu.Lock()
				if used+holdWorst > holdLimit {
					mu.Unlock()
					say("F", 0) // the budget is full: the parent kills now, holds open
					return
				}
				used += holdWorst
				mu.Unlock()
				i := seq.Add(1)
				h := Hold{ID: holdID(i), RequestID: holdReqID(i), Tenant: "acme", Session: "s", Model: "gpt-4o",
					Attempt: 1, InputTokens: 1000, OutputTokens: 4096, MicroUSD: holdWorst}
				if err := l.OpenHold(ctx, h); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				say("O", i)
				time.Sleep(time.Millisecond) // the upstream call
				if i%releaseEvery == 0 {
					mu.Lock()
					used -= holdWorst
					mu.Unlock()
					if err := l.CloseHold(h.ID); err != nil {
						os.Exit(2)
					}
					say("R", i)
					continue
				}
				mu.Lock()
				used -= holdWorst - holdActual
				mu.Unlock()
				if err := l.Append(Record{RequestID: h.RequestID, HoldID: h.ID, Tenant: "acme", Session: "s",
					Model: "gpt-4o", InputTokens: 1000, OutputTokens: 300, MicroUSD: holdActual,
					Outcome: OutcomeOK, Attempt: 1}); err != nil {
					os.Exit(2)
				}
				say("S", i)
			}
		})
	}
	wg.Wait()
	fmt.Fprintln(os.Stderr, "holds child: not killed in time")
	os.Exit(3)
}

// killHoldsChild runs holdsChild against target and SIGKILLs it once killAt holds were
// opened or the budget is full, whichever comes first; it returns what the child reported per call: 'O' opened, 'S' settled, 'R'
// released (the latest step).
func killHoldsChild(t *testing.T, backend Backend, target string, killAt int) map[int64]byte {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHoldsBackend+"="+string(backend), envHoldsTarget+"="+target)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	steps := map[int64]byte{}
	opened, killed := 0, false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var what string
		var i int64
		if _, err := fmt.Sscan(sc.Text(), &what, &i); err != nil {
			t.Fatalf("child wrote %q: %v", sc.Text(), err)
		}
		if what == "O" {
			opened++
		}
		if what != "F" {
			steps[i] = what[0]
		}
		if !killed && (opened >= killAt || what == "F") {
			killed = true
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
		}
	}
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("child ended before the kill: %v\n%s", werr, stderr.String())
	}
	return steps
}

// checkHoldsAfterKill checks the ledger l reopened after the kill: every hold the child
// journaled is charged exactly once (by its settle, or at its worst case as orphaned;
// nothing for a release that was committed), none is left open, and the spend never
// exceeds the budget the child reserved against. It returns the number of orphan charges.
func checkHoldsAfterKill(t *testing.T, l *Ledger, steps map[int64]byte) int {
	t.Helper()
	ctx := context.Background()
	if hs, err := l.OpenHolds(ctx); err != nil || len(hs) != 0 {
		t.Fatalf("OpenHolds() after recovery = %d holds, %v; want none", len(hs), err)
	}
	orphans, settled := 0, 0
	var last int64
	for i := range steps {
		last = max(last, i)
	}
	// Calls the child had not reported yet when it died (one per worker at most) may have
	// a durable hold, or not.
	for i := int64(1); i <= last+holdWorkers; i++ {
		step, reported := steps[i]
		if !reported {
			step = '?'
		}
		recs, err := l.Request(ctx, holdReqID(i))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 1 {
			t.Fatalf("call %d (last step %c) charged %d times: %+v", i, step, len(recs), recs)
		}
		if len(recs) == 0 {
			if step != 'R' && step != '?' {
				t.Errorf("call %d (last step %c) has no charge: a durable hold must be settled or charged", i, step)
			}
			continue
		}
		switch r := recs[0]; {
		case r.Outcome == OutcomeOrphaned && r.MicroUSD == holdWorst && r.HoldID == holdID(i):
			orphans++
		case r.Outcome == OutcomeOK && r.MicroUSD == holdActual && (step == 'S' || step == 'O'):
			settled++
		default:
			t.Errorf("call %d (last step %c) charged %+v, want its settle or its worst case as orphaned", i, step, r)
		}
	}
	sums, err := l.SumSince(ctx, time.Time{}, ByTenant)
	if err != nil {
		t.Fatal(err)
	}
	spent := sums["acme"].MicroUSD
	if spent > holdLimit {
		t.Errorf("restored spend %d micro-USD is over the budget of %d", spent, holdLimit)
	}
	if want := int64(orphans*holdWorst + settled*holdActual); spent != want {
		t.Errorf("restored spend = %d, want %d (the records checked above, and nothing else)", spent, want)
	}
	t.Logf("after kill -9: %d calls reported; %d settles committed, %d holds charged as orphaned; spend %d of %d micro-USD",
		len(steps), settled, orphans, spent, holdLimit)
	return orphans
}

// TestKill9HoldsSQLite kills a process with holds open on a SQLite ledger; the next Open
// charges each open hold at its worst case before it returns, once.
func TestKill9HoldsSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "holds.db")
	steps := killHoldsChild(t, SQLite, path, 1000)
	l := open(t, Config{Path: path})
	orphans := checkHoldsAfterKill(t, l, steps)
	if got := l.Stats().Orphaned; got != int64(orphans) {
		t.Errorf("Stats().Orphaned at Open = %d, want the %d orphan charges", got, orphans)
	}
	if orphans == 0 {
		t.Errorf("no hold was open at the kill: the test did not test recovery")
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Once: a second Open finds nothing more to charge.
	l = open(t, Config{Path: path})
	if got := l.Stats().Orphaned; got != 0 {
		t.Errorf("second Open charged %d more holds, want 0", got)
	}
	checkHoldsAfterKill(t, l, steps)
}

// TestKill9HoldsPostgres kills a replica with holds open on a PostgreSQL ledger; two
// replicas that start after its heartbeat lapsed (their clock an hour ahead) recover at
// once, concurrently: each orphaned hold is charged by exactly one of them, before its
// Open returns.
func TestKill9HoldsPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	steps := killHoldsChild(t, Postgres, url, 1000)
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }

	var wg sync.WaitGroup
	ls := make([]*Ledger, 2)
	for i := range ls {
		wg.Go(func() {
			l, err := Open(context.Background(), Config{Backend: Postgres, URL: url, Now: later})
			if err != nil {
				t.Errorf("Open() = %v", err)
				return
			}
			ls[i] = l
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, l := range ls {
		t.Cleanup(func() { _ = l.Close(context.Background()) })
	}
	orphans := checkHoldsAfterKill(t, ls[0], steps)
	got := ls[0].Stats().Orphaned + ls[1].Stats().Orphaned
	if got != int64(orphans) {
		t.Errorf("the two replicas charged %d + %d holds, want %d in all (each once)",
			ls[0].Stats().Orphaned, ls[1].Stats().Orphaned, orphans)
	}
	if orphans == 0 {
		t.Errorf("no hold was open at the kill: the test did not test recovery")
	}
	if n, err := ls[1].Recover(context.Background()); err != nil || n != 0 {
		t.Errorf("Recover() after the recovery = %d, %v; want 0", n, err)
	}
}
