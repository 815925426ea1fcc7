package redisstore

import (
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/quota/quotatest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	quotatest.Run(t, func(t *testing.T) quota.Store {
		// The suite races 1000 goroutines on a 64-connection pool under -race: the wait for
		// a connection, not Redis, would exceed the 50ms default.
		s, _, _ := newStore(t, srv, Config{Timeout: 10 * time.Second})
		return s
	})
}

// TestLiveConformance runs the cases of learned limits (quota.Live: a limit read at each
// reserve, the provider's floor under the TAT, refusals counted, a settle at the limit the
// reserve was decided with) against Redis, as quota's tests run them against the memory
// store.
func TestLiveConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	quotatest.RunLive(t, func(t *testing.T) quota.Store {
		s, _, _ := newStore(t, srv, Config{Timeout: 10 * time.Second})
		return s
	})
}
