package emulator

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// choiceKind is how a request lets the model use its tools.
type choiceKind uint8

const (
	choiceAuto     choiceKind = iota // the model decides: a seeded draw between text and calls
	choiceNone                       // never a call
	choiceRequired                   // always a call (OpenAI "required", Anthropic "any")
	choiceNamed                      // always a call to the named tool
)

type toolChoice struct {
	kind       choiceKind
	name       string
	noParallel bool // Anthropic disable_parallel_tool_use
}

// parseOpenAIToolChoice reads "none", "auto", "required" or
// {"type":"function","function":{"name":...}}.
func parseOpenAIToolChoice(raw json.RawMessage) (toolChoice, error) {
	if raw[0] == '"' {
		return openAIChoiceMode(raw)
	}
	var c struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.Type != "function" || c.Function.Name == "" {
		return toolChoice{}, &parseError{param: "tool_choice", msg: "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or an object naming a function."}
	}
	return toolChoice{kind: choiceNamed, name: c.Function.Name}, nil
}

// openAIChoiceMode reads a tool choice given as a string, in either OpenAI API.
func openAIChoiceMode(raw json.RawMessage) (toolChoice, error) {
	var s string
	_ = json.Unmarshal(raw, &s)
	switch s {
	case "auto":
		return toolChoice{kind: choiceAuto}, nil
	case "none":
		return toolChoice{kind: choiceNone}, nil
	case "required":
		return toolChoice{kind: choiceRequired}, nil
	}
	return toolChoice{}, &parseError{param: "tool_choice", code: "invalid_value",
		msg: "Invalid value: '" + s + "'. Supported values are: 'none', 'auto', and 'required'."}
}

// parseAnthropicToolChoice reads {"type":"auto"|"any"|"tool"|"none", "name":...,
// "disable_parallel_tool_use":...}.
func parseAnthropicToolChoice(raw json.RawMessage) (toolChoice, error) {
	var c struct {
		Type                   string `json:"type"`
		Name                   string `json:"name"`
		DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return toolChoice{}, &parseError{msg: "tool_choice: Input should be a valid dictionary or object to extract fields from"}
	}
	t := toolChoice{noParallel: c.DisableParallelToolUse}
	switch c.Type {
	case "auto":
		t.kind = choiceAuto
	case "any":
		t.kind = choiceRequired
	case "none":
		t.kind = choiceNone
	case "tool":
		if c.Name == "" {
			return toolChoice{}, &parseError{msg: "tool_choice.tool.name: Field required"}
		}
		t.kind, t.name = choiceNamed, c.Name
	default:
		return toolChoice{}, &parseError{msg: "tool_choice: Input tag '" + c.Type + "' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"}
	}
	return t, nil
}

// toolCall is one generated call.
type toolCall struct {
	id     string
	name   string
	args   string // the arguments' JSON text, compact
	tokens int    // output tokens: the name's and the arguments'
}

// maxParallelCalls bounds how many calls one answer makes when parallel calls are allowed.
const maxParallelCalls = 3

// planCalls draws the calls of one answer: one, or when parallel calls are allowed and the
// tool is not named, one to three distinct tools in a random order.
func (c *call) planCalls(idPrefix string, idLen int) []toolCall {
	req := &c.req
	if req.choice.kind == choiceNamed {
		return []toolCall{c.makeCall(idPrefix, idLen, req.choice.name, c.schemaOf(req.choice.name))}
	}
	k := 1
	if req.parallel && len(req.tools) > 1 {
		k = 1 + c.rng.intn(min(maxParallelCalls, len(req.tools)))
	}
	order := make([]int, len(req.tools))
	for i := range order {
		order[i] = i
	}
	calls := make([]toolCall, 0, k)
	for i := range k {
		j := i + c.rng.intn(len(order)-i)
		order[i], order[j] = order[j], order[i]
		t := &req.tools[order[i]]
		calls = append(calls, c.makeCall(idPrefix, idLen, t.name, t.schema))
	}
	return calls
}

func (c *call) schemaOf(name string) json.RawMessage {
	for i := range c.req.tools {
		if c.req.tools[i].name == name {
			return c.req.tools[i].schema
		}
	}
	return nil
}

func (c *call) makeCall(idPrefix string, idLen int, name string, schema json.RawMessage) toolCall {
	id := c.rng.appendID(append(make([]byte, 0, len(idPrefix)+idLen), idPrefix...), idLen)
	g := argGen{c: c}
	args := g.value(nil, schema, 0)
	if len(args) == 0 || args[0] != '{' {
		args = []byte("{}") // arguments are always an object
	}
	return toolCall{id: string(id), name: name, args: string(args),
		tokens: CountTokens(name) + CountTokens(string(args))}
}

// argGen writes a JSON value that a JSON schema accepts, from the request's generator: the
// arguments a model would produce for a tool. It understands the parts of JSON Schema that
// tool definitions use (type, properties in their order, required, enum, const, items,
// anyOf/oneOf, minimum/maximum, minItems/maxItems, format); an unknown schema gives a string.
type argGen struct{ c *call }

type schemaDoc struct {
	Type       json.RawMessage   `json:"type"`
	Enum       []json.RawMessage `json:"enum"`
	Const      json.RawMessage   `json:"const"`
	Properties json.RawMessage   `json:"properties"`
	Required   []string          `json:"required"`
	Items      json.RawMessage   `json:"items"`
	AnyOf      []json.RawMessage `json:"anyOf"`
	OneOf      []json.RawMessage `json:"oneOf"`
	Minimum    *float64          `json:"minimum"`
	Maximum    *float64          `json:"maximum"`
	MinItems   *int              `json:"minItems"`
	MaxItems   *int              `json:"maxItems"`
	Format     string            `json:"format"`
}

const maxSchemaDepth = 6

func (g *argGen) value(b []byte, raw json.RawMessage, depth int) []byte {
	var s schemaDoc
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || depth > maxSchemaDepth {
		return g.words(b)
	}
	switch {
	case len(s.Const) > 0:
		return appendCompact(b, s.Const)
	case len(s.Enum) > 0:
		return appendCompact(b, s.Enum[g.c.rng.intn(len(s.Enum))])
	case len(s.AnyOf) > 0:
		return g.value(b, s.AnyOf[g.c.rng.intn(len(s.AnyOf))], depth+1)
	case len(s.OneOf) > 0:
		return g.value(b, s.OneOf[g.c.rng.intn(len(s.OneOf))], depth+1)
	}
	typ := schemaType(s.Type)
	if typ == "" && len(s.Properties) > 0 {
		typ = "object"
	}
	switch typ {
	case "object":
		return g.object(b, &s, depth)
	case "array":
		lo, hi := 1, 3
		if s.MinItems != nil {
			lo = max(*s.MinItems, 0)
			hi = lo + 2
		}
		if s.MaxItems != nil && *s.MaxItems < hi {
			hi = max(*s.MaxItems, lo)
		}
		n := lo + g.c.rng.intn(hi-lo+1)
		b = append(b, '[')
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			b = g.value(b, s.Items, depth+1)
		}
		return append(b, ']')
	case "integer", "number":
		lo, hi := 0.0, 100.0
		if s.Minimum != nil {
			lo = *s.Minimum
		}
		if s.Maximum != nil && *s.Maximum >= lo {
			hi = *s.Maximum
		} else if s.Minimum != nil {
			hi = lo + 100
		}
		// Bound the range so that a schema's extreme limits cannot overflow the arithmetic.
		lo, hi = max(min(lo, 1e9), -1e9), max(min(hi, 1e9), -1e9)
		v := int64(lo) + int64(g.c.rng.intn(int(hi-lo)+1))
		return strconv.AppendInt(b, v, 10)
	case "boolean":
		return strconv.AppendBool(b, g.c.rng.intn(2) == 1)
	case "null":
		return append(b, "null"...)
	}
	switch s.Format {
	case "date-time":
		return appendString(b, g.c.now.UTC().Format("2006-01-02T15:04:05Z"))
	case "date":
		return appendString(b, g.c.now.UTC().Format("2006-01-02"))
	case "email":
		return append(b, `"agent@example.com"`...)
	case "uri", "url":
		return append(b, `"https://example.com/quota"`...)
	}
	return g.words(b)
}

// object writes the properties in the order the schema lists them: the required ones,
// and each optional one with probability 1/2.
func (g *argGen) object(b []byte, s *schemaDoc, depth int) []byte {
	b = append(b, '{')
	first := true
	forEachMember(s.Properties, func(name string, sub json.RawMessage) {
		required := false
		for _, r := range s.Required {
			required = required || r == name
		}
		if !required && g.c.rng.intn(2) == 0 {
			return
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, name)
		b = append(b, ':')
		b = g.value(b, sub, depth+1)
	})
	return append(b, '}')
}

// words writes a string of one to three words of the corpus.
func (g *argGen) words(b []byte) []byte {
	return appendString(b, g.c.text(1+g.c.rng.intn(3)))
}

// schemaType reads "type": a string, or an array whose first non-null entry counts.
func schemaType(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var ss []string
	_ = json.Unmarshal(raw, &ss)
	for _, t := range ss {
		if t != "null" {
			return t
		}
	}
	return ""
}

// forEachMember calls f for each member of a JSON object, in document order (a map would
// lose the order, and models answer in the schema's order).
func forEachMember(raw json.RawMessage, f func(name string, v json.RawMessage)) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return
		}
		name, _ := t.(string)
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return
		}
		f(name, v)
	}
}

func appendCompact(b []byte, raw json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return append(b, "null"...)
	}
	return append(b, buf.Bytes()...)
}

// fragments splits s after every k tokens, at token boundaries, so that the tokens of the
// pieces add up to those of s: how the arguments of a call are streamed.
func fragments(s string, k int) []string {
	var out []string
	for len(s) > 0 {
		i := cutTokens(s, k)
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}
