package redisstore

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// fiveQuotas is a typical attempt, as in quota's benchmarks: model RPM and TPM, global
// concurrency, a session's lifetime budget and a tenant's daily budget.
func fiveQuotas(session string) []quota.Quota {
	rules := quota.Rules{
		{Name: "rpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Requests, Limit: 1 << 40, Window: quota.PerMinute()},
		{Name: "tpm", Scope: quota.Labels{Model: quota.Each}, Unit: quota.Tokens, Limit: 1 << 40, Window: quota.PerMinute()},
		{Name: "conc", Unit: quota.Concurrent, Limit: 1 << 20, Window: quota.Leased()},
		{Name: "session-usd", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 50, Window: quota.Forever()},
		{Name: "daily-usd", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 50, Window: quota.Daily(time.UTC)},
	}
	return rules.For(nil, quota.Labels{Model: "gpt-4o", Tenant: "acme", Session: session})
}

var (
	worst  = quota.Amount{Requests: 1, InputTokens: 500, OutputTokens: 1000, MicroUSD: 11_250}
	actual = quota.Amount{Requests: 1, InputTokens: 480, OutputTokens: 200, MicroUSD: 3_200}
)

func benchStore(b *testing.B) (*Store, *recorder, *redis.Client) {
	srv := redistest.Start(b)
	return newStore(b, srv, Config{Timeout: time.Second})
}

// BenchmarkReserveSettle is one caller: the latency of a reserve and a settle, one round
// trip each (reported as trips/op).
func BenchmarkReserveSettle(b *testing.B) {
	s, rec, _ := benchStore(b)
	req := &quota.Request{Quotas: fiveQuotas("s1"), Amount: worst}
	var buf []quota.Status
	b.ReportAllocs()
	before := rec.trips.Load()
	for b.Loop() {
		r, sts, err := s.Reserve(ctx, req, buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		if buf, err = s.Settle(ctx, r.ID, actual, sts[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rec.trips.Load()-before)/float64(b.N), "trips/op")
}

// BenchmarkReserveParallel is 64 concurrent callers (one session each) reserving five
// quotas and settling: reserves/s counts reserve+settle pairs; the reserve alone is timed
// for its p50 and p99; redis-µs/script and redis-µs/pair are the server's own time
// (INFO commandstats), which bounds one Redis's throughput whatever the client's load.
func BenchmarkReserveParallel(b *testing.B) {
	s, _, c := benchStore(b)
	benchParallel(b, s, c, fiveQuotas, true)
}

// BenchmarkReserveParallelAutoPipeline is the same over go-redis's autopipeliner, which
// batches concurrent callers' scripts into one write: each call is still one script and one
// reply, but the syscalls are shared.
func BenchmarkReserveParallelAutoPipeline(b *testing.B) {
	srv := redistest.Start(b)
	c := redis.NewClient(srv.Options())
	b.Cleanup(func() { _ = c.Close() })
	ap, err := c.AutoPipeline()
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(ap, Config{SlotGroup: "ap", Timeout: time.Second, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	benchParallel(b, s, c, fiveQuotas, true)
}

// BenchmarkReserveOnlyParallel is 64 concurrent callers that only reserve (rates and
// leases, the admission path), for the raw reserves/s of one Redis.
func BenchmarkReserveOnlyParallel(b *testing.B) {
	s, _, c := benchStore(b)
	benchParallel(b, s, c, func(string) []quota.Quota { return fiveQuotas("s1")[:2] }, false)
}

func benchParallel(b *testing.B, s *Store, c *redis.Client, quotas func(session string) []quota.Quota, settle bool) {
	b.SetParallelism(max(1, 64/runtimeProcs()))
	var mu sync.Mutex
	var all []time.Duration
	var seq atomic.Int64
	b.ReportAllocs()
	c.ConfigResetStat(ctx)
	cpu0 := redisCPU(b, c)
	in0 := netIn(b, c)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		req := &quota.Request{Quotas: quotas("s" + strconv.FormatInt(seq.Add(1), 10)), Amount: worst}
		lat := make([]time.Duration, 0, 1024)
		var buf []quota.Status
		for pb.Next() {
			t0 := time.Now()
			r, sts, err := s.Reserve(ctx, req, buf[:0])
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Error(err)
				return
			}
			buf = sts
			if settle {
				if buf, err = s.Settle(ctx, r.ID, actual, sts[:0]); err != nil {
					b.Error(err)
					return
				}
			}
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	cpu := redisCPU(b, c) - cpu0
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	perCall, total := scriptMicros(b, c)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "reserves/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(perCall, "redis-µs/script")
	b.ReportMetric(total/float64(len(all)), "redis-µs/op")
	b.ReportMetric(cpu/float64(len(all)), "redis-cpu-µs/op")
	b.ReportMetric(float64(netIn(b, c)-in0)/float64(len(all)), "B-to-redis/op")
}

// netIn is what the server has received so far, in bytes (INFO stats).
func netIn(b *testing.B, c *redis.Client) int64 {
	info, err := c.Info(ctx, "stats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_net_input_bytes:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// redisCPU is the server process's CPU time so far, user and system, in µs (INFO cpu).
// Unlike commandstats' wall-clock time it does not count the time the server waits for a
// core, which on a shared machine is most of the difference between runs; it does count
// the server's network work, which a script's own time leaves out.
func redisCPU(b *testing.B, c *redis.Client) float64 {
	info, err := c.Info(ctx, "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for line := range strings.SplitSeq(info, "\r\n") {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				x, _ := strconv.ParseFloat(v, 64)
				total += x * 1e6
			}
		}
	}
	return total
}

// scriptMicros is the server's own time per script call and in all (INFO commandstats).
func scriptMicros(b *testing.B, c *redis.Client) (perCall, total float64) {
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:"); ok {
			for f := range strings.SplitSeq(rest, ",") {
				if v, ok := strings.CutPrefix(f, "usec_per_call="); ok {
					perCall, _ = strconv.ParseFloat(v, 64)
				}
				if v, ok := strings.CutPrefix(f, "usec="); ok {
					total, _ = strconv.ParseFloat(v, 64)
				}
			}
		}
	}
	return perCall, total
}

// BenchmarkMemoryPerKey is Redis memory per tracked quota: each op reserves and settles one
// new session's lifetime budget and one new rate. Reported with and without the ten-second
// settled markers.
func BenchmarkMemoryPerKey(b *testing.B) {
	s, _, c := benchStore(b)
	before := usedMemory(b, c)
	i := 0
	for b.Loop() {
		i++
		k := strconv.Itoa(i)
		req := &quota.Request{Quotas: []quota.Quota{budget("session-usd|session="+k, 1<<40),
			{Name: "rpm", Key: "rpm|agent=" + k, Unit: quota.Requests, Limit: 600, Window: quota.PerMinute()}}, Amount: worst}
		r, _, err := s.Reserve(ctx, req, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Settle(ctx, r.ID, actual, nil); err != nil {
			b.Fatal(err)
		}
	}
	withMarkers := usedMemory(b, c)
	// The settled markers are fields r<id> of the state hash, indexed in {g}:z until their
	// ten seconds are up.
	iter := c.HScan(ctx, s.names.state(), 0, "r*", 1000).Iterator()
	var fields []string
	for iter.Next(ctx) {
		if f := iter.Val(); strings.HasPrefix(f, "r") {
			fields = append(fields, f)
		}
		_ = iter.Next(ctx) // the value
	}
	for len(fields) > 0 {
		n := min(len(fields), 1000)
		c.HDel(ctx, s.names.state(), fields[:n]...)
		fields = fields[n:]
	}
	c.Unlink(ctx, s.names.index())
	without := usedMemory(b, c)
	b.ReportMetric(float64(withMarkers-before)/float64(2*b.N), "B/quota+marker")
	b.ReportMetric(float64(without-before)/float64(2*b.N), "B/quota")
}

func usedMemory(b *testing.B, c *redis.Client) int64 {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}
