// Package llm is tollgate's vocabulary: a provider-neutral request, response, usage and
// error, shared by the engine, the provider adapters and the gateway.
//
// A Request carries both the caller's raw wire body (forwarded intact to an upstream that
// speaks the same format, so unknown fields survive) and the neutral fields that tollgate
// itself needs to plan, estimate, cache and translate across providers.
package llm

import (
	"context"
	"io"
)

// Format names a wire format.
type Format string

// The wire formats tollgate speaks.
const (
	OpenAI    Format = "openai"    // POST /v1/chat/completions
	Anthropic Format = "anthropic" // POST /v1/messages
)

// Usage counts the tokens of one call. InputTokens includes CachedInputTokens.
type Usage struct {
	InputTokens       int64 `json:"input_tokens"`
	CachedInputTokens int64 `json:"cached_input_tokens,omitempty"`
	OutputTokens      int64 `json:"output_tokens"`
}

// Total returns input plus output tokens.
func (u Usage) Total() int64 { return u.InputTokens + u.OutputTokens }

// Add returns the sum of two usages.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		InputTokens:       u.InputTokens + v.InputTokens,
		CachedInputTokens: u.CachedInputTokens + v.CachedInputTokens,
		OutputTokens:      u.OutputTokens + v.OutputTokens,
	}
}

// Message is one turn of a conversation in its neutral, text-only form. Parts that have no
// neutral form (images, tool calls) are kept in the raw body; Opaque says a message had
// some, so that a translation across formats can refuse instead of silently dropping them.
type Message struct {
	Role    string `json:"role"` // "user", "assistant", "tool"
	Content string `json:"content"`
	Opaque  bool   `json:"opaque,omitempty"`
}

// Identity says who pays and who waits for a request.
type Identity struct {
	Key      string // virtual key id (never the secret)
	Tenant   string
	Agent    string
	Session  string
	Priority int // higher is more urgent; see queue.Level
}

// Request is one call as a caller made it.
//
// Body, when set, is the caller's JSON in Format and is what an upstream of the same format
// receives, with only "model" and the token cap rewritten. When Body is nil an adapter builds
// the wire body from the neutral fields.
type Request struct {
	Format Format
	Body   []byte

	Model       string // a model id or a route name
	System      string
	Messages    []Message
	MaxTokens   int      // the caller's cap on output tokens; 0 when it set none
	Temperature *float64 // nil when unset
	Stream      bool

	// InputTokens is the estimate of the prompt size; 0 lets the engine estimate it.
	InputTokens int

	Identity Identity
}

// Call is what the engine asks one upstream for: the request, the concrete model to use and
// the output cap after any clamping.
type Call struct {
	Request   *Request
	Model     string
	MaxTokens int
}

// Response is an upstream's answer.
//
// For a non-streaming call Body is the raw JSON in Format and Stream is nil. For a streaming
// call Stream is non-nil and must be read to io.EOF or closed; Usage is then final only
// when the stream has ended.
type Response struct {
	Format     Format
	Model      string // the model the upstream reports having used
	Body       []byte
	Text       string // the answer text, for caching and translation
	StopReason string
	Usage      Usage
	Stream     Stream
	Cached     bool // served from tollgate's response cache, not an upstream
}

// Chunk is one streamed event: its raw bytes in the upstream's format (a whole SSE event,
// "data: ...\n\n" included) and its neutral text delta, if any.
type Chunk struct {
	Raw  []byte
	Text string
}

// Stream is a streamed response. Recv returns io.EOF after the last chunk. Usage returns the
// usage seen so far (cumulative; the final figure once Recv has returned io.EOF). Close
// releases the connection and may be called at any time, more than once.
type Stream interface {
	Recv() (Chunk, error)
	Usage() Usage
	Close() error
}

// Provider is a provider-neutral upstream. Implementations are safe for concurrent use.
type Provider interface {
	// Name identifies the provider ("openai", "anthropic").
	Name() string
	// Do performs one attempt, without retries. Failures are *Error values.
	Do(ctx context.Context, call Call) (*Response, error)
}

// EOF is returned by Stream.Recv at the end of a stream.
var EOF = io.EOF
