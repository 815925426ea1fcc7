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

// hold returns a hold opened at t0+d with a worst case of usd micro-USD.
func hold(id string, d time.Duration, tenant, session string, usd int64) ledger.Hold {
	return ledger.Hold{ID: id, RequestID: "req-" + id, Tenant: tenant, Key: "k-" + tenant, Agent: "agent-1",
		Session: session, Route: "default", Provider: "openai", Model: "gpt-4o-mini", Attempt: 1,
		InputTokens: 1000, OutputTokens: 4096, MicroUSD: usd, Opened: t0.Add(d)}
}

// testHoldDurable: when OpenHold returns, the hold is committed, although the commit
// interval never elapses: another connection (a reader) sees it, with every field.
func testHoldDurable(t *testing.T, newConfig NewConfig) {
	ctx := context.Background()
	cfg := newConfig(t)
	cfg.CommitInterval = time.Hour
	l := open(t, cfg)
	h := hold("h1", 0, "acme", "s1", 2_500)
	if err := l.OpenHold(ctx, h); err != nil {
		t.Fatalf("OpenHold() = %v", err)
	}
	ro := cfg
	ro.ReadOnly = true
	r := open(t, ro)
	want := h
	want.Owner = l.Instance()
	if diff := cmp.Diff([]ledger.Hold{want}, openHolds(t, r)); diff != "" {
		t.Errorf("OpenHolds() seen by another connection (-want +got):\n%s", diff)
	}
	if got := l.Stats(); got.Holds != 1 || got.Batches != 1 {
		t.Errorf("Stats() = %+v, want Holds 1 in 1 batch", got)
	}
}

// testHoldSettleAndRelease closes holds by a settling record and by a release, and counts
// closes that found no open hold.
func testHoldSettleAndRelease(t *testing.T, newConfig NewConfig) {
	ctx := context.Background()
	cfg := newConfig(t)
	cfg.CommitInterval = time.Hour
	l := open(t, cfg)
	for _, id := range []string{"settled", "released", "kept"} {
		if err := l.OpenHold(ctx, hold(id, 0, "acme", "s", 10_000)); err != nil {
			t.Fatal(err)
		}
	}
	settle := rec("req-settled", time.Second, "acme", "s", 1_234)
	settle.HoldID = "settled"
	appendAll(t, l, settle)
	if err := l.CloseHold("released"); err != nil {
		t.Fatal(err)
	}
	never := rec("req-never", time.Second, "acme", "s", 5)
	never.HoldID = "never-opened"
	appendAll(t, l, never)
	if err := l.CloseHold("released"); err != nil { // a second release finds nothing
		t.Fatal(err)
	}
	flush(t, l)

	if hs := openHolds(t, l); len(hs) != 1 || hs[0].ID != "kept" {
		t.Errorf("OpenHolds() = %+v, want only the hold kept", hs)
	}
	if diff := cmp.Diff([]ledger.Record{settle}, request(t, l, "req-settled")); diff != "" {
		t.Errorf("the settle's record (-want +got):\n%s", diff)
	}
	if got := request(t, l, "req-released"); len(got) != 0 {
		t.Errorf("a released hold left records %+v, want none", got)
	}
	if got := total(t, l); got.MicroUSD != 1_234+5 {
		t.Errorf("total = %d micro-USD, want the two settles' 1239 (holds are not spend)", got.MicroUSD)
	}
	got := l.Stats()
	if got.Holds != 3 || got.Releases != 2 || got.Unmatched != 2 || got.Committed != 2 || got.Orphaned != 0 {
		t.Errorf("Stats() = %+v, want Holds 3, Releases 2, Unmatched 2, Committed 2, Orphaned 0", got)
	}
}

// testHoldCharged: Close charges the holds still open at their worst case, stamped with
// their open time (so a restore counts them in the window they were reserved in), once;
// the holds settled or released are not charged.
func testHoldCharged(t *testing.T, newConfig NewConfig) {
	ctx := context.Background()
	cfg := newConfig(t)
	l := open(t, cfg)
	yesterday := hold("y", -24*time.Hour, "acme", "s1", 3_000)
	today := hold("t", time.Hour, "acme", "s2", 7_000)
	settled := hold("s", time.Hour, "acme", "s2", 9_000)
	for _, h := range []ledger.Hold{yesterday, today, settled} {
		if err := l.OpenHold(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	r := rec("req-s", 2*time.Hour, "acme", "s2", 400)
	r.HoldID = "s"
	appendAll(t, l, r)
	closeLedger(t, l)
	if got := l.Stats().Orphaned; got != 2 {
		t.Errorf("Orphaned = %d after Close with 2 holds open, want 2", got)
	}

	l = open(t, cfg)
	if got := l.Stats().Orphaned; got != 0 {
		t.Errorf("Orphaned at reopen = %d, want 0: Close charged them already", got)
	}
	if hs := openHolds(t, l); len(hs) != 0 {
		t.Errorf("OpenHolds() after Close = %+v, want none", hs)
	}
	for _, h := range []ledger.Hold{yesterday, today} {
		want := []ledger.Record{{Time: h.Opened, RequestID: h.RequestID, HoldID: h.ID, Tenant: h.Tenant, Key: h.Key,
			Agent: h.Agent, Session: h.Session, Route: h.Route, Provider: h.Provider, Model: h.Model,
			InputTokens: h.InputTokens, OutputTokens: h.OutputTokens, MicroUSD: h.MicroUSD,
			Outcome: ledger.OutcomeOrphaned, Attempt: h.Attempt}}
		if diff := cmp.Diff(want, request(t, l, h.RequestID)); diff != "" {
			t.Errorf("the charge of hold %s (-want +got):\n%s", h.ID, diff)
		}
	}
	midnight := time.Date(t0.Year(), t0.Month(), t0.Day(), 0, 0, 0, 0, time.UTC)
	day, err := l.SumSince(ctx, midnight, ledger.BySession)
	if err != nil {
		t.Fatal(err)
	}
	if got := day["s2"].MicroUSD; got != 7_000+400 {
		t.Errorf("today's spend of s2 = %d, want 7400 (the orphan at its worst case and the settle)", got)
	}
	if got := day["s1"].MicroUSD; got != 0 {
		t.Errorf("today's spend of s1 = %d, want 0 (its orphan was opened yesterday)", got)
	}
}

func testHoldInvalid(t *testing.T, newConfig NewConfig) {
	ctx := context.Background()
	l := open(t, newConfig(t))
	for name, h := range map[string]ledger.Hold{
		"no id":         {RequestID: "r"},
		"another owner": {ID: "h", Owner: "someone-else"},
	} {
		if err := l.OpenHold(ctx, h); !errors.Is(err, ledger.ErrInvalidHold) {
			t.Errorf("OpenHold(%s) = %v, want ErrInvalidHold", name, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.OpenHold(cancelled, hold("c", 0, "acme", "s", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("OpenHold(cancelled context) = %v, want context.Canceled", err)
	}
	// A hold opened twice stays one hold, and takes nothing else in its batch down with it.
	h := hold("twice", 0, "acme", "s", 1)
	h.Owner = l.Instance()
	for range 2 {
		if err := l.OpenHold(ctx, h); err != nil {
			t.Fatalf("OpenHold(%s) = %v", h.ID, err)
		}
	}
	flush(t, l)
	hs := openHolds(t, l)
	var twice int
	for _, x := range hs {
		if x.ID == "twice" {
			twice++
		}
	}
	if twice != 1 {
		t.Errorf("hold opened twice is open %d times, want 1", twice)
	}
}

// testHoldsConcurrent opens holds from many goroutines at once while others append and
// release: every OpenHold returns with its hold durable, and concurrent holds share
// transactions.
func testHoldsConcurrent(t *testing.T, newConfig NewConfig) {
	const callers, each = 32, 8
	ctx := context.Background()
	cfg := newConfig(t)
	l := open(t, cfg)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("h-%d-%d", c, i)
				if err := l.OpenHold(ctx, hold(id, 0, "acme", "s", 100)); err != nil {
					t.Errorf("OpenHold(%s) = %v", id, err)
					return
				}
				var err error
				if i%2 == 0 {
					r := rec("req-"+id, 0, "acme", "s", 40)
					r.HoldID = id
					err = l.Append(r)
				} else {
					err = l.CloseHold(id)
				}
				if err != nil {
					t.Errorf("closing %s: %v", id, err)
				}
			}
		})
	}
	wg.Wait()
	flush(t, l)
	st := l.Stats()
	if st.Holds != callers*each || st.Committed != callers*each/2 || st.Releases != callers*each/2 || st.Unmatched != 0 {
		t.Errorf("Stats() = %+v, want Holds %d, Committed and Releases %d each, Unmatched 0", st, callers*each, callers*each/2)
	}
	if hs := openHolds(t, l); len(hs) != 0 {
		t.Errorf("OpenHolds() = %d holds, want none: each was settled or released", len(hs))
	}
	if got := total(t, l).MicroUSD; got != 40*callers*each/2 {
		t.Errorf("total = %d micro-USD, want %d", got, 40*callers*each/2)
	}
	t.Logf("%d holds, %d records and %d releases in %d transactions", st.Holds, st.Committed, st.Releases, st.Batches)
}
