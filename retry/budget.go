package retry

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// The defaults that a zero BudgetConfig field stands for.
const (
	DefaultBudgetRatio        = 0.1
	DefaultBudgetWindow       = 10 * time.Second
	DefaultBudgetMinPerSecond = 1.0
)

// budgetBuckets is the number of slices of the rolling window. Ten slices make the window
// roll in steps of a tenth, as Finagle's retry budget does, for a fixed 10 counters of
// state however heavy the traffic.
const budgetBuckets = 10

// BudgetConfig configures a Budget. Its zero value is the documented default: retries may
// add 10% of the first attempts of the last 10 seconds, plus 1 retry per second.
type BudgetConfig struct {
	// Ratio is the share of recent first attempts that may be retried, in [0, 1]; values
	// above 1 are refused because they almost always mean a percentage typed as a whole
	// number. Zero means DefaultBudgetRatio.
	Ratio float64

	// Window is how far back first attempts earn retries and retries are counted. Zero
	// means DefaultBudgetWindow.
	Window time.Duration

	// MinPerSecond is a floor of retries per second averaged over the Window, so that a
	// caller with little traffic, whose Ratio share rounds to nothing, may still retry.
	// Zero means DefaultBudgetMinPerSecond; a negative value means no floor.
	MinPerSecond float64
}

// Validate reports the first invalid field, by name.
func (c BudgetConfig) Validate() error {
	switch {
	case !(c.Ratio >= 0 && c.Ratio <= 1):
		return fmt.Errorf("retry: BudgetConfig.Ratio %v is outside [0, 1]", c.Ratio)
	case c.Window < 0:
		return fmt.Errorf("retry: BudgetConfig.Window %v is negative", c.Window)
	case c.Window > 0 && c.Window < budgetBuckets:
		return fmt.Errorf("retry: BudgetConfig.Window %v is shorter than %dns", c.Window, budgetBuckets)
	case math.IsNaN(c.MinPerSecond) || math.IsInf(c.MinPerSecond, 0):
		return fmt.Errorf("retry: BudgetConfig.MinPerSecond %v is not finite", c.MinPerSecond)
	}
	return nil
}

// Budget limits retries to a share of recent first attempts, like gRPC's retry throttling
// and Finagle's RetryBudget, so that when an upstream fails for everyone, a fleet adds at
// most Ratio more load instead of multiplying its load by MaxAttempts.
//
// Over the rolling Window, TryRetry allows a retry while
//
//	retries < Ratio*firstAttempts + MinPerSecond*Window.Seconds()
//
// The state is a fixed ring of counters, whatever the traffic. Methods take the time
// explicitly; times that go backwards count in the newest slice. A Budget is safe for
// concurrent use, and a nil *Budget allows every retry, so that "no budget" needs no
// special case at call sites. One Budget is meant to be shared by every request to one
// upstream (or to all of them) in a process.
type Budget struct {
	ratio   float64
	reserve float64 // MinPerSecond*Window in retries
	width   int64   // nanoseconds per bucket

	mu       sync.Mutex
	started  bool  // whether head has been set
	head     int64 // the newest bucket's slot number: Unix nanoseconds / width
	requests [budgetBuckets]int64
	retries  [budgetBuckets]int64
	sumReq   int64 // sums of the ring, kept so that TryRetry is O(1)
	sumRetry int64
}

// NewBudget returns an empty Budget, or Validate's error.
func NewBudget(c BudgetConfig) (*Budget, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Ratio == 0 {
		c.Ratio = DefaultBudgetRatio
	}
	if c.Window == 0 {
		c.Window = DefaultBudgetWindow
	}
	switch {
	case c.MinPerSecond == 0:
		c.MinPerSecond = DefaultBudgetMinPerSecond
	case c.MinPerSecond < 0:
		c.MinPerSecond = 0
	}
	return &Budget{
		ratio:   c.Ratio,
		reserve: c.MinPerSecond * c.Window.Seconds(),
		width:   int64(c.Window) / budgetBuckets,
	}, nil
}

// Request records a first attempt at now. Retries are not recorded here: they must not
// earn further retries.
func (b *Budget) Request(now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	i := b.advance(now)
	b.requests[i]++
	b.sumReq++
	b.mu.Unlock()
}

// TryRetry reports whether a retry at now fits the budget and, if so, counts it.
func (b *Budget) TryRetry(now time.Time) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.advance(now)
	if float64(b.sumRetry)+1 > b.ratio*float64(b.sumReq)+b.reserve {
		return false
	}
	b.retries[i]++
	b.sumRetry++
	return true
}

// advance moves the ring forward to now's slot, clearing the slices that left the window,
// and returns the ring index to count in. b.mu must be held.
func (b *Budget) advance(now time.Time) int {
	slot := now.UnixNano() / b.width
	if !b.started {
		b.started, b.head = true, slot
	}
	if slot > b.head {
		n := min(slot-b.head, budgetBuckets)
		for s := slot - n + 1; s <= slot; s++ {
			i := ringIndex(s)
			b.sumReq -= b.requests[i]
			b.sumRetry -= b.retries[i]
			b.requests[i], b.retries[i] = 0, 0
		}
		b.head = slot
	}
	return ringIndex(b.head)
}

func ringIndex(slot int64) int {
	i := slot % budgetBuckets
	if i < 0 { // times before 1970
		i += budgetBuckets
	}
	return int(i)
}
