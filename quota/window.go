package quota

import (
	"math"
	"math/bits"
	"time"
)

// The math below works on unix nanoseconds so that the memory store and the Redis store
// compute the same results from the same inputs. It is the one copy of it: the Redis store
// reaches it through Quota.Interval, Window.Span and State.

// interval returns the time n units of a rate of limit per period take to refill, rounded
// up so that a rate is never exceeded. It saturates instead of overflowing.
func interval(n, limit int64, period time.Duration) int64 {
	if n <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(n), uint64(period))
	if hi >= uint64(limit) {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, uint64(limit))
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// rateUsed returns how much of a rate's burst is in use at now given its theoretical
// arrival time tat: the units that have not yet refilled.
func rateUsed(tat, now, limit int64, period time.Duration) int64 {
	if tat <= now {
		return 0
	}
	d := tat - now
	hi, lo := bits.Mul64(uint64(d), uint64(limit))
	if hi >= uint64(period) {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, uint64(period))
	if r != 0 {
		q++
	}
	return int64(q)
}

// gcra decides whether n more units fit a rate whose state is tat at now. It returns the
// new tat when they fit, or the wait until they would fit.
func gcra(tat, now, n, limit, burst int64, period time.Duration) (newTAT int64, wait time.Duration, ok bool) {
	base := max(tat, now)
	newTAT = satAdd(base, interval(n, limit, period))
	tolerance := interval(burst, limit, period)
	if over := newTAT - now - tolerance; over > 0 {
		return tat, time.Duration(over), false
	}
	return newTAT, 0, true
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Span returns the start and end, in unix nanoseconds, of the day or month of w that
// contains now (unix ns); zero for other kinds. time.Date normalises across DST changes, so
// a day is 23, 24 or 25 hours long and always starts at the local midnight; consecutive
// windows touch: one's end is the next one's start.
func (w Window) Span(now int64) (start, end int64) {
	if w.Kind != Day && w.Kind != Month {
		return 0, 0
	}
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	t := time.Unix(0, now).In(loc)
	y, m, d := t.Date()
	var s, e time.Time
	if w.Kind == Month {
		s = time.Date(y, m, 1, 0, 0, 0, 0, loc)
		e = time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	} else {
		s = time.Date(y, m, d, 0, 0, 0, 0, loc)
		e = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	return s.UnixNano(), e.UnixNano()
}
