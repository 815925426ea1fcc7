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
