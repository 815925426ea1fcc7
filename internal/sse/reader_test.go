package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

type ev struct {
	Name, Data, ID, Raw string
	Incomplete          bool
}

func readAll(t *testing.T, r io.Reader, max int) ([]ev, error) {
	t.Helper()
	rd := NewReader(r, max)
	var out []ev
	for {
		e, err := rd.Next()
		if err != nil {
			return out, err
		}
		out = append(out, ev{e.Name, string(e.Data), e.ID, string(e.Raw), e.Incomplete})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []ev
	}{
		{"one data event", "data: hi\n\n", []ev{{Data: "hi", Raw: "data: hi\n\n"}}},
		{"named with id", "event: ping\nid: 7\ndata: {}\n\n", []ev{{Name: "ping", ID: "7", Data: "{}", Raw: "event: ping\nid: 7\ndata: {}\n\n"}}},
		{"crlf", "event: a\r\ndata: x\r\n\r\ndata: y\r\n\r\n", []ev{
			{Name: "a", Data: "x", Raw: "event: a\r\ndata: x\r\n\r\n"}, {Data: "y", Raw: "data: y\r\n\r\n"}}},
		{"multi-line data", "data: a\ndata:b\ndata:  c\n\n", []ev{{Data: "a\nb\n c", Raw: "data: a\ndata:b\ndata:  c\n\n"}}},
		{"empty data line", "data\n\n", []ev{{Data: "", Raw: "data\n\n"}}},
		{"comments dropped between events", ": ping\n\n: ping\n\ndata: x\n\n", []ev{{Data: "x", Raw: "data: x\n\n"}}},
		{"comment inside an event kept in raw", ": note\ndata: x\n\n", []ev{{Data: "x", Raw: ": note\ndata: x\n\n"}}},
		{"event without data not dispatched", "event: lonely\n\ndata: x\n\n", []ev{{Data: "x", Raw: "data: x\n\n"}}},
		{"unknown field ignored", "retry: 10\nfoo: bar\ndata: x\n\n", []ev{{Data: "x", Raw: "retry: 10\nfoo: bar\ndata: x\n\n"}}},
		{"no blank line at EOF", "data: a\n\ndata: [DONE]\n", []ev{{Data: "a", Raw: "data: a\n\n"}, {Data: "[DONE]", Raw: "data: [DONE]\n\n", Incomplete: true}}},
		{"no newline at EOF", "data: [DONE]", []ev{{Data: "[DONE]", Raw: "data: [DONE]\n\n", Incomplete: true}}},
		{"colon in value", "data: {\"a\":\"b:c\"}\n\n", []ev{{Data: `{"a":"b:c"}`, Raw: "data: {\"a\":\"b:c\"}\n\n"}}},
		{"extra blank lines", "\n\ndata: x\n\n\n", []ev{{Data: "x", Raw: "data: x\n\n"}}},
		{"empty input", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, wrap := range []struct {
				name string
				r    func(io.Reader) io.Reader
			}{{"whole", func(r io.Reader) io.Reader { return r }}, {"byte by byte", iotest.OneByteReader}} {
				got, err := readAll(t, wrap.r(strings.NewReader(tt.in)), 0)
				if err != io.EOF {
					t.Fatalf("%s: Next() error %v, want io.EOF at the end", wrap.name, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s: events mismatch (-want +got):\n%s", wrap.name, diff)
				}
			}
		})
	}
}

func TestReaderTooLarge(t *testing.T) {
	tests := []struct{ name, in string }{
		{"one long line", "data: " + strings.Repeat("x", 100) + "\n\n"},
		{"many lines", strings.Repeat("data: 0123456789\n", 10) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, strings.NewReader("data: ok\n\n"+tt.in), 64)
			if !errors.Is(err, ErrTooLarge) || len(got) != 1 {
				t.Errorf("events %v, error %v; want 1 event then ErrTooLarge", got, err)
			}
		})
	}
	// Many keep-alive comments between events never add up to the bound.
	in := strings.Repeat(": ping\n\n", 100) + "data: x\n\n"
	if got, err := readAll(t, strings.NewReader(in), 64); err != io.EOF || len(got) != 1 {
		t.Errorf("after 100 pings: events %v, error %v; want one event", got, err)
	}
}

func TestReaderError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom))
	got, err := readAll(t, r, 0)
	if !errors.Is(err, boom) || len(got) != 1 {
		t.Errorf("events %v, error %v; want 1 event then boom", got, err)
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Event("message_stop", []byte(`{"type":"message_stop"}`))
	w.Event("", []byte("line1\nline2\r\nline3"))
	w.Comment("ping")
	w.Raw([]byte("data: [DONE]\n\n"))
	want := "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\ndata: line1\ndata: line2\ndata: line3\n\n: ping\n\ndata: [DONE]\n\n"
	if buf.String() != want {
		t.Errorf("written %q, want %q", buf.String(), want)
	}
	got, _ := readAll(t, &buf, 0)
	if len(got) != 3 || got[1].Data != "line1\nline2\nline3" {
		t.Errorf("read back %v", got)
	}
}

type flushRecorder struct {
	bytes.Buffer
	flushes int
}

func (f *flushRecorder) Flush() { f.flushes++ }

func TestWriterFlushes(t *testing.T) {
	var f flushRecorder
	w := NewWriter(&f)
	w.Event("a", []byte("1"))
	w.Event("b", []byte("2"))
	if f.flushes != 2 {
		t.Errorf("flushes = %d, want one per event", f.flushes)
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"data: hi\n\n", "event: a\r\ndata: x\r\n\r\n", ": ping\n\ndata: [DONE]", "data: a\ndata: b\n\n",
		"event: error\ndata: {\"type\":\"error\"}\n\n", "id: 1\x00\ndata\n\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := NewReader(bytes.NewReader(in), 256)
		var raw []byte
		for {
			e, err := rd.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Next() error %v", err)
				}
				break
			}
			raw = append(raw, e.Raw...)
			// An event's own bytes are one whole event: re-reading them yields the same
			// event, complete, and nothing after it.
			rr := NewReader(bytes.NewReader(e.Raw), 0)
			again, err := rr.Next()
			if err != nil || !bytes.Equal(again.Data, e.Data) || again.Name != e.Name || again.Incomplete {
				t.Fatalf("re-reading %q = %+v, %v; want %+v", e.Raw, again, err, e)
			}
			if _, err := rr.Next(); err != io.EOF {
				t.Fatalf("re-reading %q: second Next() = %v, want io.EOF", e.Raw, err)
			}
		}
		if len(raw) > len(in)+2 {
			t.Fatalf("relayed %d bytes from %d of input", len(raw), len(in))
		}
	})
}
