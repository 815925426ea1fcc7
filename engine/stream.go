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
//
// It holds the stream's preamble (awaitContent) until the first content event, so that a
// failure before it can fall back, and bounds the wait for each event by the attempt's
// Timeouts: FirstToken before the first content, Idle after it. A timeout closes the
// upstream stream, and the Recv it ends reports a *TimeoutError.
type meteredStream struct {
	llm.Stream
	a          *attempt
	upstreamID string
	// mu guards count and content, which Recv updates, against an end run by Close from
	// another goroutine.
	mu      sync.Mutex
	count   TokenCounter
	content bool
	// held are the events read by awaitContent and not yet returned by Recv; only Recv's
	// goroutine touches it.
	held []llm.Chunk
	// timer bounds the Recv under way; phase and limit are the timeout it was armed
	// with, timedOut is set once it passed. Only Recv's goroutine touches them.
	timer    *time.Timer
	phase    string
	limit    time.Duration
	timedOut bool
	// gone is set when the caller went away: its context ended or it closed the stream.
	gone      atomic.Bool
	stopWatch func() bool
	once      sync.Once
}

// maxHeld bounds the preamble held before the first content: an upstream that sends
// events without content past it is relayed as it is (the first-token timeout still
// bounds it).
const maxHeld = 64

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

// awaitContent reads the stream's preamble until its first content event, holding every
// event for Recv. It returns nil once content came, once the stream ended complete without
// any (an empty answer is an answer), or when the preamble grew past maxHeld; otherwise the
// failure that ended the stream first, which has settled the attempt.
func (s *meteredStream) awaitContent() error {
	for len(s.held) < maxHeld {
		c, err := s.next()
		if errors.Is(err, llm.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		s.held = append(s.held, c)
		if c.IsContent() {
			return nil
		}
	}
	return nil
}

// Recv returns the held preamble first, then the stream's next events.
func (s *meteredStream) Recv() (llm.Chunk, error) {
	if len(s.held) > 0 {
		c := s.held[0]
		s.held[0] = llm.Chunk{}
		s.held = s.held[1:]
		return c, nil
	}
	return s.next()
}

// next reads one event from the upstream within the timeout of the stream's phase.
func (s *meteredStream) next() (llm.Chunk, error) {
	armed := s.arm()
	c, err := s.Stream.Recv()
	if armed && !s.timer.Stop() {
		s.timedOut = true
	}
	if err != nil {
		if s.timedOut && !errors.Is(err, llm.EOF) {
			err = s.a.timedOut(s.phase, s.limit)
		}
		s.end(err)
		return c, err
	}
	if c.StopReason != "" {
		// The terminal event: remember the stored conversation now, before the caller,
		// which has the answer's id from here on, can continue it.
		if id, n := s.Conversation(); n > 0 {
			s.a.stored(id, n)
		}
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

// arm starts the timeout of the next event, FirstToken until content came and Idle after,
// and reports whether it did.
func (s *meteredStream) arm() bool {
	if s.timedOut {
		return false
	}
	s.phase, s.limit = "first_token", s.a.timeouts.FirstToken
	if s.content {
		s.phase, s.limit = "idle", s.a.timeouts.Idle
	}
	if s.limit <= 0 {
		return false
	}
	if s.timer == nil {
		// The upstream stream's Close may run from another goroutine while Recv waits:
		// that Recv then fails, and next reports the timeout.
		st := s.Stream
		s.timer = time.AfterFunc(s.limit, func() { _ = st.Close() })
		return true
	}
	s.timer.Reset(s.limit)
	return true
}

// Conversation forwards the upstream stream's (see llm.ConversationStream); "" and 0
// for a stream that does not tell.
func (s *meteredStream) Conversation() (string, int64) {
	if cs, ok := s.Stream.(llm.ConversationStream); ok {
		return cs.Conversation()
	}
	return "", 0
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
