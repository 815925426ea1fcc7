package translate_test

import (
	"errors"
	"fmt"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/translate"
)

func ExampleToAnthropic() {
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"Weather in Paris?"}],` +
		`"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],` +
		`"tool_choice":"required"}`)
	out, err := translate.ToAnthropic(body, translate.Target{Model: "claude-haiku-4-5", MaxTokens: 256})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out.Body))

	_, err = translate.ToAnthropic([]byte(`{"model":"gpt-4o","n":2,"messages":[{"role":"user","content":"hi"}]}`), translate.Target{})
	var ue *llm.UntranslatableError
	fmt.Println(errors.As(err, &ue), ue.Field)
	// Output:
	// {"model":"claude-haiku-4-5","max_tokens":256,"messages":[{"role":"user","content":[{"type":"text","text":"Weather in Paris?"}]}],"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],"tool_choice":{"type":"any"}}
	// true n
}

// A Responses API request with a function call and its output, for a Claude model; one
// that continues a response stored at OpenAI cannot be carried.
func ExampleResponsesToAnthropic() {
	body := []byte(`{"model":"gpt-4.1","instructions":"Be brief.","input":[{"role":"user","content":"Weather in Paris?"},` +
		`{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},` +
		`{"type":"function_call_output","call_id":"call_1","output":"14C, rain"}],"max_output_tokens":300}`)
	out, err := translate.ResponsesToAnthropic(body, translate.Target{Model: "claude-haiku-4-5"})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out.Body))

	_, err = translate.ResponsesToAnthropic([]byte(`{"model":"gpt-4.1","previous_response_id":"resp_1","input":"go on"}`), translate.Target{})
	var ue *llm.UntranslatableError
	fmt.Println(errors.As(err, &ue), ue.Field)
	// Output:
	// {"model":"claude-haiku-4-5","max_tokens":300,"system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":[{"type":"text","text":"Weather in Paris?"}]},{"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"14C, rain"}]}]}
	// true previous_response_id
}
