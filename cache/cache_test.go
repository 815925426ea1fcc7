package cache

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/llm"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func keyN(n int) Key {
	var k Key
	k[0], k[1] = byte(n), byte(n>>8)
	return k
}

func answer(text string) *llm.Response {
	return &llm.Response{Format: llm.OpenAI, Model: "gpt-4o-2024-08-06", Text: text,
		Body: []byte(`{"choices":[{"message":{"content":"` + text + `"}}]}`), StopReason: "stop"}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero", Config{}, ""},
		{"negative stale disables", Config{StaleFor: -1}, ""},
		{"negative max bytes", Config{MaxBytes: -1}, "MaxBytes"},
		{"negative ttl", Config{TTL: -time.Second}, "TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate() = %v, want error naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestGetFreshStaleExpired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       Config
		at        time.Duration
		wantOK    bool
		wantFresh bool
	}{
		{"just stored", Config{}, 0, true, true},
		{"before ttl", Config{TTL: time.Minute}, time.Minute - time.Nanosecond, true, true},
		{"at ttl is stale", Config{TTL: time.Minute}, time.Minute, true, false},
		{"within stale window", Config{TTL: time.Minute, StaleFor: time.Hour}, 30 * time.Minute, true, false},
		{"at ttl+stale expired", Config{TTL: time.Minute, StaleFor: time.Hour}, time.Hour + time.Minute, false, false},
		{"default ttl", Config{}, DefaultTTL - time.Second, true, true},
		{"default stale", Config{}, DefaultTTL + DefaultStaleFor - time.Second, true, false},
		{"stale disabled", Config{TTL: time.Minute, StaleFor: -1}, time.Minute, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := New(tt.cfg)
			k := keyN(1)
			if err := c.Put(k, answer("hello"), t0); err != nil {
				t.Fatalf("Put() error: %v", err)
			}
			e, fresh, ok := c.Get(k, t0.Add(tt.at))
			if ok != tt.wantOK || fresh != tt.wantFresh {
				t.Fatalf("Get(+%v) fresh=%v ok=%v, want fresh=%v ok=%v", tt.at, fresh, ok, tt.wantFresh, tt.wantOK)
			}
			if !ok {
				if got := c.Stats(); got.Entries != 0 || got.Misses != 1 {
					t.Errorf("Stats() after expiry = %+v, want 0 entries, 1 miss", got)
				}
				return
			}
			if !e.Response.Cached || e.Response.Text != "hello" || !e.StoredAt.Equal(t0) {
				t.Errorf("Get() entry = %+v, want Cached text hello stored at %v", e, t0)
			}
		})
	}
}

func TestPutRefuses(t *testing.T) {
	t.Parallel()
	stream := answer("x")
	stream.Stream = fakeStream{}
	cached := answer("x")
	cached.Cached = true
	tests := []struct {
		name string
		resp *llm.Response
		want error
	}{
		{"nil", nil, ErrNotCacheable},
		{"stream", stream, ErrNotCacheable},
		{"already cached", cached, ErrNotCacheable},
		{"empty", &llm.Response{Model: "m"}, ErrNotCacheable},
		{"too large", &llm.Response{Text: strings.Repeat("x", 1000)}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := New(Config{MaxBytes: 8 * 1024})
			err := c.Put(keyN(1), tt.resp, t0)
			if !errors.Is(err, tt.want) {
				t.Errorf("Put() error = %v, want %v", err, tt.want)
			}
			if got := c.Stats().Entries; got != 0 {
				t.Errorf("Stats().Entries = %d, want 0", got)
			}
		})
	}
}

type fakeStream struct{}

func (fakeStream) Recv() (llm.Chunk, error) { return llm.Chunk{}, llm.EOF }
func (fakeStream) Usage() llm.Usage         { return llm.Usage{} }
func (fakeStream) Close() error             { return nil }

// TestPutCopiesBody: the entry is the cache's own copy, without the upstream's headers,
// which described that call (its request id, its rate-limit state) and not a later answer.
func TestPutCopiesBody(t *testing.T) {
	t.Parallel()
	c := New(Config{})
	r := answer("a")
	r.Header = http.Header{"X-Request-Id": {"req_upstream"}, "X-Ratelimit-Remaining-Requests": {"3"}}
	if err := c.Put(keyN(1), r, t0); err != nil {
		t.Fatal(err)
	}
	r.Body[0] = 'X'
	r.Cached = false
	e, _, _ := c.Get(keyN(1), t0)
	if e.Response.Body[0] != '{' || !e.Response.Cached {
		t.Errorf("Get() after caller mutation = %q cached=%v, want unchanged copy", e.Response.Body, e.Response.Cached)
	}
	if e.Response.Header != nil {
		t.Errorf("cached entry kept the upstream's headers %v, want none", e.Response.Header)
	}
}

func TestLRUEvictionByBytes(t *testing.T) {
	t.Parallel()
	// Each entry is 100 text + 32 key + 256 overhead = 388 bytes; 8 KiB holds 21.
	const text = 100
	c := New(Config{MaxBytes: 8 * 1024})
	put := func(n int) {
		t.Helper()
		if err := c.Put(keyN(n), &llm.Response{Text: strings.Repeat("x", text)}, t0); err != nil {
			t.Fatalf("Put(%d) error: %v", n, err)
		}
	}
	for n := range 21 {
		put(n)
	}
	if got := c.Stats(); got.Entries != 21 || got.Evictions != 0 || got.Bytes != 21*388 {
		t.Fatalf("Stats() after 21 puts = %+v, want 21 entries, %d bytes, 0 evictions", got, 21*388)
	}
	// Touch 0 so that 1 is now the least recently used.
	if _, _, ok := c.Get(keyN(0), t0); !ok {
		t.Fatal("Get(0) missed")
	}
	put(21)
	if _, _, ok := c.Get(keyN(1), t0); ok {
		t.Error("Get(1) hit, want evicted as least recently used")
	}
	for _, n := range []int{0, 2, 21} {
		if _, _, ok := c.Get(keyN(n), t0); !ok {
			t.Errorf("Get(%d) missed, want kept", n)
		}
	}
	// Replacing a key does not grow the cache.
	put(21)
	want := Stats{Hits: 4, Misses: 1, Evictions: 1, Bytes: 21 * 388, Entries: 21}
	if diff := cmp.Diff(want, c.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestConcurrentGetPut(t *testing.T) {
	t.Parallel()
	c := New(Config{MaxBytes: 64 * 1024})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := keyN((g*500 + i) % 300)
				if i%3 == 0 {
					if err := c.Put(k, answer(fmt.Sprint(i)), t0); err != nil {
						t.Errorf("Put() error: %v", err)
						return
					}
				} else {
					c.Get(k, t0.Add(time.Duration(i)*time.Second))
				}
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	if s.Bytes > 64*1024 || s.Bytes < 0 || s.Entries < 0 {
		t.Errorf("Stats() = %+v, want 0 <= Bytes <= 64 KiB", s)
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := New(Config{})
	k := keyN(7)
	if err := c.Put(k, answer("hello"), t0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := c.Get(k, t0); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkGetHitParallel(b *testing.B) {
	c := New(Config{})
	for n := range 1024 {
		if err := c.Put(keyN(n), answer("hello"), t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			c.Get(keyN(n&1023), t0)
			n++
		}
	})
}
