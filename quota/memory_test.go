package quota_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/quota/quotatest"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	quotatest.Run(t, func(t *testing.T) quota.Store { return quota.NewMemoryStore(quota.MemoryConfig{}) })
}

func TestReservationExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := quota.NewMemoryStore(quota.MemoryConfig{TTL: time.Minute})
	usd := quota.Quota{Name: "usd", Key: "usd", Unit: quota.MicroUSD, Limit: 100, Window: quota.Forever()}
	conc := quota.Quota{Name: "conc", Key: "conc", Unit: quota.Concurrent, Limit: 1, Window: quota.Leased()}
	req := &quota.Request{Quotas: []quota.Quota{usd, conc}, Amount: quota.Amount{MicroUSD: 40}}
	r, err := s.ReserveAt(now, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReserveAt(now.Add(59*time.Second), req); !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("before expiry: Reserve = %v, want ErrExceeded (lease held)", err)
	}
	// The abandoned reservation expires: its lease comes back, its worst case stays charged.
	r2, err := s.ReserveAt(now.Add(time.Minute), req)
	if err != nil {
		t.Fatalf("after expiry: Reserve = %v, want the lease back", err)
	}
	if err := s.SettleAt(now.Add(time.Minute), r.ID, quota.Amount{}); !errors.Is(err, quota.ErrUnknownReservation) {
		t.Errorf("settling an expired reservation = %v, want ErrUnknownReservation", err)
	}
	if err := s.SettleAt(now.Add(time.Minute), r2.ID, quota.Amount{MicroUSD: 10}); err != nil {
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
	if _, err := s.Reserve(context.Background(), &quota.Request{Quotas: []quota.Quota{q, q}, Amount: quota.Amount{Requests: 1}}); err == nil {
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := quota.Rule{Name: "r", Scope: tt.scope, Unit: quota.Requests, Limit: 1, Window: quota.PerMinute()}
			q, ok := r.For(l)
			if ok != tt.ok || q.Key != tt.wantKey {
				t.Errorf("For(%v) = %q, %v; want %q, %v", l, q.Key, ok, tt.wantKey, tt.ok)
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
