package redistest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := StartLocal(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET on a started server: %v", err)
	}
	s.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING on a stopped server succeeded")
	}
	s.Restart(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if n := c.Exists(ctx, "k").Val(); n != 0 {
		t.Errorf("key survived the restart (EXISTS = %d); want an empty server (no persistence)", n)
	}
	s.Stop()
	s.Stop() // stopping twice is harmless
}
