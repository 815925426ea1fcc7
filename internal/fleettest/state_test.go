package fleettest

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/redisstore"
)

// globalQuota returns the concrete quota that a rule with an empty scope puts on every
// request: what the gateways count against, as the test's own Store must name it.
func globalQuota(t testing.TB, r quota.Rule) quota.Quota {
	t.Helper()
	q, ok := r.For(quota.Labels{})
	if !ok {
		t.Fatalf("rule %q does not apply to an unlabelled request", r.Name)
	}
	return q
}

// redisView is the test's own Store on the fleet's Redis, reading the same keys as the
// gateways (same slot group) without changing them. It never rebuilds a lost state (its
// Source refuses): that is the gateways' job, from the fleet's ledger.
type redisView struct {
	store *redisstore.Store
}

func newRedisView(t testing.TB, srv *redistest.Server) *redisView {
	t.Helper()
	c := redis.NewClient(srv.Options())
	t.Cleanup(func() { _ = c.Close() })
	return newRedisViewClient(t, c)
}

func newRedisViewClient(t testing.TB, c redisstore.Client) *redisView {
	t.Helper()
	never := redisstore.SourceFunc(func(context.Context, time.Time, time.Time) (*redisstore.Baseline, error) {
		return nil, errors.New("the test's view of Redis does not rebuild its state")
	})
	s, err := redisstore.New(c, redisstore.Config{Timeout: 5 * time.Second, Source: never, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &redisView{store: s}
}

var quiet = slog.New(slog.DiscardHandler)

// status returns q's state in Redis.
func (v *redisView) status(t testing.TB, q quota.Quota) quota.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sts, err := v.store.Status(ctx, []quota.Quota{q}, nil)
	if err != nil {
		t.Fatalf("Redis status of %s: %v", q.Key, err)
	}
	return sts[0]
}

// ledgerSum opens a gateway's ledger file after the gateway has exited and returns the sum
// of every record in it.
func ledgerSum(t testing.TB, path string) ledger.Sum {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := ledger.Open(ctx, ledger.Config{Path: path})
	if err != nil {
		t.Fatalf("open ledger %s: %v", path, err)
	}
	defer func() {
		if err := l.Close(ctx); err != nil {
			t.Errorf("close ledger %s: %v", path, err)
		}
	}()
	sums, err := l.SumSince(ctx, time.Time{}, ledger.ByNone)
	if err != nil {
		t.Fatalf("sum ledger %s: %v", path, err)
	}
	var total ledger.Sum
	for _, s := range sums {
		total.Requests += s.Requests
		total.InputTokens += s.InputTokens
		total.CachedInputTokens += s.CachedInputTokens
		total.OutputTokens += s.OutputTokens
		total.MicroUSD += s.MicroUSD
	}
	return total
}

// stopAll stops every gateway with SIGTERM, concurrently, and fails the test if one does
// not exit cleanly.
func stopAll(t testing.TB, gws []*gateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errs := make(chan error, len(gws))
	for _, g := range gws {
		go func() { errs <- g.stop(ctx) }()
	}
	for range gws {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
