package redisstore

import (
	"sync"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// calendar gives the boundaries of days and months in a zone around an instant, with
// quota.Window.Span's math, remembering them per kind and zone: they change once a day,
// and computing them is most of the client's work for a calendar quota.
type calendar struct {
	mu sync.Mutex
	m  map[calKey][4]int64
}

type calKey struct {
	kind quota.Kind
	loc  *time.Location
}

// around returns, in unix ns, the boundaries w0 < w1 <= now < w2 < w3 of the previous,
// current and next window of w around now (unix ns).
func (c *calendar) around(w quota.Window, now int64) [4]int64 {
	k := calKey{w.Kind, w.Location}
	c.mu.Lock()
	b, ok := c.m[k]
	c.mu.Unlock()
	if ok && now >= b[1] && now < b[2] {
		return b
	}
	w1, w2 := w.Span(now)
	w0, _ := w.Span(w1 - 1)
	_, w3 := w.Span(w2)
	b = [4]int64{w0, w1, w2, w3}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 64 {
		c.m = make(map[calKey][4]int64)
	}
	c.m[k] = b
	c.mu.Unlock()
	return b
}

// end returns the end (unix ns) of w's window that starts at start (unix ns).
func (c *calendar) end(w quota.Window, start int64) int64 {
	c.mu.Lock()
	b, ok := c.m[calKey{w.Kind, w.Location}]
	c.mu.Unlock()
	if ok {
		for i := range 3 {
			if b[i] == start {
				return b[i+1]
			}
		}
	}
	_, end := w.Span(start)
	return end
}
