package redisstore

import (
	"math"
	"math/bits"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// maxExact is 2^53: the scripts' numbers are doubles, exact below it.
const maxExact = 1 << 53

// interval is quota's GCRA interval, ceil(n*period/limit) nanoseconds, saturating. It is
// repeated here (quota keeps it unexported) so that the client hands the script the exact
// 128-bit result instead of letting Lua's doubles approximate it.
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

// rateUsed is the part of a rate's burst not yet refilled when its TAT is dt ahead of now.
func rateUsed(dt, limit int64, period time.Duration) int64 {
	if dt <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(dt), uint64(limit))
	if hi >= uint64(period) {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, uint64(period))
	if r != 0 {
		q++
	}
	return int64(q)
}

// windows returns the boundaries, in unix microseconds, of the previous, current and next
// calendar window of kind k in loc around now: w0 < w1 <= now < w2 < w3. The client computes
// them because Lua knows no time zones; the server's TIME picks the window it is in, so a
// client clock that is off by less than a day cannot move a reset.
func windows(k quota.Kind, loc *time.Location, now time.Time) (w0, w1, w2, w3 int64) {
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	y, m, d := t.Date()
	var at func(i int) time.Time
	if k == quota.Month {
		at = func(i int) time.Time { return time.Date(y, m+time.Month(i), 1, 0, 0, 0, 0, loc) }
	} else {
		at = func(i int) time.Time { return time.Date(y, m, d+i, 0, 0, 0, 0, loc) }
	}
	return at(-1).UnixMicro(), at(0).UnixMicro(), at(1).UnixMicro(), at(2).UnixMicro()
}
