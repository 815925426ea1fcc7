package sse

import (
	"bytes"
	"io"
	"net/http"
)

// Writer writes events to w and flushes each one when w can flush (an
// http.ResponseWriter, a bufio.Writer). It is not safe for concurrent use.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer over w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Event writes one event: the "event:" line when name is not empty, and one "data:" line
// per line of data, then flushes.
func (w *Writer) Event(name string, data []byte) error {
	b := w.buf[:0]
	if name != "" {
		b = append(b, "event: "...)
		b = append(b, name...)
		b = append(b, '\n')
	}
	for {
		line, rest, more := bytes.Cut(data, []byte{'\n'})
		b = append(b, "data: "...)
		b = append(b, bytes.TrimSuffix(line, []byte{'\r'})...)
		b = append(b, '\n')
		if !more {
			break
		}
		data = rest
	}
	b = append(b, '\n')
	w.buf = b
	return w.Raw(b)
}

// Comment writes a comment line (": text"), which clients ignore; it keeps idle
// connections alive through proxies.
func (w *Writer) Comment(text string) error {
	b := append(w.buf[:0], ": "...)
	b = append(b, text...)
	b = append(b, "\n\n"...)
	w.buf = b
	return w.Raw(b)
}

// Raw writes bytes that already form whole events, as relayed from an upstream, then
// flushes.
func (w *Writer) Raw(b []byte) error {
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	return w.Flush()
}

// Flush pushes buffered bytes to the client when the underlying writer buffers.
func (w *Writer) Flush() error {
	switch f := w.w.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
	case interface{ Flush() error }:
		return f.Flush()
	}
	return nil
}
