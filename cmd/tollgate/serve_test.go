package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/ledger"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger and reads of a
// test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServe starts `serve` in-process on a free port with the emulator as its upstream and
// its API keys in an env_file, sends one request, cancels the context as SIGTERM would, and
// checks a clean shutdown with the ledger flushed.
func TestServe(t *testing.T) {
	emu, err := emulator.Start(t.Context(), emulator.Config{Seed: 7}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	dir := t.TempDir()
	ledgerPath := filepath.Join(dir, "usage.db")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
env_file: test.env
shutdown_timeout: 5s
upstreams:
  openai: {api_key_env: TG_SERVE_TEST_OPENAI, base_url: "%[1]s/v1"}
  anthropic: {api_key_env: TG_SERVE_TEST_ANTHROPIC, base_url: "%[1]s"}
routes:
  smart: {chain: gpt-4o-mini -> claude-3-5-haiku -> static, static_message: busy}
quotas:
  - {name: daily, scope: {tenant: "*"}, unit: usd, limit: 5, window: day}
  - {name: pool, unit: concurrent, limit: 4}
keys:
  - {id: k1, tenant: t1, key_env: TG_SERVE_TEST_KEY}
ledger: {path: %[2]q, commit_interval: 1h}
admin: {listen: "127.0.0.1:0", key_env: TG_SERVE_TEST_ADMIN}
`, emu.URL(), ledgerPath)
	files := map[string]string{
		"tollgate.yaml": cfg,
		"test.env": "TG_SERVE_TEST_OPENAI=emulator\nTG_SERVE_TEST_ANTHROPIC=emulator\nTG_SERVE_TEST_KEY=tg-serve-secret\n" +
			"TG_SERVE_TEST_ADMIN=tg-serve-admin\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addrc := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveConfig{path: filepath.Join(dir, "tollgate.yaml"), logger: logger,
			ready: func(gw, admin net.Addr) { addrc <- [2]net.Addr{gw, admin} }})
	}()
	var addr, admin net.Addr
	select {
	case a := <-addrc:
		addr, admin = a[0], a[1]
	case err := <-done:
		t.Fatalf("serve returned before listening: %v\n%s", err, logs.String())
	}
	if admin == nil {
		t.Fatal("serve has no admin listener")
	}
	for _, c := range []struct {
		url, token string
		want       int
	}{
		{"http://" + admin.String() + "/admin/v1/keys", "tg-serve-admin", 200},
		{"http://" + admin.String() + "/admin/v1/keys", "tg-serve-secret", 401},
		{"http://" + admin.String() + "/metrics", "tg-serve-admin", 200},
		{"http://" + addr.String() + "/metrics", "", 404}, // the metrics left the gateway's listener
	} {
		if code, body := get(ctx, c.url, c.token); code != c.want {
			t.Errorf("GET %s = %d %s, want %d", c.url, code, body, c.want)
		}
	}

	body := `{"model": "smart", "max_tokens": 40, "messages": [{"role": "user", "content": "hello"}]}`
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr.String()+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tg-serve-secret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/chat/completions = %d %s", resp.StatusCode, data)
	}
	var answer struct {
		Model   string `json:"model"`
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(data, &answer); err != nil || len(answer.Choices) == 0 || answer.Choices[0].Message.Content == "" {
		t.Fatalf("answer %s: %v, want a chat completion", data, err)
	}

	// tollgate status reads the admin API: the token from the configuration's env_file.
	var status, statusErr bytes.Buffer
	if code := run(ctx, []string{"status", "--config", filepath.Join(dir, "tollgate.yaml"), "--admin", admin.String()},
		&status, &statusErr); code != 0 {
		t.Errorf("tollgate status exited %d: %s", code, statusErr.String())
	}
	for _, want := range []string{"tollgate http://" + admin.String() + " at ", ": 1 keys (1 active)", "traffic: 1 requests;",
		"\nt1 ", "daily $0.0", " of $5.00 (0%) until ", "queue: 0 waiting (critical 0, high 0, normal 0, low 0)",
		"breakers: none with state", "learned limits: none"} {
		if !strings.Contains(status.String(), want) {
			t.Errorf("tollgate status lacks %q:\n%s", want, status.String())
		}
	}

	// The ledger commits only hourly in this configuration: the record is on disk after the
	// shutdown only if the shutdown flushed it.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve after cancel = %v, want a clean shutdown\n%s", err, logs.String())
	}
	l, err := ledger.Open(t.Context(), ledger.Config{Path: ledgerPath})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(t.Context())
	rows, err := l.Query(t.Context(), ledger.Query{By: ledger.ByTenant})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Group != "t1" || rows[0].Requests != 1 || rows[0].MicroUSD <= 0 {
		t.Errorf("ledger after shutdown = %+v, want one paid request of tenant t1", rows)
	}

	out := logs.String()
	for _, want := range []string{`"msg":"tollgate: listening"`, `"secrets":"TG_SERVE_TEST_OPENAI set, TG_SERVE_TEST_ANTHROPIC set, TG_SERVE_TEST_KEY set, TG_SERVE_TEST_ADMIN set"`, `"ledger_records":1`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{"tg-serve-secret", "tg-serve-admin", "=emulator"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain the secret %q:\n%s", secret, out)
		}
	}
}

func TestServeRefusesBrokenConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte("upstreams: {}\nlisten: nowhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"serve", "--config", path}, &stdout, &stderr); code != 1 {
		t.Errorf("serve with a broken config exited %d, want 1; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), path+":2:9: listen: ") {
		t.Errorf("stderr lacks the located problem:\n%s", stderr.String())
	}
	if code := run(t.Context(), []string{"serve", "--log-format", "xml"}, &stdout, &stderr); code != 2 {
		t.Errorf("serve --log-format xml exited %d, want 2", code)
	}
}

func TestConfigCheckCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // a substring of stdout
	}{
		{"sample", []string{"config", "check", "../../tollgate.yaml"}, 0, "../../tollgate.yaml: ok: 2 upstreams, 1 route, 9 quotas, 2 keys"},
		{"broken", []string{"config", "check", "../../internal/config/testdata/check/quotas.yaml"}, 1,
			"../../internal/config/testdata/check/quotas.yaml:9:12: quotas[0].limit: \"1.5\" is not a whole number\n"},
		{"syntax", []string{"config", "check", "../../internal/config/testdata/check/syntax.yaml"}, 1, "invalid YAML"},
		{"missing file", []string{"config", "check", "nope.yaml"}, 1, ""},
		{"no file", []string{"config", "check"}, 2, ""},
		{"two files", []string{"config", "check", "a", "b"}, 2, ""},
		{"no subcommand", []string{"config"}, 2, ""},
		{"unknown subcommand", []string{"config", "lint"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("tollgate %s exited %d, want %d; stderr:\n%s", strings.Join(tt.args, " "), code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.wantOut)
			}
		})
	}
}
