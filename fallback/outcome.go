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

// Attempt records one step of a chain for one request.
type Attempt struct {
	Model    string // the model, or "cached" / "static"
	Provider string
	Result   Result
	// Reason says why a step was skipped or failed, for people: "cooldown until 12:00:03",
	// "context window 16385 < 20000 tokens", "budget: worst case $0.31 > $0.12 left",
	// "429 after 3 attempts".
	Reason string
	Err    error // the upstream error of a Failed step
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
