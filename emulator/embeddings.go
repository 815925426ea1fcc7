package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/tollgate/tollgate/llm"
)

// OpenAI's documented bounds of an embeddings request
// (https://platform.openai.com/docs/api-reference/embeddings/create): at most 2048
// inputs, each within the model's window (8192 tokens), and at most 300,000 tokens in all.
const (
	maxEmbeddingInputs = 2048
	maxEmbeddingTokens = 300_000
)

// embeddingRequest is a parsed embeddings request.
type embeddingRequest struct {
	model  string
	inputs []embeddingInput
	tokens int // over all inputs
	dims   int // 0: the model's
	base64 bool
}

// embeddingInput is one input: a text or an array of token ids.
type embeddingInput struct {
	text string
	ids  []int64
	n    int // its tokens
}

// parseEmbedding parses an embeddings request body. The input is a string, an array of
// strings, an array of token ids or an array of such arrays.
func parseEmbedding(body []byte) (embeddingRequest, error) {
	var w struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		Dimensions     *int            `json:"dimensions"`
		EncodingFormat *string         `json:"encoding_format"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return embeddingRequest{}, &parseError{msg: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"}
	}
	if w.Model == "" {
		return embeddingRequest{}, &parseError{param: "model", msg: "you must provide a model parameter"}
	}
	r := embeddingRequest{model: w.Model}
	invalid := &parseError{msg: "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."}
	in := w.Input
	switch {
	case len(in) == 0 || string(in) == "null":
		return r, &parseError{param: "input", msg: "'input' is a required property"}
	case in[0] == '"':
		var s string
		if json.Unmarshal(in, &s) != nil || s == "" {
			return r, invalid
		}
		r.inputs = []embeddingInput{{text: s, n: CountTokens(s)}}
	case in[0] == '[':
		var items []json.RawMessage
		if json.Unmarshal(in, &items) != nil || len(items) == 0 {
			return r, invalid
		}
		if n := len(items); n > maxEmbeddingInputs {
			return r, &parseError{param: "input", code: "array_above_max_length",
				msg: fmt.Sprintf("Invalid 'input': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", maxEmbeddingInputs, n)}
		}
		var ids []int64
		if json.Unmarshal(in, &ids) == nil {
			r.inputs = []embeddingInput{{ids: ids, n: len(ids)}} // one input of token ids
			break
		}
		texts := items[0][0] == '"' // an array of strings or of token arrays, not both
		for _, it := range items {
			var x embeddingInput
			switch {
			case len(it) > 0 && (it[0] == '"') != texts:
				return r, invalid
			case texts:
				if json.Unmarshal(it, &x.text) != nil || x.text == "" {
					return r, invalid
				}
				x.n = CountTokens(x.text)
			case json.Unmarshal(it, &x.ids) == nil && len(x.ids) > 0:
				x.n = len(x.ids)
			default:
				return r, invalid
			}
			r.inputs = append(r.inputs, x)
		}
	default:
		return r, invalid
	}
	for i := range r.inputs {
		r.tokens += r.inputs[i].n
	}
	if d := w.Dimensions; d != nil {
		if *d < 1 {
			return r, belowMin("dimensions", *d)
		}
		r.dims = *d
	}
	if f := w.EncodingFormat; f != nil {
		switch *f {
		case "float":
		case "base64":
			r.base64 = true
		default:
			return r, &parseError{param: "encoding_format", code: "invalid_value",
				msg: fmt.Sprintf("Invalid value: '%s'. Supported values are: 'float' and 'base64'.", *f)}
		}
	}
	return r, nil
}

// openAIEmbeddings serves POST /v1/embeddings: one vector per input, deterministic for a
// given seed, model, input and length, of unit norm (a shortened vector is renormalized,
// as OpenAI's are), as floats or as base64 of little-endian float32. It is billed its
// input tokens, which are what the rate limits count; the faults before the 200, a cut
// body, silence and stalls apply as for chat.
func (e *Emulator) openAIEmbeddings(w http.ResponseWriter, r *http.Request) {
	c := e.begin(r, "req_", 32)
	if !c.openAIRequest(w, r) {
		return
	}
	er, err := parseEmbedding(c.body)
	c.req.model = er.model
	if err != nil {
		c.openAIBadRequest(w, err)
		return
	}
	if !c.resolve("openai") {
		c.openAIError(w, &apiError{status: 404, typ: "invalid_request_error", code: "model_not_found", reason: RefusedNotFound,
			message: "The model `" + er.model + "` does not exist or you do not have access to it."})
		return
	}
	m := c.m
	if !m.embedding {
		c.openAIError(w, &apiError{status: 403, typ: "invalid_request_error", reason: RefusedNotFound,
			message: "You are not allowed to generate embeddings from this model"})
		return
	}
	if er.dims != 0 {
		if !isShortenable(m.id) {
			c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedBadRequest,
				message: "This model does not support specifying dimensions."})
			return
		}
		if er.dims > m.dims {
			c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", param: "dimensions", reason: RefusedBadRequest,
				message: fmt.Sprintf("Invalid value for 'dimensions' = %d. Must be less than or equal to %d.", er.dims, m.dims)})
			return
		}
	}
	dims := m.dims
	if er.dims != 0 {
		dims = er.dims
	}
	for i := range er.inputs {
		if n := er.inputs[i].n; n > m.ContextWindow {
			c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", reason: RefusedContextLength,
				message: fmt.Sprintf("This model's maximum context length is %d tokens, however you requested %d tokens (%d in your prompt; 0 for the completion). Please reduce your prompt; or completion length.", m.ContextWindow, n, n)})
			return
		}
	}
	if er.tokens > maxEmbeddingTokens {
		c.openAIError(w, &apiError{status: 400, typ: "invalid_request_error", code: "max_tokens_per_request", reason: RefusedContextLength,
			message: fmt.Sprintf("Requested %d tokens, max %d tokens per request", er.tokens, maxEmbeddingTokens)})
		return
	}
	c.req.prompt = er.tokens
	if !c.openAIAdmit(w, r, cost{tokens: float64(er.tokens)}) {
		return
	}
	c.usage = llm.Usage{InputTokens: int64(er.tokens)}
	if c.fault == faultSilent {
		c.silent(w, r, "application/json")
		return
	}
	if !c.waitWhole(r, 0, 0, 0) {
		return
	}
	per := 48 + dims*12
	if er.base64 {
		per = 48 + dims*6
	}
	b := make([]byte, 0, 128+len(er.model)+len(er.inputs)*per)
	b = append(b, `{"object":"list","data":[`...)
	vec := make([]float32, dims)
	raw := make([]byte, 4*dims)
	for i := range er.inputs {
		if i > 0 {
			b = append(b, ',')
		}
		e.embed(vec, m.id, &er.inputs[i])
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		if er.base64 {
			for j, f := range vec {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for j, f := range vec {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendString(b, er.model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(er.tokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(er.tokens), 10)
	b = append(b, "}}"...)
	c.sendWhole(w, b, 0, 0)
}

// isShortenable reports whether an embedding model takes "dimensions": the
// text-embedding-3 family and later, not ada-002.
func isShortenable(id string) bool { return id != "text-embedding-ada-002" }

// embed fills v with the unit vector of an input: its first len(v) coordinates derive from
// the seed, the model and the input alone, so that a shorter vector is a renormalized
// prefix of a longer one, as OpenAI's shortened embeddings are.
func (e *Emulator) embed(v []float32, model string, in *embeddingInput) {
	h := fnvOffset.token(model)
	if in.ids == nil {
		h = h.add(in.text)
	} else {
		for _, id := range in.ids {
			h = (h ^ hasher(id)) * fnvPrime
		}
	}
	g := newRNG(e.cfg.Seed, uint64(h))
	var norm float64
	for i := range v {
		x := 2*g.float() - 1
		v[i] = float32(x)
		norm += x * x
	}
	if norm == 0 {
		return
	}
	inv := 1 / math.Sqrt(norm)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
}
