package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// wireRequest holds the fields of either request format that the emulator reads; all
// others are ignored, as the real APIs ignore most unknown fields.
type wireRequest struct {
	Model               string        `json:"model"`
	Messages            []wireMessage `json:"messages"`
	System              tokenCount    `json:"system"`
	MaxTokens           *int          `json:"max_tokens"`
	MaxCompletionTokens *int          `json:"max_completion_tokens"`
	Stream              bool          `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type wireMessage struct {
	Content tokenCount `json:"content"`
}

// tokenCount decodes a message content straight into its token count, so that parsing a
// request does not copy its text.
type tokenCount int

func (t *tokenCount) UnmarshalJSON(raw []byte) error {
	// Fast path: a string without escapes is counted in place.
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		*t = tokenCount(CountTokens(string(raw[1 : len(raw)-1])))
		return nil
	}
	n, err := contentTokens(raw)
	*t = tokenCount(n)
	return err
}

type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

var errBadContent = errors.New("content must be a string or an array of content parts")

// contentTokens counts the text of a message content: a string, an array of parts (only
// their text counts), or null.
func contentTokens(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		return CountTokens(s), nil
	case '[':
		var parts []contentPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return 0, err
		}
		n := 0
		for _, p := range parts {
			n += CountTokens(p.Text)
		}
		return n, nil
	}
	return 0, errBadContent
}

// parseError is a request the API would refuse with 400; param names the field.
type parseError struct {
	param string
	msg   string
}

func (e *parseError) Error() string { return e.msg }

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
	r := request{model: w.Model, stream: w.Stream, prompt: tokensPerPrompt}
	for _, m := range w.Messages {
		r.prompt += int(m.Content) + tokensPerMessage
	}
	mt := w.MaxCompletionTokens
	param := "max_completion_tokens"
	if mt == nil {
		mt, param = w.MaxTokens, "max_tokens"
	}
	if mt != nil {
		if *mt < 1 {
			return request{}, &parseError{param: param, msg: fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", param, *mt)}
		}
		r.maxTokens, r.hasMax = *mt, true
	}
	if w.StreamOptions != nil {
		if !w.Stream {
			return request{}, &parseError{param: "stream_options", msg: "The 'stream_options' parameter is only allowed when 'stream' is enabled."}
		}
		r.includeUsage = w.StreamOptions.IncludeUsage
	}
	return r, nil
}

// parseAnthropic parses a messages request body.
func parseAnthropic(body []byte) (request, error) {
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
	if w.MaxTokens == nil {
		return request{}, &parseError{msg: "max_tokens: Field required"}
	}
	if *w.MaxTokens < 1 {
		return request{}, &parseError{msg: "max_tokens: Input should be greater than or equal to 1"}
	}
	if w.Messages == nil {
		return request{}, &parseError{msg: "messages: Field required"}
	}
	r := request{model: w.Model, stream: w.Stream, maxTokens: *w.MaxTokens, hasMax: true, prompt: int(w.System) + tokensPerPrompt}
	for _, m := range w.Messages {
		r.prompt += int(m.Content) + tokensPerMessage
	}
	return r, nil
}

// isContentError reports whether a decoding error is about a message content's type.
func isContentError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.Is(err, errBadContent) || errors.As(err, &te) && te.Type == reflect.TypeFor[[]contentPart]()
}
