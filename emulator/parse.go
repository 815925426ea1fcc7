package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// request is one parsed call, in either format.
type request struct {
	model        string
	prompt       int // estimated prompt tokens, the tool-use system prompt excluded
	maxTokens    int // 0 when unset
	hasMax       bool
	stream       bool
	includeUsage bool
	n            int // OpenAI choices, at least 1

	tools    []tool
	choice   toolChoice
	parallel bool   // several calls may be made in one answer
	effort   string // OpenAI reasoning_effort, "" when unset

	// thinking is the Anthropic extended-thinking budget: 0 off, thinkingAdaptive when the
	// model decides.
	thinking int
	cacheKey string // OpenAI prompt_cache_key
	// marked says that some block carries cache_control (Anthropic), or that the request
	// asks for automatic caching with a top-level cache_control.
	marked bool
	// format is the JSON schema that a structured answer follows (Responses API
	// text.format); nil for free text.
	format json.RawMessage
}

// jsonObjectSchema is the schema of a json_object answer: an object with one string.
var jsonObjectSchema = json.RawMessage(`{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}`)

const thinkingAdaptive = -1

// wireRequest holds the fields of either request format that the emulator reads; all
// others are ignored, as the real APIs ignore most unknown fields.
type wireRequest struct {
	Model               string        `json:"model"`
	Messages            []wireMessage `json:"messages"`
	System              content       `json:"system"`
	MaxTokens           *int          `json:"max_tokens"`
	MaxCompletionTokens *int          `json:"max_completion_tokens"`
	N                   *int          `json:"n"`
	Stream              bool          `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools             []wireTool      `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	ReasoningEffort   string          `json:"reasoning_effort"`
	PromptCacheKey    string          `json:"prompt_cache_key"`
	Thinking          *struct {
		Type         string `json:"type"`
		BudgetTokens *int   `json:"budget_tokens"`
	} `json:"thinking"`
	CacheControl *cacheControl `json:"cache_control"`
}

type wireMessage struct {
	Content   content       `json:"content"`
	ToolCalls toolCallsText `json:"tool_calls"`
}

// cacheControl is an Anthropic cache breakpoint: {"type":"ephemeral","ttl":"5m"|"1h"}.
type cacheControl struct {
	Type string `json:"type"`
	TTL  string `json:"ttl"`
}

// wireTool is a tool definition in either format: OpenAI nests it under "function" with
// "parameters", Anthropic has "name" and "input_schema" at the top.
type wireTool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl *cacheControl   `json:"cache_control"`
	Function     *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// tool is a definition the model may call.
type tool struct {
	name   string
	schema json.RawMessage // the arguments' JSON schema; nil when none
	tokens int             // its prompt tokens: name, description and schema
}

func (w *wireTool) tool() tool {
	t := tool{name: w.Name, schema: w.InputSchema}
	desc := w.Description
	if f := w.Function; f != nil {
		t.name, t.schema, desc = f.Name, f.Parameters, f.Description
	}
	t.tokens = CountTokens(t.name) + CountTokens(desc) + CountTokens(string(t.schema))
	return t
}

// content decodes a message content straight into its token count, so that parsing a
// request does not copy its text.
type content struct {
	n      int
	marked bool // a block carries cache_control
}

func (t *content) UnmarshalJSON(raw []byte) error {
	// Fast path: a string without escapes is counted in place.
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		t.n = CountTokens(string(raw[1 : len(raw)-1]))
		return nil
	}
	var err error
	t.n, t.marked, err = contentTokens(raw)
	return err
}

// toolCallsText counts the tool calls of an assistant message in the history (OpenAI):
// their names and arguments are input like any text.
type toolCallsText int

func (t *toolCallsText) UnmarshalJSON(raw []byte) error {
	var calls []struct {
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &calls); err != nil {
		return err
	}
	n := 0
	for _, c := range calls {
		n += CountTokens(c.Function.Name) + CountTokens(c.Function.Arguments)
	}
	*t = toolCallsText(n)
	return nil
}

// contentPart is one block of a content array in any format: text (OpenAI text,
// input_text, output_text; Anthropic text), an image (OpenAI image_url and input_image,
// Anthropic image), an Anthropic tool_use or tool_result, a thinking block.
type contentPart struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	Content      json.RawMessage `json:"content"`
	CacheControl *cacheControl   `json:"cache_control"`
	ImageURL     json.RawMessage `json:"image_url"` // OpenAI: an object in chat, a string in responses
	Detail       string          `json:"detail"`    // responses input_image
	Source       *imageSource    `json:"source"`    // Anthropic image
}

// tokens counts what a block puts in the prompt. Thinking blocks of earlier turns count
// nothing: Anthropic strips them from the context ("Extended thinking", context window).
// Images count by their size (see images.go).
func (p *contentPart) tokens() (int, error) {
	switch p.Type {
	case "tool_use":
		return CountTokens(p.Name) + CountTokens(string(p.Input)), nil
	case "tool_result":
		n, _, err := contentTokens(p.Content)
		return n, err
	case "thinking", "redacted_thinking":
		return 0, nil
	case "image_url", "input_image":
		return openAIImageTokens(p.image()), nil
	case "image":
		return anthropicImageTokens(p.Source), nil
	}
	return CountTokens(p.Text), nil
}

// image returns an OpenAI image part's URL and detail.
func (p *contentPart) image() (url, detail string) {
	url, detail = imageURL(p.ImageURL)
	if detail == "" {
		detail = p.Detail
	}
	return url, detail
}

// imageIdentity is what identifies an image part for the prompt cache; "" for other parts.
func (p *contentPart) imageIdentity() string {
	switch p.Type {
	case "image_url", "input_image":
		url, detail := p.image()
		return url + "\x00" + detail
	case "image":
		return p.Source.identity()
	}
	return ""
}

var errBadContent = errors.New("content must be a string or an array of content parts")

// contentTokens counts the text of a message content: a string, an array of parts, or
// null. It reports whether a part carries cache_control.
func contentTokens(raw json.RawMessage) (n int, marked bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false, err
		}
		return CountTokens(s), false, nil
	case '[':
		var parts []contentPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return 0, false, err
		}
		for i := range parts {
			k, err := parts[i].tokens()
			if err != nil {
				return 0, false, err
			}
			n += k
			marked = marked || parts[i].CacheControl != nil
		}
		return n, marked, nil
	}
	return 0, false, errBadContent
}

// parseError is a request the API would refuse with 400; param names the field.
type parseError struct {
	param string
	code  string
	msg   string
}

func (e *parseError) Error() string { return e.msg }

// maxChoices is the largest n that OpenAI accepts ("n": minimum 1, maximum 128).
const maxChoices = 128

// parseOpenAI parses a chat completions request body.
func parseOpenAI(body []byte) (request, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		if isContentError(err) {
			return request{}, &parseError{param: "messages", msg: "Invalid type for 'messages.content': expected a string or an array of content parts."}
		}
		return request{}, &parseError{msg: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"}
	}
	if w.Model == "" {
		return request{}, &parseError{param: "model", msg: "you must provide a model parameter"}
	}
	if len(w.Messages) == 0 {
		return request{}, &parseError{param: "messages", msg: "[] is too short - 'messages'"}
	}
	r := request{model: w.Model, stream: w.Stream, prompt: tokensPerPrompt, n: 1, cacheKey: w.PromptCacheKey,
		effort: w.ReasoningEffort, parallel: true}
	for _, m := range w.Messages {
		r.prompt += m.Content.n + int(m.ToolCalls) + tokensPerMessage
	}
	mt := w.MaxCompletionTokens
	param := "max_completion_tokens"
	if mt == nil {
		mt, param = w.MaxTokens, "max_tokens"
	}
	if mt != nil {
		if *mt < 1 {
			return request{}, belowMin(param, *mt)
		}
		r.maxTokens, r.hasMax = *mt, true
	}
	if w.N != nil {
		switch n := *w.N; {
		case n < 1:
			return request{}, belowMin("n", n)
		case n > maxChoices:
			return request{}, &parseError{param: "n", code: "integer_above_max_value",
				msg: fmt.Sprintf("Invalid 'n': integer above maximum value. Expected a value <= %d, but got %d instead.", maxChoices, n)}
		default:
			r.n = n
		}
	}
	if w.StreamOptions != nil {
		if !w.Stream {
			return request{}, &parseError{param: "stream_options", msg: "The 'stream_options' parameter is only allowed when 'stream' is enabled."}
		}
		r.includeUsage = w.StreamOptions.IncludeUsage
	}
	switch r.effort {
	case "", "none", "minimal", "low", "medium", "high":
	default:
		return request{}, &parseError{param: "reasoning_effort", code: "invalid_value",
			msg: fmt.Sprintf("Invalid value: '%s'. Supported values are: 'minimal', 'low', 'medium', and 'high'.", r.effort)}
	}
	r.setTools(w.Tools)
	if w.ParallelToolCalls != nil {
		r.parallel = *w.ParallelToolCalls
	}
	if len(w.ToolChoice) > 0 && string(w.ToolChoice) != "null" {
		if len(r.tools) == 0 {
			return request{}, &parseError{param: "tool_choice", msg: "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."}
		}
		c, err := parseOpenAIToolChoice(w.ToolChoice)
		if err != nil {
			return request{}, err
		}
		r.choice = c
	} else if len(r.tools) == 0 {
		r.choice = toolChoice{kind: choiceNone}
	}
	return r, nil
}

func belowMin(param string, v int) *parseError {
	return &parseError{param: param, code: "integer_below_min_value",
		msg: fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", param, v)}
}

func (r *request) setTools(ws []wireTool) {
	if len(ws) == 0 {
		return
	}
	r.tools = make([]tool, len(ws))
	for i := range ws {
		r.tools[i] = ws[i].tool()
		r.prompt += r.tools[i].tokens
		r.marked = r.marked || ws[i].CacheControl != nil
	}
}

// parseAnthropic parses a messages request body.
func parseAnthropic(body []byte) (request, error) { return parseAnthropicRequest(body, false) }

// parseAnthropicRequest parses a messages request body, or with count a count_tokens
// body, which has no max_tokens.
func parseAnthropicRequest(body []byte, count bool) (request, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		if isContentError(err) {
			return request{}, &parseError{msg: "messages.content: Input should be a valid string or list of content blocks"}
		}
		return request{}, &parseError{msg: "There was an issue with your request body: it is not valid JSON"}
	}
	if w.Model == "" {
		return request{}, &parseError{msg: "model: Field required"}
	}
	if count {
		w.MaxTokens, w.Stream = nil, false
	} else {
		if w.MaxTokens == nil {
			return request{}, &parseError{msg: "max_tokens: Field required"}
		}
		if *w.MaxTokens < 1 {
			return request{}, &parseError{msg: "max_tokens: Input should be greater than or equal to 1"}
		}
	}
	if w.Messages == nil {
		return request{}, &parseError{msg: "messages: Field required"}
	}
	r := request{model: w.Model, stream: w.Stream, n: 1,
		prompt: w.System.n + tokensPerPrompt, parallel: true, marked: w.System.marked || w.CacheControl != nil}
	if w.MaxTokens != nil {
		r.maxTokens, r.hasMax = *w.MaxTokens, true
	}
	for _, m := range w.Messages {
		r.prompt += m.Content.n + tokensPerMessage
		r.marked = r.marked || m.Content.marked
	}
	r.setTools(w.Tools)
	if len(w.ToolChoice) > 0 && string(w.ToolChoice) != "null" {
		c, err := parseAnthropicToolChoice(w.ToolChoice)
		if err != nil {
			return request{}, err
		}
		r.choice, r.parallel = c, !c.noParallel
	}
	if len(r.tools) == 0 {
		r.choice = toolChoice{kind: choiceNone}
	}
	if t := w.Thinking; t != nil {
		switch t.Type {
		case "enabled":
			if t.BudgetTokens == nil {
				return request{}, &parseError{msg: "thinking.enabled.budget_tokens: Field required"}
			}
			if *t.BudgetTokens < 1024 {
				return request{}, &parseError{msg: "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"}
			}
			if !count && r.maxTokens <= *t.BudgetTokens {
				return request{}, &parseError{msg: "`max_tokens` must be greater than `thinking.budget_tokens`."}
			}
			if r.choice.kind == choiceRequired || r.choice.kind == choiceNamed {
				return request{}, &parseError{msg: "Thinking may not be enabled when tool_choice forces tool use."}
			}
			r.thinking = *t.BudgetTokens
		case "adaptive":
			r.thinking = thinkingAdaptive
		case "disabled":
		default:
			return request{}, &parseError{msg: "thinking: Input tag '" + t.Type + "' found using 'type' does not match any of the expected tags: 'adaptive', 'disabled', 'enabled'"}
		}
	}
	return r, nil
}

// isContentError reports whether a decoding error is about a message content's type.
func isContentError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.Is(err, errBadContent) || errors.As(err, &te) && te.Type == reflect.TypeFor[[]contentPart]()
}
