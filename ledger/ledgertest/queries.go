package ledgertest

import (
	"context"
	"fmt"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has installed

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/ledger"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// testSumSinceByDay groups records by local day in zones where the day is not 24 hours,
// or midnight does not exist, or the offset is not whole hours. Each case lists the UTC
// instants of its records and the local day each must land in; a grouping by a fixed
// offset, or by the offset at the start of the range, gets at least one of them wrong.
func testSumSinceByDay(t *testing.T, newConfig NewConfig) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		zone string
		at   map[string][]string // local day => UTC instants of its records
	}{
		{"New York spring forward", "America/New_York", map[string][]string{
			"2026-03-07": {"2026-03-08T04:59:59.999999999Z"}, // 23:59:59.999999999 EST
			"2026-03-08": {"2026-03-08T05:00:00Z", "2026-03-08T06:59:59Z", // 00:00 EST, 01:59:59 EST
				"2026-03-08T07:00:00Z", "2026-03-09T03:59:59Z"}, // 03:00 EDT, 23:59:59 EDT (23-hour day)
			"2026-03-09": {"2026-03-09T04:00:00Z"}, // 00:00 EDT
		}},
		{"New York fall back", "America/New_York", map[string][]string{
			"2026-10-31": {"2026-11-01T03:59:59Z"}, // 23:59:59 EDT
			"2026-11-01": {"2026-11-01T04:00:00Z", "2026-11-01T05:30:00Z", // 00:00 EDT, 01:30 EDT
				"2026-11-01T06:30:00Z", "2026-11-02T04:30:00Z"}, // 01:30 EST, 23:30 EST (25-hour day)
			"2026-11-02": {"2026-11-02T05:00:00Z"}, // 00:00 EST
		}},
		{"Havana, no midnight on the day DST starts", "America/Havana", map[string][]string{
			"2026-03-07": {"2026-03-08T04:59:59Z"},                         // 23:59:59 CST
			"2026-03-08": {"2026-03-08T05:00:00Z", "2026-03-09T03:59:59Z"}, // 01:00 CDT (the day's first instant)
			"2026-03-09": {"2026-03-09T04:00:00Z"},
		}},
		{"Kathmandu +05:45 across midnight", "Asia/Kathmandu", map[string][]string{
			"2026-11-27": {"2026-11-26T18:15:00Z", "2026-11-27T18:14:59.999Z"},
			"2026-11-28": {"2026-11-27T18:15:00Z"},
		}},
		{"UTC", "UTC", map[string][]string{
			"2026-11-27": {"2026-11-27T00:00:00Z", "2026-11-27T23:59:59Z"},
			"2026-11-28": {"2026-11-28T00:00:00Z"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			loc := mustZone(t, tt.zone)
			cfg := newConfig(t)
			cfg.Location = loc
			l := open(t, cfg)
			want := map[string]ledger.Sum{}
			var earliest time.Time
			n := 0
			for day, instants := range tt.at {
				for _, s := range instants {
					at := utc(s)
					// The oracle: Go's own conversion must agree with the table.
					if got := at.In(loc).Format(time.DateOnly); got != day {
						t.Fatalf("test table: %s in %s is %s, table says %s", s, tt.zone, got, day)
					}
					n++
					r := rec(fmt.Sprint(n), 0, "acme", "s", int64(n))
					r.Time = at
					appendAll(t, l, r)
					w := want[day]
					w.Requests++
					w.InputTokens += 100
					w.CachedInputTokens += 10
					w.CacheWriteTokens += 30
					w.CacheWrite1hTokens += 5
					w.ReasoningTokens += 8
					w.OutputTokens += 20
					w.MicroUSD += int64(n)
					want[day] = w
					if earliest.IsZero() || at.Before(earliest) {
						earliest = at
					}
				}
			}
			flush(t, l)
			got, err := l.SumSince(context.Background(), earliest, ledger.ByDay)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SumSince(ledger.ByDay) in %s (-want +got):\n%s", tt.zone, diff)
			}
		})
	}
}

// testSumSince rebuilds the day's counters in a non-UTC zone: records before local
// midnight belong to yesterday and are left out.
func testSumSince(t *testing.T, newConfig NewConfig) {
	loc := mustZone(t, "Europe/Berlin") // UTC+1 in November
	cfg := newConfig(t)
	cfg.Location = loc
	l := open(t, cfg)
	midnight := time.Date(2026, 11, 28, 0, 0, 0, 0, loc) // 2026-11-27T23:00Z
	at := func(d time.Duration, tenant, session string, usd int64) ledger.Record {
		r := rec("", 0, tenant, session, usd)
		r.Time = midnight.Add(d)
		return r
	}
	appendAll(t, l,
		at(-time.Nanosecond, "acme", "s1", 1000), // yesterday, local
		at(-30*time.Minute, "globex", "s3", 2000),
		at(0, "acme", "s1", 10),
		at(time.Minute, "acme", "s2", 20),
		at(2*time.Hour, "globex", "s3", 40),
		at(23*time.Hour, "globex", "s3", 80),
	)
	flush(t, l)

	sum := func(n, usd int64) ledger.Sum {
		return ledger.Sum{Requests: n, InputTokens: 100 * n, CachedInputTokens: 10 * n, CacheWriteTokens: 30 * n,
			CacheWrite1hTokens: 5 * n, OutputTokens: 20 * n, ReasoningTokens: 8 * n, MicroUSD: usd}
	}
	tests := []struct {
		by   ledger.Dim
		want map[string]ledger.Sum
	}{
		{ledger.ByNone, map[string]ledger.Sum{"": sum(4, 150)}},
		{ledger.ByTenant, map[string]ledger.Sum{"acme": sum(2, 30), "globex": sum(2, 120)}},
		{ledger.BySession, map[string]ledger.Sum{"s1": sum(1, 10), "s2": sum(1, 20), "s3": sum(2, 120)}},
		{ledger.ByKey, map[string]ledger.Sum{"k-acme": sum(2, 30), "k-globex": sum(2, 120)}},
		{ledger.ByModel, map[string]ledger.Sum{"gpt-4o-mini": sum(4, 150)}},
		{ledger.ByDay, map[string]ledger.Sum{"2026-11-28": sum(4, 150)}},
	}
	for _, tt := range tests {
		t.Run(string(tt.by), func(t *testing.T) {
			got, err := l.SumSince(context.Background(), midnight, tt.by)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SumSince(%s, %q) (-want +got):\n%s", midnight, tt.by, diff)
			}
		})
	}

	t.Run("empty", func(t *testing.T) {
		got, err := l.SumSince(context.Background(), midnight.Add(48*time.Hour), ledger.ByTenant)
		if err != nil || len(got) != 0 {
			t.Errorf("SumSince(after every record) = %v, %v, want an empty map", got, err)
		}
	})
	t.Run("unknown dimension", func(t *testing.T) {
		if _, err := l.SumSince(context.Background(), midnight, ledger.Dim("colour")); err == nil {
			t.Error("SumSince(Dim(colour)) = nil error, want one")
		}
	})
}

func testQuery(t *testing.T, newConfig NewConfig) {
	l := open(t, newConfig(t))
	r := func(d time.Duration, session, model string, usd int64, outcome, fallback string) ledger.Record {
		x := rec("", d, "acme", session, usd)
		x.Model, x.Outcome, x.FallbackReason = model, outcome, fallback
		return x
	}
	day := 24 * time.Hour
	appendAll(t, l,
		r(0, "s1", "gpt-4o", 500, ledger.OutcomeOK, ""),
		r(time.Minute, "s1", "gpt-4o", 0, ledger.OutcomeError, ""),
		r(2*time.Minute, "s1", "gpt-4o-mini", 50, ledger.OutcomeOK, "rate_limited"),
		r(day, "s2", "gpt-4o", 900, ledger.OutcomeOK, ""),
		r(day+time.Minute, "s3", "gpt-4o-mini", 550, ledger.OutcomeOK, ""),
		r(2*day, "s4", "gpt-4o-mini", 550, ledger.OutcomeCancelled, ""),
	)
	other := rec("", 0, "globex", "g1", 1_000_000)
	appendAll(t, l, other)
	flush(t, l)

	row := func(by ledger.Dim, group string, n, usd, errs, fallbacks int64) ledger.Row {
		return ledger.Row{By: by, Group: group, Errors: errs, Fallbacks: fallbacks,
			Sum: ledger.Sum{Requests: n, InputTokens: 100 * n, CachedInputTokens: 10 * n, CacheWriteTokens: 30 * n,
				CacheWrite1hTokens: 5 * n, OutputTokens: 20 * n, ReasoningTokens: 8 * n, MicroUSD: usd}}
	}
	tests := []struct {
		name string
		q    ledger.Query
		want []ledger.Row
	}{
		{"by session, cost first, ties by name", ledger.Query{By: ledger.BySession, Tenant: "acme"}, []ledger.Row{
			row(ledger.BySession, "s2", 1, 900, 0, 0),
			row(ledger.BySession, "s1", 3, 550, 1, 1),
			row(ledger.BySession, "s3", 1, 550, 0, 0),
			row(ledger.BySession, "s4", 1, 550, 0, 0),
		}},
		{"by model", ledger.Query{By: ledger.ByModel, Tenant: "acme"}, []ledger.Row{
			row(ledger.ByModel, "gpt-4o", 3, 1400, 1, 0),
			row(ledger.ByModel, "gpt-4o-mini", 3, 1150, 0, 1),
		}},
		{"by day, earliest first", ledger.Query{By: ledger.ByDay, Tenant: "acme"}, []ledger.Row{
			row(ledger.ByDay, "2026-11-27", 3, 550, 1, 1),
			row(ledger.ByDay, "2026-11-28", 2, 1450, 0, 0),
			row(ledger.ByDay, "2026-11-29", 1, 550, 0, 0),
		}},
		{"by day in another zone", ledger.Query{By: ledger.ByDay, Tenant: "acme", Location: time.FixedZone("X", 12*3600-60)}, []ledger.Row{
			row(ledger.ByDay, "2026-11-27", 1, 500, 0, 0), // t0 is 23:59 there
			row(ledger.ByDay, "2026-11-28", 3, 950, 1, 1),
			row(ledger.ByDay, "2026-11-29", 2, 1100, 0, 0),
		}},
		{"since and until", ledger.Query{By: ledger.BySession, Since: t0.Add(time.Minute), Until: t0.Add(day + time.Minute)}, []ledger.Row{
			row(ledger.BySession, "s2", 1, 900, 0, 0),
			row(ledger.BySession, "s1", 2, 50, 1, 1),
		}},
		{"filter outcome", ledger.Query{By: ledger.BySession, Outcome: ledger.OutcomeCancelled}, []ledger.Row{
			row(ledger.BySession, "s4", 1, 550, 0, 0),
		}},
		{"filter session", ledger.Query{By: ledger.ByModel, Session: "s1"}, []ledger.Row{
			row(ledger.ByModel, "gpt-4o", 2, 500, 1, 0),
			row(ledger.ByModel, "gpt-4o-mini", 1, 50, 0, 1),
		}},
		{"filter model and agent", ledger.Query{By: ledger.BySession, Model: "gpt-4o-mini", Agent: "agent-1", Tenant: "acme"}, []ledger.Row{
			row(ledger.BySession, "s3", 1, 550, 0, 0),
			row(ledger.BySession, "s4", 1, 550, 0, 0),
			row(ledger.BySession, "s1", 1, 50, 0, 1),
		}},
		{"filter key and route", ledger.Query{By: ledger.ByTenant, Key: "k-globex", Route: "default"}, []ledger.Row{
			row(ledger.ByTenant, "globex", 1, 1_000_000, 0, 0),
		}},
		{"limit", ledger.Query{By: ledger.ByTenant, Limit: 1}, []ledger.Row{
			row(ledger.ByTenant, "globex", 1, 1_000_000, 0, 0),
		}},
		{"total", ledger.Query{}, []ledger.Row{
			row(ledger.ByNone, "", 7, 1_002_550, 1, 1),
		}},
		{"no match", ledger.Query{By: ledger.BySession, Session: "nope"}, []ledger.Row{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Query(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Query(%+v) (-want +got):\n%s", tt.q, diff)
			}
		})
	}

	for _, q := range []ledger.Query{{By: "colour"}, {Limit: -1}} {
		if _, err := l.Query(context.Background(), q); err == nil {
			t.Errorf("Query(%+v) = nil error, want one", q)
		}
	}
}
