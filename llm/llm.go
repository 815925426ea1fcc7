// Package llm is tollgate's vocabulary: a provider-neutral request, response, usage and
// error, shared by the engine, the provider adapters and the gateway.
//
// A Request carries both the caller's raw wire body (forwarded intact to an upstream that
// speaks the same format, so unknown fields survive) and the neutral fields that tollgate
// itself needs to plan, estimate, cache and translate across providers.
package llm

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Format names a wire format.
type Format string

// The wire formats tollgate speaks.
const (
	OpenAI    Format = "openai"    // POST /v1/chat/completions
	Anthropic Format = "anthropic" // POST /v1/messages
	// Responses is OpenAI's Responses API (POST /v1/responses). An OpenAI upstream serves
	// it at its own endpoint; an Anthropic upstream through translation.
	Responses Format = "responses"
	// Embeddings is OpenAI's embeddings API (POST /v1/embeddings): a request priced by
	// its input alone, which generates no tokens (see Format.Generates).
	Embeddings Format = "embeddings"
)

// Generates reports whether a request of this format generates tokens: false for
// Embeddings, whose worst case is its input alone and whose output cap is 0.
func (f Format) Generates() bool { return f != Embeddings }

// Usage counts the tokens of one call as the provider bills them.
//
// InputTokens is every prompt token: it includes CachedInputTokens (read from the
// provider's prompt cache, billed at the cached-input price) and CacheWriteTokens (written
// to it, billed at the cache-write price: Anthropic's cache_creation_input_tokens). Of the
// writes, CacheWrite1hTokens were written with the 1-hour TTL; the rest with the 5-minute
// TTL. OutputTokens is every generated token, over all choices; it includes
// ReasoningTokens (OpenAI completion_tokens_details.reasoning_tokens), which are reported
// for information and billed as output.
type Usage struct {
	InputTokens        int64 `json:"input_tokens"`
	CachedInputTokens  int64 `json:"cached_input_tokens,omitempty"`
	CacheWriteTokens   int64 `json:"cache_write_tokens,omitempty"`
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens,omitempty"`
	OutputTokens       int64 `json:"output_tokens"`
	ReasoningTokens    int64 `json:"reasoning_tokens,omitempty"`
}

// Total returns input plus output tokens.
func (u Usage) Total() int64 { return u.InputTokens + u.OutputTokens }

// Add returns the sum of two usages.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		InputTokens:        u.InputTokens + v.InputTokens,
		CachedInputTokens:  u.CachedInputTokens + v.CachedInputTokens,
		CacheWriteTokens:   u.CacheWriteTokens + v.CacheWriteTokens,
		CacheWrite1hTokens: u.CacheWrite1hTokens + v.CacheWrite1hTokens,
		OutputTokens:       u.OutputTokens + v.OutputTokens,
		ReasoningTokens:    u.ReasoningTokens + v.ReasoningTokens,
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
	// ID identifies the request in the ledger, the logs, the upstream's bill and the
	// caller's answer; empty means the engine assigns one (NewRequestID).
	ID string

	Format Format
	Body   []byte

	Model     string // a model id or a route name
	System    string
	Messages  []Message
	MaxTokens int // the caller's cap on output tokens per choice; 0 when it set none
	// N is the number of choices asked for (OpenAI "n"); 0 means 1. Each choice may
	// produce MaxTokens, so the worst case of the output is Choices() x the cap.
	N           int
	Temperature *float64 // nil when unset
	Stream      bool
	// CacheTTL is the longest prompt-cache TTL that the request's cache_control breakpoints
	// ask for (Anthropic): 0 when it has none, 5 minutes for {"type": "ephemeral"}, an hour
	// for "ttl": "1h". Prompt tokens may then be billed at the cache-write price of that
	// TTL, above the input price, so the worst case is priced with it.
	CacheTTL time.Duration

	// InputTokens is the offline estimate of the prompt size that the request's parser
	// made in its one pass over the body; 0 lets the engine estimate it. The engine takes
	// it only when its Tokenizer is the default (offline) one: a configured Tokenizer is
	// asked instead. For
	// a request that NeedsStoredState it counts the body only: the stored conversation
	// that the upstream adds to it is not known here.
	InputTokens int

	// State is what a Responses API request says about conversation state kept by the
	// upstream; zero for every other format.
	State State

	Identity Identity
}

// State is what a Responses API request says about the conversation state that an
// OpenAI upstream keeps for it.
type State struct {
	// Store reports that the caller asked the upstream to store the answer ("store",
	// which defaults to true), so that a later request may continue it by its id. Only an
	// OpenAI Responses upstream stores anything: an answer translated from another
	// provider's is stored nowhere, and says so ("store": false).
	Store bool
	// PreviousResponseID is the caller's previous_response_id: the stored response that
	// the request continues. Empty when none.
	PreviousResponseID string
	// Field names the first member of the body whose meaning is state stored at the
	// upstream: "previous_response_id", "conversation", "prompt" (a stored prompt
	// template), or an input item that refers to a stored item ("input[3]"). Empty when
	// the request is self-contained. Such a request can only be served by the OpenAI
	// upstream that holds that state; see NeedsStoredState.
	Field string
	// Refs counts the members that refer to stored state: previous_response_id,
	// conversation, prompt and each input item_reference. A request whose only one is
	// previous_response_id (Refs 1) brings exactly the previous response's conversation,
	// whose size is known once that response was served.
	Refs int
}

// NeedsStoredState reports whether the request refers to state stored at an OpenAI
// upstream (State.Field is set): no other upstream can serve it, and its input includes
// a stored conversation whose size the body does not show, up to the model's context
// window.
func (r *Request) NeedsStoredState() bool { return r.State.Field != "" }

// NewRequestID returns a new request id: a UUIDv7, unique across processes and replicas
// and ordered by time, so that ledger rows and log lines sort by it. Should the system's
// random source fail (which crypto/rand documents as unrecoverable), it returns a time and
// counter id that is unique within the process.
func NewRequestID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Sprintf("tg-%x-%x", time.Now().UnixNano(), fallbackSeq.Add(1))
	}
	return id.String()
}

var fallbackSeq atomic.Uint64

// Choices returns how many answers the request asks for: N, at least 1.
func (r *Request) Choices() int { return max(r.N, 1) }

// Call is what the engine asks one upstream for: the request, the concrete model to use and
// the output cap after any clamping.
type Call struct {
	Request   *Request
	Model     string
	MaxTokens int
	// RequestID is tollgate's id of the request (see Request.ID), which an adapter sends
	// upstream as the X-Client-Request-Id header, so that the provider's logs, support and
	// bill can be matched to tollgate's ledger; "" sends none.
	RequestID string
}

// Response is an upstream's answer.
//
// For a non-streaming call Body is the raw JSON in Format and Stream is nil. For a streaming
// call Stream is non-nil and must be read to io.EOF or closed; Usage is then final only
// when the stream has ended.
type Response struct {
	Format Format
	Model  string // the model the upstream reports having used
	// ID is the upstream's id of the answer ("chatcmpl-…", "msg_…"); empty when unknown.
	ID string
	// UpstreamRequestID is the upstream's id of the HTTP call (OpenAI's x-request-id,
	// Anthropic's request-id response header), which its support and logs know the call
	// by; empty when it sent none.
	UpstreamRequestID string
	// Created is when the upstream made the answer: OpenAI's "created", or when tollgate
	// received an answer that does not say (Anthropic's). Zero when unknown.
	Created time.Time
	Body    []byte
	Text    string // the answer text of the first choice, for caching and translation
	// Reasoning is the visible reasoning of the first choice (Anthropic thinking blocks,
	// an OpenAI-compatible server's reasoning_content), joined.
	Reasoning string
	// ToolCalls are the tool calls of the first choice, in order.
	ToolCalls []ToolCall
	// StopReason is the upstream's stop or finish reason, in its own vocabulary.
	StopReason string
	Usage      Usage
	// Conversation, for a Responses API answer that its upstream stored ("store": true),
	// bounds in tokens the conversation a request continuing it by previous_response_id
	// brings as input: the answer's input and output as the upstream counted them, and the
	// framing of each output item. 0 when it was not stored, or cannot be bounded (the
	// upstream may have truncated the input, or a hosted tool's items count in neither).
	Conversation int64
	Stream       Stream
	Cached       bool // served from tollgate's response cache, not an upstream
	// Header is the upstream's HTTP response header, as received (for a stream: with the
	// 200, before the first event): the rate-limit state that every answer reports
	// (x-ratelimit-*, anthropic-ratelimit-*), from which package learn learns the
	// upstream's limits. It is read-only, and nil for an answer that no upstream sent
	// (a cached or static answer, a provider that is not HTTP).
	Header http.Header
}

// Chunk returns the whole answer as one stream chunk: its text, reasoning, tool calls
// (each complete in one delta, at its position) and stop reason, for replaying an answer
// that came whole (from the cache, a static step) as a stream. Raw is empty.
func (r *Response) Chunk() Chunk {
	c := Chunk{Text: r.Text, Reasoning: r.Reasoning, StopReason: r.StopReason}
	for i, tc := range r.ToolCalls {
		c.ToolCalls = append(c.ToolCalls, ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments})
	}
	return c
}

// ToolCall is one complete tool call of an answer.
type ToolCall struct {
	ID        string // the call's id, which the caller's tool result must name
	Name      string // the function's name
	Arguments string // the arguments as a JSON text (an object)
}

// Chunk is one streamed event: its raw bytes in the upstream's format (a whole SSE event,
// "data: ...\n\n" included) and what the model generated in it, in neutral form.
//
// An event that carries no generated content (OpenAI's role chunk, Anthropic's
// message_start, content_block_start of a text block, ping, a usage-only chunk) is part of
// the preamble or the epilogue: IsContent reports false for it.
type Chunk struct {
	Raw []byte
	// Text is the answer-text delta of the first choice (index 0): what is cached, replayed
	// and translated.
	Text string
	// Reasoning is a visible reasoning delta (Anthropic thinking_delta, an OpenAI-compatible
	// server's reasoning_content) of the first choice.
	Reasoning string
	// ToolCalls are the tool-call deltas of the first choice in this event.
	ToolCalls []ToolCallDelta
	// Other is the generated text of other choices (n > 1) in this event: text, reasoning,
	// tool names and arguments, concatenated. It is counted, never relayed by itself.
	Other string
	// StopReason is the first choice's stop or finish reason when this event carries it
	// (OpenAI's finish_reason chunk, Anthropic's message_delta), in the upstream's own
	// vocabulary; empty otherwise.
	StopReason string
}

// ToolCallDelta is a fragment of one tool call in a stream: the call's first delta carries
// its ID and Name, later ones append to Arguments (a JSON text, sent in pieces).
type ToolCallDelta struct {
	Index     int    // the call's position among the answer's tool calls
	ID        string // set on the call's first delta
	Name      string // set on the call's first delta
	Arguments string // a fragment of the arguments' JSON
}

// IsContent reports whether the event carries generated content (text, reasoning, or a
// tool call): the end of a stream's preamble, after which a failure can no longer be
// hidden from the caller by falling back.
func (c *Chunk) IsContent() bool {
	return c.Text != "" || c.Reasoning != "" || len(c.ToolCalls) > 0 || c.Other != ""
}

// Stream is a streamed response. Recv returns io.EOF after the last chunk. Close releases
// the connection and may be called at any time, more than once, also from another
// goroutine while Recv waits: that Recv then returns an error. The engine closes a stream
// so when its caller's context ends, since the call itself runs on a context that the
// caller's cancellation does not reach.
//
// Usage returns the usage the upstream has reported so far (cumulative; the final figure
// once Recv has returned io.EOF). Its OutputTokens counts only what the upstream reported
// as generated: a placeholder such as the output_tokens of Anthropic's message_start is
// not reported, so a stream that ends before any usage event reports zero output.
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

// ConversationStream is a Stream whose answer its upstream may store for a later request
// to continue (a Responses API stream). Once the stream's terminal event has been read,
// Conversation returns the answer's id and the most tokens its stored conversation holds
// (see Response.Conversation); tokens is 0 until then, and when that is unknown. It is safe
// to call from any goroutine.
type ConversationStream interface {
	Stream
	Conversation() (id string, tokens int64)
}

// EOF is returned by Stream.Recv at the end of a stream.
var EOF = io.EOF
