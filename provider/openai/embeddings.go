package openai

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tidwall/gjson"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
	"github.com/tollgate/tollgate/tokens"
)

// EmbeddingsInfo is what ParseEmbeddingsRequest reads from a body besides the neutral
// request.
type EmbeddingsInfo struct {
	// SessionHint is the caller's "user", empty when absent or not a string.
	SessionHint string
}

// MaxEmbeddingInputs is the most inputs one embeddings request may hold (OpenAI's
// limit).
const MaxEmbeddingInputs = 2048

// ParseEmbeddingsRequest reads a caller's embeddings request body (POST /v1/embeddings)
// into the neutral form: Format llm.Embeddings, the model, and InputTokens, the estimate
// of what the input is billed (tokens.Text of each string, the length of each array of
// token ids: an embedding input has no framing). MaxTokens is 0: an embedding generates
// nothing, and its worst case is its input alone. Body is kept as it is (not copied).
//
// It checks what OpenAI checks before billing anything: the model; the input, a string,
// an array of strings, an array of token ids or an array of such arrays, none of them
// empty, at most MaxEmbeddingInputs of them; dimensions, a positive integer; and
// encoding_format, float or base64. Errors are *RequestError values naming the field.
func ParseEmbeddingsRequest(body []byte) (*llm.Request, EmbeddingsInfo, error) {
	var info EmbeddingsInfo
	ms, err := wire.BodyMembers(body)
	if err != nil {
		return nil, info, err
	}
	req := &llm.Request{Format: llm.Embeddings, Body: body}
	var input []byte
	for _, m := range ms {
		raw := body[m.Start:m.End]
		switch string(m.Key) {
		case "model":
			if err := wire.DecodeField(raw, &req.Model, "model", "a string"); err != nil {
				return nil, info, err
			}
		case "input":
			input = raw
		case "dimensions":
			var d *int64
			if err := wire.DecodeTokens(raw, &d, "dimensions"); err != nil {
				return nil, info, err
			}
		case "encoding_format":
			var f *string
			if err := wire.DecodeField(raw, &f, "encoding_format", "a string"); err != nil {
				return nil, info, err
			}
			if f != nil && *f != "float" && *f != "base64" {
				return nil, info, wire.BadField("encoding_format", "must be float or base64, got %q", *f)
			}
		case "user":
			info.SessionHint = stringValue(raw)
		}
	}
	if req.Model == "" {
		return nil, info, wire.BadField("model", "is required: name the model to call")
	}
	if len(input) == 0 || isNull(input) {
		return nil, info, wire.BadField("input", "is required: a string, an array of strings or an array of token ids")
	}
	n, err := embeddingTokens(gjsonOf(input))
	if err != nil {
		return nil, info, err
	}
	req.InputTokens = n
	return req, info, nil
}

// embeddingTokens counts an embeddings input, checking its shape as it goes.
func embeddingTokens(v gjson.Result) (int, error) {
	const want = "a string, an array of strings, an array of token ids or an array of such arrays"
	switch {
	case v.Type == gjson.String:
		if v.Str == "" {
			return 0, wire.BadField("input", "must not be empty")
		}
		return tokens.Text(v.Str), nil
	case !v.IsArray():
		return 0, wire.BadField("input", "must be %s, got %s", want, wire.JSONKind([]byte(v.Raw)))
	}
	items := v.Array()
	switch {
	case len(items) == 0:
		return 0, wire.BadField("input", "must not be empty")
	case len(items) > MaxEmbeddingInputs:
		return 0, wire.BadField("input", "must hold at most %d inputs, got %d", MaxEmbeddingInputs, len(items))
	}
	if items[0].Type == gjson.Number {
		return tokenIDs(items, "input")
	}
	n := 0
	for i, it := range items {
		field := fmt.Sprintf("input[%d]", i)
		switch {
		case it.Type == gjson.String:
			if it.Str == "" {
				return 0, wire.BadField(field, "must not be empty")
			}
			n += tokens.Text(it.Str)
		case it.IsArray():
			k, err := tokenIDs(it.Array(), field)
			if err != nil {
				return 0, err
			}
			n += k
		default:
			return 0, wire.BadField(field, "must be a string or an array of token ids, got %s", wire.JSONKind([]byte(it.Raw)))
		}
	}
	return n, nil
}

// tokenIDs checks an array of token ids, non-negative integers, and returns its length.
func tokenIDs(ids []gjson.Result, field string) (int, error) {
	if len(ids) == 0 {
		return 0, wire.BadField(field, "must not be empty")
	}
	for j, id := range ids {
		if id.Type != gjson.Number || id.Num < 0 || id.Num != float64(int64(id.Num)) {
			return 0, wire.BadField(fmt.Sprintf("%s[%d]", field, j), "must be a token id (a non-negative integer), got %s", id.Raw)
		}
	}
	return len(ids), nil
}

// ParseEmbeddingsResponse reads an embeddings answer: its model and its usage
// (prompt_tokens, all input: an embedding generates no output). The vectors are left in
// Body (raw, not copied), unread: they are relayed as they are.
func ParseEmbeddingsResponse(raw []byte) (*llm.Response, error) {
	out, _, err := parseEmbeddings(raw)
	return out, err
}

// parseEmbeddings also reports whether the body is an error object ("error" set and no
// "data"), which some OpenAI-compatible servers send with a 200. It walks the top level
// once: an answer can weigh a hundred megabytes.
func parseEmbeddings(raw []byte) (*llm.Response, bool, error) {
	ms, _, err := wire.Members(raw)
	if err != nil {
		return nil, false, fmt.Errorf("openai: embeddings body: %w", err)
	}
	out := &llm.Response{Format: llm.Embeddings, Body: raw}
	var hasError, hasData bool
	for _, m := range ms {
		v := raw[m.Start:m.End]
		switch string(m.Key) {
		case "model":
			_ = json.Unmarshal(v, &out.Model)
		case "data":
			hasData = true
		case "error":
			hasError = !isNull(v)
		case "usage":
			var u struct {
				PromptTokens int64 `json:"prompt_tokens"`
			}
			if err := json.Unmarshal(v, &u); err != nil {
				return nil, false, fmt.Errorf("openai: embeddings usage: %w", err)
			}
			out.Usage.InputTokens = u.PromptTokens
		}
	}
	return out, hasError && !hasData, nil
}

// EncodeEmbeddingsRequest returns the embeddings body to send upstream for call: the
// caller's body with only "model" rewritten. An embeddings request has no neutral form:
// a Request without a Body, or of another format, fails with KindBadRequest.
func EncodeEmbeddingsRequest(call llm.Call) ([]byte, error) {
	req := call.Request
	if req == nil || req.Format != llm.Embeddings || req.Body == nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: "not an embeddings request with a body"}
	}
	model := call.Model
	if model == "" {
		model = req.Model
	}
	modelJSON, _ := json.Marshal(model)
	out, err := wire.Patch(req.Body, wire.Set{Key: "model", Value: modelJSON})
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: "openai", Message: fmt.Sprintf("request body: %v", err)}
	}
	return out, nil
}

// doEmbeddings performs one attempt of an embeddings call: POST {base}/embeddings.
func (p *Provider) doEmbeddings(ctx context.Context, call llm.Call) (*llm.Response, error) {
	body, err := EncodeEmbeddingsRequest(call)
	if err != nil {
		return nil, p.named(err)
	}
	resp, upstreamID, err := p.post(ctx, p.url("/embeddings"), body, false, call.RequestID)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := p.readWhole(ctx, resp, upstreamID, wire.MaxEmbeddingsBody)
	if err != nil {
		return nil, err
	}
	out, failed, err := parseEmbeddings(raw)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindServer, Provider: p.name, Status: resp.StatusCode,
			Message: "unreadable response body", Err: err, UpstreamRequestID: upstreamID}
	}
	if failed {
		le := p.upstreamError(0, raw)
		le.Header, le.UpstreamRequestID = resp.Header, upstreamID
		return nil, le
	}
	if out.Model == "" {
		out.Model = call.Model
	}
	out.Header, out.UpstreamRequestID = resp.Header, upstreamID
	return out, nil
}
