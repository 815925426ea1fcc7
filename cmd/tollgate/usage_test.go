package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
