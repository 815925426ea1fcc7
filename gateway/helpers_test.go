package gateway

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tollgate/tollgate/cache"
	"github.com/tollgate/tollgate/emulator"
	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/metrics"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
	"github.com/tollgate/tollgate/quota"
	"github.com/tollgate/tollgate/retry"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// The virtual keys of the tests, and the upstream key that must never leak.
const (
	secretAlice    = "tg-alice-secret"
	secretBob      = "tg-bob-secret"
	upstreamSecret = "sk-upstream-do-not-leak"
)

func testKeys() []keys.Key {
	return []keys.Key{
		{ID: "alice", Tenant: "acme", Hash: keys.HashSecret(secretAlice), MaxPriority: 2},
		{ID: "bob", Tenant: "beta", Hash: keys.HashSecret(secretBob), AllowedModels: []string{"gpt-4o-mini"}},
	}
}

// testRegistry is a key registry of testKeys and, when store is set, of the keys stored
// there.
func testRegistry(t testing.TB, store keys.Store) *keys.Registry {
	return newRegistry(t, testKeys(), store)
}

// requireSession makes alice's key require a session.
func requireSession(t testing.TB) func(*Config) {
	return func(c *Config) {
		ks := testKeys()
		ks[0].RequireSession = true
		c.Keys = newRegistry(t, ks, nil)
	}
}

func newRegistry(t testing.TB, static []keys.Key, store keys.Store) *keys.Registry {
	t.Helper()
	reg, err := keys.Open(context.Background(), keys.Config{Static: static, Store: store, Refresh: -1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

// env is a gateway in front of the emulator through the real provider adapters.
type env struct {
	gw       *Gateway
	srv      *httptest.Server // the gateway on a loopback port
	emu      *emulator.Server
	metrics  *metrics.Metrics
	requests atomic.Int64 // requests that reached the gateway
	logs     *syncBuffer
}

type envConfig struct {
	emu    emulator.Config
	rules  quota.Rules
	routes []fallback.Route
	models []string
	cache  *cache.Cache
	// providers replaces the emulator-backed adapters.
	providers map[string]llm.Provider
	gateway   func(*Config)
}

// syncBuffer is a log sink that tests read after the requests are done.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t testing.TB, ec envConfig) *env {
	t.Helper()
	e := &env{logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	providers := ec.providers
	if providers == nil {
		emu, err := emulator.Start(context.Background(), ec.emu, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = emu.Close() })
		e.emu = emu
		op, err := openai.New(openai.Config{BaseURL: emu.URL() + "/v1", APIKey: upstreamSecret})
		if err != nil {
			t.Fatal(err)
		}
		ap, err := anthropic.New(anthropic.Config{BaseURL: emu.URL(), APIKey: upstreamSecret})
		if err != nil {
			t.Fatal(err)
		}
		providers = map[string]llm.Provider{"openai": op, "anthropic": ap}
	}
	routes, err := fallback.NewRoutes(ec.routes...)
	if err != nil {
		t.Fatal(err)
	}
	var tenants []string
	for _, k := range testKeys() {
		tenants = append(tenants, k.Tenant)
	}
	var names []string
	for _, r := range ec.routes {
		names = append(names, r.Name)
	}
	e.metrics, err = metrics.New(metrics.Config{Routes: append(names, ec.models...), Tenants: tenants})
	if err != nil {
		t.Fatal(err)
	}
	// The engine is built before the gateway that observes its events, as in
	// internal/config.Build.
	var gw atomic.Pointer[Gateway]
	eng, err := engine.New(engine.Config{Providers: providers, Routes: routes, Rules: ec.rules,
		Store: quota.NewMemoryStore(quota.MemoryConfig{}),
		Retry: retry.Policy{MaxAttempts: 1},
		OnEvent: func(ev engine.Event) {
			e.metrics.Observe(ev)
			if g := gw.Load(); g != nil {
				g.Observe(ev)
			}
		}, Logger: log, Cache: ec.cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	cfg := Config{Engine: eng, Keys: testRegistry(t, nil), Models: ec.models, Metrics: e.metrics, Logger: log}
	if ec.gateway != nil {
		ec.gateway(&cfg)
	}
	e.gw, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gw.Store(e.gw)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		e.gw.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// do sends one raw request to the gateway and returns the response with its body read.
func (e *env) do(t testing.TB, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// timeDependent matches what a re-encoded answer derives from the clock: its "created"
// time and the id of a stream or of an answer that came without one.
var timeDependent = regexp.MustCompile(`"created":[1-9][0-9]*|(chatcmpl-tg|msg_tg)[0-9a-f]{16}`)

// golden compares got with testdata/name, or rewrites it with -update. Clock-derived
// values are replaced by placeholders first.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	got = timeDependent.ReplaceAllFunc(got, func(m []byte) []byte {
		if bytes.HasPrefix(m, []byte(`"created"`)) {
			return []byte(`"created":"<unix time>"`)
		}
		return append(bytes.TrimRight(m, "0123456789abcdef"), "<id>"...)
	})
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// noLeak fails if the upstream key or a virtual key's secret appears in s.
func noLeak(t testing.TB, what, s string) {
	t.Helper()
	for _, secret := range []string{upstreamSecret, secretAlice, secretBob} {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains the secret %q", what, secret)
		}
	}
}
