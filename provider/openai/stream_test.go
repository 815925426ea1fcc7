package openai

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

// transcript serves a recorded stream from testdata as an upstream would.
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

// drain reads a whole stream and renders what the engine would see: every relayed chunk,
// the text, the final error and the usage.
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
		callerBody string // whether the caller asked for usage decides whether its chunk is relayed
		golden     string
	}{
		{"stream_ok.sse", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "stream_ok.golden"},
		{"stream_ok.sse", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, "stream_ok_caller_usage.golden"},
		{"stream_crlf.sse", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "stream_crlf.golden"},
		{"stream_error.sse", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "stream_error.golden"},
		{"stream_cut.sse", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "stream_cut.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			p := newTestProvider(t, transcript(t, tt.transcript))
			req, err := ParseRequest([]byte(tt.callerBody))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.Do(context.Background(), llm.Call{Request: req, Model: "gpt-4o-mini"})
			if err != nil {
				t.Fatalf("Do() error %v", err)
			}
			defer resp.Stream.Close()
			golden(t, tt.golden, []byte(drain(resp.Stream)))
		})
	}
}

// TestStreamReturnsAtHeaders checks that Do returns once the headers are in, and that
// chunks arrive one by one while the upstream is still writing.
func TestStreamReturnsAtHeaders(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\ndata: [DONE]\n\n")
	})
	p := newTestProvider(t, h)
	resp, err := p.Do(context.Background(), userCall(true))
	if err != nil {
		t.Fatalf("Do() error %v", err)
	}
	defer resp.Stream.Close()
	c, err := resp.Stream.Recv()
	if err != nil || c.Text != "a" {
		t.Fatalf("first Recv() = %q, %v; want a", c.Text, err)
	}
	close(release)
	var got []string
	for {
		c, err := resp.Stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv() error %v", err)
		}
		got = append(got, c.Text)
	}
	if strings.Join(got, "|") != "b|" {
		t.Errorf("later chunks = %q, want [b, \"\"]", got)
	}
}

func TestStreamClose(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	p := newTestProvider(t, h)
	resp, err := p.Do(context.Background(), userCall(true))
	if err != nil {
		t.Fatalf("Do() error %v", err)
	}
	if err := resp.Stream.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if err := resp.Stream.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
	if _, err := resp.Stream.Recv(); err == nil || err == io.EOF {
		t.Errorf("Recv() after Close = %v, want an error", err)
	}
}
