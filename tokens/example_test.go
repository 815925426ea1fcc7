package tokens_test

import (
	"fmt"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/tokens"
)

func Example() {
	body := []byte(`{
		"model": "gpt-4o",
		"messages": [
			{"role": "system", "content": "You are a terse assistant."},
			{"role": "user", "content": [
				{"type": "text", "text": "What is in this picture?"},
				{"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
			]}
		]
	}`)
	n, err := tokens.OpenAIChat(body)
	if err != nil {
		panic(err)
	}
	fmt.Println("openai:", n)

	fmt.Println("neutral:", tokens.Messages("You are a terse assistant.", []llm.Message{
		{Role: "user", Content: "What is in this picture?"},
	}))

	_, err = tokens.AnthropicMessages([]byte(`{"messages": [`))
	fmt.Println(err)
	// Output:
	// openai: 111
	// neutral: 26
	// tokens: invalid request body: anthropic messages: unexpected end of JSON input
}
