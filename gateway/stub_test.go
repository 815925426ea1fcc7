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
	// release, when set, holds a stream after its chunks until it is closed or the call's
	// context ends.
	release chan struct{}

	mu      sync.Mutex
	calls   []llm.Call
	streams []*stubStream
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
		st := &stubStream{ctx: ctx, chunks: s.chunks, fail: s.failAfter, usage: resp.Usage, release: s.release,
			closing: make(chan struct{})}
		s.mu.Lock()
		s.streams = append(s.streams, st)
		s.mu.Unlock()
		resp.Stream = st
	}
	return resp, nil
}

type stubStream struct {
	ctx     context.Context
	release chan struct{}
	// closing is closed by Close: a Recv waiting for release then fails, as a real
	// stream's read fails when its connection is closed.
	closing chan struct{}
	chunks  []llm.Chunk
	fail    error
	usage   llm.Usage
	mu      sync.Mutex
	closed  bool
}

func (s *stubStream) Recv() (llm.Chunk, error) {
	s.mu.Lock()
	if len(s.chunks) == 0 && s.release != nil {
		release := s.release
		s.release = nil
		s.mu.Unlock()
		select {
		case <-release:
		case <-s.closing:
		case <-s.ctx.Done():
			return llm.Chunk{}, s.ctx.Err()
		}
		s.mu.Lock()
	}
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
	if !s.closed {
		close(s.closing)
	}
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *stubStream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// openAIChunks is a short Chat Completions stream as an OpenAI upstream sends it.
var openAIChunks = []llm.Chunk{
	{Raw: []byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n")},
	{Raw: []byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n"), Text: "Hello"},
	{Raw: []byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there.\"}}]}\n\n"), Text: " there."},
	{Raw: []byte("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")},
	{Raw: []byte("data: [DONE]\n\n")},
}

// anthropicChunks is a short Messages stream as an Anthropic upstream sends it.
var anthropicChunks = []llm.Chunk{
	{Raw: []byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-haiku-4-5\",\"content\":[],\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n")},
	{Raw: []byte("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")},
	{Raw: []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"), Text: "Hello"},
	{Raw: []byte("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")},
	{Raw: []byte("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n")},
	{Raw: []byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")},
}
