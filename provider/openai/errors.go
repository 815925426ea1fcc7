package openai

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// apiError is the body of every OpenAI error: {"error": {...}}.
type apiError struct {
	Error *struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Param   json.RawMessage `json:"param"`
		Code    json.RawMessage `json:"code"` // a string, a number or null
	} `json:"error"`
}

// classify turns a non-2xx status and its body into a Kind, the provider's code and message.
// A status of 0 classifies an error event received inside a 200 stream.
func classify(status int, body []byte) (llm.Kind, string, string) {
	var e apiError
	_ = json.Unmarshal(body, &e) // a non-JSON body (a proxy's HTML page) is classified by status
	var typ, code, msg string
	if e.Error != nil {
		typ, msg = e.Error.Type, e.Error.Message
		code = typ
		var s string
		if json.Unmarshal(e.Error.Code, &s) == nil && s != "" {
			code = s
		}
	} else if status != 0 {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	lower := strings.ToLower(msg)
	switch {
	case code == "insufficient_quota" || typ == "insufficient_quota":
		return llm.KindQuotaExhausted, code, msg
	case code == "context_length_exceeded" || code == "string_above_max_length" && strings.Contains(lower, "context"):
		return llm.KindContextLength, code, msg
	case strings.Contains(lower, "request too large"):
		// A request bigger than the whole per-minute limit will never pass at this model.
		return llm.KindTooLarge, code, msg
	}
	if status == 0 {
		switch {
		case code == "rate_limit_exceeded" || typ == "requests" || typ == "tokens":
			return llm.KindRateLimited, code, msg
		case strings.Contains(lower, "overload") || code == "engine_overloaded":
			return llm.KindOverloaded, code, msg
		case code == "invalid_request_error" || typ == "invalid_request_error":
			return llm.KindBadRequest, code, msg
		}
		return llm.KindServer, code, msg
	}
	kind := wire.StatusKind(status)
	if kind == llm.KindServer && strings.Contains(lower, "overload") {
		kind = llm.KindOverloaded
	}
	return kind, code, msg
}
