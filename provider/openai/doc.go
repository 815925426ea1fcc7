// Package openai adapts tollgate to the OpenAI Chat Completions API
// (POST /v1/chat/completions) and to the servers that speak it: Azure OpenAI, vLLM, SGLang,
// llama.cpp, Ollama, LM Studio, GitHub Copilot and the hosted OpenAI-compatible APIs.
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
package openai
