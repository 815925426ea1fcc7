package quota

import (
	"slices"
	"time"
)

// State is the raw state of one quota key: the numbers from which a store decides a
// reservation and reports a Status. The memory store keeps one per key; the Redis store
// reads one per key from its script's reply. Both decide, classify refusals and report
// through State's methods, so that the two stores answer alike from the same numbers.
type State struct {
	// TAT is a Rate's theoretical arrival time, unix ns; zero for a key never used.
	TAT int64
	// Used is a budget's settled use in its window (Start to End; the whole lifetime for a
	// Lifetime window).
	Used int64
	// Held is what open reservations hold: of a budget, in its unit; of a lease, calls.
	Held int64
	// Start and End bound a Day or Month state's window, unix ns: the window Used and Held
	// count in.
	Start, End int64
}

// Roll moves a Day or Month state to the window of q that contains now (unix ns), dropping
// the use and holds of a window that has ended. It reports whether the window changed;
// other kinds never change.
func (s *State) Roll(q *Quota, now int64) bool {
	if k := q.Window.Kind; (k != Day && k != Month) || (now >= s.Start && now < s.End) {
		return false
	}
	s.Start, s.End = q.Window.Span(now)
	s.Used, s.Held = 0, 0
	return true
}

// Check decides whether n more units of q fit s at now (unix ns); a Day or Month state
// must be in the window that contains now (see Roll). It returns nil when they fit, else
// the refusal: ErrTooLarge when n exceeds q's Capacity, ErrExceeded when waiting makes room
// (a rate refills, a lease or a budget's hold is returned), ErrBudget when a budget's
// settled use leaves no room before its window ends.
func (s *State) Check(q *Quota, n, now int64) *ExceededError {
	_, err := s.check(q, n, now)
	return err
}

// check is Check that also returns a Rate's TAT once n is taken.
func (s *State) check(q *Quota, n, now int64) (int64, *ExceededError) {
	if q.Window.Kind == Rate {
		return s.checkRate(q, n, now, q.Limit, q.Capacity())
	}
	var end int64
	if q.Window.Kind == Day || q.Window.Kind == Month {
		end = s.End
	}
	used := s.Used + s.Held
	switch {
	case n > q.Limit:
		return 0, refusal(q, ErrTooLarge, used, n, 0, end)
	case used+n <= q.Limit:
		return 0, nil
	case q.Window.Kind == Lease || s.Used+n <= q.Limit:
		// Open reservations hold the room; it comes back when they settle.
		return 0, refusal(q, ErrExceeded, used, n, 0, end)
	}
	var wait time.Duration
	if end > 0 {
		wait = time.Duration(end - now)
	}
	return 0, refusal(q, ErrBudget, used, n, wait, end)
}

// checkRate decides n more units of rate q at limit with burst (q's own, or its Live's as
// resolved for this reservation), and returns the TAT once n is taken.
func (s *State) checkRate(q *Quota, n, now, limit, burst int64) (int64, *ExceededError) {
	var e *ExceededError
	if n > burst {
		e = refusal(q, ErrTooLarge, rateUsed(s.TAT, now, limit, q.Window.Period), n, 0, 0)
	} else if tat, wait, ok := gcra(s.TAT, now, n, limit, burst, q.Window.Period); ok {
		return tat, nil
	} else {
		e = refusal(q, ErrExceeded, rateUsed(s.TAT, now, limit, q.Window.Period), n, wait, 0)
	}
	if q.Live != nil {
		e.Quota.Limit, e.Quota.Burst = limit, burst
	}
	return 0, e
}

// AppendStatus appends q's status in s at now (unix ns) to dst. A Day or Month state whose
// window does not contain now reports the window that does, unused. The status points
// at q (see Status.Quota).
func (s *State) AppendStatus(dst []Status, q *Quota, now int64) []Status {
	return s.appendStatus(dst, q, now, q.Limit, q.Capacity())
}

// appendStatus is AppendStatus with a Rate's limit and burst given (its Live's, resolved).
func (s *State) appendStatus(dst []Status, q *Quota, now, limit, burst int64) []Status {
	dst = slices.Grow(dst, 1)
	dst = dst[:len(dst)+1]
	st := &dst[len(dst)-1]
	st.Quota = q
	st.Used, st.Held, st.ResetAt = 0, 0, time.Time{}
	switch q.Window.Kind {
	case Rate:
		if q.Live != nil {
			r := *q
			r.Limit, r.Burst = limit, burst
			st.Quota = &r
		}
		st.Used = rateUsed(s.TAT, now, limit, q.Window.Period)
		st.Remaining = max(burst-st.Used, 0)
		if s.TAT > now {
			st.ResetAt = time.Unix(0, s.TAT)
		}
		return dst
	case Day, Month:
		end := s.End
		if now >= s.Start && now < s.End {
			st.Used, st.Held = s.Used+s.Held, s.Held
		} else {
			_, end = q.Window.Span(now)
		}
		st.ResetAt = inZone(end, q.Window.Location)
	default:
		st.Used, st.Held = s.Used+s.Held, s.Held
	}
	st.Remaining = max(q.Limit-st.Used, 0)
	return dst
}

// Worst returns which of two refusals of one request a store reports: the one that waiting
// cannot cure (ErrTooLarge, then ErrBudget), else the one with the longer wait. Either may
// be nil.
func Worst(a, b *ExceededError) *ExceededError {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if ra, rb := a.rank(), b.rank(); ra != rb {
		if ra > rb {
			return a
		}
		return b
	}
	if b.RetryAfter > a.RetryAfter {
		return b
	}
	return a
}

func (e *ExceededError) rank() int {
	switch e.kind {
	case ErrTooLarge:
		return 2
	case ErrBudget:
		return 1
	}
	return 0
}

func inZone(ns int64, loc *time.Location) time.Time {
	if loc == nil {
		return time.Unix(0, ns).UTC()
	}
	return time.Unix(0, ns).In(loc)
}
