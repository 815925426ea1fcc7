package fleettest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds a gateway's start-up: build of its configuration, ledger open,
// restore, listen. A race-enabled binary on a loaded 2-core machine is slow to start.
const startTimeout = 30 * time.Second

// gateway is one `tollgate serve` child process. Its stderr (JSON log lines) is read
// continuously, so that tests wait for log lines instead of polling.
type gateway struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	addr string // host:port from the "listening" log line
	logs *logLines
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, valid after done
}

// url returns the gateway's base URL for the OpenAI API ("http://host:port/v1").
func (g *gateway) url() string { return "http://" + g.addr + "/v1" }

// startGateway runs `tollgate serve --config cfgPath` and returns once its "listening" log
// line names its address. The process is killed in t.Cleanup if it still runs; its log is
// printed when the test failed, and any panic in it fails the test.
func startGateway(t testing.TB, name, cfgPath string) *gateway {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--config", cfgPath, "--log-format", "json")
	// The emulator accepts any non-empty key; the real variable of the host is not wanted.
	cmd.Env = append(os.Environ(), "OPENAI_API_KEY=emulator", "ANTHROPIC_API_KEY=emulator")
	cmd.Stdout = io.Discard
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, name: name, cmd: cmd, logs: newLogLines(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		g.logs.read(pipe)
		g.err = cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() {
		g.kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", g.name, g.logs.String())
		}
		if l, ok := g.logs.find(func(l logLine) bool { return strings.Contains(strings.ToLower(l.raw), "panic") }); ok {
			t.Errorf("%s logged a panic: %s", g.name, l.raw)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	l, err := g.waitLog(ctx, "tollgate: listening")
	if err != nil {
		t.Fatalf("%s did not start: %v\n%s", name, err, g.logs.String())
	}
	g.addr, _ = l.fields["addr"].(string)
	if g.addr == "" {
		t.Fatalf("%s: listening line without addr: %s", name, l.raw)
	}
	return g
}

// waitLog waits for a log line whose msg is msg, from the start of the process's log, and
// fails when the process exits first.
func (g *gateway) waitLog(ctx context.Context, msg string) (logLine, error) {
	return g.logs.wait(ctx, g.done, func(l logLine) bool { return l.msg == msg })
}

// hasLog reports whether a line with msg was logged so far.
func (g *gateway) hasLog(msg string) (logLine, bool) {
	return g.logs.find(func(l logLine) bool { return l.msg == msg })
}

// alive reports whether the process is still running.
func (g *gateway) alive() bool {
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL, if the process runs, and waits for it to exit.
func (g *gateway) kill() {
	if g.alive() {
		_ = g.cmd.Process.Kill()
	}
	<-g.done
}

// stop sends SIGTERM and waits, at most until ctx is done, for a clean exit: the gateway
// drains, settles every reservation and flushes its ledger.
func (g *gateway) stop(ctx context.Context) error {
	if !g.alive() {
		return fmt.Errorf("%s had already exited: %v", g.name, g.err)
	}
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-g.done:
	case <-ctx.Done():
		return fmt.Errorf("%s did not exit after SIGTERM: %w", g.name, ctx.Err())
	}
	if g.err != nil {
		return fmt.Errorf("%s exited with %v", g.name, g.err)
	}
	return nil
}

// logLine is one line of a gateway's stderr: a slog JSON record, or raw text (a Go runtime
// panic, say) with empty msg.
type logLine struct {
	raw    string
	msg    string
	fields map[string]any
}

// logLines collects a process's log lines and wakes waiters on each new one. It is safe for
// concurrent use.
type logLines struct {
	mu      sync.Mutex
	lines   []logLine
	changed chan struct{} // closed and replaced on every new line
}

func newLogLines() *logLines { return &logLines{changed: make(chan struct{})} }

// read consumes r line by line until EOF.
func (ls *logLines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := logLine{raw: sc.Text()}
		if err := json.Unmarshal(sc.Bytes(), &l.fields); err == nil {
			l.msg, _ = l.fields["msg"].(string)
		}
		ls.mu.Lock()
		ls.lines = append(ls.lines, l)
		close(ls.changed)
		ls.changed = make(chan struct{})
		ls.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

func (ls *logLines) find(match func(logLine) bool) (logLine, bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, l := range ls.lines {
		if match(l) {
			return l, true
		}
	}
	return logLine{}, false
}

// wait returns the first line that matches, waiting for new lines until ctx is done or
// exited is closed.
func (ls *logLines) wait(ctx context.Context, exited <-chan struct{}, match func(logLine) bool) (logLine, error) {
	next := 0
	for {
		ls.mu.Lock()
		lines, changed := ls.lines[next:], ls.changed
		next = len(ls.lines)
		ls.mu.Unlock()
		for _, l := range lines {
			if match(l) {
				return l, nil
			}
		}
		select {
		case <-changed:
		case <-exited:
			// Lines written just before the exit may still be unread: look once more.
			if l, ok := ls.find(match); ok {
				return l, nil
			}
			return logLine{}, errors.New("the process exited")
		case <-ctx.Done():
			return logLine{}, ctx.Err()
		}
	}
}

func (ls *logLines) String() string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var b strings.Builder
	for _, l := range ls.lines {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	return b.String()
}
