package queue

// waiterHeap is a min-heap of waiters that keeps each waiter's index in it, so that a
// waiter that leaves (granted, timed out, cancelled, moved to another key) is removed in
// O(log n). A heap orders either by turn (fairness tag, then arrival) or, for aging, by the
// time at which its waiters rise a level; a waiter is in one heap of each order at most.
type waiterHeap struct {
	ws    []*waiter
	aging bool
}

func (h *waiterHeap) len() int { return len(h.ws) }

func (h *waiterHeap) top() *waiter { return h.ws[0] }

func (h *waiterHeap) less(a, b *waiter) bool {
	if h.aging {
		if a.rise != b.rise {
			return a.rise < b.rise
		}
	} else if a.tag != b.tag {
		return a.tag < b.tag
	}
	return a.seq < b.seq
}

func (h *waiterHeap) index(w *waiter) *int {
	if h.aging {
		return &w.agingIdx
	}
	return &w.turnIdx
}

func (h *waiterHeap) push(w *waiter) {
	*h.index(w) = len(h.ws)
	h.ws = append(h.ws, w)
	h.up(len(h.ws) - 1)
}

// remove takes w out; w must be in h.
func (h *waiterHeap) remove(w *waiter) {
	i := *h.index(w)
	last := len(h.ws) - 1
	if i != last {
		h.swap(i, last)
	}
	h.ws[last] = nil
	h.ws = h.ws[:last]
	*h.index(w) = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
	if cap(h.ws) > 64 && len(h.ws) < cap(h.ws)/4 {
		// A drained burst gives its memory back.
		h.ws = append([]*waiter(nil), h.ws...)
	}
}

func (h *waiterHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.ws[i], h.ws[p]) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *waiterHeap) down(i int) bool {
	start := i
	n := len(h.ws)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && h.less(h.ws[r], h.ws[l]) {
			c = r
		}
		if !h.less(h.ws[c], h.ws[i]) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i != start
}

func (h *waiterHeap) swap(i, j int) {
	h.ws[i], h.ws[j] = h.ws[j], h.ws[i]
	*h.index(h.ws[i]) = i
	*h.index(h.ws[j]) = j
}
