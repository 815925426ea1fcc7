package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/ledger"
)

func TestUsageCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(ctx, ledger.Config{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, s := range []string{"s1", "s1", "s2"} {
		if err := l.Append(ledger.Record{Time: now.Add(-time.Duration(i) * time.Minute), RequestID: s + string(rune('a'+i)),
			Tenant: "acme", Session: s, Model: "gpt-4o", InputTokens: 100, OutputTokens: 10, MicroUSD: 350, Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Append(ledger.Record{Time: now.Add(-48 * time.Hour), RequestID: "old", Tenant: "acme", Session: "s3",
		Model: "gpt-4o", MicroUSD: 1_000_000, Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	if code := run(ctx, []string{"usage", "--db", db, "--by", "session", "--since", "24h", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rows []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if len(rows) != 2 {
		t.Fatalf("rows = %v, want s1 and s2 only (s3 is older than 24h)", rows)
	}
	out.Reset()
	if code := run(ctx, []string{"usage", "--db", db, "--by", "session"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "s3") || !strings.Contains(out.String(), "s1") {
		t.Errorf("table misses a session:\n%s", out.String())
	}
	out.Reset()
	if code := run(ctx, []string{"usage", "--db", db, "--request", "s2c"}, &out, &errb); code != 0 {
		t.Fatalf("usage --request: exit %d: %s", code, errb.String())
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "s2c") {
		t.Errorf("usage --request s2c =\n%s\nwant a header and its one attempt", out.String())
	}
	if code := run(ctx, []string{"usage", "--db", filepath.Join(t.TempDir(), "none.db")}, &out, &errb); code != 1 {
		t.Errorf("usage of a missing file: exit %d, want 1 (and no file created)", code)
	}
	for _, bad := range [][]string{{"--by", "colour"}, {"--since", "yesterday"}} {
		if code := run(ctx, append([]string{"usage", "--db", db}, bad...), &out, &errb); code != 2 {
			t.Errorf("usage %v: exit %d, want 2", bad, code)
		}
	}
}

func TestParseWhen(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"36h", now.Add(-36 * time.Hour)},
		{"7d", now.AddDate(0, 0, -7)},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-11-01T10:00:00Z", time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseWhen(tt.in, now, time.UTC)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseWhen("7x", now, time.UTC); err == nil {
		t.Error("parseWhen(7x) succeeded")
	}
}

// TestUsageFleet reads a PostgreSQL ledger that two replicas wrote, through --config
// (the URL from the configuration's url_env) and through --db with a URL: the totals are
// the fleet's, --request finds a request by either id, and --holds lists the open holds.
func TestUsageFleet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.Database(t)
	now := time.Now()
	for i, tenant := range []string{"acme", "globex"} {
		l, err := ledger.Open(ctx, ledger.Config{Backend: ledger.Postgres, URL: url})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Append(ledger.Record{Time: now.Add(-time.Minute), RequestID: fmt.Sprint("req-", i), UpstreamRequestID: fmt.Sprint("chatcmpl-", i),
			Tenant: tenant, Session: "s", Model: "gpt-4o", InputTokens: 100, OutputTokens: 10, MicroUSD: 350, Outcome: "ok", Attempt: 1}); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := l.OpenHold(ctx, ledger.Hold{ID: "h-live", RequestID: "req-live", Tenant: tenant, MicroUSD: 9000}); err != nil {
				t.Fatal(err)
			}
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			defer l.Close(ctx) // a replica still running, its hold open
			continue
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(cfgPath, []byte("ledger: {backend: postgres, url_env: TEST_USAGE_LEDGER_URL}\nenv_file: .env\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("TEST_USAGE_LEDGER_URL="+url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, src := range [][]string{{"--config", cfgPath}, {"--db", url}} {
		var out, errb bytes.Buffer
		if code := run(ctx, append([]string{"usage", "--by", "tenant", "--json"}, src...), &out, &errb); code != 0 {
			t.Fatalf("usage %v: exit %d: %s", src, code, errb.String())
		}
		var rows []map[string]any
		if err := json.Unmarshal(out.Bytes(), &rows); err != nil || len(rows) != 2 {
			t.Errorf("usage --by tenant %v = %s (%v), want both replicas' tenants", src[0], out.String(), err)
		}
	}

	var out, errb bytes.Buffer
	if code := run(ctx, []string{"usage", "--config", cfgPath, "--request", "chatcmpl-1", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("usage --request: exit %d: %s", code, errb.String())
	}
	var recs []map[string]any
	if err := json.Unmarshal(out.Bytes(), &recs); err != nil || len(recs) != 1 || recs[0]["request_id"] != "req-1" {
		t.Errorf("usage --request chatcmpl-1 = %s (%v), want the record of req-1", out.String(), err)
	}
	out.Reset()
	if code := run(ctx, []string{"usage", "--config", cfgPath, "--holds"}, &out, &errb); code != 0 {
		t.Fatalf("usage --holds: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "h-live") || !strings.Contains(out.String(), "0.009") {
		t.Errorf("usage --holds =\n%s\nwant the live hold of $0.009", out.String())
	}
	if code := run(ctx, []string{"usage", "--config", cfgPath, "--db", "x.db"}, &out, &errb); code != 2 {
		t.Errorf("usage --config --db: exit %d, want 2", code)
	}
}
