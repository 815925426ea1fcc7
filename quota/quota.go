// Package quota is tollgate's one idea: everything is a quota, {scope, unit, limit, window},
// and every quota supports the same three verbs: reserve (all-or-nothing over a set of
// quotas, at the worst case), settle (replace the worst case with the actual amount) and
// release (return everything).
//
// A Store holds quota state. MemoryStore is the in-process implementation; a Redis store
// satisfies the same interface for fleets of gateways. Rates use GCRA (O(1) state per key);
// budgets use counters keyed by calendar window or lifetime; concurrency uses leases.
package quota

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Unit is what a quota counts.
type Unit uint8

// The units a quota can count.
const (
	Requests     Unit = iota + 1 // calls started
	InputTokens                  // prompt tokens
	OutputTokens                 // completion tokens
	Tokens                       // input + output tokens
	MicroUSD                     // cost in millionths of a US dollar
	Concurrent                   // calls in flight (a lease, returned at settle)
)

var unitNames = [...]string{"", "requests", "input_tokens", "output_tokens", "tokens", "usd", "concurrent"}

func (u Unit) String() string {
	if int(u) < len(unitNames) && u != 0 {
		return unitNames[u]
	}
	return "unit(" + strconv.Itoa(int(u)) + ")"
}

// ParseUnit parses a unit name as written in configuration.
func ParseUnit(s string) (Unit, error) {
	for i, n := range unitNames {
		if i > 0 && n == s {
			return Unit(i), nil
		}
	}
	switch s {
	case "micro_usd", "usd_micros":
		return MicroUSD, nil
	case "concurrency", "concurrent_calls":
		return Concurrent, nil
	}
	return 0, fmt.Errorf("unknown unit %q (want requests, input_tokens, output_tokens, tokens, usd or concurrent)", s)
}

// Format renders an amount of u for people: dollars for MicroUSD, plain counts otherwise.
func (u Unit) Format(n int64) string {
	if u != MicroUSD {
		return strconv.FormatInt(n, 10)
	}
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", n%1e6), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + "$" + strconv.FormatInt(n/1e6, 10) + "." + frac
}

// Kind is the kind of window a quota counts over.
type Kind uint8

// The kinds of window.
const (
	Rate     Kind = iota + 1 // a rolling rate: Limit per Period, with a Burst (GCRA)
	Day                      // the calendar day in Location, reset at local midnight
	Month                    // the calendar month in Location
	Lifetime                 // never resets (one session, one agent run)
	Lease                    // concurrency: held from reserve to settle or release
)

var kindNames = [...]string{"", "rate", "day", "month", "lifetime", "lease"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// IsBudget reports whether quotas of this kind are budgets: a refusal lasts until the window
// resets (or forever), so waiting in a queue is pointless.
func (k Kind) IsBudget() bool { return k == Day || k == Month || k == Lifetime }

// Window says how a quota's use is counted over time.
type Window struct {
	Kind Kind
	// Period is the span over which a Rate's Limit refills evenly (e.g. time.Minute).
	Period time.Duration
	// Location is the time zone whose midnight starts a Day or Month; nil means UTC.
	Location *time.Location
	// Idle is, for a Lifetime window, how long its state is kept once idle: no reservation
	// open on it, none made or settled (the Redis store may keep it up to its reservation
	// TTL longer). A session idle that long is taken to be over and its budget is
	// forgotten: a later request under the same key starts from zero. Zero means the store's default
	// (DefaultIdle, 30 days, in the memory and the Redis store alike); a negative value keeps
	// the state as long as the store lives, for budgets that must never reset (a trial key's
	// allowance). Other kinds ignore it: their state is forgotten once it equals a fresh
	// key's (a rate refilled, a calendar window ended, no lease held).
	Idle time.Duration
}

// PerMinute is a rolling per-minute rate window.
func PerMinute() Window { return Window{Kind: Rate, Period: time.Minute} }

// Rolling is a rolling rate window over period.
func Rolling(period time.Duration) Window { return Window{Kind: Rate, Period: period} }

// Daily is the calendar day in loc (nil: UTC).
func Daily(loc *time.Location) Window { return Window{Kind: Day, Location: loc} }

// Monthly is the calendar month in loc (nil: UTC).
func Monthly(loc *time.Location) Window { return Window{Kind: Month, Location: loc} }

// Forever is a lifetime window.
func Forever() Window { return Window{Kind: Lifetime} }

// Leased is a concurrency window.
func Leased() Window { return Window{Kind: Lease} }

func (w Window) String() string {
	switch w.Kind {
	case Rate:
		return "per " + shortDuration(w.Period)
	case Day, Month:
		loc := "UTC"
		if w.Location != nil {
			loc = w.Location.String()
		}
		return "per " + w.Kind.String() + " (" + loc + ")"
	case Lifetime:
		return "lifetime"
	case Lease:
		return "at once"
	}
	return w.Kind.String()
}

func shortDuration(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return d.String()
}

// Quota is one concrete limit: a key (scope instance), a unit, a limit and a window.
// Quotas are values; build them from a Rule and a request's Labels with Rule.For.
type Quota struct {
	// Name is the rule's name, for messages and metrics.
	Name string
	// Key identifies the state this quota counts against; quotas with equal keys share it.
	Key string
	// Scope is the label set the key was made from, for messages.
	Scope  Labels
	Unit   Unit
	Limit  int64
	Window Window
	// Burst is how much of a Rate may be used at once; 0 means Limit.
	Burst int64
	// WarnAt is the fraction of a budget's limit whose crossing is reported (Reservation.Warned);
	// 0 means 0.8, a negative value disables the warning.
	WarnAt float64
	// DowngradeAt is the fraction of a budget's limit past which a planner should prefer a
	// cheaper model; 0 disables it.
	DowngradeAt float64
	// Live, when set on a Rate, replaces Limit and Burst with the Live's, read each time a
	// store decides a reservation, and puts the Live's floor under the rate's state (see
	// Live and Resolve). Quotas that share a Key must share their Live. Limit then serves
	// only a store that does not know Live limits; set it to Unlimited.
	Live *Live
	// OutputAtCap counts a call's output at the cap its reservation took, never less: a
	// settle charges the actual input and the larger of the actual and the reserved
	// output, unless the call used no tokens at all (the provider refused it). It is for
	// a provider's rate that counts max_tokens when it admits a call and gives back none
	// of it (OpenAI's tokens per minute).
	OutputAtCap bool
}

// Capacity returns the most that one reservation can take from q: a Rate's Burst (its
// Limit when Burst is 0), any other quota's Limit. A larger request is refused with
// ErrTooLarge.
func (q *Quota) Capacity() int64 {
	if q.Window.Kind == Rate && q.Burst > 0 {
		return q.Burst
	}
	return q.Limit
}

// Interval returns, for a Rate, the time in nanoseconds that n units take to refill at
// Limit per Period, rounded up so that the rate is never exceeded; it saturates at
// math.MaxInt64 instead of overflowing, and is 0 for n <= 0.
func (q *Quota) Interval(n int64) int64 { return interval(n, q.Limit, q.Window.Period) }

// Warns reports whether taking n more units of a budget whose use (settled and held) is
// before crosses its WarnAt threshold: 0.8 of the Limit by default, never when WarnAt is
// negative.
func (q *Quota) Warns(before, n int64) bool {
	f := q.WarnAt
	if f < 0 || !q.Window.Kind.IsBudget() {
		return false
	}
	if f == 0 {
		f = 0.8
	}
	w := int64(f * float64(q.Limit))
	return before < w && before+n >= w
}

// IdleTTL returns how long a Lifetime quota's state is kept unused: Window.Idle, or def
// when that is zero. A negative result means forever.
func (q *Quota) IdleTTL(def time.Duration) time.Duration {
	if q.Window.Idle != 0 {
		return q.Window.Idle
	}
	return def
}

// Validate reports the first problem with q's definition.
func (q *Quota) Validate() error {
	switch {
	case q.Key == "":
		return fmt.Errorf("quota %q: empty key", q.Name)
	case q.Unit < Requests || q.Unit > Concurrent:
		return fmt.Errorf("quota %q: invalid unit %d", q.Name, q.Unit)
	case q.Limit <= 0:
		return fmt.Errorf("quota %q: limit must be positive, got %d", q.Name, q.Limit)
	case q.Burst < 0:
		return fmt.Errorf("quota %q: burst must not be negative, got %d", q.Name, q.Burst)
	case q.WarnAt > 1 || q.DowngradeAt < 0 || q.DowngradeAt > 1:
		return fmt.Errorf("quota %q: thresholds are fractions of the limit (0..1)", q.Name)
	}
	switch q.Window.Kind {
	case Rate:
		if q.Window.Period <= 0 {
			return fmt.Errorf("quota %q: rate window needs a positive period", q.Name)
		}
	case Day, Month, Lifetime:
	case Lease:
		if q.Unit != Concurrent {
			return fmt.Errorf("quota %q: a lease window counts concurrent calls, not %s", q.Name, q.Unit)
		}
	default:
		return fmt.Errorf("quota %q: invalid window kind %d", q.Name, q.Window.Kind)
	}
	if q.Unit == Concurrent && q.Window.Kind != Lease {
		return fmt.Errorf("quota %q: concurrent calls need a lease window", q.Name)
	}
	if q.Live != nil && q.Window.Kind != Rate {
		return fmt.Errorf("quota %q: a live limit needs a rate window, not %s", q.Name, q.Window.Kind)
	}
	return nil
}

// describe renders q for error messages: its name, scope, unit and window.
func (q *Quota) describe() string {
	var b strings.Builder
	b.WriteString(q.Name)
	if s := q.Scope.String(); s != "" {
		b.WriteString(" [")
		b.WriteString(s)
		b.WriteString("]")
	}
	b.WriteString(" (")
	b.WriteString(q.Unit.Format(q.Limit))
	if q.Unit != MicroUSD {
		b.WriteString(" ")
		b.WriteString(q.Unit.String())
	}
	b.WriteString(" ")
	b.WriteString(q.Window.String())
	b.WriteString(")")
	return b.String()
}

// Amount is what one attempt uses, in every unit at once. A quota takes the field that
// matches its unit (Of).
type Amount struct {
	Requests     int64
	InputTokens  int64
	OutputTokens int64
	MicroUSD     int64
}

// Of returns the part of a that a quota counting u takes. Concurrent is always 1: one call.
func (a Amount) Of(u Unit) int64 {
	switch u {
	case Requests:
		return a.Requests
	case InputTokens:
		return a.InputTokens
	case OutputTokens:
		return a.OutputTokens
	case Tokens:
		return a.InputTokens + a.OutputTokens
	case MicroUSD:
		return a.MicroUSD
	case Concurrent:
		return 1
	}
	return 0
}
