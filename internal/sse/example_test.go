package sse_test

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tollgate/tollgate/internal/sse"
)

func ExampleReader() {
	upstream := "event: ping\r\ndata: {}\r\n\r\n: keep-alive\n\ndata: [DONE]"
	r := sse.NewReader(strings.NewReader(upstream), 0)
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		fmt.Printf("%q %q %q\n", e.Name, e.Data, e.Raw)
	}
	// Output:
	// "ping" "{}" "event: ping\r\ndata: {}\r\n\r\n"
	// "" "[DONE]" "data: [DONE]\n\n"
}

func ExampleWriter() {
	w := sse.NewWriter(os.Stdout)
	w.Event("message_stop", []byte(`{"type":"message_stop"}`))
	// Output:
	// event: message_stop
	// data: {"type":"message_stop"}
}
