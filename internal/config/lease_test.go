package config

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/redisstore"
)

// TestServeRenewsLeasesWithRedis proves through the wiring of `tollgate serve` (Build and
// its gateway) that a stream longer than Redis's lease TTL keeps its concurrency slot: the
// engine renews the lease while the stream runs, so a second request finds the one slot
// taken until the stream ends. A store wrapper that hid the Redis store's Renew (as the
// metrics wrapper once did) lets the lease lapse after lease_ttl, and the second request
// in.
func TestServeRenewsLeasesWithRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// 60 tokens at 20 a second: a stream of about 3 s, over three lease TTLs.
	emu, err := emulator.Start(t.Context(), emulator.Config{Seed: 1, Output: emulator.Output{MinTokens: 60, MaxTokens: 60},
		Latency: emulator.Latency{TokensPerSecond: 20}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	const leaseTTL = 900 * time.Millisecond
	text := fmt.Sprintf(`upstreams:
  openai: {api_key_env: OPENAI_API_KEY, base_url: "%s/v1"}
quotas:
  - {name: one-at-a-time, unit: concurrent, limit: 1}
keys:
  - {id: k1, tenant: t1, key_env: TOLLGATE_KEY}
queue: {max_wait: 100ms}
ledger: {path: %s}
redis: {url: "redis://%s/%d", lease_ttl: %v, slot_group: leasetest}
`, emu.URL(), filepath.Join(t.TempDir(), "ledger.db"), srv.Addr(), srv.DB(), leaseTTL)
	c := parse(t, text)
	c.LookupEnv = func(n string) (string, bool) { v, ok := testEnv[n]; return v, ok }
	b, err := c.Build(t.Context(), quietLogger())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	defer b.Close(t.Context())
	// The engine holds the Redis store itself: a wrapper would have to forward Renew and
	// every other optional interface.
	if _, ok := b.Engine.Store().(*redisstore.Store); !ok {
		t.Fatalf("the engine's store is %T, not the *redisstore.Store", b.Engine.Store())
	}
	gw := httptest.NewServer(b.Server)
	defer gw.Close()

	post := func(body string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gw.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tg-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	const plain = `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	stream := post(`{"model":"gpt-4o-mini","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	defer stream.Body.Close()
	if stream.StatusCode != 200 {
		t.Fatalf("stream: status %d", stream.StatusCode)
	}
	// Read the stream until it has run for more than two lease TTLs: the events arrive at
	// the emulator's pace, which is the clock here.
	start := time.Now()
	br := bufio.NewReader(stream.Body)
	for time.Since(start) < 2*leaseTTL {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended after %v, before two lease TTLs: %v", time.Since(start), err)
		}
		if strings.Contains(line, "[DONE]") {
			t.Fatalf("the stream ended after %v, before two lease TTLs", time.Since(start))
		}
	}
	second := post(plain)
	body, _ := io.ReadAll(second.Body)
	second.Body.Close()
	if second.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "one-at-a-time") {
		t.Errorf("a request %v into a stream holding the only slot = %d %s; want 429 naming one-at-a-time (the lease was not renewed)",
			time.Since(start), second.StatusCode, body)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatal(err)
	}
	stream.Body.Close()
	// The body ends once the handler has returned, after the stream settled.
	if n := b.Engine.Open(); n != 0 {
		t.Fatalf("%d reservations open after the stream ended", n)
	}
	third := post(plain)
	third.Body.Close()
	if third.StatusCode != 200 {
		t.Errorf("a request after the stream ended = %d, want 200", third.StatusCode)
	}
}
