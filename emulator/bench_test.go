package emulator

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHandler measures the handler alone, without the network: the emulator's own
// cost per request.
func BenchmarkHandler(b *testing.B) {
	for _, bc := range []struct {
		name string
		c    tcall
	}{
		{"openai", oai(oaiBody)},
		{"openai-stream", oai(`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello there"}],"max_tokens":50}`)},
		{"anthropic", ant(antBody)},
		{"openai-limited", oai(oaiBody)},
		{"responses", respCall(`{"model":"gpt-4o","input":[{"role":"user","content":"hello there"}],"max_output_tokens":50}`)},
		{"responses-stream", respCall(`{"model":"gpt-4o","stream":true,"input":[{"role":"user","content":"hello there"}],"max_output_tokens":50}`)},
		{"embeddings", embedCall(`{"model":"text-embedding-3-small","input":"hello there"}`)},
		{"count-tokens", countCall(`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hello there"}]}`)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Config{}
			if bc.name == "openai-limited" {
				cfg.Limits = Limits{RPM: 1 << 30, TPM: 1 << 40}
			}
			e := mustNew(b, cfg)
			body := []byte(bc.c.body)
			req := bc.c.request()
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				req.Body = io.NopCloser(bytes.NewReader(body))
				w.Body.Reset()
				clear(w.Header())
				e.ServeHTTP(w, req)
			}
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		})
	}
}

// BenchmarkLoopback measures non-streaming throughput over real loopback HTTP with
// keep-alive connections, as the gateway benchmarks will use it.
func BenchmarkLoopback(b *testing.B) {
	srv, err := Start(context.Background(), Config{}, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := srv.URL() + "/v1/chat/completions"
	body := []byte(oaiBody)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer sk-bench")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
