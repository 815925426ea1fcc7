package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
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
	Choices []wireChoice    `json:"choices"`
	Usage   *wireUsage      `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type wireChoice struct {
	Index        int     `json:"index"`
	FinishReason *string `json:"finish_reason"`
	Delta        struct {
		Content *string `json:"content"`
		Refusal *string `json:"refusal"`
		// ReasoningContent is DeepSeek's, llama.cpp's and older vLLM's name for the visible
		// reasoning; Reasoning is vLLM's (0.9 on), SGLang's, Ollama's and OpenRouter's.
		ReasoningContent *string         `json:"reasoning_content"`
		Reasoning        json.RawMessage `json:"reasoning"`
		ToolCalls        []struct {
			Index    int    `json:"index"`
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
		FunctionCall *struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function_call"`
	} `json:"delta"`
}

// reasoning returns the choice's reasoning delta, under whichever name the server uses;
// when a server sends both names (for clients that read either) they carry the same text,
// which is counted once.
func (c *wireChoice) reasoning() string {
	if r := c.Delta.ReasoningContent; r != nil && *r != "" {
		return *r
	}
	if len(c.Delta.Reasoning) > 0 && c.Delta.Reasoning[0] == '"' {
		var s string
		if json.Unmarshal(c.Delta.Reasoning, &s) == nil {
			return s
		}
	}
	return ""
}

// fill puts what the chunk's choices generated into chunk: the first choice's text,
// reasoning and tool-call deltas in their fields, everything other choices generated in
// Other.
func (c *wireChunk) fill(chunk *llm.Chunk) {
	var other strings.Builder
	for i := range c.Choices {
		ch := &c.Choices[i]
		d := &ch.Delta
		if ch.Index != 0 {
			for _, s := range []*string{d.Content, d.Refusal} {
				if s != nil {
					other.WriteString(*s)
				}
			}
			other.WriteString(ch.reasoning())
			for _, tc := range d.ToolCalls {
				other.WriteString(tc.Function.Name)
				other.WriteString(tc.Function.Arguments)
			}
			if fc := d.FunctionCall; fc != nil {
				other.WriteString(fc.Name)
				other.WriteString(fc.Arguments)
			}
			continue
		}
		if ch.FinishReason != nil {
			chunk.StopReason = *ch.FinishReason
		}
		switch {
		case d.Content != nil:
			chunk.Text += *d.Content
		case d.Refusal != nil:
			chunk.Text += *d.Refusal
		}
		chunk.Reasoning += ch.reasoning()
		for _, tc := range d.ToolCalls {
			chunk.ToolCalls = append(chunk.ToolCalls, llm.ToolCallDelta{Index: tc.Index, ID: tc.ID,
				Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		if fc := d.FunctionCall; fc != nil {
			// The legacy function_call: one call, at position 0.
			chunk.ToolCalls = append(chunk.ToolCalls, llm.ToolCallDelta{Name: fc.Name, Arguments: fc.Arguments})
		}
	}
	chunk.Other = other.String()
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
			e := wire.UpstreamError(s.name, 0, ev.Data, s.key)
			if e.Message == "" {
				e.Message = wire.Redact(string(bytes.TrimSpace(ev.Data)), s.key)
			}
			s.err = e
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
		c.fill(&chunk)
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

// Usage returns the usage reported so far: zero until the usage chunk has arrived, which
// OpenAI sends last (stream_options.include_usage, which Do always sets); its
// completion_tokens already count every choice.
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
