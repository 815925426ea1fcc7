package anthropic

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/llm"
	"github.com/tollgate/tollgate/provider/internal/wire"
)

// apiError is the body of every Anthropic error:
// {"type":"error","error":{"type":"...","message":"..."},"request_id":"..."}.
type apiError struct {
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// spendLimit reports whether a message says that the account cannot pay, which no retry
// and no wait within the hour will fix.
func spendLimit(lower string) bool {
	for _, s := range []string{"credit balance is too low", "usage limit", "spend limit", "spending limit", "billing"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

// classify turns a non-2xx status and its body into a Kind, the provider's error type and
// message. A status of 0 classifies an error event received inside a 200 stream.
func classify(status int, body []byte) (llm.Kind, string, string) {
	var e apiError
	_ = json.Unmarshal(body, &e) // a non-JSON body (a proxy's page) is classified by status
	var typ, msg string
	if e.Error != nil {
		typ, msg = e.Error.Type, e.Error.Message
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
	case typ == "billing_error" || status == http.StatusPaymentRequired:
		return llm.KindQuotaExhausted, typ, msg
	case typ != "overloaded_error" && typ != "api_error" && status < 500 && spendLimit(lower):
		// Whatever the status (400, 403, or a 429 that only looks transient), an account
		// that cannot pay stays refused until a person acts.
		return llm.KindQuotaExhausted, typ, msg
	case strings.Contains(lower, "prompt is too long") || strings.Contains(lower, "exceed context limit") ||
		strings.Contains(lower, "context window"):
		return llm.KindContextLength, typ, msg
	}
	switch typ {
	case "overloaded_error":
		return llm.KindOverloaded, typ, msg
	case "rate_limit_error":
		return llm.KindRateLimited, typ, msg
	case "request_too_large":
		return llm.KindTooLarge, typ, msg
	case "timeout_error":
		return llm.KindTimeout, typ, msg
	case "authentication_error", "permission_error":
		return llm.KindAuth, typ, msg
	case "invalid_request_error", "not_found_error":
		return llm.KindBadRequest, typ, msg
	case "api_error":
		if status == 0 || status >= 500 {
			return llm.KindServer, typ, msg
		}
	}
	if status == 0 {
		return llm.KindServer, typ, msg
	}
	return wire.StatusKind(status), typ, msg
}
