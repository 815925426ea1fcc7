package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// respItemKind is what an input item of the Responses API is.
type respItemKind uint8

const (
	itemNone       respItemKind = iota // reasoning, item_reference, hosted tool calls: no tokens
	itemMessage                        // a message of any role
	itemCall                           // function_call
	itemCallOutput                     // function_call_output
)

// respItem is one parsed input item.
type respItem struct {
	kind   respItemKind
	role   string
	text   string        // a message's string content, a call's arguments, an output's string
	parts  []contentPart // a message's or an output's content parts
	name   string        // a call's function name
	callID string
	tokens int // its prompt tokens, framing included
}

// wireRespItem holds the fields of an input item that the emulator reads.
type wireRespItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

// respRequest is what a Responses request adds to a request: its items, the state for
// the stored conversation, and the fields its response echoes.
type respRequest struct {
	instructions []respItem
	items        []respItem
	tools        []wireTool // the function tools, for the prompt's hash
	prevID       string
	store        bool
	include      bool // reasoning.encrypted_content
	jsonMode     bool // text.format json_object
	schema       json.RawMessage

	// Echoed in the response object, as compact JSON ("" for the default).
	echoInstructions, echoTools, echoChoice, echoFormat, echoMetadata string
	echoEffort                                                        string
	maxOutput                                                         int // 0: null
	temperature, topP                                                 string
}

// parseResponses parses a POST /v1/responses body
// (https://platform.openai.com/docs/api-reference/responses/create).
func parseResponses(body []byte) (request, *respRequest, error) {
	var w struct {
		Model              string          `json:"model"`
		Input              json.RawMessage `json:"input"`
		Instructions       json.RawMessage `json:"instructions"`
		MaxOutputTokens    *int            `json:"max_output_tokens"`
		Stream             bool            `json:"stream"`
		Tools              []wireRespTool  `json:"tools"`
		ToolChoice         json.RawMessage `json:"tool_choice"`
		ParallelToolCalls  *bool           `json:"parallel_tool_calls"`
		Store              *bool           `json:"store"`
		PreviousResponseID *string         `json:"previous_response_id"`
		Reasoning          *struct {
			Effort *string `json:"effort"`
		} `json:"reasoning"`
		Text *struct {
			Format json.RawMessage `json:"format"`
		} `json:"text"`
		PromptCacheKey string          `json:"prompt_cache_key"`
		Metadata       json.RawMessage `json:"metadata"`
		Include        []string        `json:"include"`
		Temperature    *float64        `json:"temperature"`
		TopP           *float64        `json:"top_p"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return request{}, nil, &parseError{msg: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"}
	}
	if w.Model == "" {
		return request{}, nil, &parseError{param: "model", code: "missing_required_parameter", msg: "Missing required parameter: 'model'."}
	}
	r := request{model: w.Model, stream: w.Stream, prompt: tokensPerPrompt, n: 1, cacheKey: w.PromptCacheKey, parallel: true}
	x := &respRequest{store: true}
	var err error
	if x.items, err = parseRespInput(w.Input, "input"); err != nil {
		return request{}, nil, err
	}
	if len(x.items) == 0 && (w.PreviousResponseID == nil || *w.PreviousResponseID == "") {
		return request{}, nil, &parseError{param: "input", code: "missing_required_parameter", msg: "Missing required parameter: 'input'."}
	}
	if len(w.Instructions) > 0 && string(w.Instructions) != "null" {
		if w.Instructions[0] == '"' {
			var s string
			_ = json.Unmarshal(w.Instructions, &s)
			x.instructions = []respItem{{kind: itemMessage, role: "developer", text: s, tokens: tokensPerMessage + CountTokens(s)}}
		} else if x.instructions, err = parseRespInput(w.Instructions, "instructions"); err != nil {
			return request{}, nil, err
		}
		x.echoInstructions = compact(w.Instructions)
	}
	if mt := w.MaxOutputTokens; mt != nil {
		if *mt < 16 {
			return request{}, nil, &parseError{param: "max_output_tokens", code: "integer_below_min_value",
				msg: fmt.Sprintf("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got %d instead.", *mt)}
		}
		r.maxTokens, r.hasMax, x.maxOutput = *mt, true, *mt
	}
	tools := make([]wireTool, 0, len(w.Tools))
	for _, t := range w.Tools {
		if t.Type == "function" {
			if t.Name == "" {
				return request{}, nil, &parseError{param: "tools", code: "missing_required_parameter", msg: "Missing required parameter: 'tools[0].name'."}
			}
			tools = append(tools, wireTool{Name: t.Name, Description: t.Description, InputSchema: t.Parameters})
		}
	}
	r.setTools(tools)
	x.tools = tools
	if len(w.Tools) > 0 {
		raw, _ := json.Marshal(w.Tools)
		x.echoTools = string(raw)
	}
	if w.ParallelToolCalls != nil {
		r.parallel = *w.ParallelToolCalls
	}
	if len(w.ToolChoice) > 0 && string(w.ToolChoice) != "null" {
		c, err := parseRespToolChoice(w.ToolChoice)
		if err != nil {
			return request{}, nil, err
		}
		r.choice = c
		x.echoChoice = compact(w.ToolChoice)
	}
	if len(r.tools) == 0 {
		r.choice = toolChoice{kind: choiceNone}
	}
	if w.Store != nil {
		x.store = *w.Store
	}
	if p := w.PreviousResponseID; p != nil {
		x.prevID = *p
	}
	if rs := w.Reasoning; rs != nil && rs.Effort != nil {
		switch e := *rs.Effort; e {
		case "none", "minimal", "low", "medium", "high", "xhigh":
			r.effort, x.echoEffort = e, e
		default:
			return request{}, nil, &parseError{param: "reasoning.effort", code: "invalid_value",
				msg: fmt.Sprintf("Invalid value: '%s'. Supported values are: 'none', 'minimal', 'low', 'medium', 'high', and 'xhigh'.", e)}
		}
	}
	if t := w.Text; t != nil && len(t.Format) > 0 && string(t.Format) != "null" {
		if err := x.setFormat(t.Format); err != nil {
			return request{}, nil, err
		}
	}
	if len(w.Metadata) > 0 && string(w.Metadata) != "null" {
		x.echoMetadata = compact(w.Metadata)
	}
	for _, inc := range w.Include {
		x.include = x.include || inc == "reasoning.encrypted_content"
	}
	if w.Temperature != nil {
		x.temperature = fmt.Sprint(*w.Temperature)
	}
	if w.TopP != nil {
		x.topP = fmt.Sprint(*w.TopP)
	}
	// The prompt: the tools (counted by setTools), the instructions, the input items.
	for _, it := range x.instructions {
		r.prompt += it.tokens
	}
	for _, it := range x.items {
		r.prompt += it.tokens
	}
	return r, x, nil
}

// wireRespTool is a tool of the Responses API: a function at the top level, or a hosted
// tool (web_search, file_search, ...) that the emulator accepts and never calls.
type wireRespTool struct {
	Type        string                     `json:"type"`
	Name        string                     `json:"name,omitempty"`
	Description string                     `json:"description,omitempty"`
	Parameters  json.RawMessage            `json:"parameters,omitempty"`
	Strict      *bool                      `json:"strict,omitempty"`
	Rest        map[string]json.RawMessage `json:"-"` // a hosted tool's other fields
}

func (t *wireRespTool) UnmarshalJSON(b []byte) error {
	type plain wireRespTool
	if err := json.Unmarshal(b, (*plain)(t)); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for _, k := range [...]string{"type", "name", "description", "parameters", "strict"} {
		delete(all, k)
	}
	if len(all) > 0 {
		t.Rest = all
	}
	return nil
}

// MarshalJSON echoes the tool as the response object lists it, with the Responses API's
// default strict mode for functions made explicit.
func (t wireRespTool) MarshalJSON() ([]byte, error) {
	m := map[string]any{"type": t.Type}
	for k, v := range t.Rest {
		m[k] = v
	}
	if t.Type == "function" {
		m["name"], m["description"], m["parameters"] = t.Name, nil, t.Parameters
		if t.Description != "" {
			m["description"] = t.Description
		}
		if len(t.Parameters) == 0 {
			m["parameters"] = nil
		}
		m["strict"] = t.Strict == nil || *t.Strict
	}
	return json.Marshal(m)
}

// parseRespToolChoice reads "none", "auto", "required" or {"type":"function","name":...};
// other objects (hosted tools, allowed_tools) leave the choice to the model.
func parseRespToolChoice(raw json.RawMessage) (toolChoice, error) {
	if raw[0] == '"' {
		return openAIChoiceMode(raw)
	}
	var c struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return toolChoice{}, &parseError{param: "tool_choice", msg: "Invalid type for 'tool_choice': expected one of a string or an object."}
	}
	if c.Type == "function" {
		if c.Name == "" {
			return toolChoice{}, &parseError{param: "tool_choice.name", code: "missing_required_parameter", msg: "Missing required parameter: 'tool_choice.name'."}
		}
		return toolChoice{kind: choiceNamed, name: c.Name}, nil
	}
	return toolChoice{kind: choiceAuto}, nil
}

// setFormat reads text.format: text, json_object or json_schema (with its name and
// schema), whose answers are JSON that the schema accepts.
func (x *respRequest) setFormat(raw json.RawMessage) error {
	var f struct {
		Type   string          `json:"type"`
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return &parseError{param: "text.format", msg: "Invalid type for 'text.format': expected an object."}
	}
	switch f.Type {
	case "text":
	case "json_object":
		x.jsonMode = true
	case "json_schema":
		if f.Name == "" {
			return &parseError{param: "text.format.name", code: "missing_required_parameter", msg: "Missing required parameter: 'text.format.name'."}
		}
		if len(f.Schema) == 0 {
			return &parseError{param: "text.format.schema", code: "missing_required_parameter", msg: "Missing required parameter: 'text.format.schema'."}
		}
		x.schema = f.Schema
	default:
		return &parseError{param: "text.format.type", code: "invalid_value",
			msg: "Invalid value: '" + f.Type + "'. Supported values are: 'text', 'json_object', and 'json_schema'."}
	}
	x.echoFormat = compact(raw)
	return nil
}

// parseRespInput reads an input: a string (one user message) or a list of items.
func parseRespInput(raw json.RawMessage, param string) ([]respItem, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, &parseError{param: param, msg: "Invalid type for '" + param + "': expected one of a string or array of input items."}
		}
		return []respItem{{kind: itemMessage, role: "user", text: s, tokens: tokensPerMessage + CountTokens(s)}}, nil
	}
	var ws []wireRespItem
	if err := json.Unmarshal(raw, &ws); err != nil {
		return nil, &parseError{param: param, msg: "Invalid type for '" + param + "': expected one of a string or array of input items."}
	}
	items := make([]respItem, len(ws))
	for i := range ws {
		wi, it := &ws[i], &items[i]
		switch wi.Type {
		case "", "message":
			if wi.Role == "" {
				return nil, &parseError{param: fmt.Sprintf("%s[%d].role", param, i), code: "missing_required_parameter",
					msg: fmt.Sprintf("Missing required parameter: '%s[%d].role'.", param, i)}
			}
			it.kind, it.role = itemMessage, wi.Role
			if err := it.setContent(wi.Content, fmt.Sprintf("%s[%d].content", param, i)); err != nil {
				return nil, err
			}
		case "function_call":
			it.kind, it.name, it.text, it.callID = itemCall, wi.Name, wi.Arguments, wi.CallID
			it.tokens = tokensPerMessage + CountTokens(wi.Name) + CountTokens(wi.Arguments)
		case "function_call_output":
			it.kind, it.callID = itemCallOutput, wi.CallID
			if err := it.setContent(wi.Output, fmt.Sprintf("%s[%d].output", param, i)); err != nil {
				return nil, err
			}
		default:
			it.kind = itemNone // reasoning items of earlier turns count nothing, as in chat
		}
	}
	return items, nil
}

// setContent reads a message's content or a call output: a string or content parts.
func (it *respItem) setContent(raw json.RawMessage, param string) error {
	it.tokens = tokensPerMessage
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &it.text); err != nil {
			return &parseError{param: param, msg: "Invalid type for '" + param + "': expected one of a string or array of content parts."}
		}
		it.tokens += CountTokens(it.text)
		return nil
	}
	if err := json.Unmarshal(raw, &it.parts); err != nil {
		return &parseError{param: param, msg: "Invalid type for '" + param + "': expected one of a string or array of content parts."}
	}
	for i := range it.parts {
		n, err := it.parts[i].tokens()
		if err != nil {
			return &parseError{param: param, msg: "Invalid type for '" + param + "': expected one of a string or array of content parts."}
		}
		it.tokens += n
	}
	return nil
}

// compact returns raw JSON without insignificant space, so that it fits one SSE data line.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return "null"
	}
	return b.String()
}
