package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/keys"
)

// envChild makes the test binary run main instead of the tests: TestServeReload runs
// `tollgate serve` as a real process, so that it receives real signals.
const envChild = "TOLLGATE_TEST_RUN_MAIN"

// TestMain runs main in a child process started by a test, and otherwise the tests, with
// the PostgreSQL that the usage tests start on first use.
func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		main()
		return
	}
	os.Exit(pgtest.Main(m))
}

// reloadConfig is the configuration of TestServeReload: a slow emulator, so that calls
// are in flight for seconds, the keys and budget status given, and an admin listener.
func reloadConfig(emu, ledger, keysSection, extra string) string {
	h := keys.HashSecret("tg-reload-admin")
	return fmt.Sprintf(`listen: 127.0.0.1:0
shutdown_timeout: 30s
upstreams:
  openai: {api_key_env: OPENAI_API_KEY, base_url: "%s/v1"}
quotas:
  - {name: daily, scope: {tenant: "*"}, unit: usd, limit: 5, window: day}
%s%sledger: {path: %q}
admin:
  listen: 127.0.0.1:0
  key_sha256: %x
`, emu, keysSection, extra, ledger, h[:])
}

// TestServeReload runs `tollgate serve` as a process, with calls in flight, and reloads
// its file with SIGHUP: a changed file swaps the virtual keys while the calls started
// under the old ones finish (none is dropped), and says which change needs a restart; a
// broken file is refused with every problem located, the running configuration stays;
// SIGTERM then stops it cleanly.
func TestServeReload(t *testing.T) {
	const inflight, firstToken = 4, 8 * time.Second
	emu, err := emulator.Start(t.Context(), emulator.Config{Seed: 3, Latency: emulator.Latency{FirstToken: firstToken}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	dir := t.TempDir()
	path, ledger := filepath.Join(dir, "tollgate.yaml"), filepath.Join(dir, "ledger.db")
	oldKeys := "keys:\n  - {id: old, tenant: t1, key_env: TG_OLD_KEY}\n"
	newKeys := "keys:\n  - {id: new, tenant: t1, key_env: TG_NEW_KEY}\n"
	write := func(text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadConfig(emu.URL(), ledger, oldKeys, ""))

	p := startServe(t, path, "OPENAI_API_KEY=emulator", "TG_OLD_KEY=tg-old-key", "TG_NEW_KEY=tg-new-key")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	l, err := p.logs.wait(ctx, p.done, msgIs("tollgate: listening"))
	if err != nil {
		t.Fatalf("serve did not start: %v\n%s", err, p.logs)
	}
	gw, admin := "http://"+l.str("addr"), "http://"+l.str("admin")

	// Calls under the old key, in flight across the reload.
	results := make(chan int, inflight)
	for range inflight {
		go func() {
			code, _ := post(ctx, gw, "tg-old-key", `{"model": "gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}`)
			results <- code
		}()
	}
	// The admin listener's metrics say when every call holds its reservation.
	for inflightNow(ctx, admin) < inflight {
		if ctx.Err() != nil {
			t.Fatalf("calls in flight never reached %d", inflight)
		}
	}

	write(reloadConfig(emu.URL(), ledger, newKeys, "budget_status: 402\naccess_log: {sample: 0.5}\nqueue: {max_wait: 10s}\n"))
	start := time.Now()
	p.signal(t, syscall.SIGHUP)
	if _, err := p.logs.wait(ctx, p.done, msgIs("tollgate: configuration reloaded")); err != nil {
		t.Fatalf("no reload: %v\n%s", err, p.logs)
	}
	if _, ok := p.logs.find(func(l logLine) bool {
		return l.msg == "tollgate: configuration change needs a restart; the running value stays until then" && l.str("field") == "queue"
	}); !ok {
		t.Errorf("the reload did not say that queue needs a restart:\n%s", p.logs)
	}
	if since := time.Since(start); since >= firstToken {
		t.Fatalf("the reload took %v, longer than the calls it was meant to overlap", since)
	}
	if n := inflightNow(ctx, admin); n != inflight {
		t.Fatalf("calls in flight after the reload = %d, want %d: the test needs them still running", n, inflight)
	}
	if code, body := get(ctx, gw+"/v1/models", "tg-new-key"); code != 200 {
		t.Errorf("the new key after the reload = %d %s, want 200", code, body)
	}
	if code, _ := get(ctx, gw+"/v1/models", "tg-old-key"); code != 401 {
		t.Errorf("the removed key after the reload = %d, want 401", code)
	}
	for range inflight {
		if code := <-results; code != 200 {
			t.Errorf("a call in flight across the reload ended %d, want 200", code)
		}
	}

	write(strings.Replace(reloadConfig(emu.URL(), ledger, "keys:\n  - {id: new, tenant: t1, key_envv: TG_NEW_KEY}\n", "budget_status: 403\n"),
		"window: day", "window: weekly", 1))
	p.signal(t, syscall.SIGHUP)
	if _, err := p.logs.wait(ctx, p.done, msgIs("tollgate: reload refused: the running configuration stays")); err != nil {
		t.Fatalf("the broken file was not refused: %v\n%s", err, p.logs)
	}
	var problems []string
	for _, l := range p.logs.all() {
		if l.msg == "tollgate: configuration problem" {
			problems = append(problems, l.str("problem"))
		}
	}
	want := []string{
		path + `:6:70: quotas[0].window: unknown window "weekly" (want minute, hour, a duration such as 10s, day, month, lifetime or lease)`,
		path + `:8:5: keys[0]: the secret is missing: set key_sha256 (hex SHA-256 of the secret) or key_env (the variable holding it)`,
		path + `:8:27: keys[0].key_envv: unknown field "key_envv" (did you mean "key_env"?)`,
		path + `:9:16: budget_status: want 429 (the default) or 402, got 403`,
	}
	if !sameSet(problems, want) {
		t.Errorf("problems logged:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
	if code, body := get(ctx, gw+"/v1/models", "tg-new-key"); code != 200 {
		t.Errorf("the key of the running configuration after a refused reload = %d %s, want 200", code, body)
	}

	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-ctx.Done():
		t.Fatal("serve did not exit after SIGTERM")
	}
	if p.err != nil {
		t.Errorf("serve exited with %v, want a clean exit\n%s", p.err, p.logs)
	}
}

// process is a `tollgate serve` child process with its JSON log.
type process struct {
	cmd  *exec.Cmd
	logs *logLines
	done chan struct{}
	err  error // cmd.Wait's, once done is closed
}

func startServe(t *testing.T, path string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--config", path, "--log-format", "json")
	cmd.Env = append(append(os.Environ(), envChild+"=1"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: &logLines{changed: make(chan struct{})}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.logs.read(stderr)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("serve's log:\n%s", p.logs)
		}
	})
	return p
}

func (p *process) signal(t *testing.T, s os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// logLine is one JSON log line.
type logLine struct {
	msg    string
	fields map[string]any
}

func (l logLine) str(k string) string { s, _ := l.fields[k].(string); return s }

func msgIs(msg string) func(logLine) bool { return func(l logLine) bool { return l.msg == msg } }

// logLines collects a process's log and wakes waiters at each new line.
type logLines struct {
	mu      sync.Mutex
	lines   []logLine
	raw     strings.Builder
	changed chan struct{} // closed and replaced at each line
}

func (ls *logLines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l.fields) == nil {
			l.msg, _ = l.fields["msg"].(string)
		}
		ls.mu.Lock()
		ls.lines = append(ls.lines, l)
		ls.raw.WriteString(sc.Text() + "\n")
		close(ls.changed)
		ls.changed = make(chan struct{})
		ls.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

func (ls *logLines) String() string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.raw.String()
}

func (ls *logLines) all() []logLine {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return append([]logLine(nil), ls.lines...)
}

func (ls *logLines) find(match func(logLine) bool) (logLine, bool) {
	for _, l := range ls.all() {
		if match(l) {
			return l, true
		}
	}
	return logLine{}, false
}

// wait returns the first line that matches, waiting for new ones until ctx is done or the
// process exits.
func (ls *logLines) wait(ctx context.Context, exited <-chan struct{}, match func(logLine) bool) (logLine, error) {
	for {
		ls.mu.Lock()
		changed := ls.changed
		ls.mu.Unlock()
		if l, ok := ls.find(match); ok {
			return l, nil
		}
		select {
		case <-changed:
		case <-exited:
			if l, ok := ls.find(match); ok {
				return l, nil
			}
			return logLine{}, errors.New("the process exited")
		case <-ctx.Done():
			return logLine{}, ctx.Err()
		}
	}
}

// inflightNow reads tollgate_inflight from the admin listener's metrics, summed.
func inflightNow(ctx context.Context, admin string) int {
	code, body := get(ctx, admin+"/metrics", "tg-reload-admin")
	if code != 200 {
		return -1
	}
	n := 0
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "tollgate_inflight{") {
			var v float64
			fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v)
			n += int(v)
		}
	}
	return n
}

func get(ctx context.Context, url, token string) (int, string) {
	return do(ctx, http.MethodGet, url, token, "")
}

func post(ctx context.Context, gw, token, body string) (int, string) {
	return do(ctx, http.MethodPost, gw+"/v1/chat/completions", token, body)
}

func do(ctx context.Context, method, url, token, body string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		if seen[s]--; seen[s] < 0 {
			return false
		}
	}
	return true
}
