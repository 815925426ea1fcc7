package quota_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/quota/quotatest"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	quotatest.Run(t, func(t *testing.T) quota.Store { return quota.NewMemoryStore(quota.MemoryConfig{}) })
}

func TestMemoryStoreLive(t *testing.T) {
	t.Parallel()
	quotatest.RunLive(t, func(t *testing.T) quota.Store { return quota.NewMemoryStore(quota.MemoryConfig{}) })
}

func TestReservationExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := quota.NewMemoryStore(quota.MemoryConfig{TTL: time.Minute})
	usd := quota.Quota{Name: "usd", Key: "usd", Unit: quota.MicroUSD, Limit: 100, Window: quota.Forever()}
	conc := quota.Quota{Name: "conc", Key: "conc", Unit: quota.Concurrent, Limit: 1, Window: quota.Leased()}
	req := &quota.Request{Quotas: []quota.Quota{usd, conc}, Amount: quota.Amount{MicroUSD: 40}}
	r, _, err := s.ReserveAt(now, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ReserveAt(now.Add(59*time.Second), req, nil); !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("before expiry: Reserve = %v, want ErrExceeded (lease held)", err)
	}
	// The abandoned reservation expires: its lease comes back, its worst case stays charged.
	r2, _, err := s.ReserveAt(now.Add(time.Minute), req, nil)
	if err != nil {
		t.Fatalf("after expiry: Reserve = %v, want the lease back", err)
	}
	if _, err := s.SettleAt(now.Add(time.Minute), r.ID, quota.Amount{}, nil); !errors.Is(err, quota.ErrUnknownReservation) {
		t.Errorf("settling an expired reservation = %v, want ErrUnknownReservation", err)
	}
	if _, err := s.SettleAt(now.Add(time.Minute), r2.ID, quota.Amount{MicroUSD: 10}, nil); err != nil {
		t.Fatal(err)
	}
	st := s.StatusAt(now.Add(time.Minute), []quota.Quota{usd}, nil)
	if st[0].Used != 50 {
		t.Errorf("Used = %d, want 50 (40 charged on expiry + 10 settled)", st[0].Used)
	}
	if n := s.Open(); n != 0 {
		t.Errorf("Open() = %d, want 0", n)
	}
}

func TestDuplicateKeysRefused(t *testing.T) {
	t.Parallel()
	s := quota.NewMemoryStore(quota.MemoryConfig{})
	q := quota.Quota{Name: "a", Key: "a", Unit: quota.Requests, Limit: 10, Window: quota.PerMinute()}
	if _, _, err := s.Reserve(context.Background(), &quota.Request{Quotas: []quota.Quota{q, q}, Amount: quota.Amount{Requests: 1}}, nil); err == nil {
		t.Fatal("Reserve with a duplicate key succeeded")
	}
}

func TestRuleFor(t *testing.T) {
	t.Parallel()
	l := quota.Labels{Provider: "openai", Model: "gpt-4o", Tenant: "acme", Session: "s1"}
	tests := []struct {
		name    string
		scope   quota.Labels
		wantKey string
		ok      bool
	}{
		{"global", quota.Labels{}, "r", true},
		{"per tenant", quota.Labels{Tenant: quota.Each}, "r|tenant=acme", true},
		{"fixed model", quota.Labels{Provider: "openai", Model: "gpt-4o"}, "r|provider=openai|model=gpt-4o", true},
		{"other model", quota.Labels{Model: "gpt-4o-mini"}, "", false},
		{"per agent, none given", quota.Labels{Agent: quota.Each}, "", false},
		{"tenant and session", quota.Labels{Tenant: quota.Each, Session: quota.Each}, "r|tenant=acme|session=s1", true},
		// A session or agent id is the caller's choice: its quota is the tenant's own.
		{"per session", quota.Labels{Session: quota.Each}, "r|tenant=acme|session=s1", true},
		{"fixed session", quota.Labels{Session: "s1"}, "r|tenant=acme|session=s1", true},
		{"per session of another tenant", quota.Labels{Session: quota.Each}, "r|tenant=beta|session=s1", true},
		{"per session, no tenant", quota.Labels{Session: quota.Each}, "r|session=s1", true},
		{"per model and agent", quota.Labels{Model: quota.Each, Agent: quota.Each}, "r|model=gpt-4o|tenant=acme|agent=a1", true},
		{"per key", quota.Labels{Key: quota.Each}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := l
			switch tt.name {
			case "per session of another tenant":
				l.Tenant = "beta"
			case "per session, no tenant":
				l.Tenant = ""
			case "per model and agent":
				l.Agent = "a1"
			}
			r := quota.Rule{Name: "r", Scope: tt.scope, Unit: quota.Requests, Limit: 1, Window: quota.PerMinute()}
			q, ok := r.For(l)
			if ok != tt.ok || q.Key != tt.wantKey {
				t.Errorf("For(%v) = %q, %v; want %q, %v", l, q.Key, ok, tt.wantKey, tt.ok)
			}
			if ok && q.Scope.Tenant != l.Tenant && (tt.scope.Tenant != "" || r.ScopedByTenant()) {
				t.Errorf("For(%v).Scope = %v, want the tenant %q in it", l, q.Scope, l.Tenant)
			}
		})
	}
}

func TestQuotaValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		q    quota.Quota
		ok   bool
	}{
		{"good rate", quota.Quota{Key: "k", Unit: quota.Requests, Limit: 1, Window: quota.PerMinute()}, true},
		{"zero limit", quota.Quota{Key: "k", Unit: quota.Requests, Window: quota.PerMinute()}, false},
		{"rate without period", quota.Quota{Key: "k", Unit: quota.Requests, Limit: 1, Window: quota.Window{Kind: quota.Rate}}, false},
		{"lease of tokens", quota.Quota{Key: "k", Unit: quota.Tokens, Limit: 1, Window: quota.Leased()}, false},
		{"concurrency per day", quota.Quota{Key: "k", Unit: quota.Concurrent, Limit: 1, Window: quota.Daily(nil)}, false},
		{"warn above 1", quota.Quota{Key: "k", Unit: quota.MicroUSD, Limit: 1, Window: quota.Daily(nil), WarnAt: 1.5}, false},
	}
	for _, tt := range tests {
		if err := tt.q.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestForgetsIdleKeys: a key's state is dropped once it equals a fresh key's, and not
// before; a reservation open on it keeps it. Another key's reservations do the work.
func TestForgetsIdleKeys(t *testing.T) {
	t.Parallel()
	epoch := time.Date(2026, 1, 1, 23, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		q      quota.Quota
		settle bool          // settle the reservation at once, else leave it open
		kept   time.Duration // still there this long after the reservation
		gone   time.Duration // forgotten by then
	}{
		{"rate: a period after it refilled", quota.Quota{Unit: quota.Requests, Limit: 60, Window: quota.PerMinute()},
			true, 60 * time.Second, 61 * time.Second},
		{"lease: held", quota.Quota{Unit: quota.Concurrent, Limit: 2, Window: quota.Leased()},
			false, 9 * time.Minute, 0},
		{"lease: returned", quota.Quota{Unit: quota.Concurrent, Limit: 2, Window: quota.Leased()},
			true, 59 * time.Second, time.Minute},
		{"day: at midnight", quota.Quota{Unit: quota.MicroUSD, Limit: 100, Window: quota.Daily(nil)},
			true, 59 * time.Minute, time.Hour},
		{"lifetime: after its idle TTL", quota.Quota{Unit: quota.MicroUSD, Limit: 100, Window: quota.Window{Kind: quota.Lifetime, Idle: 48 * time.Hour}},
			true, 47 * time.Hour, 48 * time.Hour},
		{"lifetime: by default after 30 days", quota.Quota{Unit: quota.MicroUSD, Limit: 100, Window: quota.Forever()},
			true, 29 * 24 * time.Hour, 30 * 24 * time.Hour},
		{"lifetime: kept forever", quota.Quota{Unit: quota.MicroUSD, Limit: 100, Window: quota.Window{Kind: quota.Lifetime, Idle: -1}},
			true, 1000 * 24 * time.Hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := quota.NewMemoryStore(quota.MemoryConfig{TTL: 10 * time.Minute})
			q := tt.q
			q.Name, q.Key = "q", "q"
			amt := quota.Amount{Requests: 1, MicroUSD: 10}
			r, _, err := s.ReserveAt(epoch, &quota.Request{Quotas: []quota.Quota{q}, Amount: amt}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.settle {
				if _, err := s.SettleAt(epoch, r.ID, amt, nil); err != nil {
					t.Fatal(err)
				}
			}
			// tick reserves on other keys at at, which forgets what is due.
			tick := func(at time.Duration) int {
				for i := range 8 {
					other := quota.Quota{Name: "o", Key: "other" + strconv.Itoa(i), Unit: quota.Requests, Limit: 1 << 40,
						Window: quota.Rolling(time.Nanosecond)}
					if _, _, err := s.ReserveAt(epoch.Add(at), &quota.Request{Quotas: []quota.Quota{other}, Amount: amt}, nil); err != nil {
						t.Fatal(err)
					}
				}
				return s.Keys() - 8
			}
			if got := tick(tt.kept); got != 1 {
				t.Errorf("%v after: %d keys, want the quota's still kept", tt.kept, got)
			}
			if tt.gone == 0 {
				return
			}
			if got := tick(tt.gone); got != 0 {
				t.Errorf("%v after: %d keys, want the quota's forgotten", tt.gone, got)
			}
		})
	}
}

// TestIdleLifetimeForgottenOnUse: an idle session's budget starts from zero at its next
// reservation even when eviction has not come to it yet (other keys are due first).
func TestIdleLifetimeForgottenOnUse(t *testing.T) {
	t.Parallel()
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := quota.NewMemoryStore(quota.MemoryConfig{})
	session := quota.Quota{Name: "run", Key: "run", Unit: quota.MicroUSD, Limit: 100,
		Window: quota.Window{Kind: quota.Lifetime, Idle: time.Hour}}
	spend := func(at time.Duration, n int64) error {
		r, _, err := s.ReserveAt(epoch.Add(at), &quota.Request{Quotas: []quota.Quota{session}, Amount: quota.Amount{MicroUSD: n}}, nil)
		if err != nil {
			return err
		}
		_, err = s.SettleAt(epoch.Add(at), r.ID, quota.Amount{MicroUSD: n}, nil)
		return err
	}
	// Many keys fall due before the session's: eviction, a few keys per reservation, is
	// still busy with them when the session comes back.
	for i := range 1000 {
		q := quota.Quota{Name: "r", Key: "rate" + strconv.Itoa(i), Unit: quota.Requests, Limit: 1, Window: quota.Rolling(time.Millisecond)}
		if _, _, err := s.ReserveAt(epoch, &quota.Request{Quotas: []quota.Quota{q}, Amount: quota.Amount{Requests: 1}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := spend(time.Millisecond, 100); err != nil {
		t.Fatal(err)
	}
	if err := spend(time.Hour+time.Minute, 100); err != nil {
		t.Errorf("after an idle hour: %v, want the budget forgotten", err)
	}
	if s.Keys() < 900 {
		t.Fatalf("%d keys: eviction caught up, so this test does not test what it says", s.Keys())
	}
}
