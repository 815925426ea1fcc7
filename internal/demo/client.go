package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/fallback"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/quota"
)

// client is what an agent calls: one request in, one answer (a stream read to its end) or
// an error out. The engine is the first implementation; a gateway client speaking HTTP is
// the second, and the agents do not change.
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
	// BudgetStop says the session or tenant budget can pay for no model any more: the
	// answer came from a last resort (cache, static) after every model step was skipped
	// for the budget.
	BudgetStop bool
}

// engineClient calls an in-process engine.
type engineClient struct {
	eng *engine.Engine
}

var _ client = engineClient{}

// Do runs req through the engine, reading a streamed answer to its end so that its
// reservation settles before Do returns.
func (c engineClient) Do(ctx context.Context, req *llm.Request) (answer, error) {
	resp, outcome, err := c.eng.Do(ctx, req)
	if err != nil {
		return answer{}, err
	}
	a := answer{Model: outcome.Served, Text: resp.Text, Usage: resp.Usage, Cached: resp.Cached,
		Static: outcome.Served == "static", BudgetStop: budgetStopped(outcome)}
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
			return answer{}, fmt.Errorf("%w from %s: %w", errStreamCut, a.Model, err)
		}
		b.WriteString(ch.Text)
	}
	a.Usage = resp.Stream.Usage()
	_ = resp.Stream.Close()
	a.Text = b.String()
	return a, nil
}

// budgetStopped reports whether a last resort served because the budget ruled out the
// chain's last model. The engine records a budget skip with a reason that starts with its
// own "budget: worst case ..." or with the store's refusal, quota.ErrBudget or, for a
// request whose worst case exceeds the whole budget, quota.ErrTooLarge (the demo's rate
// limits are far larger than any one request, so only a budget can refuse it as too
// large). The Outcome carries no error value for a skipped step: the reason is all there
// is to read.
func budgetStopped(o *fallback.Outcome) bool {
	if o.Served != "static" && o.Served != "cached" {
		return false
	}
	for i := len(o.Attempts) - 1; i >= 0; i-- {
		a := o.Attempts[i]
		if a.Model == "cached" || a.Model == "static" {
			continue
		}
		return a.Result == fallback.Skipped && (strings.HasPrefix(a.Reason, "budget") ||
			strings.HasPrefix(a.Reason, quota.ErrBudget.Error()) || strings.HasPrefix(a.Reason, quota.ErrTooLarge.Error()))
	}
	return false
}

// errStreamCut is a stream that failed after its first byte: too late to fall back, so
// the agent sees the error, and tollgate charges the call's worst case.
var errStreamCut = errors.New("stream cut")

// isBudget reports whether err is a budget refusal: the agent's session (or its tenant)
// cannot pay for this request, now or ever.
func isBudget(err error) bool {
	var qe *quota.ExceededError
	return errors.As(err, &qe) && qe.Quota.Window.Kind.IsBudget() && qe.Permanent()
}
