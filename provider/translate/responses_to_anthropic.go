package translate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// Responses API request shapes, as read.

// rsItem is an input item of any type: the members that the types tollgate carries use.
type rsItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    *string         `json:"call_id"`
	Name      string          `json:"name"`
	Arguments *string         `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

// rsPart is a content part of a message or of a function call's output.
type rsPart struct {
	Type     string  `json:"type"`
	Text     *string `json:"text"`
	Refusal  *string `json:"refusal"`
	ImageURL *string `json:"image_url"`
	FileID   *string `json:"file_id"`
	FileData *string `json:"file_data"`
	FileURL  *string `json:"file_url"`
	Filename string  `json:"filename"`
}

// The members each item type may have. id and status identify an item an earlier answer
// returned, phase marks an earlier assistant message as commentary or final answer (for
// OpenAI's own rendering), name on an output labels it: none changes what the model reads
// from Anthropic's rendering, so they are not carried. A member outside these sets is
// refused unless it is null.
var (
	rsMessageKeys = map[string]bool{"type": true, "role": true, "content": true, "id": true, "status": true, "phase": true}
	rsCallKeys    = map[string]bool{"type": true, "call_id": true, "name": true, "arguments": true, "id": true, "status": true}
	rsOutputKeys  = map[string]bool{"type": true, "call_id": true, "output": true, "id": true, "status": true, "name": true}
	rsToolKeys    = map[string]bool{"type": true, "name": true, "description": true, "parameters": true, "strict": true}
)

// rsIgnored are the Responses members that only steer OpenAI's own services (stored
// responses and their metadata, prompt-cache routing, stream obfuscation) or hosted tools
// (max_tool_calls counts built-in tool calls, which are refused) and do not change what
// the model answers: they are not carried. See the package doc.
var rsIgnored = map[string]bool{"store": true, "metadata": true, "prompt_cache_key": true,
	"prompt_cache_retention": true, "prompt_cache_options": true, "stream_options": true, "max_tool_calls": true}

// rsIncludes are the values of "include" that ask for nothing an Anthropic answer could
// lack: outputs of hosted tools (which are refused), image URLs of the input, and the
// encrypted reasoning that only OpenAI can read back (a translated answer's reasoning is
// its visible thinking).
var rsIncludes = map[string]bool{"reasoning.encrypted_content": true, "file_search_call.results": true,
	"web_search_call.results": true, "web_search_call.action.sources": true, "code_interpreter_call.outputs": true,
	"computer_call_output.output.image_url": true, "message.input_image.image_url": true}

// ResponsesToAnthropic translates an OpenAI Responses API request body into a Messages
// API request for t. Every member of body is carried, or the call fails: a member with no
// Anthropic equivalent is an *llm.UntranslatableError naming it (errors.Is
// llm.ErrUntranslatable), among them previous_response_id, conversation and prompt, whose
// state OpenAI stores; a malformed body is a *wire.RequestError (the caller's own bad
// request). The package doc lists the decisions field by field. It is safe for
// concurrent use.
func ResponsesToAnthropic(body []byte, t Target) (*Request, error) {
	tr := translator{from: llm.Responses, to: llm.Anthropic}
	keys, m, err := members(body)
	if err != nil {
		return nil, err
	}
	out := anRequest{Model: t.Model, Stream: t.Stream}
	c := common{effortField: "reasoning.effort", choiceField: "tool_choice"}
	for _, k := range keys {
		raw := m[k]
		if ok, err := tr.shared(k, raw, &out, &c); ok || err != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		switch k {
		case "input", "instructions":
			// Translated below, once the fields they depend on are known.
		case "max_output_tokens":
			if err := wire.DecodeTokens(raw, &c.maxTokens, k); err != nil {
				return nil, err
			}
		case "tools":
			if c.tools, err = tr.rsTools(raw); err != nil {
				return nil, err
			}
		case "tool_choice":
			if c.toolChoice, err = tr.rsToolChoice(raw); err != nil {
				return nil, err
			}
		case "text":
			if c.format, err = tr.rsText(raw); err != nil {
				return nil, err
			}
		case "reasoning":
			if c.effort, err = tr.rsReasoning(raw); err != nil {
				return nil, err
			}
		case "previous_response_id":
			var id *string
			if err := decode(raw, &id, k, "a string"); err != nil {
				return nil, err
			}
			if id != nil && *id != "" {
				return nil, tr.refuse(k, "the response it continues is stored at OpenAI, and Anthropic cannot read it: send the whole conversation as input instead")
			}
		case "conversation":
			if !isNull(raw) {
				return nil, tr.refuse(k, "the conversation is stored at OpenAI, and Anthropic cannot read it")
			}
		case "prompt":
			if !isNull(raw) {
				return nil, tr.refuse(k, "the prompt template is stored at OpenAI, and Anthropic cannot read it")
			}
		case "background":
			var v *bool
			if err := decode(raw, &v, k, "a boolean"); err != nil {
				return nil, err
			}
			if v != nil && *v {
				return nil, tr.refuse(k, "Anthropic has no background responses to poll")
			}
		case "include":
			var inc []string
			if err := decode(raw, &inc, k, "an array of strings"); err != nil {
				return nil, err
			}
			for i, v := range inc {
				if !rsIncludes[v] {
					return nil, tr.refuse(fmt.Sprintf("include[%d]", i), "Anthropic cannot include %q", v)
				}
			}
		case "truncation":
			// "auto" drops the oldest items of an input that overflows the window; Anthropic
			// refuses such an input instead, with a context-length error that a chain falls
			// back on, so nothing is lost silently. An input that fits is the same either way.
			var v *string
			if err := decode(raw, &v, k, "a string"); err != nil {
				return nil, err
			}
			if v != nil && *v != "auto" && *v != "disabled" {
				return nil, bad(k, "must be auto or disabled, got %q", *v)
			}
		case "context_management":
			var v []json.RawMessage
			if err := decode(raw, &v, k, "an array"); err != nil {
				return nil, err
			}
			if len(v) > 0 {
				return nil, tr.refuse(k, "OpenAI's compaction of the context has no Anthropic equivalent in this format")
			}
		default:
			if rsIgnored[k] {
				continue
			}
			return nil, tr.refuse(k, "unknown field: tollgate cannot tell what it would mean to Anthropic")
		}
	}

	res := &Request{}
	if err := tr.finish(&out, t, c, res); err != nil {
		return nil, err
	}
	if raw, ok := m["instructions"]; ok && !isNull(raw) {
		var s string
		if err := decode(raw, &s, "instructions", "a string"); err != nil {
			return nil, err
		}
		if s != "" {
			out.System = append(out.System, textBlock(s))
		}
	}
	raw, ok := m["input"]
	if !ok || isNull(raw) {
		return nil, bad("input", "is required: a string or an array of input items")
	}
	if err := tr.rsInput(&out, raw); err != nil {
		return nil, err
	}
	res.Body = marshal(out)
	return res, nil
}

// rsReasoning reads "reasoning": the effort, and settings that need nothing of Anthropic
// (a summary is what Anthropic's visible thinking is) or ask for what it cannot do.
func (tr translator) rsReasoning(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var r struct {
		Effort  *string `json:"effort"`
		Context *string `json:"context"`
	}
	if err := decode(raw, &r, "reasoning", "an object"); err != nil {
		return "", err
	}
	var rest map[string]json.RawMessage
	_ = json.Unmarshal(raw, &rest) // decoded above
	for k, v := range rest {
		switch k {
		case "effort", "summary", "generate_summary":
		case "context":
			// Earlier turns' reasoning is not carried (Anthropic drops earlier thinking
			// too): only a caller that asks for it to be read back loses something.
			if r.Context != nil && *r.Context == "all_turns" {
				return "", tr.refuse("reasoning.context", "earlier turns' OpenAI reasoning cannot be read back by Anthropic")
			}
		default:
			if !isNull(v) {
				return "", tr.refuse("reasoning."+k, "unknown field: tollgate cannot tell what it would mean to Anthropic")
			}
		}
	}
	if r.Effort == nil {
		return "", nil
	}
	return *r.Effort, nil
}

// rsText reads "text": the output format, and a verbosity Anthropic has no setting for.
func (tr translator) rsText(raw json.RawMessage) (*formatSpec, error) {
	if isNull(raw) {
		return nil, nil
	}
	var tx struct {
		Format    json.RawMessage `json:"format"`
		Verbosity *string         `json:"verbosity"`
	}
	if err := decode(raw, &tx, "text", "an object"); err != nil {
		return nil, err
	}
	if v := tx.Verbosity; v != nil && *v != "" && *v != "medium" {
		return nil, tr.refuse("text.verbosity", "Anthropic has no verbosity setting")
	}
	if isNull(tx.Format) {
		return nil, nil
	}
	var f formatSpec
	if err := decode(tx.Format, &f, "text.format", "an object"); err != nil {
		return nil, err
	}
	f.field, f.typeField, f.nameField, f.schemaField = "text.format", "text.format.type", "text.format.name", "text.format.schema"
	if f.Type == "text" {
		return nil, nil
	}
	return &f, nil
}

// rsTools translates the function tools; hosted tools (web search, file search, computer
// use, code interpreter, MCP, shell…) and custom (free-form) tools are refused.
func (tr translator) rsTools(raw json.RawMessage) ([]anTool, error) {
	if isNull(raw) {
		return nil, nil
	}
	var list []json.RawMessage
	if err := decode(raw, &list, "tools", "an array of tools"); err != nil {
		return nil, err
	}
	out := make([]anTool, 0, len(list))
	for i, r := range list {
		field := fmt.Sprintf("tools[%d]", i)
		var f struct {
			Type        string          `json:"type"`
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
			Strict      *bool           `json:"strict"`
		}
		if err := decode(r, &f, field, "a tool object"); err != nil {
			return nil, err
		}
		if f.Type != "function" {
			return nil, tr.refuse(field+".type", "Anthropic has no tool of type %q in this format; only function tools translate", f.Type)
		}
		if f.Name == "" {
			return nil, bad(field+".name", "is required")
		}
		if err := tr.checkKeys(r, field, rsToolKeys); err != nil {
			return nil, err
		}
		out = append(out, anToolOf(oaFunction{Name: f.Name, Description: f.Description, Parameters: f.Parameters, Strict: f.Strict}))
	}
	return out, nil
}

// rsToolChoice maps tool_choice: a mode, or a named function.
func (tr translator) rsToolChoice(raw json.RawMessage) (*anToolChoice, error) {
	if isNull(raw) {
		return nil, nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "auto":
			return &anToolChoice{Type: "auto"}, nil
		case "none":
			return &anToolChoice{Type: "none"}, nil
		case "required":
			return &anToolChoice{Type: "any"}, nil
		}
		return nil, bad("tool_choice", "unknown mode %q", mode)
	}
	var named struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := decode(raw, &named, "tool_choice", "a string or an object"); err != nil {
		return nil, err
	}
	switch named.Type {
	case "function":
		if named.Name == "" {
			return nil, bad("tool_choice.name", "is required")
		}
		return &anToolChoice{Type: "tool", Name: named.Name}, nil
	case "allowed_tools":
		return nil, tr.refuse("tool_choice", "Anthropic cannot restrict a request's tools to a subset")
	}
	return nil, tr.refuse("tool_choice.type", "Anthropic has no tool choice of type %q in this format", named.Type)
}

// checkKeys refuses a member of the object raw that is not in known and not null. It
// scans the members' spans without decoding them: it runs on every input item.
func (tr translator) checkKeys(raw json.RawMessage, field string, known map[string]bool) error {
	ms, _, err := wire.Members(raw)
	if err != nil {
		return nil // the caller decoded raw as an object already
	}
	for _, m := range ms {
		if !known[string(m.Key)] && !isNull(raw[m.Start:m.End]) {
			return tr.refuse(field+"."+string(m.Key), "unknown field: tollgate cannot tell what it would mean to Anthropic")
		}
	}
	return nil
}

// rsInput translates the input: a string (one user message) or items. Messages of the
// system and developer roles join the system prompt; function calls become tool_use
// blocks of the assistant turn, their outputs tool_result blocks of the user turn that
// follows; reasoning items are not carried.
func (tr translator) rsInput(out *anRequest, raw json.RawMessage) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		appendTurn(out, "user", []anBlock{textBlock(s)})
		return nil
	}
	var list []json.RawMessage
	if err := decode(raw, &list, "input", "a string or an array of input items"); err != nil {
		return err
	}
	if len(list) == 0 {
		return bad("input", "must contain at least one item")
	}
	last := -1 // the last item that is not reasoning
	for i, ir := range list {
		field := fmt.Sprintf("input[%d]", i)
		var it rsItem
		if err := decode(ir, &it, field, "an input item object"); err != nil {
			return err
		}
		kind := it.Type
		if kind == "" && it.Role != "" {
			kind = "message" // EasyInputMessage: the type may be left out
		}
		switch kind {
		case "message":
			if err := tr.checkKeys(ir, field, rsMessageKeys); err != nil {
				return err
			}
			if err := tr.rsMessage(out, it, field); err != nil {
				return err
			}
		case "function_call":
			if err := tr.checkKeys(ir, field, rsCallKeys); err != nil {
				return err
			}
			if it.CallID == nil || *it.CallID == "" {
				return bad(field+".call_id", "is required")
			}
			if it.Name == "" {
				return bad(field+".name", "is required")
			}
			args := ""
			if it.Arguments != nil {
				args = *it.Arguments
			}
			input, err := tr.arguments(args, field+".arguments")
			if err != nil {
				return err
			}
			appendTurn(out, "assistant", []anBlock{{Type: "tool_use", ID: toolID(*it.CallID), Name: it.Name, Input: input}})
		case "function_call_output":
			if err := tr.checkKeys(ir, field, rsOutputKeys); err != nil {
				return err
			}
			if it.CallID == nil || *it.CallID == "" {
				return bad(field+".call_id", "is required")
			}
			content, err := tr.rsOutput(it.Output, field+".output")
			if err != nil {
				return err
			}
			appendTurn(out, "user", []anBlock{{Type: "tool_result", ToolUseID: toolID(*it.CallID), Content: content}})
		case "reasoning":
			// OpenAI's reasoning (encrypted, or its summary) is output of an earlier turn
			// that Anthropic cannot read back, as it ignores earlier thinking of its own.
			continue
		case "item_reference":
			return tr.refuse(field, "it refers to an item stored at OpenAI, which Anthropic cannot read")
		case "":
			if _, ok := rawMember(ir, "id"); ok {
				return tr.refuse(field, "it refers to an item stored at OpenAI, which Anthropic cannot read")
			}
			return bad(field+".type", "is required")
		default:
			return tr.refuse(field+".type", "Anthropic has no input item of type %q in this format", kind)
		}
		last = i
	}
	if last < 0 || len(out.Messages) == 0 {
		return bad("input", "must contain a message or a function call output")
	}
	lastField := fmt.Sprintf("input[%d]", last)
	switch n := out.Messages[len(out.Messages)-1]; {
	case n.Role != "assistant":
	case n.Content[len(n.Content)-1].Type == "tool_use":
		return bad(lastField, "a function call needs its function_call_output after it")
	default:
		return tr.refuse(lastField, "an input that ends with an assistant message would be continued by Anthropic (a prefill), not answered anew as OpenAI does")
	}
	return nil
}

// rawMember returns the member key of the object raw.
func rawMember(raw json.RawMessage, key string) (json.RawMessage, bool) {
	v, ok := wire.Get(raw, key)
	return v, ok
}

// rsMessage translates a message item by its role.
func (tr translator) rsMessage(out *anRequest, it rsItem, field string) error {
	switch it.Role {
	case "system", "developer":
		blocks, err := tr.rsParts(it.Content, field+".content", false)
		if err != nil {
			return err
		}
		out.System = append(out.System, blocks...)
	case "user":
		blocks, err := tr.rsParts(it.Content, field+".content", true)
		if err != nil {
			return err
		}
		if len(blocks) == 0 {
			return bad(field+".content", "must contain at least one part")
		}
		appendTurn(out, "user", blocks)
	case "assistant":
		blocks, err := tr.rsAssistant(it.Content, field+".content")
		if err != nil {
			return err
		}
		if len(blocks) > 0 {
			appendTurn(out, "assistant", blocks)
		}
	case "":
		return bad(field+".role", "is required")
	default:
		return bad(field+".role", "must be one of system, developer, user, assistant; got %q", it.Role)
	}
	return nil
}

// rsParts translates the content of a user, system or developer message: a string or
// input parts. Images and files are allowed where user is true.
func (tr translator) rsParts(raw json.RawMessage, field string, user bool) ([]anBlock, error) {
	if isNull(raw) {
		return nil, bad(field, "is required")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []anBlock{textBlock(s)}, nil
	}
	var parts []rsPart
	if err := decode(raw, &parts, field, "a string or an array of content parts"); err != nil {
		return nil, err
	}
	out := make([]anBlock, 0, len(parts))
	for j, p := range parts {
		pf := fmt.Sprintf("%s[%d]", field, j)
		if p.Type != "input_text" && p.Type != "output_text" && !user {
			if p.Type == "" {
				return nil, bad(pf+".type", "is required")
			}
			return nil, bad(pf, "a system or developer message may contain text parts only")
		}
		b, err := tr.rsPart(p, pf)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// rsPart translates one input part: text, an image or a file.
func (tr translator) rsPart(p rsPart, pf string) (anBlock, error) {
	switch p.Type {
	case "input_text", "output_text":
		if p.Text == nil {
			return anBlock{}, bad(pf+".text", "is required for a text part")
		}
		return textBlock(*p.Text), nil
	case "input_image":
		switch {
		case p.ImageURL != nil && *p.ImageURL != "":
			return tr.image(*p.ImageURL, pf+".image_url")
		case p.FileID != nil && *p.FileID != "":
			return anBlock{}, tr.refuse(pf+".file_id", "an OpenAI file id means nothing to Anthropic")
		}
		return anBlock{}, bad(pf+".image_url", "is required for an input_image part without a file_id")
	case "input_file":
		switch {
		case p.FileID != nil && *p.FileID != "":
			return anBlock{}, tr.refuse(pf+".file_id", "an OpenAI file id means nothing to Anthropic")
		case p.FileURL != nil && *p.FileURL != "":
			if !strings.HasPrefix(*p.FileURL, "https://") && !strings.HasPrefix(*p.FileURL, "http://") {
				return anBlock{}, bad(pf+".file_url", "must be an http(s) URL")
			}
			return anBlock{Type: "document", Title: p.Filename, Source: &anSource{Type: "url", URL: *p.FileURL}}, nil
		case p.FileData != nil:
			mt, data, ok := parseDataURL(*p.FileData)
			if !ok || mt != "application/pdf" {
				return anBlock{}, tr.refuse(pf+".file_data", "Anthropic takes a file only as a base64 PDF document (a data: URL)")
			}
			return anBlock{Type: "document", Title: p.Filename, Source: &anSource{Type: "base64", MediaType: mt, Data: data}}, nil
		}
		return anBlock{}, bad(pf, "an input_file part needs file_data, file_url or file_id")
	case "input_audio":
		return anBlock{}, tr.refuse(pf, "Anthropic takes no audio input")
	case "":
		return anBlock{}, bad(pf+".type", "is required")
	}
	return anBlock{}, tr.refuse(pf+".type", "Anthropic has no content of type %q", p.Type)
}

// rsAssistant translates an assistant message's content: text (output_text) and refusal
// parts, or a string.
func (tr translator) rsAssistant(raw json.RawMessage, field string) ([]anBlock, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, nil
		}
		return []anBlock{textBlock(s)}, nil
	}
	var parts []rsPart
	if err := decode(raw, &parts, field, "a string or an array of content parts"); err != nil {
		return nil, err
	}
	var out []anBlock
	for j, p := range parts {
		switch {
		case (p.Type == "output_text" || p.Type == "input_text") && p.Text != nil:
			if *p.Text != "" {
				out = append(out, textBlock(*p.Text))
			}
		case p.Type == "refusal" && p.Refusal != nil:
			out = append(out, textBlock(*p.Refusal))
		default:
			return nil, bad(fmt.Sprintf("%s[%d]", field, j), "an assistant message may contain output_text and refusal parts only")
		}
	}
	return out, nil
}

// rsOutput translates a function call's output: a string, or text, image and file parts,
// which an Anthropic tool_result carries as blocks.
func (tr translator) rsOutput(raw json.RawMessage, field string) (any, error) {
	if isNull(raw) {
		return nil, bad(field, "is required")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []rsPart
	if err := decode(raw, &parts, field, "a string or an array of content parts"); err != nil {
		return nil, err
	}
	out := make([]anBlock, 0, len(parts))
	for j, p := range parts {
		b, err := tr.rsPart(p, fmt.Sprintf("%s[%d]", field, j))
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
