package openai

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

// stream reads a Chat Completions event stream incrementally. Recv is for one goroutine;
// Usage and Close may be called from any goroutine.
type stream struct {
	body      io.ReadCloser
	r         *sse.Reader
	name, key string
	hideUsage bool // tollgate added include_usage: the usage-only chunk is not relayed
	done      bool // [DONE] has been returned
	err       error
	closeOnce sync.Once
	mu        sync.Mutex
	usage     llm.Usage
}

func newStream(body io.ReadCloser, name, key string, hideUsage bool) *stream {
	return &stream{body: body, r: sse.NewReader(body, 0), name: name, key: key, hideUsage: hideUsage}
}

type wireChunk struct {
	Choices []struct {
		Delta struct {
			Content *string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *wireUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// Recv returns the next event. After the terminal "data: [DONE]" event has been returned it
// returns io.EOF; a stream that ends before it returns an *llm.Error of KindConnection, and
// an error event inside the stream returns that error classified. Errors are sticky.
func (s *stream) Recv() (llm.Chunk, error) {
	if s.err != nil {
		return llm.Chunk{}, s.err
	}
	if s.done {
		return llm.Chunk{}, io.EOF
	}
	for {
		ev, err := s.r.Next()
		if err != nil {
			s.err = s.readError(err)
			return llm.Chunk{}, s.err
		}
		if bytes.Equal(bytes.TrimSpace(ev.Data), []byte("[DONE]")) {
			s.done = true
			return llm.Chunk{Raw: bytes.Clone(ev.Raw)}, nil
		}
		var c wireChunk
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			if ev.Incomplete {
				s.err = s.readError(io.EOF)
			} else {
				s.err = &llm.Error{Kind: llm.KindServer, Provider: s.name, Message: "malformed stream event", Err: err}
			}
			return llm.Chunk{}, s.err
		}
		if ev.Name == "error" || len(c.Error) > 0 && !isNull(c.Error) {
			kind, code, msg := classify(0, ev.Data)
			if ev.Name == "error" && msg == "" {
				msg = string(ev.Data)
			}
			s.err = &llm.Error{Kind: kind, Provider: s.name, Code: code, Message: wire.Redact(msg, s.key)}
			return llm.Chunk{}, s.err
		}
		if c.Usage != nil {
			s.mu.Lock()
			s.usage = c.Usage.usage()
			s.mu.Unlock()
			if s.hideUsage && len(c.Choices) == 0 {
				continue
			}
		}
		chunk := llm.Chunk{Raw: bytes.Clone(ev.Raw)}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != nil {
			chunk.Text = *c.Choices[0].Delta.Content
		}
		return chunk, nil
	}
}

func (s *stream) readError(err error) error {
	if err == io.EOF {
		return &llm.Error{Kind: llm.KindConnection, Provider: s.name, Message: "stream cut: ended without [DONE]"}
	}
	if errors.Is(err, sse.ErrTooLarge) {
		return &llm.Error{Kind: llm.KindServer, Provider: s.name, Message: "stream event too large", Err: err}
	}
	return wire.TransportError(context.Background(), s.name, s.key, err)
}

// Usage returns the usage reported so far: zero until the usage chunk has arrived.
func (s *stream) Usage() llm.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage
}

// Close releases the connection; it is safe to call more than once and concurrently with
// Recv, which then fails.
func (s *stream) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.body.Close() })
	return err
}
