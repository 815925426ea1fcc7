package redisstore

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/llm"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata golden files")

// newCaches returns n Caches on srv, each with its own client and round-trip counter,
// sharing one namespace of their own: n gateway replicas.
func newCaches(t testing.TB, srv *redistest.Server, n int, cfg CacheConfig) ([]*Cache, []*recorder) {
	t.Helper()
	if cfg.Namespace == "" {
		cfg.Namespace = fmt.Sprintf("c%d", groups.Add(1))
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second // see newStore
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	cs := make([]*Cache, n)
	recs := make([]*recorder, n)
	for i := range n {
		opt := srv.Options()
		opt.DialerRetries = 1
		c := redis.NewClient(opt)
		t.Cleanup(func() { _ = c.Close() })
		recs[i] = &recorder{}
		c.AddHook(recs[i])
		var err error
		if cs[i], err = NewCache(c, cfg); err != nil {
			t.Fatal(err)
		}
	}
	return cs, recs
}

func testKey(t testing.TB, prompt string) cache.Key {
	t.Helper()
	k, err := cache.NewKey("gpt-4o", &llm.Request{Format: llm.OpenAI,
		Body:     []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":` + fmt.Sprintf("%q", prompt) + `}]}`),
		Messages: []llm.Message{{Role: "user", Content: prompt}}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testResponse() *llm.Response {
	return &llm.Response{Format: llm.OpenAI, Model: "gpt-4o-2024-08-06", Text: "4", StopReason: "stop",
		Body:  []byte(`{"choices":[{"message":{"role":"assistant","content":"4"}}]}`),
		Usage: llm.Usage{InputTokens: 12, CachedInputTokens: 4, OutputTokens: 1}}
}

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// TestCacheShared: an answer stored by replica A is served by replica B, fresh then stale
// then gone, exactly as the memory cache serves it.
func TestCacheShared(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg := CacheConfig{TTL: 10 * time.Minute, StaleFor: time.Hour}
	cs, _ := newCaches(t, srv, 2, cfg)
	a, b := cs[0], cs[1]
	mem := cache.New(cache.Config{TTL: cfg.TTL, StaleFor: cfg.StaleFor})
	k := testKey(t, "2+2?")
	resp := testResponse()
	if err := a.Put(ctx, k, resp, t0); err != nil {
		t.Fatal(err)
	}
	if err := mem.Put(k, resp, t0); err != nil {
		t.Fatal(err)
	}
	resp.Body[2] = 'X' // the caller may reuse its buffer
	for _, after := range []time.Duration{0, time.Minute, 10*time.Minute - time.Nanosecond, 10 * time.Minute,
		30 * time.Minute, 70*time.Minute - time.Nanosecond, 70 * time.Minute, 2 * time.Hour} {
		t.Run(after.String(), func(t *testing.T) {
			now := t0.Add(after)
			got, fresh, ok := b.Get(ctx, k, now)
			want, wantFresh, wantOK := mem.Get(k, now)
			if ok != wantOK || fresh != wantFresh {
				t.Fatalf("Get = ok %v fresh %v, want ok %v fresh %v as in memory", ok, fresh, wantOK, wantFresh)
			}
			if !ok {
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("entry differs from the memory cache's (-memory +redis):\n%s", diff)
			}
		})
	}
	if _, _, ok := b.Get(ctx, testKey(t, "3+3?"), t0); ok {
		t.Error("Get of a key never stored = ok")
	}
	if got, want := b.Stats(), (CacheStats{Hits: 3, StaleHits: 3, Misses: 3}); got != want {
		t.Errorf("B.Stats() = %+v, want %+v", got, want)
	}
	if got := a.Stats().Stores; got != 1 {
		t.Errorf("A.Stats().Stores = %d, want 1", got)
	}
}

// TestCacheRedisTTL: Redis keeps an entry TTL+StaleFor (TTL alone when stale serving is off),
// and a Put replaces the entry.
func TestCacheRedisTTL(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rc := redis.NewClient(srv.Options())
	defer rc.Close()
	tests := []struct {
		name     string
		staleFor time.Duration
		want     time.Duration
	}{
		{"stale for an hour", time.Hour, 70 * time.Minute},
		{"stale serving off", -1, 10 * time.Minute},
		{"default stale", 0, 10*time.Minute + cache.DefaultStaleFor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, _ := newCaches(t, srv, 1, CacheConfig{TTL: 10 * time.Minute, StaleFor: tt.staleFor})
			k := testKey(t, tt.name)
			if err := cs[0].Put(ctx, k, testResponse(), t0); err != nil {
				t.Fatal(err)
			}
			ttl, err := rc.PTTL(ctx, cs[0].key(k)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl > tt.want || ttl < tt.want-5*time.Second {
				t.Errorf("PTTL = %v, want about %v", ttl, tt.want)
			}
			if _, fresh, ok := cs[0].Get(ctx, k, t0.Add(11*time.Minute)); ok != (tt.staleFor >= 0) || fresh {
				t.Errorf("Get 11m later = ok %v fresh %v, want ok %v (stale) fresh false", ok, fresh, tt.staleFor >= 0)
			}
			r2 := testResponse()
			r2.Text = "four"
			if err := cs[0].Put(ctx, k, r2, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if e, fresh, ok := cs[0].Get(ctx, k, t0.Add(2*time.Minute)); !ok || !fresh || e.Response.Text != "four" {
				t.Errorf("Get after a second Put = %q fresh %v ok %v, want the replacement, fresh", e.Response.Text, fresh, ok)
			}
		})
	}
}

// TestCacheRefusals: Put refuses what the memory cache refuses, with the same errors.
func TestCacheRefusals(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cs, recs := newCaches(t, srv, 1, CacheConfig{MaxEntryBytes: 1024})
	mem := cache.New(cache.Config{MaxBytes: 8 * 1024})
	k := testKey(t, "refusals")
	big := testResponse()
	big.Body = bytes.Repeat([]byte("x"), 2048)
	cached := testResponse()
	cached.Cached = true
	tests := []struct {
		name string
		resp *llm.Response
		want error
	}{
		{"nil", nil, cache.ErrNotCacheable},
		{"stream", &llm.Response{Text: "x", Stream: fakeStream{}}, cache.ErrNotCacheable},
		{"already cached", cached, cache.ErrNotCacheable},
		{"empty", &llm.Response{Model: "gpt-4o"}, cache.ErrNotCacheable},
		{"too large", big, cache.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := recs[0].trips.Load()
			err := cs[0].Put(ctx, k, tt.resp, t0)
			if !errors.Is(err, tt.want) {
				t.Errorf("Put = %v, want %v", err, tt.want)
			}
			if memErr := mem.Put(k, tt.resp, t0); !errors.Is(memErr, tt.want) {
				t.Errorf("the memory cache's Put = %v, want %v (the test's premise)", memErr, tt.want)
			}
			if n := recs[0].trips.Load() - before; n != 0 {
				t.Errorf("a refused Put took %d round trips, want 0", n)
			}
		})
	}
	if _, _, ok := cs[0].Get(ctx, k, t0); ok {
		t.Error("Get after refused Puts = ok")
	}
}

type fakeStream struct{}

func (fakeStream) Recv() (llm.Chunk, error) { return llm.Chunk{}, llm.EOF }
func (fakeStream) Usage() llm.Usage         { return llm.Usage{} }
func (fakeStream) Close() error             { return nil }

func TestCacheRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cs, recs := newCaches(t, srv, 1, CacheConfig{})
	k := testKey(t, "trips")
	for _, st := range []struct {
		name string
		op   func()
	}{
		{"Get, miss", func() { cs[0].Get(ctx, k, t0) }},
		{"Put", func() { _ = cs[0].Put(ctx, k, testResponse(), t0) }},
		{"Get, hit", func() { cs[0].Get(ctx, k, t0) }},
	} {
		before := recs[0].trips.Load()
		st.op()
		if got := recs[0].trips.Load() - before; got != 1 {
			t.Errorf("%s took %d round trips, want 1", st.name, got)
		}
	}
}

// TestCacheRedisDown: with Redis stopped, Get is a counted miss and Put an ErrUnavailable,
// both at once once degraded; the cache rejoins when Redis answers.
func TestCacheRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.StartLocal(t)
	logs := &countingHandler{}
	cs, recs := newCaches(t, srv, 1, CacheConfig{Logger: slog.New(logs), ProbeInterval: time.Hour})
	c := cs[0]
	k := testKey(t, "down")
	if err := c.Put(ctx, k, testResponse(), t0); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, _, ok := c.Get(ctx, k, t0); ok {
		t.Error("Get with Redis stopped = ok")
	}
	if !c.Stats().Degraded {
		t.Error("not degraded after a failed Get")
	}
	before := recs[0].trips.Load()
	if err := c.Put(ctx, k, testResponse(), t0); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Put while degraded = %v, want ErrUnavailable", err)
	}
	if _, _, ok := c.Get(ctx, k, t0); ok {
		t.Error("Get while degraded = ok")
	}
	if n := recs[0].trips.Load() - before; n != 0 {
		t.Errorf("calls while degraded took %d round trips, want 0 until the probe is due", n)
	}
	if got, want := c.Stats(), (CacheStats{Misses: 2, Stores: 1, Failures: 3, Degraded: true}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if got := logs.warn.Load(); got != 1 {
		t.Errorf("%d warnings for one outage, want 1", got)
	}
	c.l.nextProbe.Store(0)
	srv.Restart(t) // a new, empty server
	if err := c.Put(ctx, k, testResponse(), t0); err != nil {
		t.Errorf("Put after the restart = %v", err)
	}
	if _, fresh, ok := c.Get(ctx, k, t0); !ok || !fresh || c.Stats().Degraded {
		t.Errorf("Get after the restart = fresh %v ok %v, degraded %v", fresh, ok, c.Stats().Degraded)
	}
}

// TestCacheSlowRedis: a Redis that never answers costs a Get at most Timeout, then a miss.
func TestCacheSlowRedis(t *testing.T) {
	t.Parallel()
	addr := slowServer(t)
	rc := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1, ReadTimeout: 200 * time.Millisecond})
	defer rc.Close()
	c, err := NewCache(rc, CacheConfig{Timeout: 20 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	k := testKey(t, "slow")
	if _, _, ok := c.Get(ctx, k, t0); ok {
		t.Error("Get against a hung Redis = ok")
	}
	if st := c.Stats(); st.Misses != 1 || st.Failures != 1 || !st.Degraded {
		t.Errorf("Stats = %+v, want 1 miss, 1 failure, degraded", st)
	}
}

// TestCacheUnreadableEntry: an entry of another version, or garbage, is a miss.
func TestCacheUnreadableEntry(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cs, _ := newCaches(t, srv, 1, CacheConfig{})
	rc := redis.NewClient(srv.Options())
	defer rc.Close()
	for _, v := range []string{`{"v":2,"text":"4","stored_at":"2026-01-01T12:00:00Z"}`, `not json`, ``} {
		k := testKey(t, v)
		if err := rc.Set(ctx, cs[0].key(k), v, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := cs[0].Get(ctx, k, t0); ok {
			t.Errorf("Get of stored %q = ok, want a miss", v)
		}
	}
}

// TestCacheEntryGolden pins the stored format, which replicas of different releases share.
func TestCacheEntryGolden(t *testing.T) {
	t.Parallel()
	b, err := encodeEntry(testResponse(), t0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "cache_entry.golden.json")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := string(b) + "\n"; got != string(want) {
		t.Errorf("encoded entry = %s, want %s", got, want)
	}
	e, err := decodeEntry(bytes.TrimSpace(want))
	if err != nil {
		t.Fatal(err)
	}
	wantResp := *testResponse()
	wantResp.Cached = true
	if diff := cmp.Diff(cache.Entry{Response: wantResp, StoredAt: t0}, e); diff != "" {
		t.Errorf("decoded golden entry (-want +got):\n%s", diff)
	}
}

// FuzzDecodeEntry: whatever Redis holds under a cache key, decoding it never panics, and
// what decodes re-encodes to an entry that decodes the same.
func FuzzDecodeEntry(f *testing.F) {
	b, _ := encodeEntry(testResponse(), t0)
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"body":"!!","stored_at":"x"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(data)
		if err != nil {
			return
		}
		if !e.Response.Cached {
			t.Fatal("decoded entry not marked Cached")
		}
		r := e.Response
		r.Cached = false
		again, err := encodeEntry(&r, e.StoredAt)
		if err != nil {
			return // a time outside JSON's years: nothing stored could hold it
		}
		e2, err := decodeEntry(again)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		b1, b2 := e.Response.Body, e2.Response.Body
		e.Response.Body, e2.Response.Body = nil, nil // "" and absent both decode to no body
		if !bytes.Equal(b1, b2) || cmp.Diff(e, e2) != "" {
			t.Errorf("round trip changed the entry: %+v -> %+v", e, e2)
		}
	})
}

func TestCacheConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  CacheConfig
		ok   bool
	}{
		{"zero", CacheConfig{}, true},
		{"negative TTL", CacheConfig{TTL: -1}, false},
		{"negative stale is allowed", CacheConfig{StaleFor: -1}, true},
		{"negative size", CacheConfig{MaxEntryBytes: -1}, false},
		{"braces", CacheConfig{Namespace: "{x}"}, false},
		{"negative timeout", CacheConfig{Timeout: -1}, false},
		{"negative probe interval", CacheConfig{ProbeInterval: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
	if _, err := NewCache(nil, CacheConfig{}); err == nil {
		t.Error("NewCache(nil client) = nil error")
	}
}

// BenchmarkCacheGet is a fresh hit on a small answer: one round trip and the JSON decode.
func BenchmarkCacheGet(b *testing.B) {
	srv := redistest.Start(b)
	cs, _ := newCaches(b, srv, 1, CacheConfig{Timeout: time.Second})
	k := testKey(b, "bench")
	if err := cs[0].Put(ctx, k, testResponse(), t0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := cs[0].Get(ctx, k, t0); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkCachePut stores a small answer: the JSON encode and one round trip.
func BenchmarkCachePut(b *testing.B) {
	srv := redistest.Start(b)
	cs, _ := newCaches(b, srv, 1, CacheConfig{Timeout: time.Second})
	k := testKey(b, "bench")
	resp := testResponse()
	b.ReportAllocs()
	for b.Loop() {
		if err := cs[0].Put(ctx, k, resp, t0); err != nil {
			b.Fatal(err)
		}
	}
}
