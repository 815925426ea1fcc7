package emulator

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// dialect is the server behind an OpenAI-format model (Model.Dialect): OpenAI itself or an
// OpenAI-compatible server, each with its own status codes and error bodies. The bodies are
// pinned in testdata/dialects, with their sources.
type dialect uint8

const (
	dialectOpenAI dialect = iota
	dialectAzure
	dialectVLLM       // vLLM 0.11 and later: OpenAI's envelope, numeric code
	dialectVLLMLegacy // vLLM up to 0.10: a flat {"object":"error",...}
	dialectSGLang
	dialectOllama
	dialectLlamaCpp
	dialectLMStudio
	dialectGroq
	dialectDeepSeek
)

var dialectNames = map[string]dialect{"": dialectOpenAI, "openai": dialectOpenAI, "azure": dialectAzure,
	"vllm": dialectVLLM, "vllm-legacy": dialectVLLMLegacy, "sglang": dialectSGLang, "ollama": dialectOllama,
	"llamacpp": dialectLlamaCpp, "lmstudio": dialectLMStudio, "groq": dialectGroq, "deepseek": dialectDeepSeek}

func dialectList() string {
	var names []string
	for k := range dialectNames {
		if k != "" {
			names = append(names, strconv.Quote(k))
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// promptOnly reports whether the server refuses only a prompt that fills the window, and
// otherwise stops the answer when the window is full (finish "length"): llama.cpp's
// server, Ollama and LM Studio size the answer to the context they have.
func (d dialect) promptOnly() bool {
	return d == dialectLlamaCpp || d == dialectOllama || d == dialectLMStudio
}

// overflows reports whether a prompt of p tokens with an output cap of m (0: none) does
// not fit a window of w tokens, by the server's own rule.
func (d dialect) overflows(w, p, m int) bool {
	switch {
	case d.promptOnly():
		return p >= w
	case d == dialectSGLang:
		return p >= w || m > 0 && p+m >= w // "max_new_tokens + input_token_num >= context_len"
	case d == dialectVLLM || d == dialectVLLMLegacy:
		return p >= w || p+m > w // without max_tokens vLLM asks for the rest of the window
	}
	return p+m > w
}

// contextError renders the refusal of a prompt of p tokens with an output cap of m (0:
// none) that does not fit a window of w tokens: status and body.
func (d dialect) contextError(w, p, m int) (int, []byte) {
	switch d {
	case dialectVLLM:
		return 400, fmt.Appendf(nil, `{"error":{"message":%s,"type":"BadRequestError","param":"input_tokens","code":400}}`,
			quote(fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d output tokens and your prompt contains at least %d input tokens, for a total of at least %d tokens. Please reduce the length of the input prompt or the number of requested output tokens. (parameter=input_tokens, value=%d)", w, m, p, p+m, p)))
	case dialectVLLMLegacy:
		msg := fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.", w, p+m, p, m)
		if m == 0 {
			msg = fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens in the messages, Please reduce the length of the messages.", w, p)
		}
		return 400, fmt.Appendf(nil, `{"object":"error","message":%s,"type":"BadRequestError","param":null,"code":400}`, quote(msg))
	case dialectSGLang:
		msg := fmt.Sprintf("Requested token count exceeds the model's maximum context length of %d tokens. You requested a total of %d tokens: %d tokens from the input messages and %d tokens for the completion. Please reduce the number of tokens in the input messages or the completion to fit within the limit.", w, p+m, p, m)
		if p >= w {
			msg = fmt.Sprintf("The input (%d tokens) is longer than the model's context length (%d tokens).", p, w)
		}
		return 400, fmt.Appendf(nil, `{"object":"error","message":%s,"type":"BadRequestError","param":null,"code":400}`, quote(msg))
	case dialectOllama:
		return 400, []byte(`{"error":{"message":"the prompt is longer than the context length currently available to the model; shorten the prompt, adjust the context length in settings, or use a model with a longer context length","type":"invalid_request_error","param":null,"code":null}}` + "\n")
	case dialectLlamaCpp:
		return 400, fmt.Appendf(nil, `{"error":{"code":400,"message":"request (%d tokens) exceeds the available context size (%d tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":%d,"n_ctx":%d}}`, p, w, p, w)
	case dialectLMStudio:
		return 400, fmt.Appendf(nil, `{"error":"Trying to keep the first %d tokens when context the overflows. However, the model is loaded with context length of only %d tokens, which is not enough. Try to load the model with a larger context length, or provide a shorter input"}`, p, w)
	case dialectGroq:
		return 400, []byte(`{"error":{"message":"Please reduce the length of the messages or completion.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`)
	case dialectDeepSeek:
		return 400, fmt.Appendf(nil, `{"error":{"message":%s,"type":"invalid_request_error","param":null,"code":"invalid_request_error"}}`,
			quote(fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.", w, p+m, p, m)))
	}
	// OpenAI, and Azure OpenAI, which answers with OpenAI's body.
	msg := fmt.Sprintf("This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.", w, p)
	if m > 0 {
		msg = fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.", w, p+m, p, m)
	}
	return 400, appendOpenAIError(nil, &apiError{typ: "invalid_request_error", param: "messages", code: "context_length_exceeded", message: msg})
}

// rateLimitError renders a 429 (or Groq's 413 for a request larger than the limit) where
// the dialect's body differs from OpenAI's; ok is false for OpenAI's own.
func (d dialect) rateLimitError(c *call, limit int64) (status int, body []byte, ok bool) {
	dec := &c.dec
	what := "tokens per minute (TPM)"
	if dec.refused == limitRequests {
		what = "requests per minute (RPM)"
	}
	switch d {
	case dialectAzure:
		kind := "token"
		if dec.refused == limitRequests {
			kind = "call"
		}
		return 429, fmt.Appendf(nil, `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded %s rate limit of your current OpenAI S0 pricing tier. Please retry after %d seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}}`, kind, max(seconds(dec.retryAfter), 1)), true
	case dialectGroq:
		typ := "tokens"
		if dec.refused == limitRequests {
			typ = "requests"
		}
		if dec.tooLarge {
			return 413, fmt.Appendf(nil, `{"error":{"message":%s,"type":%q,"code":"rate_limit_exceeded"}}`,
				quote(fmt.Sprintf("Request too large for model `%s` in organization `%s` service tier `on_demand` on %s: Limit %d, Requested %d, please reduce your message size and try again. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing", c.m.id, c.e.org, what, limit, dec.requested)), typ), true
		}
		return 429, fmt.Appendf(nil, `{"error":{"message":%s,"type":%q,"code":"rate_limit_exceeded"}}`,
			quote(fmt.Sprintf("Rate limit reached for model `%s` in organization `%s` service tier `on_demand` on %s: Limit %d, Used %d, Requested %d. Please try again in %s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing", c.m.id, c.e.org, what, limit, dec.used, dec.requested, formatWait(dec.retryAfter))), typ), true
	}
	return 0, nil, false
}

// overloadedError renders an overload where the dialect's differs from OpenAI's 503: Azure
// answers 429 at peak load, Ollama 503 when its queue is full, llama.cpp's server 503
// while it loads the model. retryAfter is set on Azure's.
func (d dialect) overloadedError() (status int, body []byte, retryAfter string, ok bool) {
	switch d {
	case dialectAzure:
		return 429, []byte(`{"error":{"code":"429","message":"The system is currently experiencing high demand and cannot process your request. Your request exceeds the maximum usage size allowed during peak load. Please retry after 20 seconds. For improved latency reliability, consider switching to Provisioned Throughput."}}`), "20", true
	case dialectOllama:
		return 503, []byte(`{"error":{"message":"server busy, please try again.  maximum pending requests exceeded","type":"api_error","param":null,"code":null}}` + "\n"), "", true
	case dialectLlamaCpp:
		return 503, []byte(`{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}`), "", true
	}
	return 0, nil, "", false
}

func quote(s string) string { return string(appendString(nil, s)) }
