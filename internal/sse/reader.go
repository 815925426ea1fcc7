// Package sse reads and writes Server-Sent Events as the OpenAI and Anthropic streaming APIs
// use them: a Reader that yields each event with its exact bytes, so that a gateway can
// relay an upstream's stream byte for byte while still reading it, and a Writer that
// produces events and flushes them.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxEvent bounds an event's size when a Reader is given none. Completion chunks are
// a few hundred bytes; a megabyte leaves room for large tool-call arguments.
const DefaultMaxEvent = 1 << 20

// ErrTooLarge is returned when a line or an event exceeds the Reader's bound.
var ErrTooLarge = errors.New("sse: event too large")

// Event is one dispatched event.
type Event struct {
	// Name is the "event:" field, empty when the event had none.
	Name string
	// Data is the event's data lines joined with "\n".
	Data []byte
	// ID is the "id:" field, empty when the event had none.
	ID string
	// Raw is the event exactly as read, blank line included. When the stream ended in the
	// middle of an event, Raw is completed with the missing line terminators so that it can
	// always be relayed as a whole event.
	Raw []byte
	// Incomplete reports that the input ended before the event's blank line. The event may
	// be whole (a server that omits the last blank line) or cut in the middle of a line;
	// a caller that cannot parse an incomplete event should treat the stream as cut.
	Incomplete bool
}

// Reader reads events from a stream incrementally, never holding more than one event.
// It is not safe for concurrent use. Event fields returned by Next are valid only until the
// next call to Next; copy them to keep them.
//
// It follows the WHATWG event-stream rules for the line endings the providers send ("\n"
// and "\r\n"; a lone "\r" is treated as part of the line): comment lines (": ping") and
// unknown fields are skipped, blocks without data (keep-alive comments) are neither
// dispatched nor kept, and a final event without its blank line is dispatched at end of
// input.
type Reader struct {
	br    *bufio.Reader
	max   int
	raw   []byte
	data  []byte
	name  []byte
	id    []byte
	event bool // a data field has been seen in the current block
}

// NewReader returns a Reader over r that refuses events larger than maxEvent bytes
// (DefaultMaxEvent when maxEvent <= 0).
func NewReader(r io.Reader, maxEvent int) *Reader {
	if maxEvent <= 0 {
		maxEvent = DefaultMaxEvent
	}
	size := 4096
	if maxEvent < size {
		size = maxEvent
	}
	return &Reader{br: bufio.NewReaderSize(r, size), max: maxEvent}
}

// Next returns the next event. It returns io.EOF when the input ends cleanly between
// events, ErrTooLarge (wrapped) when an event passes the bound, and the underlying reader's
// error otherwise.
func (r *Reader) Next() (Event, error) {
	r.raw = r.raw[:0]
	r.data = r.data[:0]
	r.name = r.name[:0]
	r.id = r.id[:0]
	r.event = false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && r.event {
				// Complete the event's framing so it can be relayed as is.
				if len(r.raw) > 0 && r.raw[len(r.raw)-1] != '\n' {
					r.raw = append(r.raw, '\n')
				}
				r.raw = append(r.raw, '\n')
				e := r.dispatch()
				e.Incomplete = true
				return e, nil
			}
			return Event{}, err
		}
		content := trimEOL(line)
		if len(content) == 0 {
			if r.event {
				return r.dispatch(), nil
			}
			// A block without data (comments, a lone "event:"): per the rules nothing is
			// dispatched. Its bytes are dropped too, so that keep-alive comments between
			// events cannot add up to the bound.
			r.raw = r.raw[:0]
			r.name = r.name[:0]
			continue
		}
		r.field(content)
	}
}

func (r *Reader) dispatch() Event {
	e := Event{Data: r.data, Raw: r.raw}
	if len(r.name) > 0 {
		e.Name = string(r.name)
	}
	if len(r.id) > 0 {
		e.ID = string(r.id)
	}
	return e
}

// readLine appends the next line, terminator included, to r.raw and returns it.
func (r *Reader) readLine() ([]byte, error) {
	start := len(r.raw)
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.raw)+len(chunk) > r.max {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, r.max)
		}
		r.raw = append(r.raw, chunk...)
		switch err {
		case nil:
			return r.raw[start:], nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if len(r.raw) > start {
				return r.raw[start:], nil
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// trimEOL strips "\n", "\r\n", or a "\r" left at the very end of the input.
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

func (r *Reader) field(line []byte) {
	if line[0] == ':' {
		return
	}
	name, value, found := bytes.Cut(line, []byte{':'})
	if found && len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	switch string(name) {
	case "data":
		if r.event {
			r.data = append(r.data, '\n')
		}
		r.data = append(r.data, value...)
		r.event = true
	case "event":
		r.name = append(r.name[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			r.id = append(r.id[:0], value...)
		}
	}
}
