package anthropic

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

func TestEncodeResponse(t *testing.T) {
	resp := &llm.Response{ID: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", Text: "Hello.", StopReason: "length",
		Usage: llm.Usage{InputTokens: 30, CachedInputTokens: 10, CacheWriteTokens: 5, OutputTokens: 4}}
	got := EncodeResponse(resp, "gpt-4o-mini")
	golden(t, "encode_response.json", append(got, '\n'))

	back, err := ParseResponse(got)
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Response{Format: llm.Anthropic, Model: "gpt-4o-mini", ID: "msg_chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
		Body: got, Text: "Hello.", StopReason: "max_tokens", Usage: resp.Usage}
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("ParseResponse(EncodeResponse()) mismatch (-want +got):\n%s", diff)
	}
}

func TestStreamEncoder(t *testing.T) {
	var buf bytes.Buffer
	e := NewStreamEncoder(&buf)
	e.ID = "msg_tg20c2bc4ea8e15404"
	usage := llm.Usage{InputTokens: 12, CachedInputTokens: 2, OutputTokens: 3}
	for _, err := range []error{e.Start("gpt-4o"), e.Delta("Hi"), e.Delta(" there\n"), e.End("stop", usage)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	golden(t, "encode_stream.sse", buf.Bytes())

	s := newStream(io.NopCloser(bytes.NewReader(buf.Bytes())), "anthropic", "", "")
	var text strings.Builder
	for {
		c, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv() error %v", err)
		}
		text.WriteString(c.Text)
	}
	if text.String() != "Hi there\n" || s.Usage() != usage {
		t.Errorf("read back %q, %+v; want %q, %+v", text.String(), s.Usage(), "Hi there\n", usage)
	}
}

func TestStreamEncoderFail(t *testing.T) {
	var buf bytes.Buffer
	e := NewStreamEncoder(&buf)
	e.Start("m")
	e.Fail(ErrorType(llm.KindOverloaded), "upstream overloaded")
	s := newStream(io.NopCloser(&buf), "anthropic", "", "")
	var err error
	for err == nil {
		_, err = s.Recv()
	}
	if llm.KindOf(err) != llm.KindOverloaded {
		t.Errorf("Recv() after Fail = %v, want overloaded", err)
	}
}

func TestEncodeError(t *testing.T) {
	got := EncodeError("rate_limit_error", "queue full: 200 waiting, retry in 3s")
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "error", "error": map[string]any{"type": "rate_limit_error", "message": "queue full: 200 waiting, retry in 3s"}}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("EncodeError() mismatch (-want +got):\n%s", diff)
	}
	golden(t, "encode_error.json", append(EncodeError("invalid_request_error", "max_tokens: is required"), '\n'))
	for _, k := range []llm.Kind{llm.KindRateLimited, llm.KindOverloaded, llm.KindQuotaExhausted, llm.KindBadRequest, llm.KindAuth, llm.KindTooLarge, llm.KindTimeout, llm.KindServer} {
		if got := wire.UpstreamError("anthropic", 0, EncodeError(ErrorType(k), "x"), "").Kind; got != k {
			t.Errorf("classify(EncodeError(ErrorType(%v))) = %v", k, got)
		}
	}
}
