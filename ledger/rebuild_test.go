package ledger

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/pgtest"
)

// TestSettledHolds: the holds that records at or after a time settled or charged, on both
// backends; records without a hold and older ones are not listed.
func TestSettledHolds(t *testing.T) {
	t.Parallel()
	for _, backend := range []Backend{SQLite, Postgres} {
		t.Run(string(backend), func(t *testing.T) {
			t.Parallel()
			cfg := Config{}
			if backend == Postgres {
				cfg = Config{Backend: Postgres, URL: pgtest.Database(t)}
			}
			l := open(t, cfg)
			ctx := context.Background()
			old, settled, none := rec("r1", 0, "a", "s1", 10), rec("r2", time.Hour, "a", "s1", 20), rec("r3", time.Hour, "a", "s1", 30)
			old.HoldID, settled.HoldID = "h-old", "h-settled"
			if err := l.OpenHold(ctx, Hold{ID: "h-open", RequestID: "r4", Tenant: "a", MicroUSD: 40, Opened: t0.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			appendAll(t, l, old, settled, none)
			flush(t, l)
			got, err := l.SettledHolds(ctx, t0.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if diff := cmp.Diff([]string{"h-settled"}, got); diff != "" {
				t.Errorf("SettledHolds (-want +got):\n%s", diff)
			}
			holds, err := l.OpenHolds(ctx)
			if err != nil || len(holds) != 1 || holds[0].ID != "h-open" {
				t.Errorf("OpenHolds = %+v, %v; want h-open alone", holds, err)
			}
		})
	}
}
