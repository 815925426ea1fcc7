package openai

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/llm"
)

// benchBody is a typical agent turn: a system prompt, a few turns, tools declared.
var benchBody = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"` + strings.Repeat("You are a careful agent. ", 40) +
	`"},{"role":"user","content":"Plan the migration."},{"role":"assistant","content":"Step 1: inventory."},{"role":"user","content":[{"type":"text","text":"Go on."}]}],` +
	`"tools":[{"type":"function","function":{"name":"run","parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}}}],"temperature":0.2,"max_tokens":1024,"stream":true,"user":"agent-7"}`)

// BenchmarkParseAndForward is the gateway's per-request adapter work on the way in.
func BenchmarkParseAndForward(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := ParseRequest(benchBody)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := encodeRequest(llm.Call{Request: req, Model: "gpt-4o", MaxTokens: 512}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStream reads a recorded stream through the adapter, as the engine does.
func BenchmarkStream(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "stream_ok.sse"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	r := bytes.NewReader(data)
	for b.Loop() {
		r.Reset(data)
		s := newStream(io.NopCloser(r), "openai", "", true)
		for {
			if _, err := s.Recv(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchResponses is the same agent turn as benchBody, as a Responses API body.
var benchResponses = []byte(`{"model":"gpt-4o-mini","instructions":"` + strings.Repeat("You are a careful agent. ", 40) +
	`","input":[{"role":"user","content":"Plan the migration."},{"role":"assistant","content":"Step 1: inventory."},{"role":"user","content":[{"type":"input_text","text":"Go on."}]}],` +
	`"tools":[{"type":"function","name":"run","parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}}],"temperature":0.2,"max_output_tokens":1024,"stream":true,"user":"agent-7"}`)

// BenchmarkResponsesParseAndForward is BenchmarkParseAndForward for the Responses API.
func BenchmarkResponsesParseAndForward(b *testing.B) {
	b.SetBytes(int64(len(benchResponses)))
	b.ReportAllocs()
	for b.Loop() {
		req, _, err := ParseResponsesRequest(benchResponses)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := EncodeResponsesRequest(llm.Call{Request: req, Model: "gpt-4o", MaxTokens: 512}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResponsesStream reads a recorded Responses stream (reasoning, text) through
// the adapter, as the engine does.
func BenchmarkResponsesStream(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "responses_stream_ok.sse"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	r := bytes.NewReader(data)
	for b.Loop() {
		r.Reset(data)
		s := newResponsesStream(io.NopCloser(r), "openai", "")
		for {
			if _, err := s.Recv(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkParseEmbeddingsRequest parses a batch of 64 inputs.
func BenchmarkParseEmbeddingsRequest(b *testing.B) {
	body := []byte(`{"model":"text-embedding-3-small","input":[` + strings.TrimSuffix(strings.Repeat(`"The quota ledger keeps every reservation until it is settled.",`, 64), ",") + `]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseEmbeddingsRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}
