package translate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// OpenAI request shapes, as written.

type oaRequest struct {
	Model               string         `json:"model"`
	Messages            []oaOutMessage `json:"messages"`
	MaxCompletionTokens int            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64       `json:"temperature,omitempty"`
	TopP                *float64       `json:"top_p,omitempty"`
	Stop                []string       `json:"stop,omitempty"`
	Stream              bool           `json:"stream,omitempty"`
	StreamOptions       *oaStreamOpts  `json:"stream_options,omitempty"`
	Tools               []oaOutTool    `json:"tools,omitempty"`
	ToolChoice          any            `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool          `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *oaRespFormat  `json:"response_format,omitempty"`
	ReasoningEffort     string         `json:"reasoning_effort,omitempty"`
	User                string         `json:"user,omitempty"`
	ServiceTier         string         `json:"service_tier,omitempty"`
}

type oaStreamOpts struct {
	IncludeUsage bool `json:"include_usage"`
}

type oaOutMessage struct {
	Role       string          `json:"role"`
	Content    any             `json:"content"`
	ToolCalls  []oaOutToolCall `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

type oaOutPart struct {
	Type     string      `json:"type"`
	Text     *string     `json:"text,omitempty"`
	ImageURL *oaImageURL `json:"image_url,omitempty"`
	File     *oaFile     `json:"file,omitempty"`
}

type oaImageURL struct {
	URL string `json:"url"`
}

type oaFile struct {
	FileData string `json:"file_data"`
	Filename string `json:"filename"`
}

type oaOutToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function oaOutCallFun `json:"function"`
}

type oaOutCallFun struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type oaOutTool struct {
	Type     string        `json:"type"`
	Function oaOutFunction `json:"function"`
}

type oaOutFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      bool            `json:"strict,omitempty"`
}

type oaRespFormat struct {
	Type       string        `json:"type"`
	JSONSchema *oaJSONSchema `json:"json_schema,omitempty"`
}

type oaJSONSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	Strict bool            `json:"strict"`
}

func textPart(s string) oaOutPart { return oaOutPart{Type: "text", Text: &s} }

// anHandled are the block types that some place of a request translates; another type is
// refused by name before its shape is checked, since tollgate does not know its shape.
var anHandled = map[string]bool{"text": true, "image": true, "document": true, "tool_use": true,
	"tool_result": true, "thinking": true, "redacted_thinking": true}

// anBlocks decodes an array of content blocks. A block of a type that nothing here
// translates is refused by its type; a handled type of the wrong shape is the caller's bad
// request.
func (tr translator) anBlocks(raw json.RawMessage, field, want string) ([]anInBlock, error) {
	var list []json.RawMessage
	if err := decode(raw, &list, field, want); err != nil {
		return nil, err
	}
	out := make([]anInBlock, len(list))
	for j, r := range list {
		bf := fmt.Sprintf("%s[%d]", field, j)
		var head struct {
			Type string `json:"type"`
		}
		if err := decode(r, &head, bf, "a content block object"); err != nil {
			return nil, err
		}
		if head.Type == "" {
			return nil, bad(bf+".type", "is required")
		}
		if !anHandled[head.Type] {
			return nil, tr.refuse(bf+".type", "OpenAI has no content of type %q", head.Type)
		}
		if err := decode(r, &out[j], bf, "a "+head.Type+" block"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Anthropic request shapes, as read.

type anInMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anInBlock struct {
	Type   string  `json:"type"`
	Text   *string `json:"text"`
	Source *struct {
		Type      string          `json:"type"`
		MediaType string          `json:"media_type"`
		Data      string          `json:"data"`
		URL       string          `json:"url"`
		Content   json.RawMessage `json:"content"`
	} `json:"source"`
	Title     *string         `json:"title"`
	Context   *string         `json:"context"`
	Citations json.RawMessage `json:"citations"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

// anToolKeys are the members of a custom tool that translate: cache_control (a cache
// breakpoint; OpenAI caches prompts by itself) and eager_input_streaming (how finely the
// input is streamed) are hints that are not carried.
var anToolKeys = map[string]bool{"type": true, "name": true, "description": true, "input_schema": true,
	"cache_control": true, "strict": true, "eager_input_streaming": true}

// anIgnored are the Anthropic members that steer Anthropic's own services and not the
// answer: a top-level cache breakpoint, prompt-cache diagnostics, the fast-inference mode.
var anIgnored = map[string]bool{"cache_control": true, "diagnostics": true, "speed": true}

// ToOpenAI translates an Anthropic Messages API request body into a Chat Completions
// request for t. Every member of body is carried, or the call fails: a member with no
// OpenAI equivalent is an *llm.UntranslatableError naming it (errors.Is
// llm.ErrUntranslatable), a malformed body a *wire.RequestError (the caller's own bad
// request). The package doc lists the decisions field by field. It is safe for concurrent
// use.
func ToOpenAI(body []byte, t Target) (*Request, error) {
	tr := translator{from: llm.Anthropic, to: llm.OpenAI}
	keys, m, err := members(body)
	if err != nil {
		return nil, err
	}
	out := oaRequest{Model: t.Model, Stream: t.Stream}
	if t.Stream {
		out.StreamOptions = &oaStreamOpts{IncludeUsage: true}
	}
	var (
		maxTokens        *int64
		system           json.RawMessage
		thinkingEffort   string
		configEffort     string
		disableParallel  bool
		toolChoiceObject *anToolChoice
	)
	for _, k := range keys {
		raw := m[k]
		switch k {
		case "model":
			if out.Model == "" {
				if err := decode(raw, &out.Model, k, "a string"); err != nil {
					return nil, err
				}
			}
		case "messages":
		case "system":
			system = raw
		case "max_tokens":
			if err := wire.DecodeTokens(raw, &maxTokens, k); err != nil {
				return nil, err
			}
		case "temperature":
			// Anthropic's 0..1 is inside OpenAI's 0..2 and means the same there.
			if err := decode(raw, &out.Temperature, k, "a number"); err != nil {
				return nil, err
			}
		case "top_p":
			if err := decode(raw, &out.TopP, k, "a number"); err != nil {
				return nil, err
			}
		case "top_k":
			if !isNull(raw) {
				return nil, tr.refuse(k, "OpenAI has no top-k sampling")
			}
		case "stop_sequences":
			var stops []string
			if err := decode(raw, &stops, k, "an array of strings"); err != nil {
				return nil, err
			}
			if len(stops) > 4 {
				return nil, tr.refuse(k, "OpenAI takes at most 4 stop sequences, and there are %d", len(stops))
			}
			out.Stop = stops
		case "stream":
		case "metadata":
			var md struct {
				UserID *string `json:"user_id"`
			}
			if err := decode(raw, &md, k, "an object"); err != nil {
				return nil, err
			}
			if md.UserID != nil {
				out.User = *md.UserID
			}
		case "tools":
			if out.Tools, err = tr.anTools(raw); err != nil {
				return nil, err
			}
		case "tool_choice":
			if isNull(raw) {
				continue
			}
			var c anToolChoice
			if err := decode(raw, &c, k, "an object"); err != nil {
				return nil, err
			}
			toolChoiceObject = &c
		case "thinking":
			if thinkingEffort, err = tr.anThinking(raw); err != nil {
				return nil, err
			}
		case "output_config":
			var oc map[string]json.RawMessage
			if err := decode(raw, &oc, k, "an object"); err != nil {
				return nil, err
			}
			for ok, ov := range oc {
				switch ok {
				case "effort":
					if configEffort, err = tr.effort(ov); err != nil {
						return nil, err
					}
				case "format":
					if out.ResponseFormat, err = tr.outputFormat(ov, "output_config.format"); err != nil {
						return nil, err
					}
				default:
					return nil, tr.refuse(k+"."+ok, "unknown field: tollgate cannot tell what it would mean to OpenAI")
				}
			}
		case "output_format":
			// The structured-outputs beta's name for output_config.format.
			if out.ResponseFormat, err = tr.outputFormat(raw, k); err != nil {
				return nil, err
			}
		case "service_tier":
			var tier string
			if err := decode(raw, &tier, k, "a string"); err != nil {
				return nil, err
			}
			switch tier {
			case "auto":
				out.ServiceTier = "auto"
			case "standard_only":
				out.ServiceTier = "default"
			}
		case "inference_geo":
			if !isNull(raw) {
				return nil, tr.refuse(k, "OpenAI cannot be told where to run a request")
			}
		case "container", "mcp_servers", "context_management":
			if !isNull(raw) {
				return nil, tr.refuse(k, "it configures an Anthropic service that OpenAI does not have")
			}
		default:
			if anIgnored[k] {
				continue
			}
			return nil, tr.refuse(k, "unknown field: tollgate cannot tell what it would mean to OpenAI")
		}
	}

	switch {
	case t.MaxTokens > 0:
		out.MaxCompletionTokens = t.MaxTokens
	case maxTokens != nil:
		out.MaxCompletionTokens = int(*maxTokens)
	default:
		return nil, bad("max_tokens", "is required: the maximum number of tokens to generate")
	}
	out.ReasoningEffort = thinkingEffort
	if configEffort != "" {
		out.ReasoningEffort = configEffort
	}

	if c := toolChoiceObject; c != nil {
		switch c.Type {
		case "auto":
			out.ToolChoice = "auto"
		case "any":
			out.ToolChoice = "required"
		case "none":
			out.ToolChoice = "none"
		case "tool":
			if c.Name == "" {
				return nil, bad("tool_choice.name", "is required")
			}
			out.ToolChoice = map[string]any{"type": "function", "function": map[string]string{"name": c.Name}}
		default:
			return nil, bad("tool_choice.type", "must be one of auto, any, tool, none; got %q", c.Type)
		}
		disableParallel = c.DisableParallelToolUse
	}
	if disableParallel && len(out.Tools) > 0 {
		f := false
		out.ParallelToolCalls = &f
	}

	if !isNull(system) {
		msg, err := tr.anSystem(system)
		if err != nil {
			return nil, err
		}
		out.Messages = append(out.Messages, msg)
	}
	raw, ok := m["messages"]
	if !ok || isNull(raw) {
		return nil, bad("messages", "is required: an array of at least one message")
	}
	if err := tr.anMessages(&out, raw); err != nil {
		return nil, err
	}
	return &Request{Body: marshal(out)}, nil
}

func (tr translator) anSystem(raw json.RawMessage) (oaOutMessage, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return oaOutMessage{Role: "system", Content: s}, nil
	}
	blocks, err := tr.anBlocks(raw, "system", "a string or an array of text blocks")
	if err != nil {
		return oaOutMessage{}, err
	}
	parts := make([]oaOutPart, 0, len(blocks))
	for j, b := range blocks {
		if b.Type != "text" || b.Text == nil {
			return oaOutMessage{}, bad(fmt.Sprintf("system[%d]", j), "must be a text block")
		}
		parts = append(parts, textPart(*b.Text))
	}
	if len(parts) == 1 {
		return oaOutMessage{Role: "system", Content: *parts[0].Text}, nil
	}
	return oaOutMessage{Role: "system", Content: parts}, nil
}

// anThinking maps a thinking configuration onto a reasoning effort. An adaptive or
// disabled configuration asks for no effort in particular: none is sent, which leaves an
// OpenAI reasoning model at its default and a non-reasoning model able to serve.
func (tr translator) anThinking(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var th struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	}
	if err := decode(raw, &th, "thinking", "an object"); err != nil {
		return "", err
	}
	switch th.Type {
	case "enabled":
		switch {
		case th.BudgetTokens < budgetMedium:
			return "low", nil
		case th.BudgetTokens < budgetHigh:
			return "medium", nil
		}
		// xhigh is not accepted by most OpenAI reasoning models; high is their ceiling.
		return "high", nil
	case "disabled", "adaptive":
		return "", nil
	}
	return "", bad("thinking.type", "must be one of enabled, disabled, adaptive; got %q", th.Type)
}

func (tr translator) effort(raw json.RawMessage) (string, error) {
	var e string
	if err := decode(raw, &e, "output_config.effort", "a string"); err != nil {
		return "", err
	}
	switch e {
	case "":
		return "", nil
	case "low", "medium", "high", "xhigh":
		return e, nil
	case "max":
		return "xhigh", nil
	}
	return "", bad("output_config.effort", "must be one of low, medium, high, xhigh, max; got %q", e)
}

// outputFormat maps Anthropic's structured output onto OpenAI's strict json_schema
// response format: both constrain the answer to the schema.
func (tr translator) outputFormat(raw json.RawMessage, field string) (*oaRespFormat, error) {
	if isNull(raw) {
		return nil, nil
	}
	var f struct {
		Type   string          `json:"type"`
		Schema json.RawMessage `json:"schema"`
	}
	if err := decode(raw, &f, field, "an object"); err != nil {
		return nil, err
	}
	if f.Type != "json_schema" {
		return nil, tr.refuse(field+".type", "OpenAI has no output format %q", f.Type)
	}
	if isNull(f.Schema) {
		return nil, bad(field+".schema", "is required")
	}
	return &oaRespFormat{Type: "json_schema", JSONSchema: &oaJSONSchema{Name: "response", Schema: f.Schema, Strict: true}}, nil
}

func (tr translator) anTools(raw json.RawMessage) ([]oaOutTool, error) {
	if isNull(raw) {
		return nil, nil
	}
	var list []map[string]json.RawMessage
	if err := decode(raw, &list, "tools", "an array of tools"); err != nil {
		return nil, err
	}
	out := make([]oaOutTool, 0, len(list))
	for i, t := range list {
		field := fmt.Sprintf("tools[%d]", i)
		var typ string
		if r, ok := t["type"]; ok && !isNull(r) {
			if err := decode(r, &typ, field+".type", "a string"); err != nil {
				return nil, err
			}
		}
		if typ != "" && typ != "custom" {
			return nil, tr.refuse(field+".type", "%q is an Anthropic server or client tool that OpenAI does not have", typ)
		}
		for k := range t {
			if !anToolKeys[k] {
				return nil, tr.refuse(field+"."+k, "OpenAI function tools have no such field")
			}
		}
		var f struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			InputSchema json.RawMessage `json:"input_schema"`
			Strict      *bool           `json:"strict"`
		}
		tb, _ := json.Marshal(t) // t came from valid JSON
		if err := decode(tb, &f, field, "a tool object"); err != nil {
			return nil, err
		}
		if f.Name == "" {
			return nil, bad(field+".name", "is required")
		}
		if isNull(f.InputSchema) {
			return nil, bad(field+".input_schema", "is required")
		}
		out = append(out, oaOutTool{Type: "function", Function: oaOutFunction{Name: f.Name, Description: f.Description,
			Parameters: f.InputSchema, Strict: f.Strict != nil && *f.Strict}})
	}
	return out, nil
}

func (tr translator) anMessages(out *oaRequest, raw json.RawMessage) error {
	var list []anInMessage
	if err := decode(raw, &list, "messages", "an array of messages"); err != nil {
		return err
	}
	if len(list) == 0 {
		return bad("messages", "must contain at least one message")
	}
	for i, m := range list {
		field := fmt.Sprintf("messages[%d]", i)
		if isNull(m.Content) {
			return bad(field+".content", "is required")
		}
		switch m.Role {
		case "user":
			msgs, err := tr.anUser(m.Content, field+".content")
			if err != nil {
				return err
			}
			out.Messages = append(out.Messages, msgs...)
		case "assistant":
			if i == len(list)-1 {
				return tr.refuse(field, "a final assistant message is a prefill that Anthropic continues; OpenAI would answer anew instead")
			}
			msg, ok, err := tr.anAssistant(m.Content, field+".content")
			if err != nil {
				return err
			}
			if ok {
				out.Messages = append(out.Messages, msg)
			}
		case "":
			return bad(field+".role", "is required")
		default:
			return bad(field+".role", "must be user or assistant, got %q", m.Role)
		}
	}
	return nil
}

// anUser translates a user turn: its tool results become tool messages (first, as
// Anthropic has them first), the rest one user message.
func (tr translator) anUser(raw json.RawMessage, field string) ([]oaOutMessage, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []oaOutMessage{{Role: "user", Content: s}}, nil
	}
	blocks, err := tr.anBlocks(raw, field, "a string or an array of content blocks")
	if err != nil {
		return nil, err
	}
	var out []oaOutMessage
	var parts []oaOutPart
	for j, b := range blocks {
		bf := fmt.Sprintf("%s[%d]", field, j)
		switch b.Type {
		case "tool_result":
			if b.ToolUseID == "" {
				return nil, bad(bf+".tool_use_id", "is required")
			}
			content, err := tr.anToolResult(b, bf)
			if err != nil {
				return nil, err
			}
			out = append(out, oaOutMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: content})
		case "text":
			if b.Text == nil {
				return nil, bad(bf+".text", "is required for a text block")
			}
			parts = append(parts, textPart(*b.Text))
		case "image":
			p, err := tr.anImage(b, bf)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		case "document":
			ps, err := tr.anDocument(b, bf)
			if err != nil {
				return nil, err
			}
			parts = append(parts, ps...)
		case "":
			return nil, bad(bf+".type", "is required")
		default:
			return nil, tr.refuse(bf+".type", "OpenAI has no user content of type %q", b.Type)
		}
	}
	switch {
	case len(parts) == 1 && parts[0].Type == "text":
		// One text block says what a string says.
		out = append(out, oaOutMessage{Role: "user", Content: *parts[0].Text})
	case len(parts) > 0:
		out = append(out, oaOutMessage{Role: "user", Content: parts})
	}
	return out, nil
}

func (tr translator) anImage(b anInBlock, field string) (oaOutPart, error) {
	src := b.Source
	if src == nil {
		return oaOutPart{}, bad(field+".source", "is required for an image block")
	}
	switch src.Type {
	case "base64":
		return oaOutPart{Type: "image_url", ImageURL: &oaImageURL{URL: "data:" + src.MediaType + ";base64," + src.Data}}, nil
	case "url":
		return oaOutPart{Type: "image_url", ImageURL: &oaImageURL{URL: src.URL}}, nil
	}
	return oaOutPart{}, tr.refuse(field+".source.type", "OpenAI takes an image as a URL or base64 data, not a %q source", src.Type)
}

// anDocument translates a document: a base64 PDF to a file part, plain text or text blocks
// to text parts. Its title, which the model reads, goes first as text.
func (tr translator) anDocument(b anInBlock, field string) ([]oaOutPart, error) {
	src := b.Source
	if src == nil {
		return nil, bad(field+".source", "is required for a document block")
	}
	if b.Context != nil && *b.Context != "" {
		return nil, tr.refuse(field+".context", "OpenAI has no document context")
	}
	var cite struct {
		Enabled bool `json:"enabled"`
	}
	if !isNull(b.Citations) && json.Unmarshal(b.Citations, &cite) == nil && cite.Enabled {
		return nil, tr.refuse(field+".citations", "OpenAI does not cite documents")
	}
	title := ""
	if b.Title != nil {
		title = *b.Title
	}
	switch src.Type {
	case "base64":
		if src.MediaType != "application/pdf" {
			return nil, tr.refuse(field+".source.media_type", "OpenAI takes base64 documents as PDF only")
		}
		name := title
		if name == "" {
			name = "document.pdf"
		}
		return []oaOutPart{{Type: "file", File: &oaFile{FileData: "data:application/pdf;base64," + src.Data, Filename: name}}}, nil
	case "text":
		text := src.Data
		if title != "" {
			text = title + "\n\n" + text
		}
		return []oaOutPart{textPart(text)}, nil
	case "content":
		inner, err := tr.anBlocks(src.Content, field+".source.content", "an array of text blocks")
		if err != nil {
			return nil, err
		}
		var parts []oaOutPart
		if title != "" {
			parts = append(parts, textPart(title))
		}
		for k, ib := range inner {
			if ib.Type != "text" || ib.Text == nil {
				return nil, tr.refuse(fmt.Sprintf("%s.source.content[%d]", field, k), "OpenAI takes a document's content as text only")
			}
			parts = append(parts, textPart(*ib.Text))
		}
		return parts, nil
	}
	return nil, tr.refuse(field+".source.type", "OpenAI takes a document as base64 PDF or text, not a %q source", src.Type)
}

// anToolResult translates a tool result's content: a string, or text blocks (kept apart as
// text parts). OpenAI has no error flag on a tool message: an error result says so in its
// text, first.
func (tr translator) anToolResult(b anInBlock, field string) (any, error) {
	const errPrefix = "Error: "
	if isNull(b.Content) {
		if b.IsError {
			return strings.TrimSpace(errPrefix), nil
		}
		return "", nil
	}
	var s string
	if json.Unmarshal(b.Content, &s) == nil {
		if b.IsError {
			s = errPrefix + s
		}
		return s, nil
	}
	inner, err := tr.anBlocks(b.Content, field+".content", "a string or an array of content blocks")
	if err != nil {
		return nil, err
	}
	parts := make([]oaOutPart, 0, len(inner)+1)
	if b.IsError {
		parts = append(parts, textPart(strings.TrimSpace(errPrefix)))
	}
	for k, ib := range inner {
		if ib.Type != "text" || ib.Text == nil {
			return nil, tr.refuse(fmt.Sprintf("%s.content[%d]", field, k), "an OpenAI tool message carries text only, not %q", ib.Type)
		}
		parts = append(parts, textPart(*ib.Text))
	}
	return parts, nil
}

// anAssistant translates an assistant turn: text blocks to content, tool_use blocks to
// tool calls. Thinking blocks of earlier turns are not carried: OpenAI takes no reasoning
// as input, and Anthropic itself ignores earlier turns' thinking. ok is false for a turn
// left empty.
func (tr translator) anAssistant(raw json.RawMessage, field string) (oaOutMessage, bool, error) {
	msg := oaOutMessage{Role: "assistant"}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		msg.Content = s
		return msg, true, nil
	}
	blocks, err := tr.anBlocks(raw, field, "a string or an array of content blocks")
	if err != nil {
		return msg, false, err
	}
	var parts []oaOutPart
	for j, b := range blocks {
		bf := fmt.Sprintf("%s[%d]", field, j)
		switch b.Type {
		case "text":
			if b.Text == nil {
				return msg, false, bad(bf+".text", "is required for a text block")
			}
			parts = append(parts, textPart(*b.Text))
		case "tool_use":
			if b.ID == "" || b.Name == "" {
				return msg, false, bad(bf, "a tool_use block needs an id and a name")
			}
			args := "{}"
			if !isNull(b.Input) {
				args = compactJSON(b.Input)
			}
			msg.ToolCalls = append(msg.ToolCalls, oaOutToolCall{ID: b.ID, Type: "function",
				Function: oaOutCallFun{Name: b.Name, Arguments: args}})
		case "thinking", "redacted_thinking":
		case "":
			return msg, false, bad(bf+".type", "is required")
		default:
			return msg, false, tr.refuse(bf+".type", "OpenAI has no assistant content of type %q", b.Type)
		}
	}
	switch len(parts) {
	case 0:
		if len(msg.ToolCalls) == 0 {
			return msg, false, nil
		}
	case 1:
		msg.Content = *parts[0].Text
	default:
		msg.Content = parts
	}
	return msg, true, nil
}
