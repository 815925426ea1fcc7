package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/queue"
	"github.com/tollgate/tollgate/quota"
)

// client is what an agent calls: one request in, one answer (a stream read to its end) or
// a *callError out. gatewayClient speaks HTTP to the gateway through the official OpenAI
// SDK, as an agent in production does; engineClient calls the engine in-process (the
// -direct path). The agents do not know which they have.
type client interface {
	Do(ctx context.Context, req *llm.Request) (answer, error)
}

// answer is what an agent learns from one request.
type answer struct {
	Model  string // the model that served, "cached" or "static"
	Text   string
	Usage  llm.Usage
	Cached bool
	Static bool
	// Status is the HTTP status the agent received; 0 in-process.
	Status int
	// FellBack says a step after the route's first served (through the gateway:
	// X-Tollgate-Fallback-Reason was set); Clamped that max_tokens was lowered to fit a
	// budget (X-Tollgate-Max-Tokens).
	FellBack, Clamped bool
	// BudgetStop says the session or tenant budget can pay for no model any more: the
	// answer came from a last resort (the cache) after every model step was skipped for
	// the budget. Only the in-process client can see this; through the gateway such an
	// answer is a 200 like any other, and the next request's refusal stops the agent.
	BudgetStop bool
}

// errClass is what an agent does about a failed call.
type errClass int

const (
	// classOther is any other failure: the agent notes it and goes on.
	classOther errClass = iota
	// classBudget is a budget refusal: the session or its tenant cannot pay for this
	// request, now or ever. The agent stops.
	classBudget
	// classShed is a refusal by tollgate's own queue or rate rules, with a Retry-After:
	// the agent backs off and goes on.
	classShed
	// classUpstream429 is an upstream 429 that tollgate passed on after its retries and
	// fallbacks.
	classUpstream429
	// classStreamCut is a stream that failed after its first byte: too late to fall
	// back, so the agent sees the error, and tollgate charges the call's worst case.
	classStreamCut
)

// callError is a failed call as the agent classifies it.
type callError struct {
	class  errClass
	reason string // names the failure in the report's error table
	status int    // the HTTP status received; 0 in-process or when no response came
	err    error
}

func (e *callError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// classOf returns the class of an error from a client; an error of another type is
// classOther.
func classOf(err error) (errClass, string, int) {
	var ce *callError
	if errors.As(err, &ce) {
		return ce.class, ce.reason, ce.status
	}
	return classOther, reasonOf(err), 0
}

// engineClient calls an in-process engine.
type engineClient struct {
	eng *engine.Engine
}

var _ client = engineClient{}

// Do runs req through the engine, reading a streamed answer to its end so that its
// reservation settles before Do returns. Errors are *callError.
func (c engineClient) Do(ctx context.Context, req *llm.Request) (answer, error) {
	res, err := c.eng.Do(ctx, req)
	resp, outcome := res.Response, &res.Outcome
	if err != nil {
		return answer{}, engineError(err)
	}
	a := answer{Model: outcome.Served, Text: resp.Text, Usage: resp.Usage, Cached: resp.Cached,
		Static: outcome.Served == "static", BudgetStop: budgetStopped(outcome), FellBack: outcome.FellBack(), Clamped: outcome.Clamped > 0}
	if resp.Stream == nil {
		return a, nil
	}
	var b strings.Builder
	for {
		ch, err := resp.Stream.Recv()
		if errors.Is(err, llm.EOF) {
			break
		}
		if err != nil {
			_ = resp.Stream.Close()
			return answer{}, &callError{class: classStreamCut, reason: "stream cut",
				err: fmt.Errorf("from %s: %w", a.Model, err)}
		}
		b.WriteString(ch.Text)
	}
	a.Usage = resp.Stream.Usage()
	_ = resp.Stream.Close()
	a.Text = b.String()
	return a, nil
}

// engineError classifies an error of engine.Do.
func engineError(err error) *callError {
	ce := &callError{reason: reasonOf(err), err: err}
	switch {
	case isBudget(err):
		ce.class = classBudget
	case errors.Is(err, queue.ErrTimeout) || errors.Is(err, queue.ErrFull):
		ce.class = classShed
	case llm.KindOf(err) == llm.KindRateLimited:
		ce.class = classUpstream429
	}
	return ce
}

// budgetStopped reports whether a last resort served because the budget ruled out the
// chain's last model: the last model step was skipped with the store's budget refusal
// (quota.ErrBudget, or quota.ErrTooLarge for a request whose worst case exceeds the whole
// budget; the demo's rate limits are far larger than any one request, so only a budget
// can refuse it as too large).
func budgetStopped(o *fallback.Outcome) bool {
	if o.Served != "static" && o.Served != "cached" {
		return false
	}
	for i := len(o.Attempts) - 1; i >= 0; i-- {
		a := o.Attempts[i]
		if a.Model == "cached" || a.Model == "static" {
			continue
		}
		return a.Result == fallback.Skipped && (errors.Is(a.Err, quota.ErrBudget) || errors.Is(a.Err, quota.ErrTooLarge))
	}
	return false
}

// isBudget reports whether err is a budget refusal: the agent's session (or its tenant)
// cannot pay for this request, now or ever.
func isBudget(err error) bool {
	var qe *quota.ExceededError
	return errors.As(err, &qe) && qe.Quota.Window.Kind.IsBudget() && qe.Permanent()
}
