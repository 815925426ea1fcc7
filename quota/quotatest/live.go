package quotatest

import (
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// RunLive runs the cases of quotas whose limit is a quota.Live and of OutputAtCap quotas: the
// learned limits of package learn. A store passes them by resolving each Live quota with
// Quota.Resolve when it decides a reservation (the Live's limit, burst and floor), settling
// with the limit the reservation was decided with, counting its refusals (Live.Refused) and
// charging with Quota.Settled (OutputAtCap). The windows are an hour long, so that the
// store's own clock (Redis: the server's TIME) moves nothing that the cases count.
func RunLive(t *testing.T, newStore NewStore) {
	t.Run("LiveLimitReadAtEachReserve", func(t *testing.T) { liveLimit(t, newStore(t)) })
	t.Run("LiveFloor", func(t *testing.T) { liveFloor(t, newStore(t)) })
	t.Run("LiveNeverTooLarge", func(t *testing.T) { liveLarge(t, newStore(t)) })
	t.Run("LiveSettleAtReserveLimit", func(t *testing.T) { liveSettle(t, newStore(t)) })
	t.Run("OutputAtCap", func(t *testing.T) { outputAtCap(t, newStore(t)) })
}

func hourly(key string, unit quota.Unit, live *quota.Live) quota.Quota {
	return quota.Quota{Name: "learned", Key: key, Unit: unit, Limit: quota.Unlimited,
		Window: quota.Rolling(time.Hour), Live: live}
}

// liveLimit: a Live that knows no limit refuses nothing; once set, the store enforces the
// new limit on the same quota value, reports it in the statuses and counts the refusal.
func liveLimit(t *testing.T, s quota.Store) {
	live := quota.NewLive(0, 0)
	q := hourly("live-rph", quota.Requests, live)
	req := &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{Requests: 1}}
	for i := range 50 {
		if _, err := reserve(s, req); err != nil {
			t.Fatalf("unknown limit: Reserve %d = %v, want granted", i, err)
		}
	}
	live.Set(2, 0)
	for i := range 2 {
		if _, err := reserve(s, req); err != nil {
			t.Fatalf("limit 2: Reserve %d = %v, want granted", i, err)
		}
	}
	_, sts, err := s.Reserve(ctx, req, nil)
	var e *quota.ExceededError
	if !errors.As(err, &e) || !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("limit 2: third Reserve = %v, want ErrExceeded", err)
	}
	if e.Quota.Limit != 2 || e.RetryAfter < 29*time.Minute || e.RetryAfter > 31*time.Minute {
		t.Errorf("refusal: limit %d, retry after %v; want limit 2, about 30m", e.Quota.Limit, e.RetryAfter)
	}
	if len(sts) != 1 || sts[0].Quota.Limit != 2 || sts[0].Remaining != 0 {
		t.Errorf("refusal statuses = %+v, want one at limit 2 with 0 remaining", sts)
	}
	if n := live.Refusals(); n != 1 {
		t.Errorf("Live.Refusals() = %d, want 1", n)
	}
}

// liveFloor: a floor that leaves room for 5 lets exactly 5 more through, whatever the
// store counted itself.
func liveFloor(t *testing.T, s quota.Store) {
	live := quota.NewLive(60, 60)
	q := hourly("live-floor", quota.Requests, live)
	live.RaiseFloor(quota.FloorFor(time.Now(), 5, 60, 60, time.Hour))
	req := &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{Requests: 1}}
	for i := range 5 {
		if _, err := reserve(s, req); err != nil {
			t.Fatalf("Reserve %d = %v, want granted (room 5)", i, err)
		}
	}
	if _, err := reserve(s, req); !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("sixth Reserve = %v, want ErrExceeded", err)
	}
	if live.RaiseFloor(quota.FloorFor(time.Now(), 30, 60, 60, time.Hour)) {
		t.Error("RaiseFloor to a lower floor reported a rise")
	}
}

// liveLarge: a request above a Live's burst waits for a full rate instead of being refused
// as too large, since the provider's own burst may be larger than the one learned; a
// fixed quota still refuses it for good.
func liveLarge(t *testing.T, s quota.Store) {
	live := quota.NewLive(600, 100)
	q := hourly("live-large", quota.Tokens, live)
	big := quota.Amount{InputTokens: 200, OutputTokens: 100}
	if _, err := reserve(s, &quota.Request{Quotas: []quota.Quota{q}, Amount: big}); err != nil {
		t.Fatalf("Reserve(300 against a full live rate of burst 100) = %v, want granted", err)
	}
	if _, err := reserve(s, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{InputTokens: 1}}); !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("Reserve(1) after it = %v, want ErrExceeded (the rate is in debt)", err)
	}
	fixed := quota.Quota{Name: "fixed", Key: "fixed-large", Unit: quota.Tokens, Limit: 600, Burst: 100, Window: quota.Rolling(time.Hour)}
	if _, err := reserve(s, &quota.Request{Quotas: []quota.Quota{fixed}, Amount: big}); !errors.Is(err, quota.ErrTooLarge) {
		t.Fatalf("Reserve(300 against a fixed burst of 100) = %v, want ErrTooLarge", err)
	}
}

// liveSettle: a settle undoes exactly what its reserve took, at the limit the reserve was
// decided with, even though the Live moved in between.
func liveSettle(t *testing.T, s quota.Store) {
	live := quota.NewLive(60, 60)
	q := hourly("live-settle", quota.Tokens, live)
	r, err := reserve(s, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{InputTokens: 30}})
	if err != nil {
		t.Fatal(err)
	}
	live.Set(120, 120)
	if err := settle(s, r.ID, quota.Amount{InputTokens: 10}); err != nil {
		t.Fatal(err)
	}
	// 10 tokens at 60 an hour are 10 minutes of the rate: 20 tokens at 120 an hour. Had the
	// refund used the new limit, 40 would be in use.
	st, err := s.Status(ctx, []quota.Quota{q}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Used != 20 || st[0].Remaining != 100 || st[0].Quota.Limit != 120 {
		t.Errorf("after settle: limit %d used %d remaining %d; want limit 120, used 20, remaining 100",
			st[0].Quota.Limit, st[0].Used, st[0].Remaining)
	}
}

// outputAtCap: an OutputAtCap rate keeps the output cap a reservation took when the call
// generated less, refunds input it did not use, charges more when the call used more, and
// charges nothing for a call that used no tokens (refused).
func outputAtCap(t *testing.T, s quota.Store) {
	tph := quota.Quota{Name: "tph", Key: "atcap-tph", Unit: quota.Tokens, Limit: 6000, Window: quota.Rolling(time.Hour), OutputAtCap: true}
	plain := tph
	plain.Name, plain.Key, plain.OutputAtCap = "plain", "plain-tph", false
	req := &quota.Request{Quotas: []quota.Quota{tph, plain}, Amount: quota.Amount{InputTokens: 100, OutputTokens: 200}}
	var wantAtCap, wantPlain int64
	for _, c := range []struct {
		actual           quota.Amount
		atCap, plainUsed int64
	}{
		{quota.Amount{InputTokens: 80, OutputTokens: 20}, 80 + 200, 80 + 20},
		{quota.Amount{InputTokens: 150, OutputTokens: 250}, 150 + 250, 150 + 250},
		{quota.Amount{Requests: 1}, 0, 0}, // refused: nothing generated, nothing counted
	} {
		r, err := reserve(s, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := settle(s, r.ID, c.actual); err != nil {
			t.Fatal(err)
		}
		wantAtCap, wantPlain = wantAtCap+c.atCap, wantPlain+c.plainUsed
		st, err := s.Status(ctx, req.Quotas, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st[0].Used != wantAtCap || st[1].Used != wantPlain {
			t.Errorf("after settling %+v: OutputAtCap used %d, plain used %d; want %d and %d",
				c.actual, st[0].Used, st[1].Used, wantAtCap, wantPlain)
		}
	}
}
