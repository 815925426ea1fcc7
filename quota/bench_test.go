package quota_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// fiveQuotas is a typical attempt: model RPM and TPM, global concurrency, a session's
// lifetime budget and a tenant's daily budget.
func fiveQuotas(session string) []quota.Quota {
	rules := quota.Rules{
		{Name: "rpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()},
		{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 1 << 50, Window: quota.PerMinute()},
		{Name: "conc", Unit: quota.Concurrent, Limit: 1 << 20, Window: quota.Leased()},
		{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 62, Window: quota.Forever()},
		{Name: "daily-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 62, Window: quota.Daily(time.UTC)},
	}
	return rules.For(nil, quota.Labels{Model: "gpt-4o", Tenant: "acme", Session: session})
}

var (
	worst  = quota.Amount{Requests: 1, InputTokens: 500, OutputTokens: 1000, MicroUSD: 11_250}
	actual = quota.Amount{Requests: 1, InputTokens: 480, OutputTokens: 200, MicroUSD: 3_200}
)

func BenchmarkReserveSettle(b *testing.B) {
	ctx := context.Background()
	s := quota.NewMemoryStore(quota.MemoryConfig{})
	req := &quota.Request{Quotas: fiveQuotas("s1"), Amount: worst}
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.Reserve(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Settle(ctx, r.ID, actual); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReserveSettleParallel(b *testing.B) {
	ctx := context.Background()
	b.Run("hot-key", func(b *testing.B) {
		s := quota.NewMemoryStore(quota.MemoryConfig{})
		req := &quota.Request{Quotas: fiveQuotas("s1"), Amount: worst}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r, err := s.Reserve(ctx, req)
				if err != nil {
					b.Error(err)
					return
				}
				_ = s.Settle(ctx, r.ID, actual)
			}
		})
	})
	b.Run("many-keys", func(b *testing.B) {
		s := quota.NewMemoryStore(quota.MemoryConfig{})
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine is its own session: the session quota keys differ.
			req := &quota.Request{Quotas: fiveQuotas("s" + strconv.FormatInt(n.Add(1), 10)), Amount: worst}
			for pb.Next() {
				r, err := s.Reserve(ctx, req)
				if err != nil {
					b.Error(err)
					return
				}
				_ = s.Settle(ctx, r.ID, actual)
			}
		})
	})
}
