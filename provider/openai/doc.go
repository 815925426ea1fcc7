// Package openai adapts tollgate to the OpenAI Chat Completions API
// (POST /v1/chat/completions).
//
// It parses a caller's request into an llm.Request (ParseRequest), builds the upstream
// body (EncodeRequest: the caller's own body with only the model and the token cap
// rewritten, or a translation from the neutral fields), calls the API (Provider.Do, which
// classifies every failure as an *llm.Error and meters streams), and encodes neutral
// answers, streams and errors in OpenAI's format for callers whose answer came from
// elsewhere (EncodeResponse, StreamEncoder, EncodeError).
package openai
