package learn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shared is where the replicas of a fleet share what their learners learn: one versioned
// state per upstream account and model. RedisShared is the implementation; a Set whose
// Config.Shared is nil learns for this process alone.
//
// Each replica applies what it observes to its own copy at once, and Set.Sync writes the
// same observations to the shared state, compare-and-swap on the version: on a conflict it
// reads the state that another replica wrote and applies its observations again on top.
// The control law is a function of the state and one observation, so the shared state
// ends as if one learner had observed the whole fleet's calls, in the order they reached
// it: one overload is one cut whichever replicas met its refusals, and one raise per
// interval is made for the fleet.
type Shared interface {
	// Load returns key's state and its version: 0 and nil when there is none.
	Load(ctx context.Context, key string) (version int64, data []byte, err error)
	// Swap writes data as key's state at version+1 when its version is still version,
	// and reports whether it did; when it did not, it returns the current version and
	// state.
	Swap(ctx context.Context, key string, version int64, data []byte) (swapped bool, cur int64, curData []byte, err error)
}

// Sync writes every learner's observations since the last Sync to the shared state and
// reads what other replicas learned, one round trip per learner that has news (two on a
// conflict) and one per learner that has none. Call it every second or so (see Run); it
// does nothing without Config.Shared. Errors are joined; a learner whose sync failed
// keeps learning locally and tries again at the next Sync.
func (s *Set) Sync(ctx context.Context) error {
	if s.cfg.Shared == nil {
		return nil
	}
	s.mu.Lock()
	ls := make([]*Learner, 0, len(s.m))
	for _, l := range s.m {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	var errs []error
	for _, l := range ls {
		if err := l.sync(ctx, s.cfg.Shared); err != nil {
			errs = append(errs, fmt.Errorf("learn: sync %s: %w", l.key, err))
		}
	}
	return errors.Join(errs...)
}

// Run calls Sync every interval until ctx is done, logging its errors, and returns
// ctx's error. The caller owns the goroutine that runs it.
func (s *Set) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("learned limits not shared", "err", err)
			}
		}
	}
}

// maxSwaps bounds the compare-and-swap attempts of one sync: each conflict means another
// replica wrote meanwhile, which it does at most once per Sync.
const maxSwaps = 8

func (l *Learner) sync(ctx context.Context, sh Shared) error {
	for range maxSwaps {
		l.mu.Lock()
		n, base, next := len(l.pending), l.base, l.local
		l.mu.Unlock()
		if n == 0 {
			v, data, err := sh.Load(ctx, l.key)
			switch {
			case err != nil:
				return err
			case v == base.Version:
				return nil
			case v < base.Version:
				// The shared state was lost (Redis restarted, the key expired): this
				// replica's state becomes it again.
				base.Version = v
			default:
				fresh, err := decodeState(v, data)
				if err != nil {
					return err
				}
				l.rebase(fresh)
				return nil
			}
		}
		data, err := json.Marshal(&next)
		if err != nil {
			return err
		}
		ok, v, cur, err := sh.Swap(ctx, l.key, base.Version, data)
		if err != nil {
			return err
		}
		if ok {
			next.Version = base.Version + 1
			l.commit(next, n)
			return nil
		}
		fresh, err := decodeState(v, cur)
		if err != nil {
			return err
		}
		l.rebase(fresh)
	}
	return errors.New("too many conflicting writes")
}

func decodeState(version int64, data []byte) (state, error) {
	var st state
	if len(data) > 0 {
		if err := json.Unmarshal(data, &st); err != nil {
			return st, fmt.Errorf("shared state: %w", err)
		}
	}
	st.Version = version
	return st, nil
}

// commit records that the shared state is now next: the base with the first n pending
// events applied.
func (l *Learner) commit(next state, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.base = next
	l.pending = l.pending[n:]
	l.local.Version = next.Version
}

// rebase takes fresh as the shared state and applies this replica's pending events to it
// again, then moves the quotas to the limits that result.
func (l *Learner) rebase(fresh state) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.local
	l.base, l.local = fresh, fresh
	for i := range l.pending {
		l.local.apply(l.cfg, &l.pending[i])
	}
	for d := range l.dims {
		if from, to := old.Dims[d].Limit, l.local.Dims[d].Limit; from != to {
			l.moved(move{dim: Dim(d), from: from, to: to, why: "learned by another replica"})
		}
	}
}

// RedisClient is the part of a go-redis client that RedisShared uses: *redis.Client,
// *redis.ClusterClient and *redis.Ring satisfy it.
type RedisClient interface {
	redis.Scripter
}

// RedisConfig configures a RedisShared. The zero value is the documented default.
type RedisConfig struct {
	// Prefix starts every key; "" means "tollgate:learn:". A key is the prefix, the
	// upstream's name and account id, and the model: one hash with the state's version
	// ("v") and its JSON ("s"), readable with redis-cli.
	Prefix string
	// TTL is how long a state outlives its last read or write; 0 means 24 hours.
	TTL time.Duration
}

// RedisShared is a Shared in Redis: one hash per upstream account and model, read with one
// script and written with another (compare-and-swap on the version), one round trip each.
// It is safe for concurrent use.
type RedisShared struct {
	c      RedisClient
	prefix string
	ttl    time.Duration
}

var _ Shared = (*RedisShared)(nil)

// NewRedis returns a RedisShared over c.
func NewRedis(c RedisClient, cfg RedisConfig) (*RedisShared, error) {
	if c == nil {
		return nil, errors.New("learn: nil Redis client")
	}
	if cfg.TTL < 0 {
		return nil, fmt.Errorf("learn: RedisConfig.TTL must not be negative, got %v", cfg.TTL)
	}
	r := &RedisShared{c: c, prefix: cfg.Prefix, ttl: cfg.TTL}
	if r.prefix == "" {
		r.prefix = "tollgate:learn:"
	}
	if r.ttl == 0 {
		r.ttl = 24 * time.Hour
	}
	return r, nil
}

// loadScript reads a state and keeps it for another TTL: a learner in use never loses it.
var loadScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'v', 's')
if r[1] then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return r`)

// swapScript writes a state if the version is still the one the writer read.
var swapScript = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then
  return {0, v, redis.call('HGET', KEYS[1], 's') or ''}
end
redis.call('HSET', KEYS[1], 'v', v + 1, 's', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, v + 1, ''}`)

// Load implements Shared.
func (r *RedisShared) Load(ctx context.Context, key string) (int64, []byte, error) {
	v, err := loadScript.Run(ctx, r.c, []string{r.prefix + key}, r.ttl.Milliseconds()).Slice()
	if err != nil {
		return 0, nil, err
	}
	if len(v) != 2 || v[0] == nil {
		return 0, nil, nil
	}
	ver, err := toInt(v[0])
	if err != nil {
		return 0, nil, err
	}
	s, _ := v[1].(string)
	return ver, []byte(s), nil
}

// Swap implements Shared.
func (r *RedisShared) Swap(ctx context.Context, key string, version int64, data []byte) (bool, int64, []byte, error) {
	v, err := swapScript.Run(ctx, r.c, []string{r.prefix + key}, version, data, r.ttl.Milliseconds()).Slice()
	if err != nil {
		return false, 0, nil, err
	}
	if len(v) != 3 {
		return false, 0, nil, fmt.Errorf("unexpected reply %v", v)
	}
	ok, err1 := toInt(v[0])
	cur, err2 := toInt(v[1])
	if err := errors.Join(err1, err2); err != nil {
		return false, 0, nil, err
	}
	s, _ := v[2].(string)
	return ok == 1, cur, []byte(s), nil
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case string:
		var n int64
		_, err := fmt.Sscan(x, &n)
		return n, err
	}
	return 0, fmt.Errorf("unexpected %T in reply", v)
}
