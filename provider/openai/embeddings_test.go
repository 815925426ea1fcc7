package openai

import (
	"errors"
	"testing"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/tokens"
)

func TestParseEmbeddingsRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		tokens     int
		hint       string
	}{
		{"string", `{"model":"text-embedding-3-small","input":"The quota ledger keeps every reservation.","user":"u-9"}`,
			tokens.Text("The quota ledger keeps every reservation."), "u-9"},
		{"strings", `{"model":"text-embedding-3-large","input":["first","second text"],"dimensions":256,"encoding_format":"base64"}`,
			tokens.Text("first") + tokens.Text("second text"), ""},
		{"token ids", `{"model":"text-embedding-ada-002","input":[1820,25977,902,0]}`, 4, ""},
		{"arrays of token ids", `{"model":"m","input":[[1820,25977],[15339,11,1917]],"encoding_format":null,"dimensions":null}`, 5, ""},
	}
	for _, tt := range tests {
		req, info, err := ParseEmbeddingsRequest([]byte(tt.body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if req.Format != llm.Embeddings || req.Format.Generates() || req.InputTokens != tt.tokens || req.MaxTokens != 0 || info.SessionHint != tt.hint {
			t.Errorf("%s: format %s, %d tokens, cap %d, hint %q; want %d tokens, hint %q", tt.name, req.Format, req.InputTokens, req.MaxTokens, info.SessionHint, tt.tokens, tt.hint)
		}
	}
	errs := []struct{ body, field string }{
		{`{"input":"x"}`, "model"},
		{`{"model":"m"}`, "input"},
		{`{"model":"m","input":""}`, "input"},
		{`{"model":"m","input":[]}`, "input"},
		{`{"model":"m","input":["a",""]}`, "input[1]"},
		{`{"model":"m","input":[[]]}`, "input[0]"},
		{`{"model":"m","input":[1,-2]}`, "input[1]"},
		{`{"model":"m","input":[1.5]}`, "input[0]"},
		{`{"model":"m","input":[{"text":"x"}]}`, "input[0]"},
		{`{"model":"m","input":{"text":"x"}}`, "input"},
		{`{"model":"m","input":"x","dimensions":0}`, "dimensions"},
		{`{"model":"m","input":"x","encoding_format":"int8"}`, "encoding_format"},
	}
	for _, tt := range errs {
		_, _, err := ParseEmbeddingsRequest([]byte(tt.body))
		var re *RequestError
		if !errors.As(err, &re) || re.Field != tt.field {
			t.Errorf("ParseEmbeddingsRequest(%s) error %v, want one on %s", tt.body, err, tt.field)
		}
	}
	many := []byte(`{"model":"m","input":[`)
	for i := range MaxEmbeddingInputs + 1 {
		if i > 0 {
			many = append(many, ',')
		}
		many = append(many, `"x"`...)
	}
	if _, _, err := ParseEmbeddingsRequest(append(many, "]}"...)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("%d inputs: error %v, want a bad request", MaxEmbeddingInputs+1, err)
	}
}

func TestParseEmbeddingsResponse(t *testing.T) {
	t.Parallel()
	body := `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[-0.006929283,-0.005336422,0.01278321]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`
	resp, err := ParseEmbeddingsResponse([]byte(body))
	if err != nil || resp.Model != "text-embedding-3-small" || resp.Usage != (llm.Usage{InputTokens: 8}) || string(resp.Body) != body {
		t.Errorf("ParseEmbeddingsResponse() = %+v, %v", resp, err)
	}
	if _, err := ParseEmbeddingsResponse([]byte(`{"usage":"x"}`)); err == nil {
		t.Errorf("a malformed usage parsed")
	}
}

func FuzzParseEmbeddingsRequest(f *testing.F) {
	for _, s := range []string{`{"model":"m","input":"x"}`, `{"model":"m","input":[[1,2],[3]]}`, `{"model":"m","input":["a","b"],"dimensions":3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _, err := ParseEmbeddingsRequest(body)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v is not a bad request", err)
			}
			return
		}
		if req.InputTokens <= 0 || req.Model == "" || req.MaxTokens != 0 {
			t.Fatalf("ParseEmbeddingsRequest(%s) = %+v", body, req)
		}
	})
}
