package fleettest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/ledger"
)

// pauseRedis stops the redis-server process with SIGSTOP: connections stay open and
// nothing answers, as when Redis hangs or the network drops its packets. The returned
// function resumes it (SIGCONT) and returns the instant it did; the test's cleanup resumes
// it too.
func pauseRedis(t testing.TB, srv *redistest.Server) (resume func() time.Time) {
	t.Helper()
	c := redis.NewClient(srv.Options())
	defer c.Close()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	pid := 0
	for l := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatal("INFO server names no process_id")
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var at time.Time
	resume = func() time.Time {
		once.Do(func() {
			at = time.Now()
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		})
		return at
	}
	t.Cleanup(func() { resume() })
	return resume
}

// logTime is the time a gateway stamped on a log line.
func logTime(t testing.TB, l logLine) time.Time {
	t.Helper()
	s, _ := l.fields["time"].(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("log line without a time: %s", l.raw)
	}
	return at
}

// logsOf returns a gateway's lines whose msg is msg.
func (g *gateway) logsOf(msg string) []logLine {
	g.logs.mu.Lock()
	defer g.logs.mu.Unlock()
	var out []logLine
	for _, l := range g.logs.lines {
		if l.msg == msg {
			out = append(out, l)
		}
	}
	return out
}

// logsPrefixed returns a gateway's lines whose msg starts with prefix.
func (g *gateway) logsPrefixed(prefix string) []logLine {
	g.logs.mu.Lock()
	defer g.logs.mu.Unlock()
	var out []logLine
	for _, l := range g.logs.lines {
		if strings.HasPrefix(l.msg, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// num reads a numeric field of a log line.
func num(l logLine, field string) int64 {
	f, _ := l.fields[field].(float64)
	return int64(f)
}

// tally counts what a load got back.
type tally struct {
	ok, budget, unavailable, other atomic.Int64
	firstOther                     atomic.Value // string
}

func (c *tally) add(r *result) {
	switch {
	case r.status == http.StatusOK:
		c.ok.Add(1)
	case r.isBudgetRefusal():
		c.budget.Add(1)
	case r.status == http.StatusServiceUnavailable:
		c.unavailable.Add(1)
	default:
		if c.other.Add(1) == 1 {
			c.firstOther.Store(r.String())
		}
	}
}

func (c *tally) String() string {
	s := strconv.FormatInt(c.ok.Load(), 10) + " served, " + strconv.FormatInt(c.budget.Load(), 10) + " budget refusals, " +
		strconv.FormatInt(c.unavailable.Load(), 10) + " unavailable"
	if n := c.other.Load(); n > 0 {
		s += ", " + strconv.FormatInt(n, 10) + " other (first: " + c.firstOther.Load().(string) + ")"
	}
	return s
}

// drive runs workers per gateway, each sending chat requests one at a time, until done
// reports true for it (checked before each request, so that no request is cancelled half
// way) or ctx ends, and counts the answers.
func drive(ctx context.Context, c *http.Client, gws []*gateway, workers, maxTokens int, counts *tally, done func(refusedInARow int) bool) {
	var wg sync.WaitGroup
	for _, g := range gws {
		for range workers {
			wg.Go(func() {
				inARow := 0
				for ctx.Err() == nil && !done(inARow) {
					r := chat(ctx, c, g.url(), "fleet", maxTokens)
					if ctx.Err() != nil {
						return
					}
					counts.add(&r)
					if r.isBudgetRefusal() {
						inARow++
					} else {
						inARow = 0
					}
				}
			})
		}
	}
	wg.Wait()
}

// usageTotal runs `tollgate usage --config cfg --by none --json`, a real process reading
// the fleet's ledger, and returns its one row.
func usageTotal(t testing.TB, cfg string) ledger.Row {
	t.Helper()
	cmd := exec.Command(binary, "usage", "--config", cfg, "--by", "none", "--json")
	cmd.Env = os.Environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tollgate usage: %v\n%s", err, errb.String())
	}
	var rows []ledger.Row
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("tollgate usage --json: %v\n%s", err, out.String())
	}
	if len(rows) != 1 {
		t.Fatalf("tollgate usage --by none: %d rows, want 1\n%s", len(rows), out.String())
	}
	return rows[0]
}
