package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// bounded runs Redis commands bounded by a timeout and by the caller's ctx, whether or not
// the client honours context deadlines on its sockets. The Store, the Cooldowns and the
// Cache share it.
type bounded struct {
	c        Client
	ctxAware bool // the client bounds socket I/O by the ctx deadline
	timeout  time.Duration
}

func newBounded(c Client, timeout time.Duration) bounded {
	b := bounded{c: c, timeout: timeout}
	switch c := c.(type) {
	case *redis.Client:
		b.ctxAware = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		b.ctxAware = c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		b.ctxAware = c.Options().ContextTimeoutEnabled
	}
	return b
}

// call runs f bounded by the timeout and by ctx. Without a context-aware client f runs on
// a helper goroutine that is abandoned at the deadline.
func (b bounded) call(ctx context.Context, f func(context.Context) (any, error)) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if b.ctxAware {
		return f(ctx)
	}
	type result struct {
		v   any
		err error
	}
	ch := make(chan result, 1) // buffered: an abandoned call still finishes and exits
	go func() {
		v, err := f(ctx)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// load loads scripts once, best effort, bounded by the timeout: EVALSHA falls back to EVAL
// when the server's script cache is empty.
func (b bounded) load(scripts ...*redis.Script) {
	_, _ = b.call(context.Background(), func(ctx context.Context) (any, error) {
		for _, sc := range scripts {
			if err := sc.Load(ctx, b.c).Err(); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// run runs a script; its errors are *callError so that outage handling can tell them from
// refusals.
func (b bounded) run(ctx context.Context, sc *redis.Script, keys []string, args []any) (any, error) {
	v, err := b.call(ctx, func(ctx context.Context) (any, error) {
		return sc.Run(ctx, b.c, keys, args...).Result()
	})
	if err != nil {
		if cerr := callerDone(ctx); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		return nil, &callError{err}
	}
	return v, nil
}
