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
		{"responses.json", respCall(`{"model":"gpt-4o","instructions":"Be brief.","input":"Say hi"}`)},
		{"responses_reasoning.json", respCall(`{"model":"o4-mini","input":"Say hi","max_output_tokens":16,"reasoning":{"effort":"high"}}`)},
		{"responses_stream.txt", respCall(`{"model":"o4-mini","stream":true,"input":[{"role":"user","content":[{"type":"input_text","text":"Say hi"}]}]}`)},
		{"responses_stream_tools.txt", respCall(`{"model":"gpt-4o","stream":true,"input":"Weather in Paris?","tools":[` + respTool + `],"tool_choice":"required"}`)},
		{"responses_stream_failed.txt", respCall(`{"model":"gpt-4o","stream":true,"input":"Say hi"}`).with("X-Emulator-Fault", "error_event")},
		{"embeddings.json", embedCall(`{"model":"text-embedding-3-small","input":["Say hi","Say bye"],"dimensions":4}`)},
		{"count_tokens.json", countCall(`{"model":"claude-sonnet-4-5","system":"Be brief.","messages":[{"role":"user","content":"Say hi"}]}`)},
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
