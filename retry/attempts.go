package retry

// DefaultChainAttempts is the cap that a zero Attempts.Max stands for: a little more than
// one model's default MaxAttempts, so that one retried model plus a fallback or two fit.
const DefaultChainAttempts = 5

// Attempts caps the upstream attempts that one request may make across its whole fallback
// chain. Without it, retries per model times fallback steps multiply (3 attempts x 4
// models = 12 calls for one request); with it, the engine calls Take before every upstream
// attempt, first or retry, on any model, and stops (serving a cached or static answer, or
// the last error) once Take says no.
//
// Max is the cap; zero means DefaultChainAttempts and a negative Max allows no attempt.
// The zero Attempts is ready to use. An Attempts belongs to one request and is used by one
// goroutine at a time; it is not safe for concurrent use.
type Attempts struct {
	Max int
	n   int
}

// Take consumes one attempt and reports whether it was available.
func (a *Attempts) Take() bool {
	if a.n >= a.limit() {
		return false
	}
	a.n++
	return true
}

// Used returns the number of attempts taken so far.
func (a *Attempts) Used() int { return a.n }

// Left returns the number of attempts that Take would still grant.
func (a *Attempts) Left() int { return max(0, a.limit()-a.n) }

func (a *Attempts) limit() int {
	if a.Max == 0 {
		return DefaultChainAttempts
	}
	return a.Max // a negative cap grants nothing, since n is never below 0
}
