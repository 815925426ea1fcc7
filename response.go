package tollgate

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/tollgate/tollgate/engine"
	"github.com/tollgate/tollgate/gateway"
)

// buffered is the http.ResponseWriter that a whole answer or a refusal is rendered into.
type buffered struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *buffered) Header() http.Header { return b.header }

func (b *buffered) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *buffered) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// response is what the SDK receives.
func (b *buffered) response(hr *http.Request) *http.Response {
	return newResponse(hr, b.status, b.header, io.NopCloser(bytes.NewReader(b.body.Bytes())), int64(b.body.Len()))
}

func newResponse(hr *http.Request, status int, h http.Header, body io.ReadCloser, length int64) *http.Response {
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{Status: strings.TrimSpace(strconv.Itoa(status) + " " + http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Body: body, ContentLength: length, Request: hr}
}

// streamed is the http.ResponseWriter that a streamed answer is rendered into, by a
// goroutine of its own: until a 200 it buffers (the relay of a stream whose upstream
// failed before its first event writes a refusal instead); from the 200 on, its body goes
// through a pipe to the SDK as the SDK reads it.
type streamed struct {
	header  http.Header
	status  int
	sent    http.Header // the header as the 200 was written, for the SDK
	buf     bytes.Buffer
	pw      *io.PipeWriter
	started chan struct{} // closed at the 200
	done    chan struct{} // closed when the rendering has returned, the stream settled
}

func (s *streamed) Header() http.Header { return s.header }

func (s *streamed) WriteHeader(code int) {
	if s.status != 0 {
		return
	}
	s.status = code
	if code == http.StatusOK {
		s.sent = s.header.Clone()
		close(s.started)
	}
}

func (s *streamed) Write(p []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	if s.status == http.StatusOK {
		return s.pw.Write(p)
	}
	return s.buf.Write(p)
}

// relay renders a streamed answer in a goroutine and returns the SDK's response once its
// status is known: at the first event, or when the stream failed before it (then whole).
//
// The goroutine ends when the stream has been relayed to its end, when the SDK closes the
// body (which cancels the upstream call and waits for the goroutine, so that the stream
// is settled when Close returns), or when ctx ends (the body then reads ctx's error). Its
// stream is closed on every path, which settles the reservation.
func relay(ctx context.Context, cancel context.CancelFunc, r gateway.Render, res *engine.Result, h http.Header,
	hr *http.Request) *http.Response {
	pr, pw := io.Pipe()
	s := &streamed{header: h, pw: pw, started: make(chan struct{}), done: make(chan struct{})}
	// A caller that goes away may stop reading without closing the body (the Anthropic
	// SDK returns the context's error and leaves a raw body open): the relay's next write
	// must fail then, or it would block for ever with the reservation open.
	stop := context.AfterFunc(ctx, func() { pw.CloseWithError(context.Cause(ctx)) })
	go func() {
		defer close(s.done)
		r.Result(ctx, s, res, nil)
		stop()
		pw.Close()
		cancel()
	}()
	select {
	case <-s.started:
	case <-s.done:
	}
	if s.status != http.StatusOK {
		// The stream failed before its first event: a refusal, written whole.
		return newResponse(hr, s.status, s.header, io.NopCloser(bytes.NewReader(s.buf.Bytes())), int64(s.buf.Len()))
	}
	return newResponse(hr, s.status, s.sent, &streamBody{pr: pr, cancel: cancel, done: s.done}, -1)
}

// streamBody is a streamed answer's body as the SDK reads it.
type streamBody struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
	done   <-chan struct{}
	once   sync.Once
}

func (b *streamBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

// Close ends the stream, if it has not ended, and returns once the engine has settled it:
// cancelling the call ends a wait for the upstream's next event, closing the pipe ends a
// write that nobody will read.
func (b *streamBody) Close() error {
	b.once.Do(func() {
		b.cancel()
		b.pr.Close()
		<-b.done
	})
	return nil
}
