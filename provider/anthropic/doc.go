// Package anthropic adapts tollgate to the Anthropic Messages API (POST /v1/messages).
//
// It parses a caller's request into an llm.Request (ParseRequest, which also records the
// longest prompt-cache TTL its cache_control breakpoints ask for), builds the upstream body
// (EncodeRequest: the caller's own body with only the model and max_tokens rewritten, an
// OpenAI caller's body translated in full by package translate, or a body built from the
// neutral fields), calls the API (Provider.Do), and encodes neutral answers, streams and
// errors in Anthropic's format for callers whose answer came from elsewhere
// (EncodeResponse, StreamEncoder, EncodeError), tool calls and reasoning included. An
// OpenAI Responses API request is translated too (translate.ResponsesToAnthropic), and
// its answer is the Messages answer that openai.EncodeResponsesResponse and
// openai.ResponsesStreamEncoder write for the caller. When a translated OpenAI
// response_format or text.format rides on a forced tool, Do reads that tool's input back
// as the answer's text, whole or streamed. Supports says, without a call, what an
// Anthropic upstream cannot serve at all: embeddings, a Responses request that continues
// state stored at OpenAI, and a body whose translation meets an untranslatable field.
//
// CountTokens asks the upstream's POST /v1/messages/count_tokens for a caller's
// token-counting body (ParseCountTokensRequest reads it, with the offline estimate for
// when there is no upstream; EncodeTokenCount writes that answer).
//
// Do classifies every failure as an *llm.Error, with every field taken from an error body
// redacted of the API key, and meters usage: input_tokens (the uncached rest) plus the
// cache reads and the cache writes, split by TTL, make llm.Usage.InputTokens. In a stream,
// message_start's output_tokens is a placeholder and is not reported; message_delta usage
// is cumulative and never summed. A stream's chunks say what each event generated: text,
// thinking (as Reasoning) and tool calls (content_block_start of a tool_use gives the ID and
// name, input_json_delta the arguments, Index counting tool calls only); Raw is always the
// upstream's bytes.
package anthropic
