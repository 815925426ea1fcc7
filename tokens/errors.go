package tokens

import "errors"

// ErrInvalidBody is what OpenAIChat and AnthropicMessages return, wrapped with the detail,
// when a request body is not JSON or a known field has the wrong shape.
var ErrInvalidBody = errors.New("tokens: invalid request body")
