package redisstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/quota"
)

var ctx = context.Background()

// recorder is a go-redis hook that counts round trips (a command or a pipeline each) and
// records the keys declared by every script call.
type recorder struct {
	trips atomic.Int64
	mu    sync.Mutex
	keys  [][]string
}

func (r *recorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *recorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.trips.Add(1)
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			args := cmd.Args()
			n := int(args[2].(int))
			keys := make([]string, n)
			for i := range n {
				keys[i] = args[3+i].(string)
			}
			r.mu.Lock()
			r.keys = append(r.keys, keys)
			r.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

func (r *recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.trips.Add(1)
		return next(ctx, cmds)
	}
}

var groups atomic.Int64

// newStore returns a Store on srv with its own slot group, so tests sharing a server do not
// share state, and the hook that watches its client.
func newStore(t testing.TB, srv *redistest.Server, cfg Config) (*Store, *recorder, *redis.Client) {
	t.Helper()
	opt := srv.Options()
	opt.PoolSize = 64
	opt.DialerRetries = 1 // a stopped server refuses at once; no 100ms dial backoffs
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	rec := &recorder{}
	c.AddHook(rec)
	if cfg.SlotGroup == "" {
		cfg.SlotGroup = fmt.Sprintf("t%d", groups.Add(1))
	}
	if cfg.Timeout == 0 {
		// The 50ms default is for production; under -race, with parallel tests on two
		// cores, a first dial can take longer. TestSlowRedis covers the timeout itself.
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// A fleet's first contact initialises the state (and its marker); the tests count
	// round trips from there.
	if _, err := s.Ensure(ctx); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	rec.trips.Store(0)
	rec.mu.Lock()
	rec.keys = nil
	rec.mu.Unlock()
	return s, rec, c
}

func budget(key string, limit int64) quota.Quota {
	return quota.Quota{Name: key, Key: key, Unit: quota.MicroUSD, Limit: limit, Window: quota.Forever()}
}

func leaseQ(key string, limit int64) quota.Quota {
	return quota.Quota{Name: key, Key: key, Unit: quota.Concurrent, Limit: limit, Window: quota.Leased()}
}

func status(t *testing.T, s *Store, q quota.Quota) quota.Status {
	t.Helper()
	st, err := s.Status(ctx, []quota.Quota{q}, nil)
	if err != nil {
		t.Fatalf("Status(%s): %v", q.Key, err)
	}
	return st[0]
}

// slowServer accepts connections and never answers: a hung Redis or a network black hole.
func slowServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
