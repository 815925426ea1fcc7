package quota_test

import (
	"context"
	"runtime"
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

// nQuotas is fiveQuotas cut or extended with more token rates to n quotas.
func nQuotas(n int) []quota.Quota {
	qs := fiveQuotas("s1")
	for i := len(qs); i < n; i++ {
		qs = append(qs, quota.Quota{Name: "extra", Key: "extra|" + strconv.Itoa(i), Unit: quota.Tokens,
			Limit: 1 << 50, Window: quota.PerMinute()})
	}
	return qs[:n]
}

var (
	worst  = quota.Amount{Requests: 1, InputTokens: 500, OutputTokens: 1000, MicroUSD: 11_250}
	actual = quota.Amount{Requests: 1, InputTokens: 480, OutputTokens: 200, MicroUSD: 3_200}
)

// BenchmarkReserveSettle is one reserve and one settle over five quotas, both answering
// with the quotas' statuses into a reused buffer.
func BenchmarkReserveSettle(b *testing.B) { reserveSettle(b, fiveQuotas("s1")) }

// BenchmarkReserveSettleLive is BenchmarkReserveSettle with the learned limits of one
// upstream model added: requests, input and output tokens as Live rates (package learn).
func BenchmarkReserveSettleLive(b *testing.B) {
	qs := fiveQuotas("s1")
	for i, u := range []quota.Unit{quota.Requests, quota.InputTokens, quota.OutputTokens} {
		qs = append(qs, quota.Quota{Name: "learned", Key: "learned|" + strconv.Itoa(i), Unit: u,
			Limit: quota.Unlimited, Window: quota.PerMinute(), Live: quota.NewLive(1<<40, 0)})
	}
	reserveSettle(b, qs)
}

// BenchmarkReserveSettleQuotas is the same over 1 to 32 quotas: the cost per quota, and
// the allocations, must not jump at any size.
func BenchmarkReserveSettleQuotas(b *testing.B) {
	for _, n := range []int{1, 5, 8, 9, 16, 20, 32} {
		b.Run("quotas="+strconv.Itoa(n), func(b *testing.B) {
			reserveSettle(b, nQuotas(n))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/quota")
		})
	}
}

func reserveSettle(b *testing.B, quotas []quota.Quota) {
	ctx := context.Background()
	s := quota.NewMemoryStore(quota.MemoryConfig{})
	req := &quota.Request{Quotas: quotas, Amount: worst}
	var buf []quota.Status
	b.ReportAllocs()
	for b.Loop() {
		r, sts, err := s.Reserve(ctx, req, buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		if buf, err = s.Settle(ctx, r.ID, actual, sts[:0]); err != nil {
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
			var buf []quota.Status
			for pb.Next() {
				r, sts, err := s.Reserve(ctx, req, buf[:0])
				if err != nil {
					b.Error(err)
					return
				}
				buf, _ = s.Settle(ctx, r.ID, actual, sts[:0])
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
			var buf []quota.Status
			for pb.Next() {
				r, sts, err := s.Reserve(ctx, req, buf[:0])
				if err != nil {
					b.Error(err)
					return
				}
				buf, _ = s.Settle(ctx, r.ID, actual, sts[:0])
			}
		})
	})
}

// BenchmarkIdleSessions touches one million sessions (a lifetime budget with a one-hour
// idle expiry and a per-session rate each), lets them idle past their windows on the
// injected clock while one hot key keeps the store busy, and reports the live heap of the
// process: at the start (the store in use on the hot key), with the sessions in it, and
// after. The target is after within 10% of start.
func BenchmarkIdleSessions(b *testing.B) {
	const sessions = 1_000_000
	for b.Loop() {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		rules := quota.Rules{
			{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 40,
				Window: quota.Window{Kind: quota.Lifetime, Idle: time.Hour}},
			{Name: "session-rpm", Scope: quota.Labels{Session: quota.Each}, Unit: quota.Requests, Limit: 60, Window: quota.PerMinute()},
		}
		hot := &quota.Request{Quotas: []quota.Quota{{Name: "hot", Key: "hot", Unit: quota.Requests, Limit: 1 << 40,
			Window: quota.PerMinute()}}, Amount: quota.Amount{Requests: 1}}
		s := quota.NewMemoryStore(quota.MemoryConfig{})
		r, _, err := s.ReserveAt(now, hot, nil)
		if err != nil {
			b.Fatal(err)
		}
		_ = s.ReleaseAt(now, r.ID)
		start := liveHeap()
		var qs []quota.Quota
		for i := range sessions {
			qs = rules.For(nil, quota.Labels{Session: "session-" + strconv.Itoa(i)})
			r, _, err := s.ReserveAt(now, &quota.Request{Quotas: qs, Amount: quota.Amount{Requests: 1, MicroUSD: 100}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.SettleAt(now, r.ID, quota.Amount{Requests: 1, MicroUSD: 50}, nil); err != nil {
				b.Fatal(err)
			}
			if i%64 == 0 {
				now = now.Add(time.Millisecond)
			}
		}
		peak := liveHeap()
		keys := s.Keys()
		now = now.Add(2 * time.Hour)
		// Each reservation forgets a few idle keys: as many reservations as keys suffice.
		ops := 0
		for s.Keys() > 1 {
			r, _, err := s.ReserveAt(now, hot, nil)
			if err != nil {
				b.Fatal(err)
			}
			_ = s.ReleaseAt(now, r.ID)
			ops++
		}
		end := liveHeap()
		b.ReportMetric(float64(start)/1e6, "start-MB")
		b.ReportMetric(float64(peak)/1e6, "peak-MB")
		b.ReportMetric(float64(end)/1e6, "after-MB")
		b.ReportMetric(float64(end)/float64(start), "after/start")
		b.ReportMetric(float64(keys), "keys-at-peak")
		b.ReportMetric(float64(ops), "ops-to-forget")
		runtime.KeepAlive(s)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
