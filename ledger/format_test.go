package ledger

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestFormatUSD(t *testing.T) {
	t.Parallel()
	tests := []struct {
		micro int64
		want  string
	}{
		{0, "0.00"},
		{1, "0.000001"},
		{1_234, "0.001234"},
		{10_000, "0.01"},
		{1_500_000, "1.50"},
		{1_234_567, "1.234567"},
		{12_000_000, "12.00"},
		{-2_500, "-0.0025"},
		{math.MaxInt64, "9223372036854.775807"},
		{math.MinInt64, "-9223372036854.775808"},
	}
	for _, tt := range tests {
		if got := FormatUSD(tt.micro); got != tt.want {
			t.Errorf("FormatUSD(%d) = %q, want %q", tt.micro, got, tt.want)
		}
	}
}

// goldenRows is what `tollgate usage --by session` prints for a small day.
func goldenRows() []Row {
	return []Row{
		{By: BySession, Group: "run-7f3a", Sum: Sum{Requests: 1204, InputTokens: 3_912_554, CachedInputTokens: 1_200_000,
			CacheWriteTokens: 250_000, CacheWrite1hTokens: 50_000, OutputTokens: 402_113, ReasoningTokens: 96_000,
			MicroUSD: 12_345_678}, Errors: 12, Fallbacks: 40},
		{By: BySession, Group: "run-0001", Sum: Sum{Requests: 3, InputTokens: 2_400, OutputTokens: 310, MicroUSD: 1_500}, Errors: 0, Fallbacks: 1},
		{By: BySession, Group: "", Sum: Sum{Requests: 1, InputTokens: 12, OutputTokens: 0, MicroUSD: 0}, Errors: 1},
	}
}

func TestWriteGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rows  []Row
		write func(*bytes.Buffer, []Row) error
	}{
		{"table_session.txt", goldenRows(), func(b *bytes.Buffer, r []Row) error { return WriteTable(b, r) }},
		{"table_one_row.txt", goldenRows()[1:2], func(b *bytes.Buffer, r []Row) error { return WriteTable(b, r) }},
		{"table_empty.txt", nil, func(b *bytes.Buffer, r []Row) error { return WriteTable(b, r) }},
		{"table_total.txt", []Row{{Sum: Sum{Requests: 9, MicroUSD: 42}}}, func(b *bytes.Buffer, r []Row) error { return WriteTable(b, r) }},
		{"rows_session.json", goldenRows(), func(b *bytes.Buffer, r []Row) error { return WriteJSON(b, r) }},
		{"rows_empty.json", nil, func(b *bytes.Buffer, r []Row) error { return WriteJSON(b, r) }},
		{"records.txt", nil, func(b *bytes.Buffer, _ []Row) error { return WriteRecords(b, goldenRecords(), time.UTC) }},
		{"records.json", nil, func(b *bytes.Buffer, _ []Row) error { return WriteRecordsJSON(b, goldenRecords()) }},
		{"holds.txt", nil, func(b *bytes.Buffer, _ []Row) error { return WriteHolds(b, goldenHolds(), time.UTC) }},
		{"holds.json", nil, func(b *bytes.Buffer, _ []Row) error { return WriteHoldsJSON(b, goldenHolds()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := tt.write(&b, tt.rows); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.name)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("output differs from %s (-update to accept):\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// goldenRecords is what `tollgate usage --request` prints for a request that fell back
// after a 429 and whose second attempt's process died: charged at its hold's worst case.
func goldenRecords() []Record {
	at := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	return []Record{
		{Time: at, RequestID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", UpstreamRequestID: "req_8f2c1e0a9b7d",
			Tenant: "acme", Key: "k1", Agent: "planner", Session: "run-7f3a", Route: "smart", Provider: "openai",
			Model: "gpt-4o", InputTokens: 1200, Outcome: OutcomeError, Latency: 412 * time.Millisecond, Attempt: 1},
		{Time: at.Add(time.Second), RequestID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", HoldID: "00f1c2a3b4c5d6e70000000000000002",
			Tenant: "acme", Key: "k1", Agent: "planner", Session: "run-7f3a", Route: "smart", Provider: "anthropic",
			Model: "claude-haiku-4-5", InputTokens: 1200, OutputTokens: 4096, MicroUSD: 21_680, Outcome: OutcomeOrphaned,
			FallbackReason: "rate_limited", Attempt: 2},
	}
}

func goldenHolds() []Hold {
	return []Hold{{ID: "00f1c2a3b4c5d6e70000000000000003", RequestID: "0193a1b2-d000-7e5f-8a9b-0c1d2e3f4a5b",
		Owner: "0193a1a0-0000-7000-8000-000000000001", Tenant: "acme", Key: "k1", Agent: "planner", Session: "run-7f3a",
		Route: "smart", Provider: "openai", Model: "gpt-4o", Attempt: 1, InputTokens: 1200, OutputTokens: 4096,
		MicroUSD: 43_960, Opened: time.Date(2026, 11, 27, 9, 31, 0, 0, time.UTC)}}
}
