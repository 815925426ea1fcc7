package redisstore

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/llm"
)

var (
	//go:embed lua/cache_get.lua
	cacheGetLua string
	//go:embed lua/cache_put.lua
	cachePutLua string

	cacheGetScript = redis.NewScript(cacheGetLua)
	cachePutScript = redis.NewScript(cachePutLua)
)

// CacheConfig configures a Cache. The zero value is ready to use: cache.Config's TTL and
// StaleFor defaults, entries up to 8 MiB, namespace "tg", a 50ms timeout per round trip.
type CacheConfig struct {
	// TTL is how long an entry is fresh. Zero means cache.DefaultTTL (10 minutes).
	TTL time.Duration
	// StaleFor is how long past TTL an entry may still be served as a stale fallback. Zero
	// means cache.DefaultStaleFor (24 hours); a negative value disables stale serving.
	// Redis keeps each entry TTL+StaleFor.
	StaleFor time.Duration
	// MaxEntryBytes bounds one stored entry (its JSON plus its key); Put refuses a larger
	// one with cache.ErrTooLarge. Zero means cache.DefaultMaxBytes/8 (8 MiB), the memory
	// cache's bound with its default size.
	MaxEntryBytes int64
	// Namespace begins every key: "<namespace>:c:<cache key>". Empty means "tg". It must
	// not contain '{' or '}': cache keys carry no hash tag, so that a Cluster spreads them
	// over its slots (each operation touches one key).
	Namespace string
	// Timeout bounds each round trip. Zero means 50ms. A Get that exceeds it is a miss.
	Timeout time.Duration
	// ProbeInterval is the least time between attempts to reach Redis while it is down;
	// meanwhile Get misses and Put fails at once. Zero means 1 second.
	ProbeInterval time.Duration
	// Logger receives one line per transition to and from degraded mode. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Validate reports the first bad field.
func (c *CacheConfig) Validate() error {
	switch {
	case c.TTL < 0:
		return fmt.Errorf("redisstore: CacheConfig.TTL must not be negative, got %v", c.TTL)
	case c.MaxEntryBytes < 0:
		return fmt.Errorf("redisstore: CacheConfig.MaxEntryBytes must not be negative, got %d", c.MaxEntryBytes)
	case strings.ContainsAny(c.Namespace, "{}"):
		return fmt.Errorf("redisstore: CacheConfig.Namespace must not contain '{' or '}', got %q", c.Namespace)
	case c.Timeout < 0:
		return fmt.Errorf("redisstore: CacheConfig.Timeout must not be negative, got %v", c.Timeout)
	case c.ProbeInterval < 0:
		return fmt.Errorf("redisstore: CacheConfig.ProbeInterval must not be negative, got %v", c.ProbeInterval)
	}
	return nil
}

// CacheStats are a Cache's counters since NewCache. All fields only grow except Degraded.
type CacheStats struct {
	Hits      int64 // fresh hits
	StaleHits int64 // hits past TTL, within StaleFor
	Misses    int64 // absent, expired, unreadable, or Redis unavailable
	Stores    int64 // entries written
	// Failures counts Gets and Puts that Redis did not serve (also counted in Misses for
	// a Get).
	Failures int64
	// Degraded is true while Redis is considered down.
	Degraded bool
}

// Cache is the response cache shared by every replica on one Redis: cache.Cache's rules
// (what is cacheable, TTL then StaleFor, fresh/stale by StoredAt) with each entry one JSON
// string key that Redis expires TTL+StaleFor after it was stored. It satisfies the engine's
// ResponseCache interface and is safe for concurrent use; it starts no goroutines.
//
// Get and Put are one round trip each, bounded by Timeout and ctx. Freshness is decided
// with the callers' now, as in memory: StoredAt is the Put caller's now, so replicas'
// clocks should agree to well within TTL. Unlike the memory cache there is no size bound
// over all entries: Redis's maxmemory policy (allkeys-lru, or volatile-lru since every
// entry has a TTL) does the evicting.
//
// A Get that Redis does not serve is a miss, counted in Stats; a Put that it does not serve
// returns an error wrapping ErrUnavailable. After such an outage the Cache skips Redis,
// trying it at most every ProbeInterval, so an outage costs requests no latency.
type Cache struct {
	l        *link
	prefix   string
	ttl      time.Duration
	staleFor time.Duration
	maxBytes int64

	hits, staleHits, misses, stores, failures atomic.Int64
}

// NewCache returns a Cache over client. It loads its scripts once, best effort.
func NewCache(client Client, cfg CacheConfig) (*Cache, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TTL == 0 {
		cfg.TTL = cache.DefaultTTL
	}
	switch {
	case cfg.StaleFor == 0:
		cfg.StaleFor = cache.DefaultStaleFor
	case cfg.StaleFor < 0:
		cfg.StaleFor = 0
	}
	if cfg.MaxEntryBytes == 0 {
		cfg.MaxEntryBytes = cache.DefaultMaxBytes / 8
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "tg"
	}
	c := &Cache{
		l:      newLink(client, cfg.Timeout, cfg.ProbeInterval, cfg.Logger, "redis response cache"),
		prefix: cfg.Namespace + ":c:", ttl: cfg.TTL, staleFor: cfg.StaleFor, maxBytes: cfg.MaxEntryBytes,
	}
	c.l.load(cacheGetScript, cachePutScript)
	return c, nil
}

func (c *Cache) key(k cache.Key) string { return c.prefix + k.String() }

// wireEntry is an entry as stored: explicit names and a version, so that replicas of
// different releases never misread one another (testdata/cache_entry.golden.json).
type wireEntry struct {
	V          int        `json:"v"`
	Format     llm.Format `json:"format"`
	Model      string     `json:"model,omitempty"`
	Body       []byte     `json:"body,omitempty"` // base64: an upstream body need not be UTF-8
	Text       string     `json:"text,omitempty"`
	StopReason string     `json:"stop_reason,omitempty"`
	Usage      llm.Usage  `json:"usage"`
	StoredAt   time.Time  `json:"stored_at"`
}

const wireVersion = 1

func encodeEntry(resp *llm.Response, now time.Time) ([]byte, error) {
	return json.Marshal(wireEntry{V: wireVersion, Format: resp.Format, Model: resp.Model, Body: resp.Body,
		Text: resp.Text, StopReason: resp.StopReason, Usage: resp.Usage, StoredAt: now})
}

// decodeEntry parses a stored entry; an entry of another version is an error, read as a miss.
func decodeEntry(b []byte) (cache.Entry, error) {
	var w wireEntry
	if err := json.Unmarshal(b, &w); err != nil {
		return cache.Entry{}, fmt.Errorf("redisstore: cache entry: %w", err)
	}
	if w.V != wireVersion {
		return cache.Entry{}, fmt.Errorf("redisstore: cache entry version %d, want %d", w.V, wireVersion)
	}
	return cache.Entry{StoredAt: w.StoredAt, Response: llm.Response{Format: w.Format, Model: w.Model,
		Body: w.Body, Text: w.Text, StopReason: w.StopReason, Usage: w.Usage, Cached: true}}, nil
}

// Get returns the entry for k at now, as cache.Cache.Get: ok is false when there is none or
// it is TTL+StaleFor or more old; fresh is false when it is TTL or more old. A Redis
// failure, or an entry it cannot read, is a miss. The entry's Body is its own copy.
func (c *Cache) Get(ctx context.Context, k cache.Key, now time.Time) (e cache.Entry, fresh, ok bool) {
	if !c.l.useRedis() {
		c.failures.Add(1)
		c.misses.Add(1)
		return cache.Entry{}, false, false
	}
	v, err := c.l.run(ctx, cacheGetScript, []string{c.key(k)}, nil)
	if err != nil {
		c.l.failed(ctx, fmt.Errorf("redisstore: cache get: %w", err))
		c.failures.Add(1)
		c.misses.Add(1)
		return cache.Entry{}, false, false
	}
	c.l.ok()
	s, isStr := v.(string)
	if !isStr {
		c.misses.Add(1)
		return cache.Entry{}, false, false
	}
	e, err = decodeEntry([]byte(s))
	age := now.Sub(e.StoredAt)
	if err != nil || age >= c.ttl+c.staleFor {
		c.misses.Add(1)
		return cache.Entry{}, false, false
	}
	fresh = age < c.ttl
	if fresh {
		c.hits.Add(1)
	} else {
		c.staleHits.Add(1)
	}
	return e, fresh, true
}

// Put stores resp under k at now, replacing any entry, for TTL+StaleFor. It refuses what
// cache.Cache.Put refuses, with the same errors: a nil, streaming, already cached or empty
// response (cache.ErrNotCacheable), and an entry over MaxEntryBytes (cache.ErrTooLarge).
// Errors are never passed here, so never stored. When Redis does not serve it, the error
// wraps ErrUnavailable.
func (c *Cache) Put(ctx context.Context, k cache.Key, resp *llm.Response, now time.Time) error {
	switch {
	case resp == nil:
		return fmt.Errorf("%w: nil response", cache.ErrNotCacheable)
	case resp.Stream != nil:
		return fmt.Errorf("%w: streaming response not collected", cache.ErrNotCacheable)
	case resp.Cached:
		return fmt.Errorf("%w: already a cached response", cache.ErrNotCacheable)
	case len(resp.Body) == 0 && resp.Text == "":
		return fmt.Errorf("%w: empty response", cache.ErrNotCacheable)
	}
	b, err := encodeEntry(resp, now)
	if err != nil {
		return fmt.Errorf("redisstore: cache put: %w", err)
	}
	key := c.key(k)
	if size := int64(len(b) + len(key)); size > c.maxBytes {
		return fmt.Errorf("%w: %d bytes > %d (MaxEntryBytes)", cache.ErrTooLarge, size, c.maxBytes)
	}
	if !c.l.useRedis() {
		c.failures.Add(1)
		return fmt.Errorf("redisstore: cache put: %w: degraded", ErrUnavailable)
	}
	ttl := max((c.ttl + c.staleFor).Milliseconds(), 1)
	if _, err := c.l.run(ctx, cachePutScript, []string{key}, []any{b, ttl}); err != nil {
		c.l.failed(ctx, err)
		c.failures.Add(1)
		if callerDone(ctx) == nil && unreachable(err) {
			return fmt.Errorf("redisstore: cache put: %w: %w", ErrUnavailable, err)
		}
		return fmt.Errorf("redisstore: cache put: %w", err)
	}
	c.l.ok()
	c.stores.Add(1)
	return nil
}

// Stats returns the counters. It is safe for concurrent use.
func (c *Cache) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), StaleHits: c.staleHits.Load(), Misses: c.misses.Load(),
		Stores: c.stores.Load(), Failures: c.failures.Load(), Degraded: c.l.down.Load()}
}
