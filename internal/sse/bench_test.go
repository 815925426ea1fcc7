package sse

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// BenchmarkReader reads a typical completion stream: 200 chunks of ~230 bytes.
func BenchmarkReader(b *testing.B) {
	chunk := `data: {"id":"chatcmpl-B9MHD","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}]}` + "\n\n"
	stream := []byte(strings.Repeat(chunk, 200) + "data: [DONE]\n\n")
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	r := bytes.NewReader(stream)
	for b.Loop() {
		r.Reset(stream)
		rd := NewReader(r, 0)
		for {
			if _, err := rd.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
