package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustNew(t testing.TB, cfg Config) *Emulator {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// call describes one test request.
type tcall struct {
	anthropic bool
	path      string // "" for the chat or messages endpoint
	body      string
	key       string // "" sends the default key "sk-test"; "-" sends none
	header    map[string]string
}

// response is what the handler answered, or aborted=true when it dropped the connection.
type tresponse struct {
	status  int
	header  http.Header
	body    string
	aborted bool
}

func oai(body string) tcall { return tcall{body: body} }
func ant(body string) tcall { return tcall{anthropic: true, body: body} }

func (c tcall) with(k, v string) tcall {
	h := map[string]string{k: v}
	for k2, v2 := range c.header {
		h[k2] = v2
	}
	c.header = h
	return c
}

func (c tcall) withKey(k string) tcall { c.key = k; return c }

func (c tcall) request() *http.Request {
	path := "/v1/chat/completions"
	if c.anthropic {
		path = "/v1/messages"
	}
	if c.path != "" {
		path = c.path
	}
	r := httptest.NewRequest("POST", path, strings.NewReader(c.body))
	key := c.key
	if key == "" {
		key = "sk-test"
	}
	if key != "-" {
		if c.anthropic {
			r.Header.Set("X-Api-Key", key)
		} else {
			r.Header.Set("Authorization", "Bearer "+key)
		}
	}
	if c.anthropic {
		r.Header.Set("Anthropic-Version", "2023-06-01")
	}
	for k, v := range c.header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	return r
}

// serve runs one request through the handler in process.
func serve(e *Emulator, c tcall) tresponse { return serveCtx(context.Background(), e, c) }

// serveCtx runs one request whose client goes away when ctx is done.
func serveCtx(ctx context.Context, e *Emulator, c tcall) (resp tresponse) {
	w := httptest.NewRecorder()
	defer func() {
		if p := recover(); p != nil {
			if err, ok := p.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
				panic(p)
			}
			resp = tresponse{status: w.Code, header: w.Header(), body: w.Body.String(), aborted: true}
		}
	}()
	e.ServeHTTP(w, c.request().WithContext(ctx))
	return tresponse{status: w.Code, header: w.Result().Header, body: w.Body.String()}
}

// oaiChunks decodes the chunks of a recorded OpenAI stream, [DONE] left out.
func oaiChunks(t testing.TB, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range sseEvents(body) {
		if ev.data != "[DONE]" {
			out = append(out, decode(t, ev.data))
		}
	}
	return out
}

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, s)
	}
	return m
}

const (
	oaiBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"hello there"}],"max_tokens":50}`
	antBody = `{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"hello there"}]}`
)

// sseEvent is one server-sent event of a recorded stream.
type sseEvent struct {
	event string // "" for OpenAI's unnamed events
	data  string
}

// sseEvents splits a recorded stream into its events.
func sseEvents(body string) []sseEvent {
	var out []sseEvent
	for _, block := range strings.Split(body, "\n\n") {
		var ev sseEvent
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				ev.event = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				ev.data = v
			}
		}
		if ev.data != "" {
			out = append(out, ev)
		}
	}
	return out
}

// dig walks a decoded JSON value by object keys and array indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func cmpEqual(a, b any) bool { return cmp.Equal(a, b) }

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}
