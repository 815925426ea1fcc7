package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

const streamChat = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`

// serve runs the gateway's own Serve on a loopback port.
func serve(t *testing.T, e *env) (url string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- e.gw.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return "http://" + ln.Addr().String(), cancel, ch
}

// openStream posts a streaming request and reads its first event.
func openStream(t *testing.T, ctx context.Context, url string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(streamChat))
	req.Header.Set("Authorization", "Bearer "+secretAlice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q, %v", line, err)
	}
	return resp, br
}

// TestServeDrains: on cancellation Serve stops being ready, lets the stream in flight
// finish, and returns nil with nothing left unsettled.
func TestServeDrains(t *testing.T) {
	e, oa, _ := stubEnv(t, nil)
	release := make(chan struct{})
	oa.chunks, oa.release = openAIChunks[:2], release
	url, cancel, done := serve(t, e)

	resp, br := openStream(t, t.Context(), url)
	defer resp.Body.Close()
	cancel()
	// Shutdown has begun once readyz says so; the stream is still open.
	for {
		w := httptest.NewRecorder()
		e.gw.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if w.Code == http.StatusServiceUnavailable {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Serve returned %v before the stream ended", err)
		default:
		}
		runtime.Gosched() // polls a flag another goroutine sets; waits for nothing in particular
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("reading the rest of the stream: %v", err)
	}
	if !strings.Contains(string(rest), "Hello") {
		t.Errorf("rest of the stream %q lacks the second chunk", rest)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil after a clean drain", err)
	}
	if n := e.gw.eng.Open(); n != 0 {
		t.Errorf("engine has %d open reservations after Serve returned", n)
	}
}

// TestServeCutsAfterTimeout: a stream still running at the end of ShutdownTimeout is cut,
// its reservation settled, and Serve says so.
func TestServeCutsAfterTimeout(t *testing.T) {
	e, oa, _ := stubEnv(t, func(c *Config) { c.ShutdownTimeout = time.Millisecond })
	oa.chunks, oa.release = openAIChunks[:2], make(chan struct{}) // never released
	url, cancel, done := serve(t, e)
	resp, _ := openStream(t, t.Context(), url)
	defer resp.Body.Close()
	cancel()
	err := <-done
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve = %v, want the shutdown deadline", err)
	}
	if n := e.gw.eng.Open(); n != 0 {
		t.Errorf("engine has %d open reservations after Serve returned", n)
	}
	if !oa.streams[0].isClosed() {
		t.Error("the upstream stream was not closed")
	}
}

// TestClientGoesAway: a client that disconnects mid-stream closes the upstream stream, and
// the reservation settles.
func TestClientGoesAway(t *testing.T) {
	e, oa, _ := stubEnv(t, nil)
	oa.chunks, oa.release = openAIChunks[:2], make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	resp, _ := openStream(t, ctx, e.srv.URL)
	cancel()
	resp.Body.Close()
	if !e.gw.waitIdle(10 * time.Second) {
		t.Fatal("the handler did not return after the client went away")
	}
	if n := e.gw.eng.Open(); n != 0 {
		t.Errorf("engine has %d open reservations", n)
	}
	if !oa.streams[0].isClosed() {
		t.Error("the upstream stream was not closed")
	}
}
