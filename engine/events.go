package engine

import (
	"time"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// EventKind says what happened.
type EventKind int

// The kinds of event. Each request produces Admitted events (one per reservation), then
// any of the middle kinds, then exactly one Served or Refused.
const (
	Admitted      EventKind = iota + 1 // a reservation was granted after Waited in the queue
	UpstreamError                      // an attempt failed (Err, Kind, Model)
	Retried                            // another attempt at the same model follows after Wait
	Skipped                            // a chain step was skipped (Why, Reason; Downgrade for budget)
	Clamped                            // max_tokens was lowered to MaxTokens to fit the budget
	BudgetWarning                      // a budget crossed its warn threshold (Budget)
	Served                             // the request was answered (Model, Usage, MicroUSD)
	Refused                            // the request failed (Err, Why)
	Settled                            // an attempt that reached the upstream was settled at Usage (Outcome; streams: at their end)
)

var eventNames = [...]string{"", "admitted", "upstream_error", "retried", "skipped", "clamped",
	"budget_warning", "served", "refused", "settled"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "event"
}

// Event is one observable step in the life of a request, for metrics, logs and the demo.
// Fields that do not apply to a Kind are zero. Observers branch on the typed fields (Kind,
// Why, ErrKind, Budget, Outcome, Err with errors.Is); the strings are for people.
type Event struct {
	Kind      EventKind
	Time      time.Time
	RequestID string
	Route     string
	Model     string
	Provider  string
	Identity  llm.Identity
	Level     queue.Level
	Waited    time.Duration // Admitted: time spent in the queue
	Wait      time.Duration // Retried: backoff before the next attempt
	Reason    string        // Skipped, Retried, Refused: for people
	Why       fallback.Why  // Skipped: the reason's class; Refused: the failure's, when one applies
	Downgrade bool          // Skipped: the step was skipped for the budget
	ErrKind   llm.Kind      // UpstreamError
	Status    int           // UpstreamError: HTTP status
	Err       error
	Quota     string      // BudgetWarning: the quota's name and scope, for people
	Budget    quota.Quota // BudgetWarning: the budget that crossed its threshold
	Fraction  float64
	MaxTokens int       // Clamped
	Usage     llm.Usage // Settled: what was charged; Served: for a whole answer
	MicroUSD  int64
	// Outcome is how a Settled attempt ended: ledger.OutcomeOK, OutcomeError or
	// OutcomeCancelled, as its ledger record says.
	Outcome string
	// UpstreamRequestID is the upstream's id of a Settled or failed (UpstreamError) call.
	UpstreamRequestID string
	Latency           time.Duration // Served: from Do to the answer (streams: to the first chunk)
	Cached            bool          // Served: from the cache
	Stale             bool
	Static            bool
	FellBack          bool
}
