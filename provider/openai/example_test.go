package openai_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/openai"
)

// A caller's body is parsed, then forwarded with only the model and the cap rewritten.
func ExampleEncodeRequest() {
	body := []byte(`{"model":"fast","messages":[{"role":"user","content":"hi"}],"seed":7,"user":"run-1"}`)
	req, err := openai.ParseRequest(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Model, req.Messages[0].Content, openai.SessionHint(body))
	out, _ := openai.EncodeRequest(llm.Call{Request: req, Model: "gpt-4o-mini", MaxTokens: 256})
	fmt.Println(string(out))
	// Output:
	// fast hi run-1
	// {"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"seed":7,"user":"run-1","max_completion_tokens":256}
}

func ExampleParseRequest_error() {
	_, err := openai.ParseRequest([]byte(`{"model":"gpt-4o","messages":[],"max_tokens":0}`))
	fmt.Println(err)
	// Output:
	// max_tokens: must be a positive integer, got 0
}

func ExampleProvider_Do() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "20")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`)
	}))
	defer upstream.Close()

	p, _ := openai.New(openai.Config{BaseURL: upstream.URL + "/v1", APIKey: "sk-..."})
	req, _ := openai.ParseRequest([]byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
	_, err := p.Do(context.Background(), llm.Call{Request: req, Model: "gpt-4o"})
	fmt.Println(llm.KindOf(err), llm.KindOf(err).Retryable())
	fmt.Println(err)
	// Output:
	// quota_exhausted false
	// openai: quota_exhausted (429 insufficient_quota): You exceeded your current quota.
}

// An answer from an Anthropic model is streamed to an OpenAI caller, with the usage chunk
// only when the caller asked for it.
func ExampleStreamEncoder() {
	body := []byte(`{"model":"smart","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	var buf bytes.Buffer
	e := openai.NewStreamEncoder(&buf, openai.IncludeUsage(body))
	e.ID = "chatcmpl-1"
	e.Created = time.Unix(1767225600, 0)
	e.Start("claude-haiku-4-5")
	e.Delta("Hi")
	e.End("end_turn", llm.Usage{InputTokens: 9, OutputTokens: 1})
	fmt.Print(buf.String())
	// Output:
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"claude-haiku-4-5","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}
	//
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"claude-haiku-4-5","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}
	//
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"claude-haiku-4-5","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}
	//
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"claude-haiku-4-5","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}
	//
	// data: [DONE]
}

// A Responses API body is parsed with its conversation state, then forwarded with only
// the model and the cap rewritten.
func ExampleParseResponsesRequest() {
	body := []byte(`{"model":"fast","previous_response_id":"resp_7","input":[{"type":"function_call_output","call_id":"call_1","output":"42"}],"prompt_cache_key":"conv-9"}`)
	req, info, err := openai.ParseResponsesRequest(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Format, req.Model, req.NeedsStoredState(), req.State.PreviousResponseID, info.SessionHint)
	out, _ := openai.EncodeResponsesRequest(llm.Call{Request: req, Model: "gpt-4.1", MaxTokens: 512})
	fmt.Println(string(out))
	// Output:
	// responses fast true resp_7 conv-9
	// {"model":"gpt-4.1","previous_response_id":"resp_7","input":[{"type":"function_call_output","call_id":"call_1","output":"42"}],"prompt_cache_key":"conv-9","max_output_tokens":512}
}

// An answer from another provider's model, written for a Responses caller.
func ExampleEncodeResponsesResponse() {
	resp := &llm.Response{ID: "msg_01", Created: time.Unix(1767225600, 0), Text: "14C and rain.", StopReason: "end_turn",
		Usage: llm.Usage{InputTokens: 60, OutputTokens: 6}}
	fmt.Println(string(openai.EncodeResponsesResponse(resp, "claude-haiku-4-5")))
	// Output:
	// {"id":"resp_msg_01","object":"response","created_at":1767225600,"status":"completed","background":false,"completed_at":1767225600,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"claude-haiku-4-5","output":[{"id":"msg_tg5a253f45cc4b5319","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"14C and rain."}],"role":"assistant"}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":false,"temperature":1,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1,"truncation":"disabled","usage":{"input_tokens":60,"input_tokens_details":{"cached_tokens":0},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":66},"user":null,"metadata":{}}
}
