package config

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
)

// timedSource times the Source's read, apart from the rebuild's writes to Redis.
type timedSource struct {
	redisstore.Source
	read time.Duration
}

func (s *timedSource) Baseline(ctx context.Context, now, since time.Time) (*redisstore.Baseline, error) {
	start := time.Now()
	b, err := s.Source.Baseline(ctx, now, since)
	s.read += time.Since(start)
	return b, err
}

// BenchmarkRebuild measures a rebuild of the Redis quota state from a PostgreSQL ledger of
// rows records of today, over three budget rules: a global daily budget, one per tenant (10
// tenants) and one per session (a session per 10 records), so rows/10 + 11 budgets. One op
// is a FLUSHALL and the rebuild (Store.Ensure) from the ledger, without the wait for the
// other replicas' commits (twice ledger.commit_interval, 200ms by default), which a
// gateway's rebuild adds.
func BenchmarkRebuild(b *testing.B) {
	for _, rows := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			ctx := context.Background()
			l, err := ledger.Open(ctx, ledger.Config{Backend: ledger.Postgres, URL: pgtest.Database(b), Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = l.Close(ctx) })
			now := time.Now()
			for i := range rows {
				r := ledger.Record{Time: now.Add(-time.Duration(i) * time.Millisecond), RequestID: fmt.Sprintf("r%d", i),
					Tenant: fmt.Sprintf("t%d", i%10), Key: "k1", Session: fmt.Sprintf("s%d", i/10), Provider: "openai",
					Model: "gpt-4o", InputTokens: 100, OutputTokens: 50, MicroUSD: 750, Outcome: ledger.OutcomeOK, Attempt: 1}
				if err := l.Append(r); err != nil {
					b.Fatal(err)
				}
				if i%5000 == 4999 {
					if err := l.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := l.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			rules := quota.Rules{
				{Name: "daily", Unit: quota.MicroUSD, Limit: 1 << 50, Window: quota.Daily(time.UTC)},
				{Name: "tenant-daily", Scope: quota.Labels{Tenant: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 50, Window: quota.Daily(time.UTC)},
				{Name: "session", Scope: quota.Labels{Session: quota.Each}, Unit: quota.MicroUSD, Limit: 1 << 40, Window: quota.Forever()},
			}
			srv := redistest.StartLocal(b)
			client := redis.NewClient(srv.Options())
			b.Cleanup(func() { _ = client.Close() })
			src := &timedSource{Source: &ledgerSource{l: l, rules: rules, log: quietLogger()}}
			st, err := redisstore.New(client, redisstore.Config{SlotGroup: "bench", Timeout: 5 * time.Second, Source: src,
				Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			budgets := 0
			for b.Loop() {
				if err := client.FlushAll(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				rb, err := st.Ensure(ctx)
				if err != nil || rb == nil {
					b.Fatalf("Ensure = %+v, %v; want a rebuild", rb, err)
				}
				budgets = len(rb.Budgets)
			}
			if want := rows/10 + 11; budgets != want {
				b.Fatalf("rebuilt %d budgets, want %d", budgets, want)
			}
			b.ReportMetric(float64(budgets), "budgets")
			b.ReportMetric(float64(src.read.Milliseconds())/float64(b.N), "read-ms/op")
		})
	}
}
