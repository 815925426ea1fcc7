package quota

// bucketHeap is a min-heap of buckets by the time at which to look at them for eviction.
// Its entries are looked at lazily: a bucket used since it was pushed is pushed back to its
// new time when it comes up, so a reservation costs the heap nothing.
type bucketHeap []*bucket

func (h *bucketHeap) push(b *bucket) {
	b.idx = int32(len(*h))
	*h = append(*h, b)
	h.up(len(*h) - 1)
}

// remove takes out the bucket at index i.
func (h *bucketHeap) remove(i int) {
	s := *h
	last := len(s) - 1
	if i != last {
		s[i] = s[last]
		s[i].idx = int32(i)
	}
	s[last] = nil
	*h = s[:last]
	if i != last {
		h.fix(i)
	}
}

// fix restores the order after the time of the bucket at index i changed.
func (h *bucketHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h bucketHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down reports whether the bucket at i moved.
func (h bucketHeap) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		c := l
		if r := l + 1; r < len(h) && h[r].at < h[l].at {
			c = r
		}
		if h[i].at <= h[c].at {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i != start
}

func (h bucketHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = int32(i)
	h[j].idx = int32(j)
}

// shrink gives back the memory of a heap that has lost most of its entries.
func (h *bucketHeap) shrink() {
	if cap(*h) > 64 && len(*h) < cap(*h)/4 {
		*h = append(make(bucketHeap, 0, 2*len(*h)), *h...)
	}
}
