package redisstore

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

func TestSlot(t *testing.T) {
	t.Parallel()
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	tests := []struct {
		key  string
		want int
	}{
		{"123456789", 0x31C3 & 16383},
		{"foo", 12182},
		{"{user1000}.following", slotOf("user1000")},
		{"foo{}{bar}", slotOf("foo{}{bar}")}, // an empty tag means no tag
		{"{tg}:q:a{b}", slotOf("tg")},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := slot(tt.key); got != tt.want {
				t.Errorf("slot(%q) = %d, want %d", tt.key, got, tt.want)
			}
		})
	}
}

func slotOf(s string) int { return slot(s) }

// TestOneSlotPerScript runs every script with every kind of quota, then checks that each
// script declared keys of a single slot, and that every key the store created (including
// those a settle reaches through the hold without declaring them) is in that slot too.
func TestOneSlotPerScript(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, rec, c := newStore(t, srv, Config{SlotGroup: "slotcheck"})
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	quotas := []quota.Quota{
		{Name: "rpm", Key: "rpm|model=gpt-4o", Unit: quota.Requests, Limit: 100, Window: quota.PerMinute()},
		{Name: "tpm", Key: "tpm|tenant={acme}", Unit: quota.Tokens, Limit: 100000, Window: quota.PerMinute()},
		{Name: "conc", Key: "conc", Unit: quota.Concurrent, Limit: 10, Window: quota.Leased()},
		budget("session|session=s1", 1_000_000),
		{Name: "daily", Key: "daily|tenant=acme", Unit: quota.MicroUSD, Limit: 1_000_000, Window: quota.Daily(berlin)},
		{Name: "monthly", Key: "monthly", Unit: quota.MicroUSD, Limit: 1_000_000, Window: quota.Monthly(nil)},
	}
	req := &quota.Request{Quotas: quotas, Amount: quota.Amount{Requests: 1, InputTokens: 100, OutputTokens: 100, MicroUSD: 500}}
	r1, _, err := s.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, _, err := s.Reserve(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx, r1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Settle(ctx, r1.ID, quota.Amount{Requests: 1, InputTokens: 50, MicroUSD: 100}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Status(ctx, quotas, nil); err != nil {
		t.Fatal(err)
	}

	want := slot("{slotcheck}")
	rec.mu.Lock()
	calls := rec.keys
	rec.mu.Unlock()
	if len(calls) != 6 {
		t.Fatalf("recorded %d script calls, want 6", len(calls))
	}
	for _, keys := range calls {
		for _, k := range keys {
			if got := slot(k); got != want {
				t.Errorf("script key %q in slot %d, want %d (the group's)", k, got, want)
			}
		}
	}
	stored, err := c.Keys(ctx, "{slotcheck}*").Result()
	if err != nil {
		t.Fatal(err)
	}
	// The state hash and the reservation index: a group has no other key.
	slices.Sort(stored)
	if keys := []string{s.names.state(), s.names.index()}; !slices.Equal(stored, keys) {
		t.Errorf("keys = %q, want %q", stored, keys)
	}
	for _, k := range stored {
		if got := slot(k); got != want {
			t.Errorf("stored key %q in slot %d, want %d", k, got, want)
		}
	}
	fields, err := c.HKeys(ctx, s.names.state()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i := range quotas {
		name := s.names.field(&quotas[i])
		if !slices.ContainsFunc(fields, func(f string) bool { return strings.HasPrefix(f, name) }) {
			t.Errorf("no field for quota %s (%s) in %q", quotas[i].Name, name, fields)
		}
	}
}
