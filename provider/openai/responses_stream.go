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

// maxResponsesEvent bounds one event of a Responses stream. The terminal event repeats
// the whole response object (every output item, the instructions and the tools echoed),
// which can reach megabytes for a long answer to an agent with a large system prompt.
const maxResponsesEvent = 16 << 20

// responsesStream reads a Responses API event stream incrementally. Recv is for one
// goroutine; Usage, Conversation and Close may be called from any goroutine. It is an
// llm.ConversationStream.
type responsesStream struct {
	body      io.ReadCloser
	r         *sse.Reader
	name, key string
	done      bool // the terminal event has been returned
	err       error
	// toolAt maps an output item's index to its position among the answer's tool calls;
	// tools counts the tool calls started so far.
	toolAt    map[int]int
	tools     int
	closeOnce sync.Once
	mu        sync.Mutex
	usage     llm.Usage
	id        string // the response's, from response.created
	conv      int64  // the stored conversation's bound, from the terminal event
}

func newResponsesStream(body io.ReadCloser, name, key string) *responsesStream {
	return &responsesStream{body: body, r: sse.NewReader(body, maxResponsesEvent), name: name, key: key}
}

// wireResponsesEvent holds the members of the stream's events that tollgate reads. An
// "error" event has its code and message at the top level.
type wireResponsesEvent struct {
	Type        string `json:"type"`
	OutputIndex int    `json:"output_index"`
	Delta       string `json:"delta"`
	Item        *struct {
		Type      string `json:"type"`
		CallID    string `json:"call_id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
		Input     string `json:"input"`
	} `json:"item"`
	Response *wireResponsesState `json:"response"`
}

// Recv returns the next event. Every event is returned with its raw bytes, to be relayed
// as it is; what it generated is in the chunk's fields: output_text and refusal deltas as
// Text, reasoning summary and reasoning text deltas as Reasoning, a function (or custom
// tool) call's output_item.added as its first ToolCalls delta (call_id and name) and its
// argument deltas after it. The terminal response.completed or response.incomplete
// carries the StopReason and the usage, and is followed by io.EOF. response.failed and
// "error" events return the error classified; a stream that ends before its terminal
// event returns an *llm.Error of KindConnection. Errors are sticky.
func (s *responsesStream) Recv() (llm.Chunk, error) {
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
	var e wireResponsesEvent
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
	if r := e.Response; r != nil && r.ID != "" {
		s.mu.Lock()
		s.id = r.ID
		s.mu.Unlock()
	}
	switch e.Type {
	case "response.output_item.added":
		if it := e.Item; it != nil && (it.Type == "function_call" || it.Type == "custom_tool_call") {
			if s.toolAt == nil {
				s.toolAt = map[int]int{}
			}
			s.toolAt[e.OutputIndex] = s.tools
			chunk.ToolCalls = []llm.ToolCallDelta{{Index: s.tools, ID: it.CallID, Name: it.Name, Arguments: it.Arguments + it.Input}}
			s.tools++
		}
	case "response.output_text.delta", "response.refusal.delta":
		chunk.Text = e.Delta
	case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		chunk.Reasoning = e.Delta
	case "response.function_call_arguments.delta", "response.custom_tool_call_input.delta":
		if pos, ok := s.toolAt[e.OutputIndex]; ok && e.Delta != "" {
			chunk.ToolCalls = []llm.ToolCallDelta{{Index: pos, Arguments: e.Delta}}
		}
	case "response.completed", "response.incomplete":
		s.done = true
		if r := e.Response; r != nil {
			s.setUsage(r)
			s.mu.Lock()
			s.conv = r.conversation()
			s.mu.Unlock()
			chunk.StopReason = r.stopReason()
		}
	case "response.failed":
		if r := e.Response; r != nil {
			s.setUsage(r)
			s.err = r.failure(s.name, s.key)
		}
		if s.err == nil {
			s.err = &llm.Error{Kind: llm.KindServer, Provider: s.name, Message: "the response failed"}
		}
		return llm.Chunk{}, s.err
	case "error":
		e := wire.UpstreamError(s.name, 0, ev.Data, s.key)
		if e.Message == "" {
			e.Message = wire.Redact(string(bytes.TrimSpace(ev.Data)), s.key)
		}
		s.err = e
		return llm.Chunk{}, s.err
	}
	return chunk, nil
}

func (s *responsesStream) setUsage(r *wireResponsesState) {
	if r.Usage == nil {
		return
	}
	s.mu.Lock()
	s.usage = r.Usage.usage()
	s.mu.Unlock()
}

func (s *responsesStream) readError(err error) error {
	if err == io.EOF {
		return &llm.Error{Kind: llm.KindConnection, Provider: s.name, Message: "stream cut: ended without response.completed"}
	}
	if errors.Is(err, sse.ErrTooLarge) {
		return &llm.Error{Kind: llm.KindServer, Provider: s.name, Message: "stream event too large", Err: err}
	}
	return wire.TransportError(context.Background(), s.name, s.key, err)
}

// Usage returns the usage reported so far: zero until the terminal event (completed,
// incomplete, or failed when it carries one), which alone reports it.
func (s *responsesStream) Usage() llm.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage
}

// Conversation returns the response's id and its stored conversation's bound (see
// llm.ConversationStream).
func (s *responsesStream) Conversation() (string, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, s.conv
}

// Close releases the connection; it is safe to call more than once and concurrently with
// Recv, which then fails.
func (s *responsesStream) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.body.Close() })
	return err
}
