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
	// toolAt maps a content block's index to its position among the answer's tool calls;
	// tools counts the tool calls started so far.
	toolAt map[int]int
	tools  int
	// responseTool names the tool that carries a translated response_format: its input
	// is the answer's text (block answerAt, once it has started), and its tool_use stop
	// a natural end.
	responseTool string
	answerAt     int
	closeOnce    sync.Once
	mu           sync.Mutex
	tally        tally
}

func newStream(body io.ReadCloser, name, key, responseTool string) *stream {
	return &stream{body: body, r: sse.NewReader(body, 0), name: name, key: key, responseTool: responseTool, answerAt: -1}
}

type wireEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message *struct {
		Usage *wireUsage `json:"usage"`
	} `json:"message"`
	ContentBlock *struct {
		Type     string `json:"type"`
		ID       string `json:"id"`
		Name     string `json:"name"`
		Text     string `json:"text"`
		Thinking string `json:"thinking"`
	} `json:"content_block"`
	Delta *struct {
		Type        string  `json:"type"`
		Text        *string `json:"text"`
		Thinking    *string `json:"thinking"`
		PartialJSON *string `json:"partial_json"`
		StopReason  *string `json:"stop_reason"`
	} `json:"delta"`
	Usage *wireUsage `json:"usage"`
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
			s.merge(e.Message.Usage, false)
		}
	case "content_block_start":
		s.blockStart(&e, &chunk)
	case "content_block_delta":
		s.blockDelta(&e, &chunk)
	case "message_delta":
		s.merge(e.Usage, true)
		if e.Delta != nil && e.Delta.StopReason != nil {
			chunk.StopReason = *e.Delta.StopReason
			if chunk.StopReason == "tool_use" && s.answerAt >= 0 && s.tools == 0 {
				chunk.StopReason = "end_turn"
			}
		}
	case "message_stop":
		s.done = true
	case "error":
		s.err = wire.UpstreamError(s.name, 0, ev.Data, s.key)
		return llm.Chunk{}, s.err
	}
	return chunk, nil
}

// blockStart reads content_block_start: a tool call's first fragment (its ID and name),
// or, rarely, text or thinking already present in the block. An empty text or thinking
// block is preamble.
func (s *stream) blockStart(e *wireEvent, chunk *llm.Chunk) {
	b := e.ContentBlock
	if b == nil {
		return
	}
	switch b.Type {
	case "text":
		chunk.Text = b.Text
	case "thinking":
		chunk.Reasoning = b.Thinking
	case "tool_use", "server_tool_use":
		if s.responseTool != "" && b.Name == s.responseTool {
			s.answerAt = e.Index
			return
		}
		if s.toolAt == nil {
			s.toolAt = map[int]int{}
		}
		s.toolAt[e.Index] = s.tools
		chunk.ToolCalls = []llm.ToolCallDelta{{Index: s.tools, ID: b.ID, Name: b.Name}}
		s.tools++
	}
}

// blockDelta reads content_block_delta: text_delta is answer text, thinking_delta
// reasoning, input_json_delta a fragment of a tool call's arguments; signature_delta (the
// thinking block's signature) and citations carry nothing generated.
func (s *stream) blockDelta(e *wireEvent, chunk *llm.Chunk) {
	d := e.Delta
	if d == nil {
		return
	}
	switch d.Type {
	case "text_delta":
		if d.Text != nil {
			chunk.Text = *d.Text
		}
	case "thinking_delta":
		if d.Thinking != nil {
			chunk.Reasoning = *d.Thinking
		}
	case "input_json_delta":
		if e.Index == s.answerAt && d.PartialJSON != nil {
			chunk.Text = *d.PartialJSON
			return
		}
		pos, ok := s.toolAt[e.Index]
		if d.PartialJSON == nil || !ok {
			return
		}
		chunk.ToolCalls = []llm.ToolCallDelta{{Index: pos, Arguments: *d.PartialJSON}}
	}
}

func (s *stream) merge(u *wireUsage, withOutput bool) {
	s.mu.Lock()
	s.tally.merge(u, withOutput)
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

// Usage returns the usage reported so far: the input side from message_start and any
// message_delta, the output from the latest message_delta (cumulative, never summed).
// message_start's output_tokens is a placeholder and is not reported: a stream cut before
// its first message_delta reports zero output.
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
