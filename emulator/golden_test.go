package emulator

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGoldenTranscripts pins the exact bytes of answers and streams: the shapes the
// official SDKs parse (see TestSDKs) must not drift unnoticed.
func TestGoldenTranscripts(t *testing.T) {
	cases := []struct {
		file string
		call tcall
	}{
		{"openai.json", oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"Say hi"}]}`)},
		{"openai_length.json", oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"Say hi"}],"max_completion_tokens":3}`)},
		{"openai_stream.txt", oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"Say hi"}],"stream":true}`)},
		{"openai_stream_usage.txt", oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"Say hi"}],"stream":true,"stream_options":{"include_usage":true}}`)},
		{"openai_stream_error_event.txt", oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"Say hi"}],"stream":true}`).with("X-Emulator-Fault", "error_event")},
		{"anthropic.json", ant(`{"model":"claude-sonnet-4-5","max_tokens":100,"system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"Say hi"}]}]}`)},
		{"anthropic_max_tokens.json", ant(`{"model":"claude-sonnet-4-5","max_tokens":3,"messages":[{"role":"user","content":"Say hi"}]}`)},
		{"anthropic_stream.txt", ant(`{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Say hi"}]}`)},
		{"anthropic_stream_error_event.txt", ant(`{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Say hi"}]}`).with("X-Emulator-Fault", "error_event")},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			e := mustNew(t, Config{Seed: 42, Now: newClock().Now, Output: Output{MinTokens: 4, MaxTokens: 6}})
			r := serve(e, tc.call)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, []byte(r.body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if r.body != string(want) {
				t.Errorf("%s differs (run with -update after checking):\ngot:\n%s\nwant:\n%s", path, r.body, want)
			}
		})
	}
}
