package ledger

import "time"

// Outcomes of an attempt, the values of Record.Outcome.
const (
	OutcomeOK        = "ok"        // the upstream answered
	OutcomeError     = "error"     // the upstream failed; tokens it reported are still charged
	OutcomeCancelled = "cancelled" // the client went away; a partial stream still cost money
	OutcomeCached    = "cached"    // served from the response cache as a fallback
	OutcomeStatic    = "static"    // served the configured static answer
	// OutcomeOrphaned is the charge of a hold that its process left open (it crashed, or
	// closed the ledger with the call unsettled): the hold's worst case, stamped with the
	// time the hold was opened, because the upstream may have billed the call.
	OutcomeOrphaned = "orphaned"
)

// Record is the usage of one settled attempt. A request that falls back or retries produces
// one Record per attempt, all with the same RequestID and increasing Attempt.
type Record struct {
	// Time is when the attempt settled. Append replaces a zero Time with the current time.
	Time time.Time
	// RequestID identifies the request across every process of a fleet (a UUIDv7 or ULID
	// made by the engine); the ledger indexes it (see Ledger.Request).
	RequestID string
	// UpstreamRequestID is the provider's own id of the call (OpenAI's x-request-id,
	// Anthropic's request-id), when it sent one: what matches a record to the provider's
	// bill and support. Indexed; "" when unknown.
	UpstreamRequestID string
	// HoldID is the id of the hold this attempt settles (see Ledger.OpenHold): committing
	// the record closes the hold in the same transaction. "" when no hold was opened.
	HoldID string

	Tenant, Key, Agent, Session string // who paid; Key is the virtual key id, never a secret
	Route, Provider, Model      string // what served: the route asked for and the model used

	// The usage, as llm.Usage counts it: InputTokens includes CachedInputTokens (read
	// from the prompt cache) and CacheWriteTokens (written to it), of which
	// CacheWrite1hTokens with the 1-hour TTL; OutputTokens includes ReasoningTokens.
	InputTokens        int64
	CachedInputTokens  int64
	CacheWriteTokens   int64
	CacheWrite1hTokens int64
	OutputTokens       int64
	ReasoningTokens    int64
	MicroUSD           int64 // the cost, in millionths of a dollar

	Outcome        string // one of the Outcome constants
	FallbackReason string // why this attempt was not the first choice; "" when it was
	Latency        time.Duration
	Attempt        int // 1 for the first attempt of a request
}
