package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/redisstore"
)

// TestBuildRedis builds against a real redis-server: the quota state and the cooldowns go
// to Redis, the readiness check does not fail a fail_open_local replica, and the Redis
// state is initialised (from an empty ledger) at start.
func TestBuildRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	url, dir := startEmulator(t), t.TempDir()
	text := emulatorConfig(url, dir) + fmt.Sprintf("redis: {url: \"redis://%s/%d\", failure_policy: fail_open_local, replicas: 2, slot_group: cfgtest, share_cooldowns: true, share_cache: true}\n",
		srv.Addr(), srv.DB())
	c := parse(t, text)
	c.LookupEnv = func(n string) (string, bool) { v, ok := testEnv[n]; return v, ok }
	b, err := c.Build(t.Context(), quietLogger())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	defer b.Close(t.Context())
	if _, ok := b.Store.(*redisstore.Store); !ok {
		t.Fatalf("Store = %T, want *redisstore.Store", b.Store)
	}
	if _, ok := b.Gateway.Ready["redis"]; ok {
		t.Errorf("a fail_open_local replica has a Redis readiness check: a Redis outage would take it out of service")
	}
	if _, ok := b.Engine.Cooldowns().(*redisstore.Cooldowns); !ok {
		t.Errorf("Cooldowns = %T, want the shared *redisstore.Cooldowns", b.Engine.Cooldowns())
	}
	if len(b.Restored) != 0 || len(b.NotRestored) != 0 {
		t.Errorf("Restored %v, NotRestored %q; want neither: the Redis state initialised from an empty ledger", b.Restored, b.NotRestored)
	}
	req := &llm.Request{Model: "smart", MaxTokens: 20, Messages: []llm.Message{{Role: "user", Content: "hi"}},
		Identity: llm.Identity{Key: "k1", Tenant: "t1", Session: "s1"}}
	if _, err := b.Engine.Do(t.Context(), req); err != nil {
		t.Fatalf("Do: %v", err)
	}
	rc := redis.NewClient(srv.Options())
	defer rc.Close()
	keys, err := rc.Keys(t.Context(), "{cfgtest}:*").Result()
	if err != nil || len(keys) == 0 {
		t.Errorf("Redis keys under the slot group = %v, %v; want the quotas' state", keys, err)
	}
}

func TestRedisClientOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rd   Redis
		want string // the options' relevant fields
	}{
		{"single url", Redis{URL: "redis://u@h:6380/3"}, "single h:6380 db=3 user=u pw=true"},
		{"single url, db field", Redis{URL: "redis://h:6380", DB: 2}, "single h:6380 db=2 user= pw=true"},
		{"single addrs", Redis{Addrs: []string{"h:1"}, Username: "x"}, "single h:1 db=0 user=x pw=true"},
		{"cluster url", Redis{Mode: "cluster", URL: "redis://h1:1?addr=h2:2"}, "cluster [h1:1 h2:2] user= pw=true"},
		{"cluster addrs", Redis{Mode: "cluster", Addrs: []string{"a:1", "b:2"}}, "cluster [a:1 b:2] user= pw=true"},
		{"sentinel", Redis{Mode: "sentinel", Addrs: []string{"s:26379"}, MasterName: "m", DB: 1}, "sentinel m [s:26379] db=1 pw=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := tt.rd.clientOptions("pw")
			if err != nil {
				t.Fatal(err)
			}
			var got string
			switch o := o.(type) {
			case *redis.Options:
				got = fmt.Sprintf("single %s db=%d user=%s pw=%v", o.Addr, o.DB, o.Username, o.Password == "pw" && o.ContextTimeoutEnabled)
			case *redis.ClusterOptions:
				got = fmt.Sprintf("cluster %v user=%s pw=%v", o.Addrs, o.Username, o.Password == "pw" && o.ContextTimeoutEnabled)
			case *redis.FailoverOptions:
				got = fmt.Sprintf("sentinel %s %v db=%d pw=%v", o.MasterName, o.SentinelAddrs, o.DB, o.Password == "pw" && o.ContextTimeoutEnabled)
			}
			if got != tt.want {
				t.Errorf("clientOptions() = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := (&Redis{URL: "redis://:hunter2@[::1"}).clientOptions(""); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("clientOptions(bad URL) error = %v, want one without the URL", err)
	}
}
