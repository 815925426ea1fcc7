// Package openai adapts tollgate to the OpenAI Chat Completions API
// (POST /v1/chat/completions) and to the servers that speak it: Azure OpenAI, vLLM, SGLang,
// llama.cpp, Ollama, LM Studio, GitHub Copilot and the hosted OpenAI-compatible APIs; and
// to OpenAI's Responses API (POST /v1/responses) and embeddings (POST /v1/embeddings).
//
// It parses a caller's request into an llm.Request (ParseRequest: model, token cap, "n"
// choices), builds the upstream body (EncodeRequest: the caller's own body with only the
// model and the token cap rewritten, an Anthropic caller's body translated in full by
// package translate, or a body built from the neutral fields), calls the API
// (Provider.Do), and encodes neutral answers, streams and errors in OpenAI's format for
// callers whose answer came from elsewhere (EncodeResponse, StreamEncoder, EncodeError),
// tool calls and reasoning included.
//
// Do classifies every failure as an *llm.Error (context-length errors by code and by
// message, whatever server sent them; every field taken from an error body redacted of the
// API key) and meters usage: prompt_tokens with their cached part, completion_tokens (over
// all choices) with their reasoning part. A stream's chunks say what each event generated:
// the first choice's text, reasoning (reasoning_content or reasoning) and tool-call deltas,
// and the other choices' output in Chunk.Other; Raw is always the upstream's bytes.
//
// # Responses API and embeddings
//
// ParseResponsesRequest reads a Responses body into an llm.Request of Format
// llm.Responses (max_output_tokens as the cap, the input estimate over instructions,
// items and tools, and the conversation state: store, previous_response_id and the member
// that needs state stored upstream, see llm.Request.NeedsStoredState); a background
// response is refused, since it could not be metered. Do sends such a request to
// {base}/responses with only the model, the cap and stream rewritten (and tollgate's own
// reasoning items of a translated answer dropped from the input), reads the usage
// (input_tokens with their cached part, output_tokens with their reasoning part) from
// the answer or from the stream's terminal event, and reads the stream's typed events
// into chunks: output_text and refusal deltas as Text, reasoning summary deltas as
// Reasoning, function calls from their output_item.added (call_id, name) and argument
// deltas, the stop reason from the status or incomplete_details (StopCompleted,
// StopMaxOutputTokens, StopContentFilter). response.failed and error events are
// classified as chat's errors. EncodeResponsesResponse and ResponsesStreamEncoder write a
// Responses answer and stream for a caller whose answer came from elsewhere.
//
// ParseEmbeddingsRequest reads an embeddings body (Format llm.Embeddings: input tokens
// only, no output cap), and Do sends it to {base}/embeddings and reads its usage
// (prompt_tokens), leaving the vectors in the body to relay.
package openai
