package ledger

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/pgtest"
)

// The crash test re-executes this test binary as a child that appends records until it is
// killed; these variables tell TestMain to be that child.
const (
	envCrashPath     = "LEDGER_CRASH_CHILD_PATH"
	envCrashInterval = "LEDGER_CRASH_CHILD_INTERVAL"
	envCrashPace     = "LEDGER_CRASH_CHILD_PACE"
)

func TestMain(m *testing.M) {
	if os.Getenv(envCrashPath) != "" {
		crashChild()
		return
	}
	if os.Getenv(envHoldsBackend) != "" {
		holdsChild()
		return
	}
	os.Exit(pgtest.Main(m))
}

// crashChild appends records numbered 0, 1, 2... in RequestID, one at a time, and after
// each writes "seq append-unix-nanos committed" to stdout with one unbuffered write, so
// the parent knows, up to the one record in flight, what was appended and what the child
// had seen committed when the kill landed.
func crashChild() {
	interval, _ := time.ParseDuration(os.Getenv(envCrashInterval))
	pace, _ := time.ParseDuration(os.Getenv(envCrashPace))
	l, err := Open(context.Background(), Config{Path: os.Getenv(envCrashPath), CommitInterval: interval})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var tick <-chan time.Time
	if pace > 0 {
		tick = time.Tick(pace)
	}
	// Never outlive a parent that died before killing us.
	deadline := time.Now().Add(60 * time.Second)
	for seq := 0; time.Now().Before(deadline); seq++ {
		r := Record{Time: time.Now(), RequestID: strconv.Itoa(seq), Tenant: "acme", Model: "gpt-4o",
			InputTokens: 100, OutputTokens: 10, MicroUSD: 1, Outcome: OutcomeOK, Attempt: 1}
		for {
			err := l.Append(r)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrBackpressure) {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
		line := strconv.Itoa(seq) + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + " " +
			strconv.FormatInt(l.Stats().Committed, 10) + "\n"
		if _, err := os.Stdout.WriteString(line); err != nil {
			os.Exit(2)
		}
		if tick != nil {
			<-tick
		}
	}
	fmt.Fprintln(os.Stderr, "crash child: not killed in time")
	os.Exit(3)
}

// TestKill9 measures what a kill -9 loses. A child process appends numbered records with a
// known CommitInterval and is SIGKILLed mid-stream; the file is then reopened.
//
// Checked (deterministically): the surviving records are exactly 0..C-1, with no hole and
// nothing invented, and every record the child had seen committed survived, so the loss is
// at most the records appended since the last group commit, and never more than
// QueueSize + MaxBatch. Measured and logged: how many
// records were lost and how long before the kill the first of them was appended, next to
// the commit interval.
func TestKill9(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		interval time.Duration
		pace     time.Duration // between appends; 0 is as fast as the ledger takes them
		killAt   int64         // kill once this many records were appended and one committed
	}{
		{"1k per second, 50ms interval", 50 * time.Millisecond, time.Millisecond, 500},
		{"flat out, default 100ms interval", 0, 0, 12_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crash.db")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envCrashPath+"="+path,
				envCrashInterval+"="+tt.interval.String(), envCrashPace+"="+tt.pace.String())
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

			type line struct{ seq, at, committed int64 }
			var lines []line
			var killedAt time.Time
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var ln line
				if _, err := fmt.Sscan(sc.Text(), &ln.seq, &ln.at, &ln.committed); err != nil {
					t.Fatalf("child wrote %q: %v", sc.Text(), err)
				}
				if ln.seq != int64(len(lines)) {
					t.Fatalf("child line %d has seq %d", len(lines), ln.seq)
				}
				lines = append(lines, ln)
				if killedAt.IsZero() && ln.seq+1 >= tt.killAt && ln.committed > 0 {
					killedAt = time.Now()
					if err := cmd.Process.Kill(); err != nil { // SIGKILL
						t.Fatal(err)
					}
				}
			}
			werr := cmd.Wait()
			if killedAt.IsZero() {
				t.Fatalf("child ended before the kill: %v\n%s", werr, stderr.String())
			}

			l := open(t, Config{Path: path})
			var n, lo, hi int64
			err = l.be.queryDB().QueryRow(`SELECT count(*), coalesce(min(CAST(request_id AS INTEGER)), -1),
				coalesce(max(CAST(request_id AS INTEGER)), -1) FROM usage`).Scan(&n, &lo, &hi)
			if err != nil {
				t.Fatal(err)
			}
			last := lines[len(lines)-1]
			var seenCommitted int64
			for _, ln := range lines {
				seenCommitted = max(seenCommitted, ln.committed)
			}
			if n > 0 && (lo != 0 || hi != n-1) {
				t.Fatalf("surviving records: %d with seq %d..%d, want exactly 0..%d (a prefix, no holes)", n, lo, hi, n-1)
			}
			if n < seenCommitted {
				t.Errorf("surviving records = %d, want at least the %d the child saw committed", n, seenCommitted)
			}
			// The child may have appended one record more than it reported.
			if n > last.seq+2 {
				t.Errorf("surviving records = %d, but the child appended at most %d", n, last.seq+2)
			}

			appended := last.seq + 1
			lost := max(appended-n, 0)
			cfg := Config{CommitInterval: tt.interval}.withDefaults()
			if bound := int64(cfg.QueueSize + cfg.MaxBatch); lost > bound {
				t.Errorf("lost %d records, more than QueueSize + MaxBatch = %d", lost, bound)
			}
			window := time.Duration(0)
			if lost > 0 {
				window = killedAt.Sub(time.Unix(0, lines[n].at))
			}
			interval := cfg.CommitInterval
			var inLastInterval int64
			for _, ln := range lines {
				if killedAt.Sub(time.Unix(0, ln.at)) <= interval {
					inLastInterval++
				}
			}
			t.Logf("kill -9 after %d appended records: %d survived, %d lost (appended over the last %v; %d were appended in the last commit interval of %v); the child had seen %d committed",
				appended, n, lost, window.Round(time.Millisecond), inLastInterval, interval, seenCommitted)
		})
	}
}
