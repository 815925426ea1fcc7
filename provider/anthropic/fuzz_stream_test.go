package anthropic

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/llm"
)

// FuzzStream feeds arbitrary upstream bytes to the stream reader: it must end every stream
// with io.EOF or an *llm.Error, never panic, and never report negative usage.
func FuzzStream(f *testing.F) {
	for _, name := range []string{"stream_ok.sse", "stream_error.sse", "stream_cut.sse", "stream_crlf.sse"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := newStream(io.NopCloser(bytes.NewReader(in)), "anthropic", "", "")
		for {
			_, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				var le *llm.Error
				if !errors.As(err, &le) {
					t.Fatalf("Recv() error %v is not an *llm.Error", err)
				}
				break
			}
		}
		if u := s.Usage(); u.InputTokens < 0 || u.OutputTokens < 0 || u.CachedInputTokens < 0 {
			t.Fatalf("Usage() = %+v", u)
		}
	})
}
