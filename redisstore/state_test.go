package redisstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// TestForgetsIdleQuotas: the state hash forgets a quota once its state equals a fresh
// one's (a rate refilled past any hold's life, a day long over, a lifetime budget idle past
// its TTL, a concurrency quota with no lease), and keeps a lifetime budget kept forever.
// Reservations on other quotas do the work, a few fields at a time.
func TestForgetsIdleQuotas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, _, c := newStore(t, srv, Config{TTL: time.Minute})
	idle := quota.Quota{Name: "run", Key: "run|session=s1", Unit: quota.MicroUSD, Limit: 100,
		Window: quota.Window{Kind: quota.Lifetime, Idle: time.Hour}}
	forever := quota.Quota{Name: "trial", Key: "trial|key=k1", Unit: quota.MicroUSD, Limit: 100,
		Window: quota.Window{Kind: quota.Lifetime, Idle: -1}}
	quotas := []quota.Quota{
		{Name: "rpm", Key: "rpm|session=s1", Unit: quota.Requests, Limit: 60, Window: quota.PerMinute()},
		{Name: "day", Key: "day|session=s1", Unit: quota.MicroUSD, Limit: 100, Window: quota.Daily(nil)},
		leaseQ("conc|session=s1", 2), idle, forever,
	}
	amt := quota.Amount{Requests: 1, MicroUSD: 10}
	r, _, err := s.Reserve(ctx, &quota.Request{Quotas: quotas, Amount: amt}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Settle(ctx, r.ID, amt, nil); err != nil {
		t.Fatal(err)
	}
	// The fields of the quotas above: the budget kept forever's must stay, the rest go.
	var gone []string
	for _, q := range quotas[:4] {
		f := s.names.fields(&q)
		switch q.Window.Kind {
		case quota.Lifetime:
			gone = append(gone, f.u, f.h, f.x)
		case quota.Day:
			start, _ := q.Window.Span(time.Now().UnixNano())
			w := window(f.base, start/int64(time.Second))
			gone = append(gone, w+"u", w+"h")
		default:
			gone = append(gone, f.base)
		}
	}
	f := s.names.fields(&forever)
	kept := []string{f.u, f.h, f.x}
	count := func(names []string) int {
		n := 0
		for _, name := range names {
			if ok, err := c.HExists(ctx, s.names.state(), name).Result(); err != nil {
				t.Fatal(err)
			} else if ok {
				n++
			}
		}
		return n
	}
	if n := count(gone); n != len(gone) {
		t.Fatalf("%d of the %d fields there after the reservation, want all", n, len(gone))
	}
	// Two days later, new requests on other quotas come and go.
	s.offset = 50 * time.Hour
	for i := 0; i < 4000 && count(gone) > 0; i += 50 {
		for j := range 50 {
			other := quota.Quota{Name: "other", Key: "other" + strconv.Itoa(i+j), Unit: quota.Requests, Limit: 1 << 30, Window: quota.PerMinute()}
			r, _, err := s.Reserve(ctx, &quota.Request{Quotas: []quota.Quota{other}, Amount: amt}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Settle(ctx, r.ID, amt, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := count(gone); n != 0 {
		t.Errorf("%d idle fields left of %d, want none", n, len(gone))
	}
	if n := count(kept); n != len(kept) {
		t.Errorf("%d fields of the budget kept forever left, want %d", n, len(kept))
	}
	if st := status(t, s, forever); st.Used != 10 {
		t.Errorf("the budget kept forever: used %d, want 10", st.Used)
	}
	if st := status(t, s, idle); st.Used != 0 {
		t.Errorf("the idle session's budget: used %d, want 0 (forgotten)", st.Used)
	}
}

// TestClientClockInAnotherDay: a replica whose clock puts it in another day than the
// server's TIME sends the windows of its day; the script says so, and the reservation is
// made again in the server's day, which decides.
func TestClientClockInAnotherDay(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, rec, _ := newStore(t, srv, Config{})
	day := quota.Quota{Name: "day", Key: "day", Unit: quota.MicroUSD, Limit: 100, Window: quota.Daily(nil)}
	req := &quota.Request{Quotas: []quota.Quota{day}, Amount: quota.Amount{MicroUSD: 30}}
	s.skew = -25 * time.Hour
	before := rec.trips.Load()
	r, sts, err := s.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if trips := rec.trips.Load() - before; trips != 2 {
		t.Errorf("%d round trips, want 2 (the second with the server's day)", trips)
	}
	_, end := day.Window.Span(time.Now().UnixNano())
	if len(sts) != 1 || sts[0].Held != 30 || !sts[0].ResetAt.Equal(time.Unix(0, end).UTC()) {
		t.Errorf("statuses = %+v, want 30 held in today's window, resetting at %v", sts, time.Unix(0, end).UTC())
	}
	s.skew = 0
	sts, err = s.Settle(ctx, r.ID, quota.Amount{MicroUSD: 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].Used != 20 || sts[0].Held != 0 {
		t.Errorf("after settle: %+v, want 20 used in today's window", sts)
	}
}

// TestSettleByAnotherStore: a store that did not make a reservation (another process's)
// settles it from what the reservation records: budgets and leases exactly, rates at
// their worst case, and no statuses.
func TestSettleByAnotherStore(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, _, _ := newStore(t, srv, Config{SlotGroup: "shared-settle"})
	b, _, _ := newStore(t, srv, Config{SlotGroup: "shared-settle"})
	tpm := quota.Quota{Name: "tpm", Key: "tpm", Unit: quota.Tokens, Limit: 6000, Window: quota.PerMinute()}
	usd := budget("usd", 1000)
	conc := leaseQ("conc", 1)
	req := &quota.Request{Quotas: []quota.Quota{tpm, usd, conc}, Amount: quota.Amount{InputTokens: 100, OutputTokens: 500, MicroUSD: 400}}
	r, _, err := a.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	sts, err := b.Settle(ctx, r.ID, quota.Amount{InputTokens: 100, OutputTokens: 50, MicroUSD: 90}, nil)
	if err != nil || len(sts) != 0 {
		t.Fatalf("settle by the other store = %v, %v; want no statuses and no error", sts, err)
	}
	got, err := a.Status(ctx, req.Quotas, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got[1].Used != 90 || got[1].Held != 0 || got[2].Used != 0 {
		t.Errorf("usd used %d held %d, leases %d; want 90, 0, 0", got[1].Used, got[1].Held, got[2].Used)
	}
	if got[0].Used < 600 {
		t.Errorf("tpm used %d, want the worst case 600 kept (the other store cannot compute the refund)", got[0].Used)
	}
}
