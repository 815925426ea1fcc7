package redisstore

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

// BenchmarkOutboxReplay measures a rejoin's replay: n reservations over five quotas (two
// rates, a lease, a lifetime and a day budget) were settled while the Store took Redis
// for down, so their settles wait in the outbox; one op is the rejoin that applies them
// all. Reserving and settling are not timed.
func BenchmarkOutboxReplay(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			srv := redistest.Start(b)
			s, _, _ := newStore(b, srv, Config{Timeout: 5 * time.Second, ProbeInterval: time.Hour, Logger: quietLogger()})
			quotas := []quota.Quota{rpmQ("rpm", 1<<40), leaseQ("conc", 1<<20), budget("usd", 1<<50), dayQ("daily", 1<<50),
				{Name: "tpm", Key: "tpm", Unit: quota.Tokens, Limit: 1 << 50, Window: quota.PerMinute()}}
			req := &quota.Request{Quotas: quotas, Amount: quota.Amount{Requests: 1, InputTokens: 100, OutputTokens: 100, MicroUSD: 1000}}
			ids := make([]quota.ID, n)
			for b.Loop() {
				b.StopTimer()
				for i := range ids {
					r, _, err := s.Reserve(ctx, req, nil)
					if err != nil {
						b.Fatal(err)
					}
					ids[i] = r.ID
				}
				s.markDown(errors.New("benchmark: Redis taken for down"))
				for _, id := range ids {
					if _, err := s.Settle(ctx, id, quota.Amount{Requests: 1, InputTokens: 100, OutputTokens: 40, MicroUSD: 500}, nil); err != nil {
						b.Fatal(err)
					}
				}
				probeNow(s)
				b.StartTimer()
				if !s.rejoin(ctx, true) {
					b.Fatal("the rejoin did not replay the outbox")
				}
			}
			if st := s.Stats(); st.Outbox != 0 {
				b.Fatalf("outbox holds %d after the rejoins", st.Outbox)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1000, "µs/settle")
		})
	}
}
