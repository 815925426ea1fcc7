package redisstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/quota/quotatest"
)

// TestClusterConformance runs the suite through a redis.ClusterClient against a real Redis
// Cluster node: slot routing and the cluster's own key checks apply, including to the quota
// keys that Settle reaches through the reservation without declaring them.
func TestClusterConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.StartCluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr()}, ContextTimeoutEnabled: true, PoolSize: 64})
	t.Cleanup(func() { _ = c.Close() })
	// The suite's 1000 goroutines queue for the cluster client's pool; under -race that
	// wait alone passes the tighter timeouts used elsewhere.
	quotatest.Run(t, func(t *testing.T) quota.Store {
		s, err := New(c, Config{SlotGroup: fmt.Sprintf("c%d", groups.Add(1)), Timeout: time.Minute, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
