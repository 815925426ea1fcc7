package engine

import (
	"time"

	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// Result is what Do returns: the answer and everything a caller needs to say what happened
// — in headers, metrics, logs — without deriving anything again. Do returns a non-nil
// Result also when it fails; then Response is nil and Outcome says how far the chain got.
type Result struct {
	// RequestID identifies the request in the ledger, the log, the upstream's bill (it is
	// sent upstream as X-Client-Request-Id) and the caller's answer: a UUIDv7, unique
	// across processes and replicas.
	RequestID string
	// UpstreamRequestID is the serving upstream's own id of the call (OpenAI's
	// x-request-id, Anthropic's request-id), as the ledger records it; "" when it sent
	// none or no upstream served. The ids of failed attempts are in Outcome.Attempts.
	UpstreamRequestID string
	// Response is the answer; nil when Do failed. A streamed Response must be read to its
	// end or closed.
	Response *llm.Response
	// Outcome is the chain: every step tried or skipped, with its typed reason.
	Outcome fallback.Outcome
	// Provider and Model are the upstream and the model id that served; both empty for a
	// cached or static answer and when Do failed.
	Provider, Model string
	// MaxTokens is the output cap per choice sent to the upstream that served: the
	// caller's, the default, or a clamp to the budget. 0 when no upstream served.
	MaxTokens int
	// Statuses are the states of the quotas of the serving attempt: after its settle for a
	// whole answer, after its reservation for a stream (which settles at its end). Empty
	// when no quota applied or no upstream served.
	Statuses []quota.Status
	// Waited is the time the request spent in the admission queue, over all its attempts.
	Waited time.Duration
}
