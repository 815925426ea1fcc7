package gateway

import (
	"context"
	"io"
	"sync"

	"github.com/tollgate/tollgate/llm"
)

// stub is an in-process upstream with a fixed answer, for handler tests that check the
// gateway's own bytes: deterministic, no network.
type stub struct {
	name   string
	format llm.Format
	// chunks are the raw events of a streamed answer; failAfter, when set, is returned by
	// Recv after them instead of io.EOF.
	chunks    []llm.Chunk
	failAfter error
	// err, when set, is returned by Do.
	err error

	mu    sync.Mutex
	calls []llm.Call
}

func (s *stub) Name() string { return s.name }

func (s *stub) Do(ctx context.Context, call llm.Call) (*llm.Response, error) {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	resp := &llm.Response{Format: s.format, Model: call.Model, Text: "Hello from " + call.Model + ".",
		StopReason: "stop", Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}}
	if call.Request.Stream {
		resp.Stream = &stubStream{chunks: s.chunks, fail: s.failAfter, usage: resp.Usage}
	}
	return resp, nil
}

type stubStream struct {
	chunks []llm.Chunk
	fail   error
	usage  llm.Usage
	mu     sync.Mutex
	closed bool
}

func (s *stubStream) Recv() (llm.Chunk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return llm.Chunk{}, io.ErrClosedPipe
	}
	if len(s.chunks) > 0 {
		c := s.chunks[0]
		s.chunks = s.chunks[1:]
		return c, nil
	}
	if s.fail != nil {
		return llm.Chunk{}, s.fail
	}
	return llm.Chunk{}, io.EOF
}

func (s *stubStream) Usage() llm.Usage { return s.usage }

func (s *stubStream) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// openAIChunks is a short Chat Completions stream as an OpenAI upstream sends it.
var openAIChunks = []llm.Chunk{
	{Raw: []byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n")},
	{Raw: []byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n"), Text: "Hello"},
	{Raw: []byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there.\"}}]}\n\n"), Text: " there."},
	{Raw: []byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")},
	{Raw: []byte("data: [DONE]\n\n")},
}
