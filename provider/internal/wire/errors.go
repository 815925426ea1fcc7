package wire

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tollgate/tollgate/llm"
)

// APIError is an upstream's error body in the fields that every server behind tollgate
// uses some of: OpenAI and Azure {"error":{"message","type","param","code"}}, Anthropic
// {"type":"error","error":{"type","message"}}, vLLM and SGLang {"object":"error","message",
// "type","param","code":400}, llama.cpp {"error":{"code":400,"message","type"}}, Ollama's
// and LM Studio's {"error":"text"}, OpenRouter {"error":{"message","code":400}}.
type APIError struct {
	Message string
	Type    string
	Param   string
	// Code is the error code as text: a string code as sent, a numeric one (vLLM, llama.cpp,
	// OpenRouter send the HTTP status) in decimal, "" for null or none.
	Code string
}

// ID returns the most specific identifier of the error for llm.Error.Code: a string code
// ("context_length_exceeded"), else the type ("invalid_request_error",
// "exceed_context_size_error"), else a numeric code.
func (e APIError) ID() string {
	if e.Code != "" && !isNumber(e.Code) {
		return e.Code
	}
	if e.Type != "" {
		return e.Type
	}
	return e.Code
}

// maxPlainMessage bounds the message taken from a body that is not a JSON error (a proxy's
// HTML page), so that a whole page does not end up in a log line.
const maxPlainMessage = 200

// ParseError reads an error body, of any of the shapes APIError lists, with every field
// redacted of secret (the upstream credential, which some servers echo in any field). A
// body that is no JSON error gives its text, trimmed to 200 bytes, as the message; an
// empty one the status text (status 0, an error event inside a stream, gives none).
func ParseError(status int, body []byte, secret string) APIError {
	var e APIError
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) == nil {
		if raw, ok := top["error"]; ok && !isNull(raw) {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				// Ollama, LM Studio, xAI: the message is the "error" string, any code is
				// beside it.
				e = fields(body)
				e.Message = s
			} else {
				e = fields(raw)
			}
		}
		if e.Message == "" && e.Type == "" && e.Code == "" {
			// vLLM, SGLang and some proxies put the fields at the top level; Anthropic's
			// top-level "type" is always "error" and says nothing.
			t := fields(body)
			if t.Type == "error" {
				t.Type = ""
			}
			e = t
		}
	}
	if e == (APIError{}) && status != 0 {
		msg := strings.TrimSpace(Redact(string(body), secret))
		if len(msg) > maxPlainMessage {
			cut := maxPlainMessage
			for cut > 0 && !utf8.RuneStart(msg[cut]) {
				cut--
			}
			msg = msg[:cut]
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		return APIError{Message: msg}
	}
	e.Message = Redact(e.Message, secret)
	e.Type = Redact(e.Type, secret)
	e.Param = Redact(e.Param, secret)
	e.Code = Redact(e.Code, secret)
	return e
}

// fields reads message, type, param and code from a JSON object, each a string, a number
// or null.
func fields(obj []byte) APIError {
	var f struct {
		Message, Type, Param, Code json.RawMessage
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return APIError{}
	}
	f.Message, f.Type, f.Param, f.Code = m["message"], m["type"], m["param"], m["code"]
	return APIError{Message: scalar(f.Message), Type: scalar(f.Type), Param: scalar(f.Param), Code: scalar(f.Code)}
}

// scalar returns a JSON string's value or a number's text; "" for anything else.
func scalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return string(raw)
	}
	return ""
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// contextCodes are error codes and types that say the prompt does not fit the model.
var contextCodes = map[string]bool{
	"context_length_exceeded":          true, // OpenAI, Azure OpenAI, Groq
	"model_max_prompt_tokens_exceeded": true, // GitHub Copilot
	"exceed_context_size_error":        true, // llama.cpp server
}

// contextPhrases are lower-case fragments of the messages that servers send when the
// prompt (or the prompt plus max_tokens) does not fit the model, for servers that give no
// code or a generic one (vLLM and DeepSeek answer 400 with code 400 or
// "invalid_request_error").
var contextPhrases = []string{
	"maximum context length",                // OpenAI, Azure, vLLM, DeepSeek, Mistral, Together, OpenRouter ("this endpoint's")
	"prompt is too long",                    // Anthropic; Fireworks ("the prompt is too long: N, model maximum context length: M")
	"exceed context limit",                  // Anthropic: input length and `max_tokens` exceed context limit
	"exceeds the model's context window",    // Anthropic (newer wording)
	"is longer than the model's context",    // SGLang: the input (N tokens) is longer than the model's context length
	"exceeds the available context size",    // llama.cpp server
	"input tokens exceed the configured",    // Azure OpenAI (newer wording)
	"`inputs` tokens + `max_new_tokens`",    // text-generation-inference, Hugging Face, Together (older)
	"prompt token count of",                 // GitHub Copilot: prompt token count of N exceeds the limit of M
	"maximum prompt length",                 // xAI: this model's maximum prompt length is N
	"does not fit in context",               // LM Studio: input does not fit in context length
	"is greater than the context length",    // LM Studio: the number of tokens to keep … is greater than the context length
	"when context the overflows",            // LM Studio (sic): trying to keep the first N tokens when context the overflows
	"context size has been exceeded",        // LM Studio, MLX engine
	"cannot truncate prompt with n_keep",    // LM Studio, llama.cpp engine
	"input length exceeds the context",      // Ollama
	"exceeds the maximum number of tokens",  // Gemini's OpenAI-compatible endpoint
	"input is too long for requested model", // Amazon Bedrock
	"reduce the length of the messages",     // Groq, older OpenAI wording
}

// IsContextLength reports whether an error says that the prompt does not fit the model's
// context window, by its code or type and by its message.
func IsContextLength(e APIError) bool {
	if contextCodes[e.Code] || contextCodes[e.Type] {
		return true
	}
	lower := strings.ToLower(e.Message)
	if e.Code == "string_above_max_length" {
		// OpenAI's per-field length check: about the context only when it says so (not a
		// "user" field over 64 characters).
		return strings.Contains(lower, "context")
	}
	for _, p := range contextPhrases {
		if strings.Contains(lower, p) {
			return true
		}
	}
	// Cerebras: "Please reduce the length of the messages or completion. Current length is
	// N while limit is M".
	return strings.Contains(lower, "current length is") && strings.Contains(lower, "while limit is")
}

// quotaCodes are codes and types of a refusal that no retry or short wait will lift: the
// account cannot pay or its hard limit is spent.
var quotaCodes = map[string]bool{
	"insufficient_quota": true, // OpenAI, Azure OpenAI
	"billing_error":      true, // Anthropic
	"quota_exceeded":     true, // GitHub Copilot (402)
}

// quotaPhrases are lower-case fragments of such refusals sent without a telling code.
var quotaPhrases = []string{
	"credit balance is too low", // Anthropic, 400 invalid_request_error
	"usage limit",               // Anthropic: you have reached your specified API usage limits
	"spend limit",               // Anthropic workspaces
	"spending limit",
	"insufficient balance", // DeepSeek, 402
	"insufficient credits", // OpenRouter, 402
	"exceeded your current quota, please check your plan", // OpenAI insufficient_quota wording
}

// IsQuota reports whether an error is a refusal that will not pass with time: an account
// out of credit or over its spend limit, whatever status carries it (400, 403, or a 429
// that only looks transient). A server error (5xx, overloaded_error, api_error) never is.
func IsQuota(status int, e APIError) bool {
	if quotaCodes[e.Code] || quotaCodes[e.Type] || status == http.StatusPaymentRequired {
		return true
	}
	if status >= 500 || e.Type == "overloaded_error" || e.Type == "api_error" {
		return false
	}
	lower := strings.ToLower(e.Message)
	for _, p := range quotaPhrases {
		if strings.Contains(lower, p) {
			return true
		}
	}
	return false
}

// typeKinds classifies an error by its type or code where the status cannot: inside a
// stream (status 0), and for the few types that are more specific than their status.
var typeKinds = map[string]llm.Kind{
	"overloaded_error":      llm.KindOverloaded, // Anthropic
	"engine_overloaded":     llm.KindOverloaded,
	"rate_limit_error":      llm.KindRateLimited, // Anthropic
	"rate_limit_exceeded":   llm.KindRateLimited, // OpenAI
	"requests":              llm.KindRateLimited, // OpenAI's type for RPM limits
	"tokens":                llm.KindRateLimited, // OpenAI's type for TPM limits
	"rate_limited":          llm.KindRateLimited,
	"request_too_large":     llm.KindTooLarge, // Anthropic
	"timeout_error":         llm.KindTimeout,  // Anthropic
	"authentication_error":  llm.KindAuth,
	"permission_error":      llm.KindAuth,
	"invalid_api_key":       llm.KindAuth,
	"invalid_request_error": llm.KindBadRequest,
	"not_found_error":       llm.KindBadRequest,
	"BadRequestError":       llm.KindBadRequest, // vLLM, SGLang
	"api_error":             llm.KindServer,
	"server_error":          llm.KindServer,
	// The error codes of a failed Responses API answer (response.failed): a prompt or an
	// image the model refuses fails the same way again, a file search that timed out may
	// pass.
	"invalid_prompt":                 llm.KindBadRequest,
	"bio_policy":                     llm.KindBadRequest,
	"misalignment_policy_violation":  llm.KindBadRequest,
	"data_residency_mismatch":        llm.KindBadRequest,
	"invalid_image":                  llm.KindBadRequest,
	"invalid_image_format":           llm.KindBadRequest,
	"invalid_base64_image":           llm.KindBadRequest,
	"invalid_image_url":              llm.KindBadRequest,
	"image_too_large":                llm.KindBadRequest,
	"image_too_small":                llm.KindBadRequest,
	"image_parse_error":              llm.KindBadRequest,
	"image_content_policy_violation": llm.KindBadRequest,
	"invalid_image_mode":             llm.KindBadRequest,
	"image_file_too_large":           llm.KindBadRequest,
	"unsupported_image_media_type":   llm.KindBadRequest,
	"empty_image_file":               llm.KindBadRequest,
	"failed_to_download_image":       llm.KindBadRequest,
	"image_file_not_found":           llm.KindBadRequest,
	"vector_store_timeout":           llm.KindTimeout,
}

// Classify returns the Kind of an upstream error from its HTTP status (0 for an error
// event inside a 200 stream) and its parsed body. In order: a quota refusal, a prompt that
// does not fit, a request larger than the whole per-minute limit ("Request too large for
// gpt-4o … on tokens per min"), then the status, refined by the body where the status is
// vague (a 5xx that says it is overloaded or a timeout); inside a stream, the type or code,
// else a server error.
func Classify(status int, e APIError) llm.Kind {
	switch {
	case IsQuota(status, e):
		return llm.KindQuotaExhausted
	case IsContextLength(e):
		return llm.KindContextLength
	case strings.Contains(strings.ToLower(e.Message), "request too large"):
		// A request bigger than the whole per-minute limit will never pass at this model.
		return llm.KindTooLarge
	}
	overloaded := strings.Contains(strings.ToLower(e.Message), "overload")
	if status == 0 {
		if k, ok := typeKinds[e.Code]; ok {
			return k
		}
		if k, ok := typeKinds[e.Type]; ok {
			return k
		}
		if overloaded {
			return llm.KindOverloaded
		}
		return llm.KindServer
	}
	kind := StatusKind(status)
	if kind == llm.KindServer {
		switch k := typeKinds[e.Type]; {
		case k == llm.KindOverloaded || k == llm.KindTimeout:
			return k
		case overloaded:
			return llm.KindOverloaded
		}
	}
	return kind
}

// UpstreamError builds the *llm.Error for an upstream's error status (0 for an error event
// inside a stream) and body: classified by Classify, with the body's code (or type) and
// message, none of which can carry secret.
func UpstreamError(provider string, status int, body []byte, secret string) *llm.Error {
	e := ParseError(status, body, secret)
	return &llm.Error{Kind: Classify(status, e), Provider: provider, Status: status, Code: e.ID(), Message: e.Message}
}
