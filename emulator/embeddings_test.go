package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
)

func embedCall(body string) tcall { return tcall{body: body, path: "/v1/embeddings"} }

// vectors decodes the embeddings of an answer, floats or base64.
func vectors(t *testing.T, body string) [][]float64 {
	t.Helper()
	var out [][]float64
	for i, d := range decode(t, body)["data"].([]any) {
		if num(dig(d, "index")) != i || dig(d, "object") != "embedding" {
			t.Errorf("data[%d] = index %v object %v", i, dig(d, "index"), dig(d, "object"))
		}
		var v []float64
		switch x := dig(d, "embedding").(type) {
		case []any:
			for _, f := range x {
				v = append(v, f.(float64))
			}
		case string:
			raw, err := base64.StdEncoding.DecodeString(x)
			if err != nil || len(raw)%4 != 0 {
				t.Fatalf("base64 embedding: %v", err)
			}
			for j := 0; j < len(raw); j += 4 {
				v = append(v, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[j:]))))
			}
		}
		out = append(out, v)
	}
	return out
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func TestEmbeddings(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		n      int // vectors
		dims   int
		tokens int
	}{
		{"string", `{"model":"text-embedding-3-small","input":"the quota ledger"}`, 1, 1536, 3},
		{"strings", `{"model":"text-embedding-3-small","input":["the quota","ledger","keeps every hold"]}`, 3, 1536, 6},
		{"token ids", `{"model":"text-embedding-3-small","input":[1820,43755,49195]}`, 1, 1536, 3},
		{"arrays of token ids", `{"model":"text-embedding-3-small","input":[[1820,43755],[49195]]}`, 2, 1536, 3},
		{"large", `{"model":"text-embedding-3-large","input":"the quota ledger"}`, 1, 3072, 3},
		{"ada", `{"model":"text-embedding-ada-002","input":"the quota ledger"}`, 1, 1536, 3},
		{"dimensions", `{"model":"text-embedding-3-large","input":"the quota ledger","dimensions":256}`, 1, 256, 3},
		{"base64", `{"model":"text-embedding-3-small","input":["the quota","ledger"],"encoding_format":"base64"}`, 2, 1536, 3},
		{"explicit float", `{"model":"text-embedding-3-small","input":"x","encoding_format":"float"}`, 1, 1536, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustNew(t, Config{Seed: 3, Now: newClock().Now})
			r := serve(e, embedCall(tc.body).with("X-Client-Request-Id", "emb"))
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			m := decode(t, r.body)
			if m["object"] != "list" || num(dig(m, "usage", "prompt_tokens")) != tc.tokens || num(dig(m, "usage", "total_tokens")) != tc.tokens {
				t.Errorf("object %v usage %v, want list and %d tokens", m["object"], m["usage"], tc.tokens)
			}
			vs := vectors(t, r.body)
			if len(vs) != tc.n {
				t.Fatalf("%d vectors, want %d", len(vs), tc.n)
			}
			for i, v := range vs {
				if len(v) != tc.dims || math.Abs(norm(v)-1) > 1e-5 {
					t.Errorf("vector %d: %d dims, norm %v; want %d, 1", i, len(v), norm(v), tc.dims)
				}
			}
			b := e.BillsFor("emb")
			if len(b) != 1 || b[0].Usage.InputTokens != int64(tc.tokens) || b[0].Usage.OutputTokens != 0 || b[0].End != EndComplete {
				t.Errorf("bill %+v, want %d input tokens, complete", b, tc.tokens)
			}
		})
	}
}

// TestEmbeddingVectors checks that vectors depend on the seed, the model and the input
// alone, and that a shortened vector is the renormalized prefix of the full one.
func TestEmbeddingVectors(t *testing.T) {
	get := func(seed uint64, body string) []float64 {
		r := serve(mustNew(t, Config{Seed: seed}), embedCall(body))
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return vectors(t, r.body)[0]
	}
	full := get(1, `{"model":"text-embedding-3-large","input":"hello"}`)
	if again := get(1, `{"model":"text-embedding-3-large","input":["other","hello"]}`); fmt.Sprint(again) == fmt.Sprint(full) {
		t.Error("the first vector of a different input list equals the vector of hello")
	}
	e := mustNew(t, Config{Seed: 1})
	serve(e, embedCall(`{"model":"text-embedding-3-large","input":"something first"}`))
	r := serve(e, embedCall(`{"model":"text-embedding-3-large","input":["other","hello"]}`))
	if v := vectors(t, r.body)[1]; fmt.Sprint(v) != fmt.Sprint(full) {
		t.Error("the vector of hello depends on the request's place or its neighbours")
	}
	if v := get(2, `{"model":"text-embedding-3-large","input":"hello"}`); fmt.Sprint(v) == fmt.Sprint(full) {
		t.Error("seeds 1 and 2 give the same vector")
	}
	if v := get(1, `{"model":"text-embedding-3-small","input":"hello"}`); fmt.Sprint(v) == fmt.Sprint(full[:1536]) {
		t.Error("two models give the same vector")
	}
	short := get(1, `{"model":"text-embedding-3-large","input":"hello","dimensions":8}`)
	n := norm(full[:8])
	for i, x := range short {
		if math.Abs(x-full[i]/n) > 1e-6 {
			t.Fatalf("shortened[%d] = %v, want the renormalized prefix %v", i, x, full[i]/n)
		}
	}
	b64 := vectors(t, serve(mustNew(t, Config{Seed: 1}), embedCall(`{"model":"text-embedding-3-large","input":"hello","encoding_format":"base64"}`)).body)[0]
	for i := range full {
		if float32(b64[i]) != float32(full[i]) {
			t.Fatalf("base64[%d] = %v, float %v", i, b64[i], full[i])
		}
	}
}

func TestEmbeddingErrors(t *testing.T) {
	many := `"x"` + strings.Repeat(`,"x"`, 2048)
	big := `"` + strings.Repeat("w ", 150) + `"`
	heavy := big + strings.Repeat(","+big, 2000) // 2001 x 150 tokens
	cases := []struct {
		name   string
		body   string
		status int
		want   map[string]any
	}{
		{"no model", `{"input":"x"}`, 400, oaiErr("you must provide a model parameter", "invalid_request_error", "model", nil)},
		{"no input", `{"model":"text-embedding-3-small"}`, 400, oaiErr("'input' is a required property", "invalid_request_error", "input", nil)},
		{"empty string", `{"model":"text-embedding-3-small","input":""}`, 400,
			oaiErr("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "invalid_request_error", nil, nil)},
		{"empty array", `{"model":"text-embedding-3-small","input":[]}`, 400, map[string]any{"error": map[string]any{"message": "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."}}},
		{"mixed array", `{"model":"text-embedding-3-small","input":["x",[1]]}`, 400, map[string]any{"error": map[string]any{"type": "invalid_request_error"}}},
		{"empty token array", `{"model":"text-embedding-3-small","input":[[1],[]]}`, 400, map[string]any{"error": map[string]any{"type": "invalid_request_error"}}},
		{"object input", `{"model":"text-embedding-3-small","input":{"a":1}}`, 400, map[string]any{"error": map[string]any{"type": "invalid_request_error"}}},
		{"too many inputs", `{"model":"text-embedding-3-small","input":[` + many + `]}`, 400,
			oaiErr("Invalid 'input': array too long. Expected an array with maximum length 2048, but got an array with length 2049 instead.", "invalid_request_error", "input", "array_above_max_length")},
		{"input too long", `{"model":"text-embedding-3-small","input":"` + strings.Repeat("w ", 8193) + `"}`, 400,
			oaiErr("This model's maximum context length is 8192 tokens, however you requested 8193 tokens (8193 in your prompt; 0 for the completion). Please reduce your prompt; or completion length.", "invalid_request_error", nil, nil)},
		{"too many tokens", `{"model":"text-embedding-3-small","input":[` + heavy + `]}`, 400,
			oaiErr("Requested 300150 tokens, max 300000 tokens per request", "invalid_request_error", nil, "max_tokens_per_request")},
		{"dimensions on ada", `{"model":"text-embedding-ada-002","input":"x","dimensions":512}`, 400,
			oaiErr("This model does not support specifying dimensions.", "invalid_request_error", nil, nil)},
		{"dimensions too large", `{"model":"text-embedding-3-small","input":"x","dimensions":2000}`, 400,
			oaiErr("Invalid value for 'dimensions' = 2000. Must be less than or equal to 1536.", "invalid_request_error", "dimensions", nil)},
		{"dimensions zero", `{"model":"text-embedding-3-small","input":"x","dimensions":0}`, 400,
			oaiErr("Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got 0 instead.", "invalid_request_error", "dimensions", "integer_below_min_value")},
		{"encoding format", `{"model":"text-embedding-3-small","input":"x","encoding_format":"int8"}`, 400,
			oaiErr("Invalid value: 'int8'. Supported values are: 'float' and 'base64'.", "invalid_request_error", "encoding_format", "invalid_value")},
		// A chat model: OpenAI's 403 (seen in infiniflow/ragflow#1835).
		{"chat model", `{"model":"gpt-4o","input":"x"}`, 403, oaiErr("You are not allowed to generate embeddings from this model", "invalid_request_error", nil, nil)},
		{"unknown model", `{"model":"text-embedding-9","input":"x"}`, 404,
			oaiErr("The model `text-embedding-9` does not exist or you do not have access to it.", "invalid_request_error", nil, "model_not_found")},
		{"anthropic model", `{"model":"claude-sonnet-4-5","input":"x"}`, 404, map[string]any{"error": map[string]any{"code": "model_not_found"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustNew(t, Config{})
			r := serve(e, embedCall(tc.body))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %.300s", r.status, tc.status, r.body)
			}
			if tc.want != nil {
				if got := pick(decode(t, r.body), tc.want); !cmpEqual(got, tc.want) {
					t.Errorf("body %.300s, want %v", r.body, tc.want)
				}
				if len(e.Bills()) != 0 {
					t.Error("a refusal was billed")
				}
			}
		})
	}
}

func TestEmbeddingLimitsAndFaults(t *testing.T) {
	e := mustNew(t, Config{Now: newClock().Now, Limits: Limits{RPM: 100, TPM: 100}})
	body := `{"model":"text-embedding-3-small","input":"` + strings.Repeat("w ", 60) + `"}`
	r := serve(e, embedCall(body))
	if r.status != 200 || r.header.Get("X-Ratelimit-Remaining-Tokens") != "40" {
		t.Fatalf("first: %d, remaining tokens %q; want 200 and 40 (input tokens alone)", r.status, r.header.Get("X-Ratelimit-Remaining-Tokens"))
	}
	r = serve(e, embedCall(body))
	if r.status != 429 || !strings.Contains(r.body, "on tokens per min (TPM): Limit 100, Used 60, Requested 60.") {
		t.Errorf("second: %d %s, want the TPM 429", r.status, r.body)
	}
	e = mustNew(t, Config{})
	if r := serve(e, embedCall(body).with("X-Emulator-Fault", "server_error")); r.status != 500 {
		t.Errorf("server_error: status %d", r.status)
	}
	if r := serve(e, embedCall(body).with("X-Emulator-Fault", "cut").with("X-Client-Request-Id", "cut")); !r.aborted {
		t.Error("cut: the answer was not cut")
	}
	if b := e.BillsFor("cut"); len(b) != 1 || b[0].End != EndCut || b[0].Usage.InputTokens != 60 || b[0].Fault != "cut" {
		t.Errorf("cut bill %+v, want its input, ended by the cut", b)
	}
	st := e.Stats().Models["text-embedding-3-small"]
	if st.Billed != 1 || st.InputTokens != 60 || st.CostMicroUSD != 2 { // 60 x $0.02 per 1M, rounded up
		t.Errorf("stats %+v", st)
	}
}
