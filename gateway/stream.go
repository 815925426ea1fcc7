package gateway

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/tollgate/tollgate/internal/sse"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
	"github.com/tollgate/tollgate/provider/openai"
)

// sink writes a stream to the client in the caller's format: the upstream's own events
// when it speaks that format, or the caller format's encoder fed with neutral chunks.
type sink struct {
	// raw, when set, relays the upstream's events byte for byte.
	raw *sse.Writer
	// enc re-encodes chunks of another format, or a whole answer, for the caller; nil for
	// a relay.
	enc     encoder
	model   string
	started bool
	// fail writes an error event in the caller's format.
	fail func(e *apiError) error
}

// encoder is what both providers' StreamEncoders offer.
type encoder interface {
	Start(model string) error
	Chunk(c llm.Chunk) error
	End(stopReason string, u llm.Usage) error
}

var (
	_ encoder = (*openai.StreamEncoder)(nil)
	_ encoder = (*anthropic.StreamEncoder)(nil)
	_ encoder = (*openai.ResponsesStreamEncoder)(nil)
)

// newSink returns the sink that writes an answer of format from ("" for one that came
// whole) to a caller of format to; includeUsage is the caller's stream_options.include_usage.
// resp gives a re-encoded stream its id and creation time, when known.
func newSink(w io.Writer, to, from llm.Format, includeUsage bool, resp *llm.Response, model string) *sink {
	s := &sink{model: model}
	switch to {
	case llm.Responses:
		enc := openai.NewResponsesStreamEncoder(w)
		if resp.ID != "" {
			enc.ID = resp.ID
		}
		if !resp.Created.IsZero() {
			enc.Created = resp.Created
		}
		// response.failed carries a code only; OpenAI's codes are the error's.
		s.fail = func(e *apiError) error { return enc.Fail(cmp.Or(e.oaCode, e.oaType), e.msg) }
		if to != from {
			s.enc = enc
		}
	case llm.Anthropic:
		enc := anthropic.NewStreamEncoder(w)
		if resp.ID != "" {
			enc.ID = resp.ID
		}
		s.fail = func(e *apiError) error { return enc.Fail(e.anType, e.msg) }
		if to != from {
			s.enc = enc
		}
	default:
		enc := openai.NewStreamEncoder(w, includeUsage)
		if resp.ID != "" {
			enc.ID = resp.ID
		}
		if !resp.Created.IsZero() {
			enc.Created = resp.Created
		}
		s.fail = func(e *apiError) error { return enc.Fail(e.oaType, e.oaCode, e.msg) }
		if to != from {
			s.enc = enc
		}
	}
	if s.enc == nil {
		s.raw = sse.NewWriter(w)
	}
	return s
}

// chunk writes one upstream event.
func (s *sink) chunk(c llm.Chunk) error {
	if s.raw != nil {
		return s.raw.Raw(c.Raw)
	}
	if !s.started {
		s.started = true
		if err := s.enc.Start(s.model); err != nil {
			return err
		}
	}
	return s.enc.Chunk(c)
}

// end finishes a complete stream: a relay wrote the upstream's own terminal events
// ([DONE], message_stop) already; an encoder ends with stop, or, when it is empty, the
// stop reason the chunks carried.
func (s *sink) end(stop string, u llm.Usage) error {
	if s.raw != nil {
		return nil
	}
	if err := s.chunk(llm.Chunk{}); err != nil {
		return err
	}
	return s.enc.End(stop, u)
}

func startStream(w http.ResponseWriter) {
	h := w.Header()
	h[headerContentType] = valueEventStream
	h[headerCacheControl] = valueNoCache
	h[headerAccelBuffer] = valueNo // nginx and kin would buffer the stream otherwise
	w.WriteHeader(http.StatusOK)
}

// relay sends an upstream stream to the client event by event as it arrives, flushing
// each. The stream is closed on every path, which settles its reservation: at its end,
// or, when the client goes away, at what it had cost so far.
func (r Render) relay(ctx context.Context, w http.ResponseWriter, resp *llm.Response, model string, out *Rendered) {
	s := resp.Stream
	defer s.Close()
	// The status waits for the first event: an upstream that fails before it can still be
	// answered with a real HTTP error, which SDKs surface better than an error event.
	c, err := s.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = &llm.Error{Kind: llm.KindServer, Provider: string(resp.Format), Message: "empty stream"}
		}
		*out = r.refuse(w, classify(streamErr(ctx, err)))
		return
	}
	startStream(w)
	sk := newSink(w, r.Format, resp.Format, r.IncludeUsage, resp, model)
	for {
		if err := sk.chunk(c); err != nil {
			out.Outcome, out.Status = outcomeCancelled, 499
			return
		}
		c, err = s.Recv()
		if errors.Is(err, io.EOF) {
			if err := sk.end("", s.Usage()); err != nil {
				out.Outcome, out.Status = outcomeCancelled, 499
			}
			return
		}
		if err != nil {
			ae := classify(streamErr(ctx, err))
			out.Outcome, out.Err, out.Source = outcomeStreamError, ae.msg, ae.source()
			if ae.outcome == outcomeCancelled {
				out.Outcome = outcomeCancelled
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
func (r Render) replay(w http.ResponseWriter, resp *llm.Response, model string, out *Rendered) {
	startStream(w)
	sk := newSink(w, r.Format, "", r.IncludeUsage, resp, model)
	err := sk.chunk(resp.Chunk())
	if err == nil {
		err = sk.end(resp.StopReason, resp.Usage)
	}
	if err != nil {
		out.Outcome, out.Status = outcomeCancelled, 499
	}
}
