package fallback

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// Result is what happened to one step of a chain.
type Result int

// The results. The zero Result is Skipped.
const (
	Skipped Result = iota // not tried: cooldown, context window, budget, cache miss
	Failed                // tried, and the upstream failed
	Served                // this step answered the request
)

func (r Result) String() string {
	switch r {
	case Skipped:
		return "skipped"
	case Failed:
		return "failed"
	case Served:
		return "served"
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// Why says, from a closed set, why a step was skipped or failed: what metrics count and
// what callers branch on. Attempt.Reason stays the text for people.
type Why uint8

// The reasons a step did not serve. The zero Why says nothing (a served step).
const (
	WhyNone           Why = iota
	WhyCooldown           // the deployment's circuit breaker is open
	WhyContextWindow      // the prompt does not fit the model's context window
	WhyBudget             // a budget cannot pay the step's worst case, or is past its downgrade threshold (a downgrade when a cheaper step follows)
	WhyRateWait           // a rate quota would hold the request longer than the route lets it wait before moving on
	WhyUnpriced           // the price table has no price for the model
	WhyNoUpstream         // no upstream is configured for the model's provider
	WhyUntranslatable     // the request cannot be carried to the step's wire format
	WhyAttemptCap         // the chain's cap on upstream attempts was reached
	WhyCacheMiss          // a cached step found no answer
	WhyUpstream           // the upstream failed the attempt (Attempt.Err's llm.Kind says how)
	WhyTimeout            // an attempt timeout passed: response headers, first token, or silence mid-stream
	WhyUnsupported        // the step cannot serve this kind of request (an endpoint or a field it lacks)
	WhyCancelled          // the caller went away (cancelled, or its deadline passed) while the step was tried
	WhyHold               // the reservation's hold could not be journaled in the ledger: tollgate's failure, not the upstream's
)

var whyNames = [...]string{"", "cooldown", "context_window", "budget", "rate_wait", "unpriced", "no_upstream",
	"untranslatable", "attempt_cap", "cache_miss", "upstream", "timeout", "unsupported", "cancelled", "hold"}

// String returns the reason's label, as metrics and logs write it ("" for WhyNone).
func (w Why) String() string {
	if int(w) < len(whyNames) {
		return whyNames[w]
	}
	return "why(" + strconv.Itoa(int(w)) + ")"
}

// Attempt records one step of a chain for one request.
type Attempt struct {
	Model    string // the model, or "cached" / "static"
	Provider string
	Result   Result
	// Why classifies Reason; WhyNone for a served step.
	Why Why
	// Reason says why a step was skipped or failed, for people: "cooldown until 12:00:03",
	// "context window 16385 < 20000 tokens", "budget: worst case $0.31 > $0.12 left",
	// "429 after 3 attempts".
	Reason string
	Err    error // the upstream error of a Failed step
	// UpstreamRequestID is the upstream's id of the step's call (its x-request-id or
	// request-id), when a call was made and answered with one; "" otherwise.
	UpstreamRequestID string
}

func (a Attempt) String() string {
	s := Deployment(a.Provider, a.Model) + " " + a.Result.String()
	switch {
	case a.Reason != "":
		s += " (" + a.Reason + ")"
	case a.Err != nil:
		s += " (" + a.Err.Error() + ")"
	}
	return s
}

// Outcome records what happened to one request across its chain, for response headers,
// logs and metrics. The zero Outcome is an empty record; build it with Record. An Outcome
// belongs to one request and is not safe for concurrent use.
type Outcome struct {
	// Served is the model that answered, "cached" or "static"; empty while nothing has.
	Served string
	// Stale says a cached answer was served past its TTL.
	Stale    bool
	Attempts []Attempt
	// FallbackReason says why the first step did not serve; empty when it did.
	FallbackReason string
	// FallbackWhy classifies FallbackReason; WhyNone when the first step served.
	FallbackWhy Why
	// Clamped is max_tokens after clamping to the budget, 0 when it was not clamped.
	Clamped int
}

// Record appends a to the outcome. A Served attempt sets Served; the first attempt that
// did not serve sets FallbackReason, from its Reason or else its Err.
func (o *Outcome) Record(a Attempt) {
	o.Attempts = append(o.Attempts, a)
	switch {
	case a.Result == Served:
		o.Served = a.Model
	case o.FallbackReason == "" && len(o.Attempts) == 1:
		reason := a.Reason
		if reason == "" && a.Err != nil {
			reason = a.Err.Error()
		}
		if reason == "" {
			reason = a.Result.String()
		}
		o.FallbackReason = Deployment(a.Provider, a.Model) + ": " + reason
		o.FallbackWhy = a.Why
	}
}

// FellBack reports whether a step other than the first served the request.
func (o *Outcome) FellBack() bool {
	return o.Served != "" && len(o.Attempts) > 1
}

// String returns a one-line summary:
//
//	served=gpt-4o-mini stale=false clamped=0 fallback="openai/gpt-4o: cooldown until 12:00:03" attempts=[openai/gpt-4o skipped (cooldown until 12:00:03); openai/gpt-4o-mini served]
func (o *Outcome) String() string {
	var b strings.Builder
	b.WriteString("served=")
	b.WriteString(o.servedOrNone())
	b.WriteString(" stale=" + strconv.FormatBool(o.Stale))
	b.WriteString(" clamped=" + strconv.Itoa(o.Clamped))
	if o.FallbackReason != "" {
		b.WriteString(" fallback=" + strconv.Quote(o.FallbackReason))
	}
	b.WriteString(" attempts=[" + o.attempts() + "]")
	return b.String()
}

func (o *Outcome) servedOrNone() string {
	if o.Served == "" {
		return "none"
	}
	return o.Served
}

func (o *Outcome) attempts() string {
	parts := make([]string, len(o.Attempts))
	for i, a := range o.Attempts {
		parts[i] = a.String()
	}
	return strings.Join(parts, "; ")
}

// LogValue groups the outcome's fields for log/slog.
func (o *Outcome) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("served", o.servedOrNone()),
		slog.Bool("stale", o.Stale),
	}
	if o.FallbackReason != "" {
		attrs = append(attrs, slog.String("fallback_reason", o.FallbackReason))
	}
	if o.Clamped != 0 {
		attrs = append(attrs, slog.Int("clamped", o.Clamped))
	}
	attrs = append(attrs, slog.Int("attempts", len(o.Attempts)), slog.String("chain", o.attempts()))
	return slog.GroupValue(attrs...)
}

var (
	_ slog.LogValuer = (*Outcome)(nil)
	_ fmt.Stringer   = (*Outcome)(nil)
)
