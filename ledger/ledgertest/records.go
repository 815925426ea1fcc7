package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/ledger"
)

func testRoundTrip(t *testing.T, newConfig NewConfig) {
	cfg := newConfig(t)
	want := []ledger.Record{
		rec("r1", 0, "acme", "s1", 1500),
		rec("r2", time.Second, "acme", "s2", 2500),
		{Time: t0.Add(2 * time.Second), RequestID: "r3", UpstreamRequestID: "req_011CabcUpstream",
			Tenant: "globex", Model: "claude-haiku-4-5", Provider: "anthropic", Outcome: ledger.OutcomeError,
			FallbackReason: "rate_limited", Attempt: 2, InputTokens: 7, Latency: 3 * time.Second},
	}
	l := open(t, cfg)
	appendAll(t, l, want...)
	flush(t, l)
	closeLedger(t, l)

	l = open(t, cfg)
	for _, w := range want {
		if diff := cmp.Diff([]ledger.Record{w}, request(t, l, w.RequestID)); diff != "" {
			t.Errorf("Request(%s) after reopen (-want +got):\n%s", w.RequestID, diff)
		}
	}
	if diff := cmp.Diff(want[2:], request(t, l, "req_011CabcUpstream")); diff != "" {
		t.Errorf("Request(upstream id) (-want +got):\n%s", diff)
	}
	// A reopened ledger keeps taking records after the old ones.
	appendAll(t, l, rec("r4", 3*time.Second, "acme", "s1", 1))
	flush(t, l)
	if got := total(t, l).Requests; got != 4 {
		t.Errorf("records after second append = %d, want 4", got)
	}
}

// testRoundTripBatches writes batches of several sizes in one transaction each and reads
// every field back.
func testRoundTripBatches(t *testing.T, newConfig NewConfig) {
	for _, n := range []int{31, 32, 69, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			cfg := newConfig(t)
			cfg.CommitInterval, cfg.MaxBatch = time.Hour, 1000
			l := open(t, cfg)
			want := make([]ledger.Record, n)
			for i := range want {
				want[i] = ledger.Record{Time: t0.Add(time.Duration(i) * time.Millisecond), RequestID: fmt.Sprint("r", i),
					UpstreamRequestID: fmt.Sprint("up-", i%5), HoldID: "",
					Tenant: fmt.Sprint("t", i%3), Key: fmt.Sprint("k", i), Agent: fmt.Sprint("a", i%5),
					Session: fmt.Sprint("s", i%7), Route: "r", Provider: "p", Model: fmt.Sprint("m", i%2),
					InputTokens: int64(3 * i), CachedInputTokens: int64(i / 2), CacheWriteTokens: int64(i),
					CacheWrite1hTokens: int64(i / 3), OutputTokens: int64(2 * i), ReasoningTokens: int64(i / 4),
					MicroUSD: int64(1000 + i), Outcome: ledger.OutcomeOK, FallbackReason: fmt.Sprint("f", i%4),
					Latency: time.Duration(i) * time.Microsecond, Attempt: 1 + i%3}
			}
			appendAll(t, l, want...)
			flush(t, l)
			for _, w := range want {
				if diff := cmp.Diff([]ledger.Record{w}, request(t, l, w.RequestID)); diff != "" {
					t.Fatalf("Request(%s) (-want +got):\n%s", w.RequestID, diff)
				}
			}
			if got := l.Stats().Batches; got != 1 {
				t.Errorf("Batches = %d, want 1", got)
			}
		})
	}
}

// testGroupCommit counts transactions: with a commit interval that never elapses during
// the test, only MaxBatch and Flush start one.
func testGroupCommit(t *testing.T, newConfig NewConfig) {
	tests := []struct {
		name        string
		maxBatch    int
		appends     int
		flushes     int // Flush calls after the appends
		wantBatches int64
	}{
		{"under one batch", 10, 7, 1, 1},
		{"exact batches", 10, 30, 1, 3},
		{"batches and a tail", 10, 35, 1, 4},
		{"flush of nothing starts no transaction", 10, 0, 3, 0},
		{"repeated flush", 10, 5, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := newConfig(t)
			cfg.CommitInterval, cfg.MaxBatch = time.Hour, tt.maxBatch
			l := open(t, cfg)
			for i := range tt.appends {
				appendAll(t, l, rec(fmt.Sprint(i), time.Duration(i), "acme", "s", 1))
			}
			for range tt.flushes {
				flush(t, l)
			}
			got := l.Stats()
			want := ledger.Stats{Appended: int64(tt.appends), Committed: int64(tt.appends), Batches: tt.wantBatches}
			got.LastBatch, got.LastCommitLatency = 0, 0
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Stats() (-want +got):\n%s", diff)
			}
		})
	}
}

func testClose(t *testing.T, newConfig NewConfig) {
	ctx := context.Background()
	cfg := newConfig(t)
	cfg.CommitInterval = time.Hour
	l := open(t, cfg)
	for i := range 200 {
		appendAll(t, l, rec(fmt.Sprint(i), 0, "acme", "s", 1))
	}
	closeLedger(t, l)
	if got := l.Stats(); got.Committed != 200 || got.Pending != 0 {
		t.Errorf("Stats() after Close: Committed = %d, Pending = %d, want 200, 0", got.Committed, got.Pending)
	}
	for name, call := range map[string]func() error{
		"Append":    func() error { return l.Append(rec("late", 0, "acme", "s", 1)) },
		"CloseHold": func() error { return l.CloseHold("h") },
		"OpenHold":  func() error { return l.OpenHold(ctx, ledger.Hold{ID: "h"}) },
		"Flush":     func() error { return l.Flush(ctx) },
		"Close":     func() error { return l.Close(ctx) },
		"SumSince":  func() error { _, err := l.SumSince(ctx, time.Time{}, ledger.ByNone); return err },
		"Query":     func() error { _, err := l.Query(ctx, ledger.Query{}); return err },
		"Request":   func() error { _, err := l.Request(ctx, "1"); return err },
		"OpenHolds": func() error { _, err := l.OpenHolds(ctx); return err },
		"Recover":   func() error { _, err := l.Recover(ctx); return err },
	} {
		if err := call(); !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("%s() after Close = %v, want ErrClosed", name, err)
		}
	}
	// Close committed everything it had, although the interval never elapsed.
	l = open(t, cfg)
	if got := total(t, l).Requests; got != 200 {
		t.Errorf("records after Close and reopen = %d, want 200", got)
	}
}

// testConcurrentAppend appends from many goroutines while others flush and query; run it
// with -race.
func testConcurrentAppend(t *testing.T, newConfig NewConfig) {
	const writers, each = 8, 150
	cfg := newConfig(t)
	cfg.MaxBatch, cfg.QueueSize = 64, 64
	l := open(t, cfg)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := rec(fmt.Sprintf("%d-%d", w, i), time.Duration(i), fmt.Sprint("tenant-", w%4), fmt.Sprint("s-", w), 3)
				for {
					err := l.Append(r)
					if err == nil {
						break
					}
					if !errors.Is(err, ledger.ErrBackpressure) {
						t.Errorf("Append() = %v", err)
						return
					}
				}
				if i%50 == 0 {
					if err := l.Flush(ctx); err != nil {
						t.Errorf("Flush() = %v", err)
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := l.SumSince(ctx, time.Time{}, ledger.ByTenant); err != nil {
				t.Errorf("SumSince() = %v", err)
			}
			_ = l.Stats()
		}
	})
	wg.Wait()
	flush(t, l)

	sums, err := l.SumSince(ctx, time.Time{}, ledger.ByTenant)
	if err != nil {
		t.Fatal(err)
	}
	for tenant, s := range sums {
		if want := int64(writers / 4 * each); s.Requests != want || s.MicroUSD != 3*want {
			t.Errorf("SumSince()[%s] = %+v, want %d requests and %d micro-USD", tenant, s, want, 3*want)
		}
	}
	if len(sums) != 4 {
		t.Errorf("SumSince() has %d tenants, want 4", len(sums))
	}
	if got := l.Stats(); got.Committed != writers*each || got.Pending != 0 {
		t.Errorf("Stats() = %+v, want Committed %d, Pending 0", got, writers*each)
	}
}

func testAppendZeroTime(t *testing.T, newConfig NewConfig) {
	l := open(t, newConfig(t))
	before := time.Now()
	appendAll(t, l, ledger.Record{RequestID: "x", MicroUSD: 5})
	flush(t, l)
	got := request(t, l, "x")
	if len(got) != 1 || got[0].Time.Before(before.Add(-time.Second)) || got[0].Time.After(time.Now()) {
		t.Errorf("record with zero Time stored as %+v, want stamped with the current time", got)
	}
}

// testRequest finds every attempt of a request by tollgate's id or by any attempt's
// upstream id, in order.
func testRequest(t *testing.T, newConfig NewConfig) {
	l := open(t, newConfig(t))
	id := "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b" // a UUIDv7, as the engine makes them
	a1 := rec(id, 0, "acme", "s", 0)
	a1.Outcome, a1.FallbackReason, a1.UpstreamRequestID = ledger.OutcomeError, "", "req_openai_1"
	a2 := rec(id, time.Second, "acme", "s", 900)
	a2.Attempt, a2.Provider, a2.Model, a2.FallbackReason, a2.UpstreamRequestID = 2, "anthropic", "claude-haiku-4-5", "rate_limited", "req_011CAnthropic2"
	other := rec("01JDQ8F5X3ZK4M2N7P9R0S1T2V", 0, "acme", "s", 5) // a ULID
	appendAll(t, l, a2, other, a1)
	flush(t, l)
	for _, key := range []string{id, "req_openai_1", "req_011CAnthropic2"} {
		if diff := cmp.Diff([]ledger.Record{a1, a2}, request(t, l, key)); diff != "" {
			t.Errorf("Request(%s) (-want +got):\n%s", key, diff)
		}
	}
	if got := request(t, l, "no-such-request"); len(got) != 0 {
		t.Errorf("Request(unknown) = %v, want none", got)
	}
	if got := request(t, l, ""); len(got) != 0 {
		t.Errorf("Request(\"\") = %v, want none (records without an upstream id do not match)", got)
	}
}

// testReadOnly: a reader beside a writer queries without writing, and never takes the
// writer's open holds for dead.
func testReadOnly(t *testing.T, newConfig NewConfig) {
	ctx := context.Background()
	cfg := newConfig(t)
	w := open(t, cfg)
	appendAll(t, w, rec("a", 0, "acme", "s", 7))
	if err := w.OpenHold(ctx, ledger.Hold{ID: "live", RequestID: "b", MicroUSD: 100, Opened: t0}); err != nil {
		t.Fatal(err)
	}
	flush(t, w)

	ro := cfg
	ro.ReadOnly = true
	r := open(t, ro)
	if got := total(t, r); got.Requests != 1 || got.MicroUSD != 7 {
		t.Errorf("reader's total = %+v, want 1 request of 7 micro-USD", got)
	}
	if hs := openHolds(t, r); len(hs) != 1 || hs[0].ID != "live" {
		t.Errorf("reader's OpenHolds() = %+v, want the writer's live hold", hs)
	}
	if err := r.Append(rec("x", 0, "acme", "s", 1)); !errors.Is(err, ledger.ErrReadOnly) {
		t.Errorf("Append() on a reader = %v, want ErrReadOnly", err)
	}
	if err := r.OpenHold(ctx, ledger.Hold{ID: "h"}); !errors.Is(err, ledger.ErrReadOnly) {
		t.Errorf("OpenHold() on a reader = %v, want ErrReadOnly", err)
	}
	closeLedger(t, r)
	if got := w.Stats().Orphaned; got != 0 {
		t.Errorf("writer's Orphaned = %d after a reader came and went, want 0", got)
	}
	if hs := openHolds(t, w); len(hs) != 1 {
		t.Errorf("OpenHolds() after the reader closed = %+v, want the live hold still open", hs)
	}
}
