package ledger

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkAppend measures sustained throughput with the default group commit: ns/op is
// the cost of one Append, and records/s counts only records committed to disk (the final
// Flush is inside the measurement), fsync included.
func BenchmarkAppend(b *testing.B) {
	l := open(b, Config{})
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
}

// BenchmarkAppendParallel is BenchmarkAppend with every P appending at once.
func BenchmarkAppendParallel(b *testing.B) {
	l := open(b, Config{})
	r := rec("bench", 0, "acme", "s", 42)
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
}

// BenchmarkFlush measures the latency of Flush after a few appends: one transaction with
// its fsync, which is also what Close costs and what bounds a SIGTERM shutdown.
func BenchmarkFlush(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			l := open(b, Config{CommitInterval: time.Hour})
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

// BenchmarkSumSince measures the restore at start: one day of 50,000 records over 500
// sessions, summed per session, and per local day in a zone with DST.
func BenchmarkSumSince(b *testing.B) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	l := open(b, Config{Location: loc})
	for i := range 50_000 {
		r := rec(fmt.Sprint(i), time.Duration(i)*time.Second, fmt.Sprint("t-", i%10), fmt.Sprint("s-", i%500), 42)
		if err := l.Append(r); err != nil {
			b.Fatal(err)
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
}
