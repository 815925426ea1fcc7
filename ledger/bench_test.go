package ledger

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/pgtest"
)

// benchConfig is the default configuration of a new, empty ledger on backend: a file in a
// temp dir, or a new database on the test binary's PostgreSQL.
func benchConfig(b *testing.B, backend Backend) Config {
	if backend == Postgres {
		return Config{Backend: Postgres, URL: pgtest.Database(b)}
	}
	return Config{}
}

var backends = []Backend{SQLite, Postgres}

// BenchmarkAppend measures sustained throughput with the default group commit: ns/op is
// the cost of one Append, and records/s counts only records committed (the final Flush is
// inside the measurement), fsync included.
func BenchmarkAppend(b *testing.B) {
	for _, be := range backends {
		b.Run("backend="+string(be), func(b *testing.B) {
			l := open(b, benchConfig(b, be))
			r := rec("bench", 0, "acme", "s", 42)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if err := l.Append(r); err != nil {
					b.Fatal(err)
				}
			}
			flush(b, l)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
			b.ReportMetric(float64(l.Stats().Batches), "batches")
		})
	}
}

// BenchmarkAppendParallel is BenchmarkAppend with every P appending at once. The ledger
// is opened and warmed up (connections made, statements prepared) once, outside the
// runs that RunParallel's calibration makes.
func BenchmarkAppendParallel(b *testing.B) {
	for _, be := range backends {
		l := open(b, benchConfig(b, be))
		r := rec("bench", 0, "acme", "s", 42)
		appendAll(b, l, r)
		flush(b, l)
		b.Run("backend="+string(be), func(b *testing.B) {
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Append(r); err != nil {
						b.Error(err)
						return
					}
				}
			})
			flush(b, l)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkFlush measures the latency of Flush after a few appends: one transaction with
// its fsync, which is also what Close costs and what bounds a SIGTERM shutdown.
func BenchmarkFlush(b *testing.B) {
	for _, be := range backends {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("backend=%s/records=%d", be, n), func(b *testing.B) {
				cfg := benchConfig(b, be)
				cfg.CommitInterval = time.Hour
				l := open(b, cfg)
				r := rec("bench", 0, "acme", "s", 42)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					for range n {
						if err := l.Append(r); err != nil {
							b.Fatal(err)
						}
					}
					if err := l.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpenHold measures what journaling a hold adds before an upstream call: the
// latency of OpenHold (until the hold is durable) with 1, 64 and 512 callers opening holds
// at once, each then settling it (a record carrying the hold id, not waited for), as the
// engine will. Concurrent holds share group commits. With call=0 the callers open holds
// back to back (the journal saturated: latency is the queue, by Little's law callers /
// throughput); with call=200ms each waits that long between settle and next hold, as an
// LLM call would make it. Reported: the p50 and p99 of OpenHold in ms, and holds/s.
func BenchmarkOpenHold(b *testing.B) {
	type load struct {
		callers int
		call    time.Duration
	}
	loads := []load{{1, 0}, {64, 0}, {512, 0}, {64, 200 * time.Millisecond}, {512, 200 * time.Millisecond}}
	for _, be := range backends {
		for _, ld := range loads {
			callers := ld.callers
			b.Run(fmt.Sprintf("backend=%s/callers=%d/call=%v", be, callers, ld.call), func(b *testing.B) {
				l := open(b, benchConfig(b, be))
				ctx := context.Background()
				// Warm up: the pool's connections and prepared statements.
				if err := l.OpenHold(ctx, Hold{ID: "warm-up"}); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				var seq atomic.Int64
				var mu sync.Mutex
				var lat []time.Duration
				call := func(local *[]time.Duration) {
					id := fmt.Sprint("h", seq.Add(1))
					h := Hold{ID: id, RequestID: id, Tenant: "acme", Session: "s", Model: "gpt-4o",
						InputTokens: 1200, OutputTokens: 4096, MicroUSD: 43_960, Attempt: 1}
					start := time.Now()
					if err := l.OpenHold(ctx, h); err != nil {
						b.Error(err)
						return
					}
					*local = append(*local, time.Since(start))
					r := rec(id, 0, "acme", "s", 2_100)
					r.HoldID = id
					for l.Append(r) != nil {
					}
					if ld.call > 0 {
						time.Sleep(ld.call) // the next call's upstream time, not the ledger's
					}
				}
				b.ReportAllocs()
				start := time.Now()
				if callers == 1 {
					for b.Loop() {
						call(&lat)
					}
				} else {
					// RunParallel runs GOMAXPROCS × parallelism goroutines: exactly callers
					// when GOMAXPROCS divides it.
					b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						var local []time.Duration
						for pb.Next() {
							call(&local)
						}
						mu.Lock()
						lat = append(lat, local...)
						mu.Unlock()
					})
				}
				elapsed := time.Since(start)
				flush(b, l)
				slices.Sort(lat)
				if len(lat) > 0 {
					ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
					b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
					b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
				}
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "holds/s")
				st := l.Stats()
				b.ReportMetric(float64(st.Holds)/float64(max(1, st.Batches)), "holds/commit")
			})
		}
	}
}

// BenchmarkSumSince measures the restore at start: one day of 50,000 records over 500
// sessions, summed per session, and per local day in a zone with DST.
func BenchmarkSumSince(b *testing.B) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	for _, be := range backends {
		b.Run("backend="+string(be), func(b *testing.B) {
			cfg := benchConfig(b, be)
			cfg.Location = loc
			l := open(b, cfg)
			for i := range 50_000 {
				r := rec(fmt.Sprint(i), time.Duration(i)*time.Second, fmt.Sprint("t-", i%10), fmt.Sprint("s-", i%500), 42)
				for l.Append(r) != nil {
				}
			}
			flush(b, l)
			ctx := context.Background()
			for _, by := range []Dim{BySession, ByDay} {
				b.Run(string(by), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := l.SumSince(ctx, t0, by); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
