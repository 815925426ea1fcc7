package ledger

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/pgtest"
)

// clock is a settable clock for the instances' heartbeats.
type clock struct{ at time.Time }

func (c *clock) now() time.Time { return c.at }

// TestPostgresHeartbeat: a replica's holds are charged by another only once its heartbeat
// has lapsed on the shared clock; then exactly once, and a settle that arrives after the
// charge is kept and counted as Unmatched (more than was spent, never less).
func TestPostgresHeartbeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.Database(t)
	clk := &clock{at: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	a := open(t, Config{Backend: Postgres, URL: url, Now: clk.now, HeartbeatTTL: time.Minute, RecoverInterval: -1})
	if err := a.OpenHold(ctx, Hold{ID: "h1", RequestID: "r1", Tenant: "acme", MicroUSD: 5_000, Opened: t0}); err != nil {
		t.Fatal(err)
	}
	b := open(t, Config{Backend: Postgres, URL: url, Now: clk.now, HeartbeatTTL: time.Minute, RecoverInterval: -1})

	clk.at = clk.at.Add(59 * time.Second)
	if n, err := b.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("Recover() within a's heartbeat = %d, %v; want 0", n, err)
	}
	clk.at = clk.at.Add(2 * time.Second)
	if n, err := a.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("a.Recover() past its own heartbeat = %d, %v; want 0: a never takes itself for dead", n, err)
	}
	if n, err := b.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover() past a's heartbeat = %d, %v; want 1", n, err)
	}
	if n, err := b.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("second Recover() = %d, %v; want 0", n, err)
	}
	recs, err := b.Request(ctx, "r1")
	if err != nil || len(recs) != 1 || recs[0].Outcome != OutcomeOrphaned || recs[0].MicroUSD != 5_000 {
		t.Fatalf("a's hold after recovery: %+v, %v; want one orphan charge of 5000", recs, err)
	}

	// a was alive after all: its heartbeat registers it again, its late settle is kept.
	if err := a.be.heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	appendAll(t, a, Record{RequestID: "r1", HoldID: "h1", Tenant: "acme", MicroUSD: 1_200, Outcome: OutcomeOK, Time: t0})
	flush(t, a)
	if got := a.Stats().Unmatched; got != 1 {
		t.Errorf("a's Unmatched = %d after settling a hold charged as orphaned, want 1", got)
	}
	if n, err := b.Recover(ctx); err != nil || n != 0 {
		t.Errorf("Recover() after a came back = %d, %v; want 0", n, err)
	}
	// Holds a opens now are its own again: nobody charges them while it beats.
	if err := a.OpenHold(ctx, Hold{ID: "h2", RequestID: "r2", Tenant: "acme", MicroUSD: 1}); err != nil {
		t.Fatal(err)
	}
	clk.at = clk.at.Add(30 * time.Second)
	if n, err := b.Recover(ctx); err != nil || n != 0 {
		t.Errorf("Recover() with a alive again = %d, %v; want 0", n, err)
	}
}

// TestPostgresSameInstance: a process that comes back under the same Config.Instance
// (a stable host or pod name) charges the holds of its previous life at Open, without
// waiting for the heartbeat to lapse.
func TestPostgresSameInstance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.Database(t)
	cfg := Config{Backend: Postgres, URL: url, Instance: "gateway-0"}
	a := open(t, cfg)
	if err := a.OpenHold(ctx, Hold{ID: "h", RequestID: "r", Tenant: "acme", MicroUSD: 700, Opened: t0}); err != nil {
		t.Fatal(err)
	}
	abandon(t, a)

	other := open(t, Config{Backend: Postgres, URL: url})
	if got := other.Stats().Orphaned; got != 0 {
		t.Fatalf("another instance charged %d holds of gateway-0 within its heartbeat, want 0", got)
	}
	again := open(t, cfg)
	if got := again.Stats().Orphaned; got != 1 {
		t.Errorf("gateway-0 back: Orphaned at Open = %d, want 1", got)
	}
	if hs, err := again.OpenHolds(ctx); err != nil || len(hs) != 0 {
		t.Errorf("OpenHolds() = %+v, %v; want none", hs, err)
	}
}
