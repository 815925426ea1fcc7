package anthropic_test

import (
	"bytes"
	"fmt"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/anthropic"
)

// A caller's body is parsed, then forwarded with only the model and max_tokens rewritten.
func ExampleEncodeRequest() {
	body := []byte(`{"model":"smart","max_tokens":8192,"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"run-1"}}`)
	req, err := anthropic.ParseRequest(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Model, req.MaxTokens, anthropic.SessionHint(body))
	out, _ := anthropic.EncodeRequest(llm.Call{Request: req, Model: "claude-haiku-4-5", MaxTokens: 512})
	fmt.Println(string(out))
	// Output:
	// smart 8192 run-1
	// {"model":"claude-haiku-4-5","max_tokens":512,"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"run-1"}}
}

// An answer from an OpenAI model is streamed to an Anthropic caller.
func ExampleStreamEncoder() {
	var buf bytes.Buffer
	e := anthropic.NewStreamEncoder(&buf)
	e.Start("gpt-4o-mini")
	e.Delta("Hi")
	e.End("stop", llm.Usage{InputTokens: 9, OutputTokens: 1})
	for _, line := range bytes.Split(buf.Bytes(), []byte("\n")) {
		if bytes.HasPrefix(line, []byte("event: ")) {
			fmt.Println(string(line))
		}
	}
	// Output:
	// event: message_start
	// event: content_block_start
	// event: content_block_delta
	// event: content_block_stop
	// event: message_delta
	// event: message_stop
}
