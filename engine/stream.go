package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/llm"
)

// meteredStream relays an upstream stream, counts the generated text it relays, and
// settles its attempt exactly once when it ends: at io.EOF (complete), at an error (the
// upstream cut it or sent an error event), at Close before the end, or when the caller's
// context ends (which closes the upstream, so that it stops generating).
type meteredStream struct {
	llm.Stream
	a          *attempt
	upstreamID string
	// mu guards count and content, which Recv updates, against an end run by Close from
	// another goroutine.
	mu      sync.Mutex
	count   TokenCounter
	content bool
	// gone is set when the caller went away: its context ended or it closed the stream.
	gone      atomic.Bool
	stopWatch func() bool
	once      sync.Once
}

// errClosed is the end of a stream that its caller closed before the end.
var errClosed = errors.New("stream closed before its end")

// meter wraps s, the stream of attempt a. When ctx can end, its end closes the stream.
func (a *attempt) meter(s llm.Stream, upstreamID string, ctx context.Context) *meteredStream {
	m := &meteredStream{Stream: s, a: a, upstreamID: upstreamID, count: a.r.e.tokenizer.Output(a.model.Provider)}
	if ctx != nil && ctx.Done() != nil {
		m.stopWatch = context.AfterFunc(ctx, func() {
			m.gone.Store(true)
			_ = m.Stream.Close()
		})
	}
	return m
}

func (s *meteredStream) Recv() (llm.Chunk, error) {
	c, err := s.Stream.Recv()
	if err != nil {
		s.end(err)
		return c, err
	}
	if c.IsContent() {
		s.mu.Lock()
		s.content = true
		s.count.Add(c.Text)
		s.count.Add(c.Reasoning)
		for i := range c.ToolCalls {
			s.count.Add(c.ToolCalls[i].Name)
			s.count.Add(c.ToolCalls[i].Arguments)
		}
		s.count.Add(c.Other)
		s.mu.Unlock()
	}
	return c, nil
}

func (s *meteredStream) Close() error {
	err := s.Stream.Close()
	s.gone.Store(true)
	s.end(errClosed)
	return err
}

// end settles the attempt: a complete stream at the usage the upstream reported, any
// other end (and a complete stream that reported none) by the early-end rule.
func (s *meteredStream) end(err error) {
	s.once.Do(func() {
		if s.stopWatch != nil {
			s.stopWatch()
		}
		a := s.a
		complete := errors.Is(err, llm.EOF)
		outcome := ledger.OutcomeOK
		var upstreamErr error
		switch {
		case complete:
		case s.gone.Load():
			// The caller left; whatever the upstream's read then returned, it did not fail.
			outcome = ledger.OutcomeCancelled
		default:
			outcome, upstreamErr = ledger.OutcomeError, err
		}
		a.done(upstreamErr, time.Now())
		u := s.Stream.Usage()
		if !complete || u == (llm.Usage{}) {
			s.mu.Lock()
			counted := s.count.Tokens()
			s.mu.Unlock()
			u = a.earlyUsage(u, counted)
		}
		a.settle(u, outcome, s.upstreamID, nil)
	})
}
