package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/tollgate/tollgate/internal/sse"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
)

// sink writes a stream to the client in the caller's format.
type sink interface {
	// chunk writes one upstream event.
	chunk(c llm.Chunk) error
	// end finishes a complete stream.
	end(stopReason string, u llm.Usage) error
	// fail ends the stream with an error event: after the first byte there is no status to
	// send, and a clean close would pass a cut answer for a whole one.
	fail(e *apiError) error
}

// passSink relays an upstream of the caller's own format byte for byte, flushing each event.
type passSink struct {
	w *sse.Writer
	f llm.Format
	o io.Writer
}

func (s *passSink) chunk(c llm.Chunk) error { return s.w.Raw(c.Raw) }

// end writes nothing: the upstream's own terminal events ([DONE], message_stop) were relayed.
func (s *passSink) end(string, llm.Usage) error { return nil }

func (s *passSink) fail(e *apiError) error { return failEvent(s.o, s.f, e) }

func failEvent(w io.Writer, f llm.Format, e *apiError) error {
	if f == llm.Anthropic {
		return anthropic.NewStreamEncoder(w).Fail(e.anType, e.msg)
	}
	return openai.NewStreamEncoder(w, false).Fail(e.oaType, e.oaCode, e.msg)
}

// openAISink re-encodes another format's stream (or a cached or static answer) as Chat
// Completions chunks: text, reasoning and tool calls, with the stop reason the chunks
// carry.
type openAISink struct {
	enc     *openai.StreamEncoder
	model   string
	started bool
}

func (s *openAISink) chunk(c llm.Chunk) error {
	if !s.started {
		s.started = true
		if err := s.enc.Start(s.model); err != nil {
			return err
		}
	}
	return s.enc.Chunk(c)
}

// end finishes with stop, or, when it is empty, the stop reason the chunks carried.
func (s *openAISink) end(stop string, u llm.Usage) error {
	if err := s.chunk(llm.Chunk{}); err != nil {
		return err
	}
	return s.enc.End(stop, u)
}

func (s *openAISink) fail(e *apiError) error { return s.enc.Fail(e.oaType, e.oaCode, e.msg) }

// anthropicSink re-encodes another format's stream as Messages API events.
type anthropicSink struct {
	enc     *anthropic.StreamEncoder
	model   string
	started bool
}

func (s *anthropicSink) chunk(c llm.Chunk) error {
	if !s.started {
		s.started = true
		if err := s.enc.Start(s.model); err != nil {
			return err
		}
	}
	return s.enc.Chunk(c)
}

func (s *anthropicSink) end(stop string, u llm.Usage) error {
	if err := s.chunk(llm.Chunk{}); err != nil {
		return err
	}
	return s.enc.End(stop, u)
}

func (s *anthropicSink) fail(e *apiError) error { return s.enc.Fail(e.anType, e.msg) }

// newSink returns the sink that writes an answer of format from to a caller of format to.
func newSink(w io.Writer, to, from llm.Format, req *llm.Request, model string) sink {
	switch {
	case to == from:
		return &passSink{w: sse.NewWriter(w), f: to, o: w}
	case to == llm.Anthropic:
		return &anthropicSink{enc: anthropic.NewStreamEncoder(w), model: model}
	}
	return &openAISink{enc: openai.NewStreamEncoder(w, openai.IncludeUsage(req.Body)), model: model}
}

func startStream(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx and kin would buffer the stream otherwise
	w.WriteHeader(http.StatusOK)
}

// relay sends an upstream stream to the client event by event as it arrives, flushing
// each. The stream is closed on every path, which settles its reservation: at its end,
// or, when the client goes away, at what it had cost so far.
func (g *Gateway) relay(ctx context.Context, w http.ResponseWriter, x *exchange, req *llm.Request, resp *llm.Response) {
	s := resp.Stream
	defer s.Close()
	// The status waits for the first event: an upstream that fails before it can still be
	// answered with a real HTTP error, which SDKs surface better than an error event.
	c, err := s.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = &llm.Error{Kind: llm.KindServer, Provider: string(resp.Format), Message: "empty stream"}
		}
		g.fail(w, x, classify(streamErr(ctx, err)))
		return
	}
	startStream(w)
	sk := newSink(w, x.wf.format, resp.Format, req, x.model)
	for {
		if err := sk.chunk(c); err != nil {
			x.outcome, x.status = outcomeCancelled, 499
			return
		}
		c, err = s.Recv()
		if errors.Is(err, io.EOF) {
			if err := sk.end("", s.Usage()); err != nil {
				x.outcome, x.status = outcomeCancelled, 499
			}
			return
		}
		if err != nil {
			ae := classify(streamErr(ctx, err))
			x.outcome, x.err = outcomeStreamError, ae.msg
			if ae.outcome == outcomeCancelled {
				x.outcome = outcomeCancelled
				return // nobody is listening
			}
			_ = sk.fail(ae)
			return
		}
	}
}

// streamErr prefers the request's own end (client gone, deadline) to the read error that
// it caused upstream.
func streamErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// replay answers a streaming request whose answer came whole (from the cache or a static
// step) as a stream in the caller's format.
func (g *Gateway) replay(w http.ResponseWriter, x *exchange, req *llm.Request, resp *llm.Response) {
	startStream(w)
	sk := newSink(w, x.wf.format, "", req, x.model)
	err := sk.chunk(resp.Chunk())
	if err == nil {
		err = sk.end(resp.StopReason, resp.Usage)
	}
	if err != nil {
		x.outcome, x.status = outcomeCancelled, 499
	}
}
