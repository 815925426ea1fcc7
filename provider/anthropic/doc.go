// Package anthropic adapts tollgate to the Anthropic Messages API (POST /v1/messages).
//
// It parses a caller's request into an llm.Request (ParseRequest), builds the upstream
// body (EncodeRequest: the caller's own body with only the model and max_tokens rewritten,
// or a translation from the neutral fields), calls the API (Provider.Do, which classifies
// every failure as an *llm.Error and meters streams, whose usage is cumulative), and encodes
// neutral answers, streams and errors in Anthropic's format for callers whose answer came
// from elsewhere (EncodeResponse, StreamEncoder, EncodeError).
package anthropic
