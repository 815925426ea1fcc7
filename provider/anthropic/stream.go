package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/tollgate/tollgate/internal/sse"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// stream reads a Messages API event stream incrementally. Recv is for one goroutine; Usage
// and Close may be called from any goroutine.
type stream struct {
	body      io.ReadCloser
	r         *sse.Reader
	name, key string
	done      bool // message_stop has been returned
	err       error
	closeOnce sync.Once
	mu        sync.Mutex
	tally     tally
}

func newStream(body io.ReadCloser, name, key string) *stream {
	return &stream{body: body, r: sse.NewReader(body, 0), name: name, key: key}
}

type wireEvent struct {
	Type    string `json:"type"`
	Message *struct {
		Usage *wireUsage `json:"usage"`
	} `json:"message"`
	Delta *struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	} `json:"delta"`
	Usage *wireUsage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// Recv returns the next event. After message_stop has been returned it returns io.EOF; a
// stream that ends before it returns an *llm.Error of KindConnection, and an error event
// returns that error classified (overloaded_error is KindOverloaded). Errors are sticky.
func (s *stream) Recv() (llm.Chunk, error) {
	if s.err != nil {
		return llm.Chunk{}, s.err
	}
	if s.done {
		return llm.Chunk{}, io.EOF
	}
	ev, err := s.r.Next()
	if err != nil {
		s.err = s.readError(err)
		return llm.Chunk{}, s.err
	}
	var e wireEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		if ev.Incomplete {
			s.err = s.readError(io.EOF)
		} else {
			s.err = &llm.Error{Kind: llm.KindServer, Provider: s.name, Message: "malformed stream event", Err: err}
		}
		return llm.Chunk{}, s.err
	}
	if e.Type == "" {
		e.Type = ev.Name
	}
	chunk := llm.Chunk{Raw: bytes.Clone(ev.Raw)}
	switch e.Type {
	case "message_start":
		if e.Message != nil {
			s.merge(e.Message.Usage)
		}
	case "content_block_delta":
		if e.Delta != nil && e.Delta.Type == "text_delta" && e.Delta.Text != nil {
			chunk.Text = *e.Delta.Text
		}
	case "message_delta":
		s.merge(e.Usage)
	case "message_stop":
		s.done = true
	case "error":
		kind, code, msg := classify(0, ev.Data)
		s.err = &llm.Error{Kind: kind, Provider: s.name, Code: code, Message: wire.Redact(msg, s.key)}
		return llm.Chunk{}, s.err
	}
	return chunk, nil
}

func (s *stream) merge(u *wireUsage) {
	s.mu.Lock()
	s.tally.merge(u)
	s.mu.Unlock()
}

func (s *stream) readError(err error) error {
	if err == io.EOF {
		return &llm.Error{Kind: llm.KindConnection, Provider: s.name, Message: "stream cut: ended without message_stop"}
	}
	if errors.Is(err, sse.ErrTooLarge) {
		return &llm.Error{Kind: llm.KindServer, Provider: s.name, Message: "stream event too large", Err: err}
	}
	return wire.TransportError(context.Background(), s.name, s.key, err)
}

// Usage returns the usage reported so far: input from message_start, output from the
// latest message_delta (cumulative, never summed).
func (s *stream) Usage() llm.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tally.usage()
}

// Close releases the connection; it is safe to call more than once and concurrently with
// Recv, which then fails.
func (s *stream) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.body.Close() })
	return err
}
