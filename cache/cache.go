// Package cache is tollgate's exact-match response cache: successful, complete answers keyed
// by a hash of the normalized request ([NewKey]), kept for a TTL, then served only as a
// marked stale fallback for a while longer, and evicted least-recently-used by size.
//
// A cached answer is served in two ways: fresh, before a paid call, when a route asks for a
// cache-first lookup; and stale, as the last resort of a fallback chain, marked as such.
// Errors are never cached.
//
// # Sharing across replicas
//
// [Cache] is the in-memory store and its methods take no context because they never block.
// A Redis-backed cache will come later; the engine, which uses both, defines the small
// interface that they satisfy, with a context for the network:
//
//	type responseCache interface {
//		Get(ctx context.Context, k cache.Key, now time.Time) (cache.Entry, bool, bool)
//		Put(ctx context.Context, k cache.Key, r *llm.Response, now time.Time) error
//	}
//
// The memory Cache fits it through a two-line adapter that drops ctx. Everything a Redis
// version needs is already a value: Key.String is the Redis key, Entry marshals to JSON
// (Response minus its nil Stream, and StoredAt), Redis's own TTL is TTL+StaleFor and the
// fresh/stale split is computed from StoredAt exactly as here.
package cache

import (
	"container/list"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tollgate/tollgate/llm"
)

// Defaults for the zero Config.
const (
	DefaultMaxBytes = 64 << 20
	DefaultTTL      = 10 * time.Minute
	DefaultStaleFor = 24 * time.Hour
)

// entryOverhead approximates the bytes an entry costs beyond its strings and body: the list
// element, the map slot, the Entry struct and the key, so that many tiny answers cannot
// exceed MaxBytes by an order of magnitude.
const entryOverhead = 256

// Config configures a Cache. The zero value is valid and means the defaults.
type Config struct {
	// MaxBytes bounds the cache's accounted size (body + text + model + stop reason + key +
	// a fixed per-entry overhead). 0 means DefaultMaxBytes (64 MiB). An answer larger than
	// MaxBytes/8 is not stored, so that one huge answer cannot flush the cache.
	MaxBytes int64
	// TTL is how long an entry is fresh. 0 means DefaultTTL (10 minutes).
	TTL time.Duration
	// StaleFor is how long past TTL an entry may still be served as a stale fallback. 0 means
	// DefaultStaleFor (24 hours); a negative value disables stale serving.
	StaleFor time.Duration
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	if c.MaxBytes < 0 {
		return fmt.Errorf("cache: Config.MaxBytes %d is negative", c.MaxBytes)
	}
	if c.TTL < 0 {
		return fmt.Errorf("cache: Config.TTL %v is negative", c.TTL)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	switch {
	case c.StaleFor == 0:
		c.StaleFor = DefaultStaleFor
	case c.StaleFor < 0:
		c.StaleFor = 0
	}
	return c
}

// Errors returned by Put. Callers usually log them and go on: a response that is not
// cached is never a failure of the request.
var (
	// ErrNotCacheable means the response is not a complete, successful, upstream answer.
	ErrNotCacheable = errors.New("cache: response not cacheable")
	// ErrTooLarge means the response exceeds MaxBytes/8.
	ErrTooLarge = errors.New("cache: response too large")
)

// Entry is one cached answer.
type Entry struct {
	// Response is a copy of the stored response with Cached set. Its Body is shared with
	// the cache and other readers: treat it as read-only.
	Response llm.Response
	// StoredAt is the now passed to Put.
	StoredAt time.Time
}

// Stats are a Cache's counters since New.
type Stats struct {
	Hits      int64 // fresh hits
	StaleHits int64 // hits past TTL, within StaleFor
	Misses    int64 // absent or expired
	Evictions int64 // entries removed to make room (not expirations)
	Bytes     int64 // accounted size now
	Entries   int64 // entries now
}

type item struct {
	key   Key
	entry Entry
	size  int64
}

// Cache is an in-memory, size-bounded LRU response cache. It is safe for concurrent use;
// Get and Put are O(1). Create it with New; the zero Cache is not usable.
type Cache struct {
	cfg Config

	mu    sync.Mutex
	items map[Key]*list.Element // of *item
	lru   list.List             // front = most recently used
	stats Stats
}

// New returns an empty Cache. Fields that cfg.Validate would reject are replaced by their
// defaults; call Validate first to report them.
func New(cfg Config) *Cache {
	return &Cache{cfg: cfg.withDefaults(), items: make(map[Key]*list.Element)}
}

// Get returns the entry for k at now. ok is false when there is none or it is older than
// TTL+StaleFor (it is then dropped). fresh is false when the entry is TTL or more old: such
// an entry may only be served as a fallback, marked stale. A hit makes the entry the most
// recently used.
func (c *Cache) Get(k Key, now time.Time) (e Entry, fresh bool, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.items[k]
	if !found {
		c.stats.Misses++
		return Entry{}, false, false
	}
	it := el.Value.(*item)
	age := now.Sub(it.entry.StoredAt)
	if age >= c.cfg.TTL+c.cfg.StaleFor {
		c.remove(el)
		c.stats.Misses++
		return Entry{}, false, false
	}
	c.lru.MoveToFront(el)
	fresh = age < c.cfg.TTL
	if fresh {
		c.stats.Hits++
	} else {
		c.stats.StaleHits++
	}
	return it.entry, fresh, true
}

// Put stores a copy of resp under k at now, replacing any entry for k, and evicts the least
// recently used entries until the cache fits MaxBytes.
//
// Put refuses, with an error wrapping ErrNotCacheable, a nil response, a streaming one
// (Stream != nil: collect it and pass the complete Body/Text instead), one already served
// from a cache, and one with neither Text nor Body. It refuses with ErrTooLarge a response
// whose accounted size exceeds MaxBytes/8. Errors are never passed here, so never stored.
func (c *Cache) Put(k Key, resp *llm.Response, now time.Time) error {
	switch {
	case resp == nil:
		return fmt.Errorf("%w: nil response", ErrNotCacheable)
	case resp.Stream != nil:
		return fmt.Errorf("%w: streaming response not collected", ErrNotCacheable)
	case resp.Cached:
		return fmt.Errorf("%w: already a cached response", ErrNotCacheable)
	case len(resp.Body) == 0 && resp.Text == "":
		return fmt.Errorf("%w: empty response", ErrNotCacheable)
	}
	size := int64(len(resp.Body)+len(resp.Text)+len(resp.Model)+len(resp.StopReason)+len(k)) + entryOverhead
	if limit := c.cfg.MaxBytes / 8; size > limit {
		return fmt.Errorf("%w: %d bytes > %d (MaxBytes/8)", ErrTooLarge, size, limit)
	}
	r := *resp
	r.Cached = true
	// The caller may reuse its buffer; the cache's copy must not change under readers.
	r.Body = append([]byte(nil), resp.Body...)
	// The upstream's headers describe that call (its request id, its rate-limit state),
	// not a later answer from the cache; they are also the largest part of an entry.
	r.Header = nil
	it := &item{key: k, entry: Entry{Response: r, StoredAt: now}, size: size}

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, found := c.items[k]; found {
		c.remove(el)
	}
	c.items[k] = c.lru.PushFront(it)
	c.stats.Bytes += size
	c.stats.Entries++
	for c.stats.Bytes > c.cfg.MaxBytes {
		c.remove(c.lru.Back())
		c.stats.Evictions++
	}
	return nil
}

// remove drops el; the caller holds c.mu.
func (c *Cache) remove(el *list.Element) {
	it := c.lru.Remove(el).(*item)
	delete(c.items, it.key)
	c.stats.Bytes -= it.size
	c.stats.Entries--
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}
