package anthropic

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/llm"
)

// benchBody is a typical agent turn: a cached system prompt, a few turns, tools declared.
var benchBody = []byte(`{"model":"claude-sonnet-4-5","max_tokens":1024,"system":[{"type":"text","text":"` + strings.Repeat("You are a careful agent. ", 40) +
	`","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"Plan the migration."},{"role":"assistant","content":"Step 1: inventory."},{"role":"user","content":[{"type":"text","text":"Go on."}]}],` +
	`"tools":[{"name":"run","input_schema":{"type":"object","properties":{"cmd":{"type":"string"}}}}],"temperature":0.2,"stream":true,"metadata":{"user_id":"agent-7"}}`)

// BenchmarkParseAndForward is the gateway's per-request adapter work on the way in.
func BenchmarkParseAndForward(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := ParseRequest(benchBody)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := EncodeRequest(llm.Call{Request: req, Model: "claude-haiku-4-5", MaxTokens: 512}); err != nil {
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
		s := newStream(io.NopCloser(r), "anthropic", "", "")
		for {
			if _, err := s.Recv(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
