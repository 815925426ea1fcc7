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
