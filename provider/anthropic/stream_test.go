package anthropic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/llm"
)

func transcript(t *testing.T, name string) http.Handler {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.Write(data)
	})
}

// drain reads a whole stream and renders what the engine would see.
func drain(s llm.Stream) string {
	var b strings.Builder
	for {
		c, err := s.Recv()
		if err != nil {
			if err == io.EOF {
				b.WriteString("end: EOF\n")
			} else {
				var le *llm.Error
				errors.As(err, &le)
				fmt.Fprintf(&b, "end: kind=%v code=%q message=%q\n", le.Kind, le.Code, le.Message)
			}
			break
		}
		fmt.Fprintf(&b, "chunk content=%v text=%q", c.IsContent(), c.Text)
		if c.Reasoning != "" {
			fmt.Fprintf(&b, " reasoning=%q", c.Reasoning)
		}
		for _, tc := range c.ToolCalls {
			fmt.Fprintf(&b, " tool=%+v", tc)
		}
		if c.Other != "" {
			fmt.Fprintf(&b, " other=%q", c.Other)
		}
		if c.StopReason != "" {
			fmt.Fprintf(&b, " stop=%q", c.StopReason)
		}
		fmt.Fprintf(&b, "\n  raw=%q\n", c.Raw)
	}
	fmt.Fprintf(&b, "usage: %+v\n", s.Usage())
	return b.String()
}

func TestStream(t *testing.T) {
	tests := []struct {
		transcript string
		golden     string
		usage      llm.Usage
	}{
		// Output 15, not 10+15: message_delta usage is cumulative. Input 25 uncached + 40
		// written to the cache (5-minute TTL: no split given) + 100 read.
		{"stream_ok.sse", "stream_ok.golden", llm.Usage{InputTokens: 165, CachedInputTokens: 100, CacheWriteTokens: 40, OutputTokens: 15}},
		{"stream_crlf.sse", "stream_crlf.golden", llm.Usage{InputTokens: 165, CachedInputTokens: 100, CacheWriteTokens: 40, OutputTokens: 15}},
		// message_start's output_tokens (1) is a placeholder, not a count: a stream that
		// ends before any message_delta reports no output.
		{"stream_error.sse", "stream_error.golden", llm.Usage{InputTokens: 12}},
		{"stream_cut.sse", "stream_cut.golden", llm.Usage{InputTokens: 165, CachedInputTokens: 100, CacheWriteTokens: 40}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			p := newTestProvider(t, transcript(t, tt.transcript))
			resp, err := p.Do(context.Background(), userCall(true))
			if err != nil {
				t.Fatalf("Do() error %v", err)
			}
			defer resp.Stream.Close()
			golden(t, tt.golden, []byte(drain(resp.Stream)))
			if got := resp.Stream.Usage(); got != tt.usage {
				t.Errorf("Usage() = %+v, want %+v", got, tt.usage)
			}
		})
	}
}

func TestStreamKinds(t *testing.T) {
	tests := []struct {
		event string
		kind  llm.Kind
	}{
		{`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, llm.KindOverloaded},
		{`{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, llm.KindServer},
		{`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, llm.KindRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			s := newStream(io.NopCloser(strings.NewReader("event: error\ndata: "+tt.event+"\n\n")), "anthropic", "", "")
			_, err := s.Recv()
			if llm.KindOf(err) != tt.kind {
				t.Errorf("Recv() = %v, want kind %v", err, tt.kind)
			}
			if _, again := s.Recv(); again != err {
				t.Errorf("second Recv() = %v, want the same error", again)
			}
		})
	}
}

func TestStreamReturnsAtHeaders(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		io.WriteString(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	})
	p := newTestProvider(t, h)
	resp, err := p.Do(context.Background(), userCall(true))
	if err != nil {
		t.Fatalf("Do() error %v", err)
	}
	defer resp.Stream.Close()
	if c, err := resp.Stream.Recv(); err != nil || c.Text != "a" {
		t.Fatalf("first Recv() = %q, %v; want a", c.Text, err)
	}
	close(release)
	if _, err := resp.Stream.Recv(); err != nil {
		t.Fatalf("Recv(message_stop) = %v", err)
	}
	if _, err := resp.Stream.Recv(); err != io.EOF {
		t.Errorf("Recv() after message_stop = %v, want io.EOF", err)
	}
}

// TestStreamUsageConcurrent reads Usage from another goroutine while Recv runs, as an
// engine settling a disconnected client's stream may; run with -race.
func TestStreamUsageConcurrent(t *testing.T) {
	p := newTestProvider(t, transcript(t, "stream_ok.sse"))
	resp, err := p.Do(context.Background(), userCall(true))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Stream.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			_ = resp.Stream.Usage()
		}
	}()
	drain(resp.Stream)
	<-done
	if got := resp.Stream.Usage().OutputTokens; got != 15 {
		t.Errorf("OutputTokens = %d, want 15", got)
	}
}
