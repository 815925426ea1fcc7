package openai

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

func TestEncodeResponse(t *testing.T) {
	created := time.Unix(1767225600, 0).UTC()
	resp := &llm.Response{ID: "msg_01XFDUDYJgAACzvnptvVoYEL", Created: created, Text: "Bonjour.", StopReason: "max_tokens",
		Usage: llm.Usage{InputTokens: 30, CachedInputTokens: 10, OutputTokens: 4}}
	got := EncodeResponse(resp, "claude-haiku-4-5")
	golden(t, "encode_response.json", append(got, '\n'))

	back, err := ParseResponse(got)
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Response{Format: llm.OpenAI, Model: "claude-haiku-4-5", ID: "chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL", Created: created,
		Body: got, Text: "Bonjour.", StopReason: "length", Usage: resp.Usage}
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("ParseResponse(EncodeResponse()) mismatch (-want +got):\n%s", diff)
	}
}

func TestStreamEncoder(t *testing.T) {
	for _, includeUsage := range []bool{false, true} {
		name := "encode_stream.sse"
		if includeUsage {
			name = "encode_stream_usage.sse"
		}
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			e := NewStreamEncoder(&buf, includeUsage)
			e.ID, e.Created = "chatcmpl-tg5ecdd5de423b1d8e", time.Unix(1767225600, 0)
			usage := llm.Usage{InputTokens: 12, OutputTokens: 3}
			for _, err := range []error{e.Start("claude-sonnet-4-5"), e.Delta("Hi"), e.Delta(" there\n"), e.End("end_turn", usage)} {
				if err != nil {
					t.Fatal(err)
				}
			}
			golden(t, name, buf.Bytes())

			// What the encoder writes, the reader reads back.
			s := newStream(io.NopCloser(bytes.NewReader(buf.Bytes())), "openai", "", false)
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
			wantUsage := llm.Usage{}
			if includeUsage {
				wantUsage = usage
			}
			if text.String() != "Hi there\n" || s.Usage() != wantUsage {
				t.Errorf("read back %q, %+v; want %q, %+v", text.String(), s.Usage(), "Hi there\n", wantUsage)
			}
		})
	}
}

func TestStreamEncoderFail(t *testing.T) {
	var buf bytes.Buffer
	e := NewStreamEncoder(&buf, false)
	e.Start("m")
	e.Fail("server_error", "upstream_cut", "the upstream stream was cut")
	s := newStream(io.NopCloser(&buf), "openai", "", false)
	s.Recv()
	if _, err := s.Recv(); llm.KindOf(err) != llm.KindServer {
		t.Errorf("Recv() after Fail = %v, want a server error", err)
	}
}

func TestEncodeError(t *testing.T) {
	got := EncodeError("insufficient_quota", "budget_exceeded", `daily budget of $50.00 reached ("team-a")`)
	var v map[string]map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{"error": {"message": `daily budget of $50.00 reached ("team-a")`, "type": "insufficient_quota", "param": nil, "code": "budget_exceeded"}}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("EncodeError() mismatch (-want +got):\n%s", diff)
	}
	golden(t, "encode_error.json", append(EncodeError("invalid_request_error", "", "messages: is required"), '\n'))

	// What the encoder writes, the classifier reads back as the same kind.
	for _, k := range []llm.Kind{llm.KindRateLimited, llm.KindQuotaExhausted, llm.KindContextLength, llm.KindBadRequest} {
		typ, code := ErrorType(k)
		if got := wire.UpstreamError("openai", 400, EncodeError(typ, code, "x"), "").Kind; k != llm.KindRateLimited && got != k {
			t.Errorf("classify(EncodeError(ErrorType(%v))) = %v", k, got)
		}
	}
}
