package wire

import (
	"strings"
	"testing"

	"github.com/tollgate/tollgate/llm"
)

// TestClassify runs the error bodies that the servers users put behind tollgate send, in
// their real shapes with our own values, through the one classifier both providers use.
func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		kind   llm.Kind
		code   string
	}{
		// Context length, by code.
		{"openai context_length_exceeded", 400,
			`{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			llm.KindContextLength, "context_length_exceeded"},
		{"azure context_length_exceeded", 400,
			`{"error":{"message":"This model's maximum context length is 8192 tokens. However, you requested 9350 tokens (1350 in the messages, 8000 in the completion). Please reduce the length of the messages or completion.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			llm.KindContextLength, "context_length_exceeded"},
		{"groq, code only", 400,
			`{"error":{"message":"Please reduce the length of the messages or completion.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			llm.KindContextLength, "context_length_exceeded"},
		{"github copilot", 400, `{"error":{"message":"prompt token count of 140211 exceeds the limit of 128000","code":"model_max_prompt_tokens_exceeded"}}`,
			llm.KindContextLength, "model_max_prompt_tokens_exceeded"},
		{"github copilot, empty code", 400, `{"error":{"message":"prompt token count of 66012 exceeds the limit of 64000","param":"","code":"","type":""}}`,
			llm.KindContextLength, ""},
		{"llama.cpp numeric code", 400,
			`{"error":{"code":400,"message":"request (9120 tokens) exceeds the available context size (8192 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9120,"n_ctx":8192}}`,
			llm.KindContextLength, "exceed_context_size_error"},

		// Context length, by message, with a numeric, generic or null code.
		{"vllm", 400,
			`{"object":"error","message":"This model's maximum context length is 32768 tokens. However, you requested 33077 tokens (29077 in the messages, 4000 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}`,
			llm.KindContextLength, "BadRequestError"},
		{"sglang", 400, `{"object":"error","message":"The input (50311 tokens) is longer than the model's context length (40960 tokens).","type":"BadRequestError","param":null,"code":400}`,
			llm.KindContextLength, "BadRequestError"},
		{"deepseek", 400,
			`{"error":{"message":"This model's maximum context length is 131072 tokens. However, you requested 135000 tokens (126808 in the messages, 8192 in the completion). Please reduce the length of the messages or completion.","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}`,
			llm.KindContextLength, "invalid_request_error"},
		{"openrouter numeric code", 400,
			`{"error":{"message":"This endpoint's maximum context length is 200000 tokens. However, you requested about 204100 tokens (200100 of text input, 4000 in the output). Please reduce the length of either one, or use the \"middle-out\" transform to compress your prompt automatically.","code":400,"metadata":{"provider_name":null}},"user_id":"user_2abc"}`,
			llm.KindContextLength, "400"},
		{"fireworks", 400, `{"object":"error","type":"invalid_request_error","code":"invalid_request_error","message":"The prompt is too long: 263000, model maximum context length: 262141"}`,
			llm.KindContextLength, "invalid_request_error"},
		{"mistral", 400, `{"object":"error","message":"Prompt contains 140210 tokens and 0 draft tokens, too large for model with 131072 maximum context length","type":"invalid_request_error","param":null,"code":null}`,
			llm.KindContextLength, "invalid_request_error"},
		{"together, tgi wording", 422, "{\"error\":{\"message\":\"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. Given: 7000 `inputs` tokens and 2000 `max_new_tokens`\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}",
			llm.KindContextLength, "invalid_request_error"},
		{"cerebras", 400, `{"message":"Please reduce the length of the messages or completion. Current length is 42100 while limit is 40000","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}`,
			llm.KindContextLength, "context_length_exceeded"},
		{"azure newer wording", 400, `{"error":{"message":"Input tokens exceed the configured limit of 272000 tokens. Your messages resulted in 300512 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":null}}`,
			llm.KindContextLength, "invalid_request_error"},
		{"xai", 400, `{"code":"Client specified an invalid argument","error":"This model's maximum prompt length is 131072 but the request contains 140020 tokens."}`,
			llm.KindContextLength, "Client specified an invalid argument"},
		{"ollama native", 500, `{"error":"the input length exceeds the context length"}`, llm.KindContextLength, ""},
		{"lm studio stream event", 0, `{"error":{"message":"Input does not fit in context length. The input has 31430 tokens, but the context length only supports 30000 tokens."},"message":"Input does not fit in context length. The input has 31430 tokens, but the context length only supports 30000 tokens."}`,
			llm.KindContextLength, ""},
		{"lm studio n_keep", 400, `{"error":"The number of tokens to keep from the initial prompt is greater than the context length. Try to load the model with a larger context length, or provide a shorter input"}`,
			llm.KindContextLength, ""},
		{"lm studio llama.cpp engine", 400, `{"error":"Cannot truncate prompt with n_keep (15028) >= n_ctx (7424)"}`, llm.KindContextLength, ""},
		{"anthropic prompt too long", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"},"request_id":"req_011CTx9"}`,
			llm.KindContextLength, "invalid_request_error"},
		{"anthropic input and max_tokens", 400, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"input length and `max_tokens` exceed context limit: 180000 + 32000 > 200000, decrease input length or `max_tokens` and try again\"}}",
			llm.KindContextLength, "invalid_request_error"},
		{"anthropic in a stream", 0, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 201002 tokens > 200000 maximum"}}`,
			llm.KindContextLength, "invalid_request_error"},

		// Not context length, though close in wording.
		{"openai user field too long", 400, `{"error":{"message":"Invalid 'user': string too long. Expected a string with maximum length 64, but got a string with length 80 instead.","type":"invalid_request_error","param":"user","code":"string_above_max_length"}}`,
			llm.KindBadRequest, "string_above_max_length"},
		{"vllm bad max_tokens", 400, `{"object":"error","message":"max_tokens must be at least 1, got -186.","type":"BadRequestError","param":null,"code":400}`,
			llm.KindBadRequest, "BadRequestError"},
		{"openai max_tokens above the model's", 400, `{"error":{"message":"max_tokens is too large: 100000. This model supports at most 16384 completion tokens, whereas you provided 100000.","type":"invalid_request_error","param":"max_tokens","code":"invalid_value"}}`,
			llm.KindBadRequest, "invalid_value"},

		// Quota and spend limits: final whatever the status.
		{"openai insufficient_quota", 429, `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			llm.KindQuotaExhausted, "insufficient_quota"},
		{"openai insufficient_quota in a stream", 0, `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			llm.KindQuotaExhausted, "insufficient_quota"},
		{"anthropic credit balance", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."},"request_id":"req_011CZD3"}`,
			llm.KindQuotaExhausted, "invalid_request_error"},
		{"anthropic usage limit as 429", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC."}}`,
			llm.KindQuotaExhausted, "rate_limit_error"},
		{"anthropic billing_error", 402, `{"type":"error","error":{"type":"billing_error","message":"Payment required."}}`, llm.KindQuotaExhausted, "billing_error"},
		{"deepseek insufficient balance", 402, `{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}`,
			llm.KindQuotaExhausted, "invalid_request_error"},
		{"openrouter credits", 402, `{"error":{"message":"Insufficient credits. Add more using https://openrouter.ai/settings/credits","code":402}}`,
			llm.KindQuotaExhausted, "402"},
		{"copilot quota", 402, `{"error":{"message":"You have exceeded your premium request allowance.","code":"quota_exceeded"}}`,
			llm.KindQuotaExhausted, "quota_exceeded"},

		// Rate limits and overload.
		{"openai request too large", 429, `{"error":{"message":"Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 45120. The input or output tokens must be reduced in order to run successfully.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			llm.KindTooLarge, "rate_limit_exceeded"},
		{"openai rpm", 429, `{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			llm.KindRateLimited, "rate_limit_exceeded"},
		{"azure numeric-string code", 429, `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds."}}`,
			llm.KindRateLimited, "429"},
		{"groq rate limit", 429, `{"error":{"message":"Rate limit reached for model llama-3.3-70b-versatile on tokens per minute (TPM): Limit 6000, Used 5800, Requested 900. Please try again in 7s.","type":"tokens","code":"rate_limit_exceeded"}}`,
			llm.KindRateLimited, "rate_limit_exceeded"},
		{"mistral capacity", 429, `{"object":"error","message":"Service tier capacity exceeded for this model.","type":"invalid_request_error","param":null,"code":"3505"}`,
			llm.KindRateLimited, "invalid_request_error"},
		{"openai rate limit in a stream", 0, `{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			llm.KindRateLimited, "rate_limit_exceeded"},
		{"anthropic overloaded", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHo"}`,
			llm.KindOverloaded, "overloaded_error"},
		{"anthropic overloaded in a stream", 0, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, llm.KindOverloaded, "overloaded_error"},
		{"openai engine overloaded 500", 500, `{"error":{"message":"The engine is currently overloaded, please try again later.","type":"server_error","param":null,"code":null}}`,
			llm.KindOverloaded, "server_error"},
		{"anthropic timeout at 504", 504, `{"type":"error","error":{"type":"timeout_error","message":"Request timeout"}}`, llm.KindTimeout, "timeout_error"},
		{"anthropic api_error in a stream", 0, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, llm.KindServer, "api_error"},

		// The status alone.
		{"proxy html", 502, `<html><body><h1>502 Bad Gateway</h1></body></html>`, llm.KindServer, ""},
		{"empty 503", 503, ``, llm.KindOverloaded, ""},
		{"bad key", 401, `{"error":{"message":"Incorrect API key provided: sk-test-****6789.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			llm.KindAuth, "invalid_api_key"},
		{"not an object", 400, `["nope"]`, llm.KindBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := UpstreamError("up", tt.status, []byte(tt.body), "sk-secret")
			if e.Kind != tt.kind || e.Code != tt.code || e.Status != tt.status || e.Provider != "up" {
				t.Errorf("UpstreamError(%d, %s) = {%v %q %d}, want {%v %q %d}", tt.status, tt.body, e.Kind, e.Code, e.Status, tt.kind, tt.code, tt.status)
			}
			if tt.status != 0 && e.Message == "" {
				t.Errorf("UpstreamError(%d, %s) has no message", tt.status, tt.body)
			}
		})
	}
}

// TestParseErrorRedacts makes the upstream echo the key in every field, as a misbehaving
// proxy does, and in a plain-text body cut at 200 bytes right through the key.
func TestParseErrorRedacts(t *testing.T) {
	t.Parallel()
	const key = "sk-proj-ECHOED0123456789"
	bodies := []string{
		`{"error":{"message":"bad key ` + key + `","type":"` + key + `","param":"` + key + `","code":"` + key + `"}}`,
		`{"type":"error","error":{"type":"auth ` + key + `","message":"invalid x-api-key ` + key + `"}}`,
		`{"object":"error","message":"` + key + `","type":"` + key + `","param":"` + key + `","code":400}`,
		`{"error":"no such key: ` + key + `"}`,
		strings.Repeat("x", 190) + key + " trailing text",
	}
	for _, body := range bodies {
		for _, status := range []int{0, 401} {
			e := ParseError(status, []byte(body), key)
			for _, f := range []string{e.Message, e.Type, e.Param, e.Code, e.ID()} {
				if strings.Contains(f, key) || strings.Contains(f, key[:12]) {
					t.Errorf("ParseError(%d, %s) = %+v, a field carries the key", status, body, e)
				}
			}
			le := UpstreamError("openai", status, []byte(body), key)
			if strings.Contains(le.Error(), key[:12]) {
				t.Errorf("UpstreamError(%d, %s).Error() = %q carries the key", status, body, le.Error())
			}
		}
	}
}

func FuzzParseError(f *testing.F) {
	for _, s := range []string{`{"error":{"message":"m","type":"t","param":"p","code":400}}`, `{"error":"s"}`,
		`{"object":"error","message":"m","code":null}`, `<html>`, ``, `{"error":null,"message":"x"}`} {
		f.Add(s, "sk-key-0123")
	}
	f.Fuzz(func(t *testing.T, body, key string) {
		// A credential is long and has no spaces; a short key can occur in tollgate's own
		// status text ("Bad Request"), which no upstream sent.
		checkKey := len(key) >= 8 && !strings.ContainsAny(key, " \t\n")
		for _, status := range []int{0, 400, 529} {
			e := ParseError(status, []byte(body), key)
			if !checkKey {
				_ = Classify(status, e)
				continue
			}
			for _, v := range []string{e.Message, e.Type, e.Param, e.Code} {
				if strings.Contains(v, key) && !strings.Contains("[redacted]", key) {
					t.Fatalf("ParseError(%d, %q, %q) = %+v carries the key", status, body, key, e)
				}
			}
			_ = Classify(status, e)
		}
	})
}
