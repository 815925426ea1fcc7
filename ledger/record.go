package ledger

import "time"

// Outcomes of an attempt, the values of Record.Outcome.
const (
	OutcomeOK        = "ok"        // the upstream answered
	OutcomeError     = "error"     // the upstream failed; tokens it reported are still charged
	OutcomeCancelled = "cancelled" // the client went away; a partial stream still cost money
	OutcomeCached    = "cached"    // served from the response cache as a fallback
	OutcomeStatic    = "static"    // served the configured static answer
)

// Record is the usage of one settled attempt. A request that falls back or retries produces
// one Record per attempt, all with the same RequestID and increasing Attempt.
type Record struct {
	// Time is when the attempt settled. Append replaces a zero Time with the current time.
	Time      time.Time
	RequestID string

	Tenant, Key, Agent, Session string // who paid; Key is the virtual key id, never a secret
	Route, Provider, Model      string // what served: the route asked for and the model used

	InputTokens       int64 // includes CachedInputTokens, as llm.Usage does
	CachedInputTokens int64
	OutputTokens      int64
	MicroUSD          int64 // the cost, in millionths of a dollar

	Outcome        string // one of the Outcome constants
	FallbackReason string // why this attempt was not the first choice; "" when it was
	Latency        time.Duration
	Attempt        int // 1 for the first attempt of a request
}
