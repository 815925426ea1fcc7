package translate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// Anthropic request shapes, as written.

type anRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens"`
	System        []anBlock       `json:"system,omitempty"`
	Messages      []anMessage     `json:"messages"`
	Metadata      *anMetadata     `json:"metadata,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int64          `json:"top_k,omitempty"`
	Thinking      *anThinking     `json:"thinking,omitempty"`
	Tools         []anTool        `json:"tools,omitempty"`
	ToolChoice    *anToolChoice   `json:"tool_choice,omitempty"`
	ServiceTier   string          `json:"service_tier,omitempty"`
	OutputConfig  *anOutputConfig `json:"output_config,omitempty"`
}

type anOutputConfig struct {
	Format *anFormat `json:"format,omitempty"`
}

type anFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

type anMessage struct {
	Role    string    `json:"role"`
	Content []anBlock `json:"content"`
}

type anBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Source    *anSource       `json:"source,omitempty"`
	Title     string          `json:"title,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   any             `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
}

type anSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anMetadata struct {
	UserID string `json:"user_id"`
}

type anThinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
}

type anTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
	Strict      bool            `json:"strict,omitempty"`
}

type anToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

func textBlock(s string) anBlock { return anBlock{Type: "text", Text: &s} }

// OpenAI request shapes, as read.

type oaMessage struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	ToolCalls    json.RawMessage `json:"tool_calls"`
	ToolCallID   *string         `json:"tool_call_id"`
	FunctionCall json.RawMessage `json:"function_call"`
	Refusal      *string         `json:"refusal"`
	Audio        json.RawMessage `json:"audio"`
	Name         json.RawMessage `json:"name"`
}

// oaMessageKeys are the members a message may have. name is dropped (Anthropic has no
// participant names); annotations, reasoning_content and reasoning are what an earlier
// answer carried and a client echoed back: output metadata and visible reasoning, which
// Anthropic does not take as input either (it drops earlier turns' thinking itself).
var oaMessageKeys = map[string]bool{"role": true, "content": true, "tool_calls": true, "tool_call_id": true,
	"function_call": true, "refusal": true, "audio": true, "name": true,
	"annotations": true, "reasoning_content": true, "reasoning": true}

type oaPart struct {
	Type     string  `json:"type"`
	Text     *string `json:"text"`
	Refusal  *string `json:"refusal"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
	File *struct {
		FileData string `json:"file_data"`
		FileID   string `json:"file_id"`
		Filename string `json:"filename"`
	} `json:"file"`
}

type oaToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function *struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaTool struct {
	Type     string      `json:"type"`
	Function *oaFunction `json:"function"`
}

type oaFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

// oaIgnored are the OpenAI members that only steer OpenAI's own services (stored
// completions, prompt-cache routing, the latency of predicted outputs) and do not change
// what the model answers; an Anthropic upstream has no such service, so they are not
// carried. See the package doc.
var oaIgnored = map[string]bool{"store": true, "metadata": true, "prompt_cache_key": true,
	"prompt_cache_retention": true, "prompt_cache_options": true, "prediction": true, "stream_options": true}

// ToAnthropic translates an OpenAI Chat Completions request body into a Messages API
// request for t. Every member of body is carried, or the call fails: a member with no
// Anthropic equivalent is an *llm.UntranslatableError naming it (errors.Is
// llm.ErrUntranslatable), a malformed body a *wire.RequestError (the caller's own bad
// request). The package doc lists the decisions field by field. It is safe for concurrent
// use.
func ToAnthropic(body []byte, t Target) (*Request, error) {
	tr := translator{from: llm.OpenAI, to: llm.Anthropic}
	keys, m, err := members(body)
	if err != nil {
		return nil, err
	}
	out := anRequest{Model: t.Model, Stream: t.Stream}
	c := common{effortField: "reasoning_effort"}
	var (
		maxTokens, maxCompletion *int64
		responseFormat           json.RawMessage
	)
	for _, k := range keys {
		raw := m[k]
		if ok, err := tr.shared(k, raw, &out, &c); ok || err != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		switch k {
		case "messages":
			// Translated below, once the fields they depend on are known.
		case "max_tokens":
			if err := wire.DecodeTokens(raw, &maxTokens, k); err != nil {
				return nil, err
			}
		case "max_completion_tokens":
			if err := wire.DecodeTokens(raw, &maxCompletion, k); err != nil {
				return nil, err
			}
		case "top_k":
			// Not OpenAI's, but vLLM, SGLang and Ollama take it in this format.
			if err := decode(raw, &out.TopK, k, "an integer"); err != nil {
				return nil, err
			}
		case "n":
			var n *float64
			if err := decode(raw, &n, k, "an integer"); err != nil {
				return nil, err
			}
			if n != nil && *n != 1 {
				return nil, tr.refuse(k, "Anthropic returns one answer per request")
			}
		case "stop":
			stops, err := decodeStop(raw)
			if err != nil {
				return nil, err
			}
			out.StopSequences = stops
		case "tools":
			tools, err := tr.tools(raw)
			if err != nil {
				return nil, err
			}
			c.tools = append(c.tools, tools...)
		case "functions":
			var fs []oaFunction
			if err := decode(raw, &fs, k, "an array of functions"); err != nil {
				return nil, err
			}
			for _, f := range fs {
				c.tools = append(c.tools, anToolOf(f))
			}
		case "tool_choice", "function_call":
			if isNull(raw) {
				continue
			}
			if c.toolChoice, err = tr.toolChoice(raw, k); err != nil {
				return nil, err
			}
			c.choiceField = k
		case "response_format":
			responseFormat = raw
		case "reasoning_effort":
			if err := decode(raw, &c.effort, k, "a string"); err != nil {
				return nil, err
			}
		case "frequency_penalty", "presence_penalty":
			var v *float64
			if err := decode(raw, &v, k, "a number"); err != nil {
				return nil, err
			}
			if v != nil && *v != 0 {
				return nil, tr.refuse(k, "Anthropic has no repetition penalties")
			}
		case "logit_bias":
			var v map[string]float64
			if err := decode(raw, &v, k, "an object"); err != nil {
				return nil, err
			}
			if len(v) > 0 {
				return nil, tr.refuse(k, "Anthropic cannot bias tokens")
			}
		case "logprobs":
			var v *bool
			if err := decode(raw, &v, k, "a boolean"); err != nil {
				return nil, err
			}
			if v != nil && *v {
				return nil, tr.refuse(k, "Anthropic returns no log probabilities")
			}
		case "seed":
			if !isNull(raw) {
				return nil, tr.refuse(k, "Anthropic has no seeded sampling")
			}
		case "modalities":
			var v []string
			if err := decode(raw, &v, k, "an array of strings"); err != nil {
				return nil, err
			}
			for _, mod := range v {
				if mod != "text" {
					return nil, tr.refuse(k, "Anthropic answers in text only, not %q", mod)
				}
			}
		case "audio":
			if !isNull(raw) {
				return nil, tr.refuse(k, "Anthropic answers in text only")
			}
		case "verbosity":
			var v string
			if err := decode(raw, &v, k, "a string"); err != nil {
				return nil, err
			}
			if v != "" && v != "medium" {
				return nil, tr.refuse(k, "Anthropic has no verbosity setting")
			}
		case "web_search_options":
			if !isNull(raw) {
				return nil, tr.refuse(k, "OpenAI's built-in web search has no Anthropic equivalent in this format")
			}
		default:
			if oaIgnored[k] {
				continue
			}
			return nil, tr.refuse(k, "unknown field: tollgate cannot tell what it would mean to Anthropic")
		}
	}

	switch {
	case maxCompletion != nil:
		c.maxTokens = maxCompletion
	case maxTokens != nil:
		c.maxTokens = maxTokens
	}
	if !isNull(responseFormat) {
		f, err := chatFormat(responseFormat)
		if err != nil {
			return nil, err
		}
		c.format = &f
	}
	res := &Request{}
	if err := tr.finish(&out, t, c, res); err != nil {
		return nil, err
	}

	raw, ok := m["messages"]
	if !ok || isNull(raw) {
		return nil, bad("messages", "is required: an array of at least one message")
	}
	if err := tr.messages(&out, raw); err != nil {
		return nil, err
	}
	res.Body = marshal(out)
	return res, nil
}

// shared translates a top-level member that chat and the Responses API share, and
// reports whether k was one: the model, sampling, the parallel tool calls switch, the
// caller's identifiers, the service tier, log probabilities and moderation.
func (tr translator) shared(k string, raw json.RawMessage, out *anRequest, c *common) (bool, error) {
	switch k {
	case "model":
		if out.Model == "" {
			return true, decode(raw, &out.Model, "model", "a string")
		}
	case "temperature":
		var v *float64
		if err := decode(raw, &v, k, "a number"); err != nil {
			return true, err
		}
		if v != nil {
			// The same softmax temperature in both APIs; OpenAI allows up to 2,
			// Anthropic up to 1, the closest it can do.
			x := min(max(*v, 0), 1)
			out.Temperature = &x
		}
	case "top_p":
		return true, decode(raw, &out.TopP, k, "a number")
	case "stream":
		// Target.Stream decides.
	case "parallel_tool_calls":
		return true, decode(raw, &c.parallel, k, "a boolean")
	case "user":
		return true, decode(raw, &c.user, k, "a string")
	case "safety_identifier":
		return true, decode(raw, &c.safetyID, k, "a string")
	case "service_tier":
		var tier string
		if err := decode(raw, &tier, k, "a string"); err != nil {
			return true, err
		}
		// auto and default have Anthropic twins; flex, scale and priority name OpenAI
		// contracts with no Anthropic counterpart, whose tier is then the account's.
		switch tier {
		case "auto":
			out.ServiceTier = "auto"
		case "default":
			out.ServiceTier = "standard_only"
		}
	case "top_logprobs":
		var v *float64
		if err := decode(raw, &v, k, "an integer"); err != nil {
			return true, err
		}
		if v != nil && *v != 0 {
			return true, tr.refuse(k, "Anthropic returns no log probabilities")
		}
	case "moderation":
		if !isNull(raw) {
			return true, tr.refuse(k, "Anthropic has no moderation policy option")
		}
	default:
		return false, nil
	}
	return true, nil
}

// thinking maps a reasoning effort (chat's reasoning_effort, the Responses API's
// reasoning.effort: field names it) onto a thinking budget below max_tokens.
func (tr translator) thinking(out *anRequest, effort, field string) error {
	var budget int
	switch effort {
	case "", "none", "minimal":
		// No reasoning, or as little as a model allows: Anthropic's default, no thinking.
		return nil
	case "low":
		budget = budgetLow
	case "medium":
		budget = budgetMedium
	case "high":
		budget = budgetHigh
	case "xhigh":
		budget = budgetXHigh
	case "max":
		budget = budgetMax
	default:
		return bad(field, "must be one of none, minimal, low, medium, high, xhigh, max; got %q", effort)
	}
	// The budget counts against max_tokens and must stay below it.
	budget = min(budget, out.MaxTokens-1)
	if budget < minThinkingBudget {
		return tr.refuse(field, "Anthropic needs a thinking budget of at least %d tokens below max_tokens, and max_tokens is %d", minThinkingBudget, out.MaxTokens)
	}
	if out.Temperature != nil && *out.Temperature != 1 {
		return tr.refuse("temperature", "Anthropic accepts no temperature but 1 while thinking (%s) is on", field)
	}
	if out.TopP != nil && *out.TopP < 0.95 {
		return tr.refuse("top_p", "Anthropic accepts no top_p below 0.95 while thinking (%s) is on", field)
	}
	if out.TopK != nil {
		return tr.refuse("top_k", "Anthropic accepts no top_k while thinking (%s) is on", field)
	}
	out.Thinking = &anThinking{Type: "enabled", BudgetTokens: budget}
	return nil
}

func decodeStop(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, bad("stop", "must be a string or an array of strings, got %s", wire.JSONKind(raw))
	}
	out := many[:0]
	for _, s := range many {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func anToolOf(f oaFunction) anTool {
	schema := f.Parameters
	if isNull(schema) {
		// A function without parameters takes none; Anthropic requires a schema.
		schema = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	return anTool{Name: f.Name, Description: f.Description, InputSchema: schema, Strict: f.Strict != nil && *f.Strict}
}

func (tr translator) tools(raw json.RawMessage) ([]anTool, error) {
	if isNull(raw) {
		return nil, nil
	}
	var list []oaTool
	if err := decode(raw, &list, "tools", "an array of tools"); err != nil {
		return nil, err
	}
	out := make([]anTool, 0, len(list))
	for i, t := range list {
		field := fmt.Sprintf("tools[%d]", i)
		if t.Type != "function" {
			return nil, tr.refuse(field+".type", "Anthropic has no tool of type %q in this format; only function tools translate", t.Type)
		}
		if t.Function == nil || t.Function.Name == "" {
			return nil, bad(field+".function.name", "is required")
		}
		out = append(out, anToolOf(*t.Function))
	}
	return out, nil
}

// toolChoice maps tool_choice (or the legacy function_call).
func (tr translator) toolChoice(raw json.RawMessage, field string) (*anToolChoice, error) {
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "auto":
			return &anToolChoice{Type: "auto"}, nil
		case "none":
			return &anToolChoice{Type: "none"}, nil
		case "required":
			if field == "tool_choice" {
				return &anToolChoice{Type: "any"}, nil
			}
		}
		return nil, bad(field, "unknown mode %q", mode)
	}
	var named struct {
		Type     string `json:"type"`
		Name     string `json:"name"`
		Function *struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := decode(raw, &named, field, "a string or an object"); err != nil {
		return nil, err
	}
	if field == "function_call" {
		if named.Name == "" {
			return nil, bad(field+".name", "is required")
		}
		return &anToolChoice{Type: "tool", Name: named.Name}, nil
	}
	switch named.Type {
	case "function":
		if named.Function == nil || named.Function.Name == "" {
			return nil, bad(field+".function.name", "is required")
		}
		return &anToolChoice{Type: "tool", Name: named.Function.Name}, nil
	case "allowed_tools":
		return nil, tr.refuse(field, "Anthropic cannot restrict a request's tools to a subset")
	}
	return nil, tr.refuse(field+".type", "Anthropic has no tool choice of type %q", named.Type)
}

// responseToolDescription is what the model reads of the tool that carries a JSON answer.
const responseToolDescription = "Respond to the user with a JSON object that matches this tool's input schema. Call this tool to give your final answer."

// formatSpec is a structured-output request in either OpenAI shape: chat's
// response_format {type, json_schema: {name, description, schema, strict}} or the
// Responses API's text.format {type, name, description, schema, strict}. The field names
// say where its members sit in the caller's body, for errors.
type formatSpec struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict"`

	field, typeField, nameField, schemaField string
}

// chatFormat reads chat's response_format.
func chatFormat(raw json.RawMessage) (formatSpec, error) {
	var rf struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Schema      json.RawMessage `json:"schema"`
			Strict      *bool           `json:"strict"`
		} `json:"json_schema"`
	}
	if err := decode(raw, &rf, "response_format", "an object"); err != nil {
		return formatSpec{}, err
	}
	f := formatSpec{Type: rf.Type, field: "response_format", typeField: "response_format.type",
		nameField: "response_format.json_schema.name", schemaField: "response_format.json_schema.schema"}
	if js := rf.JSONSchema; js != nil {
		f.Name, f.Description, f.Schema, f.Strict = js.Name, js.Description, js.Schema, js.Strict
	}
	return f, nil
}

// common is what both OpenAI formats ask of an Anthropic request besides the
// conversation, gathered from the caller's body and applied by finish.
type common struct {
	maxTokens           *int64 // the caller's output cap
	effort, effortField string // the reasoning effort and where the body says it
	tools               []anTool
	toolChoice          *anToolChoice
	choiceField         string // where the body says the tool choice
	parallel            *bool
	user, safetyID      string
	format              *formatSpec // nil for none
}

// finish sets out's cap, metadata, thinking, tools, tool choice and structured output
// from c, in the order their constraints need, and names the response tool in res.
func (tr translator) finish(out *anRequest, t Target, c common, res *Request) error {
	switch {
	case t.MaxTokens > 0:
		out.MaxTokens = t.MaxTokens
	case c.maxTokens != nil:
		out.MaxTokens = int(*c.maxTokens)
	default:
		out.MaxTokens = DefaultMaxTokens
	}
	switch {
	case c.user != "":
		out.Metadata = &anMetadata{UserID: c.user}
	case c.safetyID != "":
		out.Metadata = &anMetadata{UserID: c.safetyID}
	}

	if err := tr.thinking(out, c.effort, c.effortField); err != nil {
		return err
	}

	// Tools and the choice among them, then the response format that may add one.
	out.Tools = c.tools
	toolChoice := c.toolChoice
	if toolChoice != nil && len(c.tools) == 0 && toolChoice.Type != "none" {
		return bad(c.choiceField, "is only allowed when tools are specified")
	}
	if len(c.tools) > 0 {
		if c.parallel != nil && !*c.parallel {
			if toolChoice == nil {
				toolChoice = &anToolChoice{Type: "auto"}
			}
			if toolChoice.Type != "none" {
				toolChoice.DisableParallelToolUse = true
			}
		}
		out.ToolChoice = toolChoice
	}
	if f := c.format; f != nil && out.Thinking != nil {
		// Thinking forbids forcing a tool: native structured output carries the schema.
		if err := tr.nativeFormat(out, *f, c.effortField); err != nil {
			return err
		}
	} else if f != nil {
		name, err := tr.responseFormat(out, *f)
		if err != nil {
			return err
		}
		res.ResponseTool = name
	}
	if out.Thinking != nil && out.ToolChoice != nil && (out.ToolChoice.Type == "any" || out.ToolChoice.Type == "tool") {
		field := c.choiceField
		if res.ResponseTool != "" {
			field = c.format.field
		}
		return tr.refuse(field, "Anthropic cannot force a tool call while thinking (%s) is on", c.effortField)
	}
	return nil
}

// responseFormat carries a structured-output request by the tool-forcing pattern: a tool
// whose input schema is the answer's schema, which the model is made to call. It returns
// the tool's name, or "" for a plain text format.
func (tr translator) responseFormat(out *anRequest, f formatSpec) (string, error) {
	tool := anTool{Description: responseToolDescription}
	switch f.Type {
	case "text":
		return "", nil
	case "json_object":
		tool.Name = "json_response"
		tool.InputSchema = json.RawMessage(`{"type":"object"}`)
	case "json_schema":
		if f.Name == "" {
			return "", bad(f.nameField, "is required")
		}
		tool.Name = f.Name
		if f.Description != "" {
			tool.Description = f.Description + "\n\n" + responseToolDescription
		}
		tool.InputSchema = f.Schema
		if isNull(tool.InputSchema) {
			tool.InputSchema = json.RawMessage(`{"type":"object"}`)
		}
		var top struct {
			Type json.RawMessage `json:"type"`
		}
		if json.Unmarshal(tool.InputSchema, &top) != nil || (len(top.Type) > 0 && string(top.Type) != `"object"`) {
			return "", tr.refuse(f.schemaField, "an Anthropic tool input must be a JSON object, and this schema's top level is not")
		}
		tool.Strict = f.Strict != nil && *f.Strict
	default:
		return "", tr.refuse(f.typeField, "Anthropic has no response format %q", f.Type)
	}
	for _, t := range out.Tools {
		if t.Name == tool.Name {
			return "", tr.refuse(f.field, "its name %q is also a tool's, and the answer could not be told from a call", tool.Name)
		}
	}
	switch c := out.ToolChoice; {
	case len(out.Tools) == 0:
		out.ToolChoice = &anToolChoice{Type: "tool", Name: tool.Name}
	case c == nil || c.Type == "auto":
		// The model may call the caller's tools or answer, as with OpenAI: forcing any
		// tool leaves it those two choices and no third (plain text).
		out.ToolChoice = &anToolChoice{Type: "any", DisableParallelToolUse: c != nil && c.DisableParallelToolUse}
	default:
		return "", tr.refuse(f.field, "it is carried to Anthropic by forcing a tool call, which tool_choice %q already decides", c.Type)
	}
	out.Tools = append(out.Tools, tool)
	return tool.Name, nil
}

// nativeFormat carries a json_schema format as Anthropic's structured output
// (output_config.format), for a request that thinks and so cannot force a tool. Models
// before Claude Sonnet 4.5 and Haiku 4.5 refuse it; the upstream says so.
func (tr translator) nativeFormat(out *anRequest, f formatSpec, effortField string) error {
	switch f.Type {
	case "text":
		return nil
	case "json_schema":
		if isNull(f.Schema) {
			return bad(f.schemaField, "is required")
		}
		out.OutputConfig = &anOutputConfig{Format: &anFormat{Type: "json_schema", Schema: f.Schema}}
		return nil
	}
	return tr.refuse(f.field, "a %q format is carried to Anthropic by forcing a tool call, which thinking (%s) forbids", f.Type, effortField)
}

// messages translates the conversation: system and developer messages into the system
// prompt, tool results into user turns (consecutive ones merged, as Anthropic wants every
// result of a turn's calls in the one user message that follows it).
func (tr translator) messages(out *anRequest, raw json.RawMessage) error {
	var list []json.RawMessage
	if err := decode(raw, &list, "messages", "an array of messages"); err != nil {
		return err
	}
	if len(list) == 0 {
		return bad("messages", "must contain at least one message")
	}
	var lastFunctionID string // the id given to the latest legacy function_call
	for i, mr := range list {
		field := fmt.Sprintf("messages[%d]", i)
		var m oaMessage
		if err := decode(mr, &m, field, "a message object"); err != nil {
			return err
		}
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(mr, &keys) // decoded above
		for k := range keys {
			if !oaMessageKeys[k] {
				return tr.refuse(field+"."+k, "unknown message field")
			}
		}
		switch m.Role {
		case "system", "developer":
			blocks, err := tr.parts(m.Content, field+".content", false)
			if err != nil {
				return err
			}
			// Anthropic has one system prompt, before the conversation: a system message
			// later in it joins that prompt.
			out.System = append(out.System, blocks...)
		case "user":
			blocks, err := tr.parts(m.Content, field+".content", true)
			if err != nil {
				return err
			}
			appendTurn(out, "user", blocks)
		case "assistant":
			blocks, err := tr.assistant(m, i, &lastFunctionID)
			if err != nil {
				return err
			}
			if i == len(list)-1 {
				return tr.refuse(field, "a conversation that ends with an assistant message would be continued by Anthropic (a prefill), not answered anew as OpenAI does")
			}
			if len(blocks) > 0 {
				appendTurn(out, "assistant", blocks)
			}
		case "tool", "function":
			id := lastFunctionID
			if m.Role == "tool" {
				if m.ToolCallID == nil || *m.ToolCallID == "" {
					return bad(field+".tool_call_id", "is required")
				}
				id = toolID(*m.ToolCallID)
			}
			content, err := tr.toolContent(m.Content, field+".content")
			if err != nil {
				return err
			}
			appendTurn(out, "user", []anBlock{{Type: "tool_result", ToolUseID: id, Content: content}})
		case "":
			return bad(field+".role", "is required")
		default:
			return bad(field+".role", "must be one of system, developer, user, assistant, tool; got %q", m.Role)
		}
	}
	return nil
}

// appendTurn adds blocks as a turn of role, merged into the previous turn when it has the
// same role: Anthropic would merge them itself, and tool results must open the user turn
// that follows the calls.
func appendTurn(out *anRequest, role string, blocks []anBlock) {
	if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
		prev := &out.Messages[n-1]
		if role == "user" && len(blocks) > 0 && blocks[0].Type == "tool_result" {
			// A result belongs before any text of the turn.
			k := 0
			for k < len(prev.Content) && prev.Content[k].Type == "tool_result" {
				k++
			}
			if k < len(prev.Content) {
				merged := append(append(append([]anBlock{}, prev.Content[:k]...), blocks...), prev.Content[k:]...)
				prev.Content = merged
				return
			}
		}
		prev.Content = append(prev.Content, blocks...)
		return
	}
	out.Messages = append(out.Messages, anMessage{Role: role, Content: blocks})
}

// parts translates a message's content: a string or an array of parts. Images and files
// are allowed where user is true.
func (tr translator) parts(raw json.RawMessage, field string, user bool) ([]anBlock, error) {
	if isNull(raw) {
		return nil, bad(field, "is required")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []anBlock{textBlock(s)}, nil
	}
	var parts []oaPart
	if err := decode(raw, &parts, field, "a string or an array of content parts"); err != nil {
		return nil, err
	}
	out := make([]anBlock, 0, len(parts))
	for j, p := range parts {
		pf := fmt.Sprintf("%s[%d]", field, j)
		switch p.Type {
		case "text":
			if p.Text == nil {
				return nil, bad(pf+".text", "is required for a text part")
			}
			out = append(out, textBlock(*p.Text))
		case "image_url":
			if !user {
				return nil, bad(pf, "an image is only allowed in a user message")
			}
			if p.ImageURL == nil {
				return nil, bad(pf+".image_url", "is required for an image_url part")
			}
			b, err := tr.image(p.ImageURL.URL, pf+".image_url.url")
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		case "file":
			if !user {
				return nil, bad(pf, "a file is only allowed in a user message")
			}
			if p.File == nil {
				return nil, bad(pf+".file", "is required for a file part")
			}
			if p.File.FileID != "" {
				return nil, tr.refuse(pf+".file.file_id", "an OpenAI file id means nothing to Anthropic")
			}
			mt, data, ok := parseDataURL(p.File.FileData)
			if !ok || mt != "application/pdf" {
				return nil, tr.refuse(pf+".file.file_data", "Anthropic takes a file only as a base64 PDF document")
			}
			out = append(out, anBlock{Type: "document", Title: p.File.Filename,
				Source: &anSource{Type: "base64", MediaType: mt, Data: data}})
		case "input_audio":
			return nil, tr.refuse(pf, "Anthropic takes no audio input")
		case "":
			return nil, bad(pf+".type", "is required")
		default:
			return nil, tr.refuse(pf+".type", "Anthropic has no content of type %q", p.Type)
		}
	}
	return out, nil
}

// image maps an image URL: a base64 data URL to a base64 source, an http(s) URL to a url
// source. The detail setting (resolution) has no Anthropic counterpart, which sizes images
// itself, and is not carried.
func (tr translator) image(u, field string) (anBlock, error) {
	if mt, data, ok := parseDataURL(u); ok {
		if !imageTypes[mt] {
			return anBlock{}, tr.refuse(field, "Anthropic takes JPEG, PNG, GIF and WebP images, not %q", mt)
		}
		return anBlock{Type: "image", Source: &anSource{Type: "base64", MediaType: mt, Data: data}}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return anBlock{Type: "image", Source: &anSource{Type: "url", URL: u}}, nil
	}
	return anBlock{}, bad(field, "must be an http(s) URL or a base64 data URL")
}

// assistant translates an assistant turn: its text (and refusal) and its tool calls.
func (tr translator) assistant(m oaMessage, i int, lastFunctionID *string) ([]anBlock, error) {
	field := fmt.Sprintf("messages[%d]", i)
	var out []anBlock
	if !isNull(m.Content) {
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			if s != "" {
				out = append(out, textBlock(s))
			}
		} else {
			var parts []oaPart
			if err := decode(m.Content, &parts, field+".content", "a string or an array of content parts"); err != nil {
				return nil, err
			}
			for j, p := range parts {
				switch {
				case p.Type == "text" && p.Text != nil:
					if *p.Text != "" {
						out = append(out, textBlock(*p.Text))
					}
				case p.Type == "refusal" && p.Refusal != nil:
					out = append(out, textBlock(*p.Refusal))
				default:
					return nil, bad(fmt.Sprintf("%s.content[%d]", field, j), "an assistant message may contain text and refusal parts only")
				}
			}
		}
	}
	if m.Refusal != nil && *m.Refusal != "" {
		out = append(out, textBlock(*m.Refusal))
	}
	if !isNull(m.Audio) {
		return nil, tr.refuse(field+".audio", "Anthropic has no audio answers to refer to")
	}
	if !isNull(m.ToolCalls) {
		var calls []oaToolCall
		if err := decode(m.ToolCalls, &calls, field+".tool_calls", "an array of tool calls"); err != nil {
			return nil, err
		}
		for j, c := range calls {
			cf := fmt.Sprintf("%s.tool_calls[%d]", field, j)
			if c.Type != "function" && c.Type != "" {
				return nil, tr.refuse(cf+".type", "Anthropic has no tool call of type %q in this format", c.Type)
			}
			if c.Function == nil {
				return nil, bad(cf+".function", "is required")
			}
			input, err := tr.arguments(c.Function.Arguments, cf+".function.arguments")
			if err != nil {
				return nil, err
			}
			out = append(out, anBlock{Type: "tool_use", ID: toolID(c.ID), Name: c.Function.Name, Input: input})
		}
	}
	if !isNull(m.FunctionCall) {
		var fc struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		}
		if err := decode(m.FunctionCall, &fc, field+".function_call", "an object"); err != nil {
			return nil, err
		}
		input, err := tr.arguments(fc.Arguments, field+".function_call.arguments")
		if err != nil {
			return nil, err
		}
		// The legacy call has no id: the function message that answers it is the next
		// one, and both get this one.
		*lastFunctionID = fmt.Sprintf("toolu_legacy_%d", i)
		out = append(out, anBlock{Type: "tool_use", ID: *lastFunctionID, Name: fc.Name, Input: input})
	}
	return out, nil
}

// arguments parses a tool call's JSON arguments into an Anthropic tool input, which must
// be an object; an empty text is no arguments.
func (tr translator) arguments(args, field string) (json.RawMessage, error) {
	if strings.TrimSpace(args) == "" {
		return json.RawMessage(`{}`), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(args), &obj); err != nil || obj == nil {
		return nil, tr.refuse(field, "Anthropic takes a tool call's input as a JSON object, and these arguments are not one")
	}
	return json.RawMessage(compactJSON([]byte(args))), nil
}

// toolContent translates a tool message's content: a string, or text parts (which keep
// their boundaries as text blocks).
func (tr translator) toolContent(raw json.RawMessage, field string) (any, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []oaPart
	if err := decode(raw, &parts, field, "a string or an array of text parts"); err != nil {
		return nil, err
	}
	out := make([]anBlock, 0, len(parts))
	for j, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return nil, bad(fmt.Sprintf("%s[%d]", field, j), "a tool message may contain text parts only")
		}
		out = append(out, textBlock(*p.Text))
	}
	return out, nil
}
