package emulator

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Error bodies and headers as the providers document them:
// OpenAI: https://platform.openai.com/docs/guides/error-codes and .../guides/rate-limits
// ("x-ratelimit-limit-requests" ... "x-ratelimit-reset-tokens", durations like "6m0s");
// Anthropic: https://docs.anthropic.com/en/api/errors and .../api/rate-limits
// ({"type":"error","error":{"type","message"},"request_id"}, anthropic-ratelimit-* with
// RFC 3339 resets, retry-after in seconds).

func oaiErr(msg, typ string, param, code any) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": param, "code": code}}
}

func antErr(typ, msg string) map[string]any {
	return map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}}
}

func TestWireFormats(t *testing.T) {
	small := map[string]Model{
		"gpt-4o":            {ContextWindow: 40, MaxOutput: 30},
		"claude-sonnet-4-5": {ContextWindow: 40, MaxOutput: 30},
	}
	longPrompt := strings.Repeat("word ", 40)
	const absent = "<absent>"
	cases := []struct {
		name    string
		cfg     Config
		before  []tcall // requests made first, to use up a limit
		call    tcall
		status  int
		headers map[string]string // exact values; absent means the header must not be set
		body    map[string]any    // nil: a success, not checked here
	}{
		{name: "openai/ok headers", cfg: Config{Limits: Limits{RPM: 500, TPM: 30000}}, call: oai(oaiBody), status: 200,
			headers: map[string]string{"Content-Type": "application/json", "Openai-Organization": "org-emulator",
				"X-Ratelimit-Limit-Requests": "500", "X-Ratelimit-Remaining-Requests": "499", "X-Ratelimit-Reset-Requests": "120ms",
				"X-Ratelimit-Limit-Tokens": "30000", "X-Ratelimit-Remaining-Tokens": "29942", "X-Ratelimit-Reset-Tokens": "116ms",
				"Retry-After": absent}},
		{name: "openai/no limits no headers", call: oai(oaiBody), status: 200,
			headers: map[string]string{"X-Ratelimit-Limit-Requests": absent, "X-Ratelimit-Limit-Tokens": absent}},
		{name: "openai/missing key", call: oai(oaiBody).withKey("-"), status: 401,
			body: oaiErr("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.", "invalid_request_error", nil, nil)},
		{name: "openai/wrong key", cfg: Config{Keys: []string{"sk-right"}}, call: oai(oaiBody).withKey("sk-wrong-0123"), status: 401,
			body: oaiErr("Incorrect API key provided: sk-*****0123. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", nil, "invalid_api_key")},
		{name: "openai/right key", cfg: Config{Keys: []string{"sk-right"}}, call: oai(oaiBody).withKey("sk-right"), status: 200},
		{name: "openai/bad json", call: oai(`{"model":`), status: 400,
			body: oaiErr("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)", "invalid_request_error", nil, nil)},
		{name: "openai/bad content type", call: oai(`{"model":"gpt-4o","messages":[{"role":"user","content":5}]}`), status: 400,
			body: oaiErr("Invalid type for 'messages.content': expected a string or an array of content parts.", "invalid_request_error", "messages", nil)},
		{name: "openai/missing model", call: oai(`{"messages":[{"role":"user","content":"x"}]}`), status: 400,
			body: oaiErr("you must provide a model parameter", "invalid_request_error", "model", nil)},
		{name: "openai/unknown model", call: oai(`{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}`), status: 404,
			body: oaiErr("The model `gpt-9` does not exist or you do not have access to it.", "invalid_request_error", nil, "model_not_found")},
		{name: "openai/anthropic model", call: oai(`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}]}`), status: 404,
			body: oaiErr("The model `claude-sonnet-4-5` does not exist or you do not have access to it.", "invalid_request_error", nil, "model_not_found")},
		{name: "openai/max_tokens too large", cfg: Config{Models: small}, call: oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"max_tokens":31}`), status: 400,
			body: oaiErr("max_tokens is too large: 31. This model supports at most 30 completion tokens, whereas you provided 31.", "invalid_request_error", "max_tokens", "invalid_value")},
		{name: "openai/context length", cfg: Config{Models: small}, call: oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"` + longPrompt + `"}]}`), status: 400,
			body: oaiErr("This model's maximum context length is 40 tokens. However, your messages resulted in 46 tokens. Please reduce the length of the messages.", "invalid_request_error", "messages", "context_length_exceeded")},
		{name: "openai/context length with completion", cfg: Config{Models: small}, call: oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"a b c d e"}],"max_tokens":30}`), status: 400,
			body: oaiErr("This model's maximum context length is 40 tokens. However, you requested 41 tokens (11 in the messages, 30 in the completion). Please reduce the length of the messages or completion.", "invalid_request_error", "messages", "context_length_exceeded")},
		{name: "openai/rpm 429", cfg: Config{Limits: Limits{RPM: 1}}, before: []tcall{oai(oaiBody)}, call: oai(oaiBody), status: 429,
			headers: map[string]string{"X-Ratelimit-Limit-Requests": "1", "X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "1m0s",
				"Retry-After": "60", "Retry-After-Ms": "60000", "X-Ratelimit-Limit-Tokens": absent},
			body: oaiErr("Rate limit reached for gpt-4o in organization org-emulator on requests per min (RPM): Limit 1, Used 1, Requested 1. Please try again in 1m0s. Visit https://platform.openai.com/account/rate-limits to learn more.", "requests", nil, "rate_limit_exceeded")},
		{name: "openai/tpm 429", cfg: Config{Limits: Limits{TPM: 30000}, Organization: "org-acme"}, before: []tcall{oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"max_tokens":16000}`)}, call: oai(`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"max_tokens":14000}`), status: 429,
			headers: map[string]string{"X-Ratelimit-Limit-Tokens": "30000", "X-Ratelimit-Remaining-Tokens": "13993", "X-Ratelimit-Reset-Tokens": "32.014s",
				"Retry-After": "1", "Retry-After-Ms": "28", "X-Ratelimit-Limit-Requests": absent},
			body: oaiErr("Rate limit reached for gpt-4o in organization org-acme on tokens per min (TPM): Limit 30000, Used 16007, Requested 14007. Please try again in 28ms. Visit https://platform.openai.com/account/rate-limits to learn more.", "tokens", nil, "rate_limit_exceeded")},
		{name: "openai/insufficient quota", call: oai(oaiBody).with("X-Emulator-Fault", "quota"), status: 429,
			body: oaiErr("You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.", "insufficient_quota", nil, "insufficient_quota")},
		{name: "openai/500", call: oai(oaiBody).with("X-Emulator-Fault", "server_error"), status: 500,
			body: oaiErr("The server had an error while processing your request. Sorry about that!", "server_error", nil, nil)},
		{name: "openai/502", call: oai(oaiBody).with("X-Emulator-Fault", "bad_gateway"), status: 502,
			body: oaiErr("Bad gateway.", "server_error", nil, nil)},
		{name: "openai/503", call: oai(oaiBody).with("X-Emulator-Fault", "unavailable"), status: 503,
			body: oaiErr("The server is overloaded or not ready yet.", "server_error", nil, nil)},
		{name: "openai/overloaded", call: oai(oaiBody).with("X-Emulator-Fault", "overloaded"), status: 503,
			body: oaiErr("That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists.", "server_error", nil, nil)},

		{name: "anthropic/ok headers", cfg: Config{Limits: Limits{RPM: 50, ITPM: 30000, OTPM: 8000}}, call: ant(antBody), status: 200,
			headers: map[string]string{"Content-Type": "application/json", "Anthropic-Organization-Id": "org-emulator",
				"Anthropic-Ratelimit-Requests-Limit": "50", "Anthropic-Ratelimit-Requests-Remaining": "49", "Anthropic-Ratelimit-Requests-Reset": "2026-11-27T12:00:02Z",
				"Anthropic-Ratelimit-Input-Tokens-Limit": "30000", "Anthropic-Ratelimit-Input-Tokens-Remaining": "30000", "Anthropic-Ratelimit-Input-Tokens-Reset": "2026-11-27T12:00:01Z",
				"Anthropic-Ratelimit-Output-Tokens-Limit": "8000", "Anthropic-Ratelimit-Output-Tokens-Remaining": "8000", "Anthropic-Ratelimit-Output-Tokens-Reset": "2026-11-27T12:00:01Z",
				"Anthropic-Ratelimit-Tokens-Limit": "38000", "Anthropic-Ratelimit-Tokens-Remaining": "38000", "Anthropic-Ratelimit-Tokens-Reset": "2026-11-27T12:00:01Z",
				"Retry-After": absent}},
		// Token counts remaining are rounded to the nearest thousand; the -tokens- headers
		// are the sum of input and output, reset when both are full.
		{name: "anthropic/rounded token headers", cfg: Config{Limits: Limits{ITPM: 30000, OTPM: 8000}},
			call: ant(`{"model":"claude-sonnet-4-5","max_tokens":2600,"messages":[{"role":"user","content":"hello there"}]}`), status: 200,
			headers: map[string]string{"Anthropic-Ratelimit-Requests-Limit": absent,
				"Anthropic-Ratelimit-Input-Tokens-Remaining": "30000", "Anthropic-Ratelimit-Output-Tokens-Remaining": "5000",
				"Anthropic-Ratelimit-Output-Tokens-Reset": "2026-11-27T12:00:20Z",
				"Anthropic-Ratelimit-Tokens-Limit":        "38000", "Anthropic-Ratelimit-Tokens-Remaining": "35000", "Anthropic-Ratelimit-Tokens-Reset": "2026-11-27T12:00:20Z"}},
		{name: "anthropic/missing key", call: ant(antBody).withKey("-"), status: 401, body: antErr("authentication_error", "x-api-key header is required")},
		{name: "anthropic/wrong key", cfg: Config{Keys: []string{"sk-ant-right"}}, call: ant(antBody).withKey("sk-ant-wrong"), status: 401, body: antErr("authentication_error", "invalid x-api-key")},
		{name: "anthropic/missing version", call: ant(antBody).with("Anthropic-Version", ""), status: 400, body: antErr("invalid_request_error", "anthropic-version: header is required")},
		{name: "anthropic/missing max_tokens", call: ant(`{"model":"claude-sonnet-4-5","messages":[]}`), status: 400, body: antErr("invalid_request_error", "max_tokens: Field required")},
		{name: "anthropic/bad content type", call: ant(`{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":{}}]}`), status: 400,
			body: antErr("invalid_request_error", "messages.content: Input should be a valid string or list of content blocks")},
		{name: "anthropic/unknown model", call: ant(`{"model":"claude-9","max_tokens":5,"messages":[]}`), status: 404, body: antErr("not_found_error", "model: claude-9")},
		{name: "anthropic/max_tokens too large", cfg: Config{Models: small}, call: ant(`{"model":"claude-sonnet-4-5","max_tokens":31,"messages":[]}`), status: 400,
			body: antErr("invalid_request_error", "max_tokens: 31 > 30, which is the maximum allowed number of output tokens for claude-sonnet-4-5")},
		{name: "anthropic/prompt too long", cfg: Config{Models: small}, call: ant(`{"model":"claude-sonnet-4-5","max_tokens":1,"messages":[{"role":"user","content":"` + longPrompt + `"}]}`), status: 400,
			body: antErr("invalid_request_error", "prompt is too long: 46 tokens > 40 maximum")},
		{name: "anthropic/rpm 429", cfg: Config{Limits: Limits{RPM: 50}}, before: repeat(ant(antBody), 50), call: ant(antBody), status: 429,
			headers: map[string]string{"Anthropic-Ratelimit-Requests-Limit": "50", "Anthropic-Ratelimit-Requests-Remaining": "0", "Anthropic-Ratelimit-Requests-Reset": "2026-11-27T12:01:00Z",
				"Retry-After": "2", "Anthropic-Ratelimit-Tokens-Limit": absent},
			body: antErr("rate_limit_error", "This request would exceed the rate limit for your organization (org-emulator) of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.")},
		{name: "anthropic/otpm 429", cfg: Config{Limits: Limits{OTPM: 10000}, Output: Output{MinTokens: 9990, MaxTokens: 9990}}, before: []tcall{ant(`{"model":"claude-sonnet-4-5","max_tokens":9990,"messages":[]}`)}, call: ant(antBody), status: 429,
			body: antErr("rate_limit_error", "This request would exceed the rate limit for your organization (org-emulator) of 10,000 output tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.")},
		{name: "anthropic/500", call: ant(antBody).with("X-Emulator-Fault", "server_error"), status: 500, body: antErr("api_error", "Internal server error")},
		{name: "anthropic/529", call: ant(antBody).with("X-Emulator-Fault", "overloaded"), status: 529, body: antErr("overloaded_error", "Overloaded")},
		{name: "anthropic/spend limit", call: ant(antBody).with("X-Emulator-Fault", "quota"), status: 400,
			body: antErr("invalid_request_error", "You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC.")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now = newClock().Now
			e := mustNew(t, tc.cfg)
			for _, b := range tc.before {
				if r := serve(e, b); r.status != 200 {
					t.Fatalf("setup request: %d %s", r.status, r.body)
				}
			}
			r := serve(e, tc.call)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tc.status, r.body)
			}
			for k, want := range tc.headers {
				got, ok := r.header[k]
				switch {
				case want == absent && ok:
					t.Errorf("header %s = %q, want absent", k, got)
				case want != absent && (!ok || got[0] != want):
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if tc.call.anthropic {
				if id := r.header.Get("Request-Id"); !strings.HasPrefix(id, "req_011C") {
					t.Errorf("Request-Id = %q, want req_011C…", id)
				}
			} else if id := r.header.Get("X-Request-Id"); !strings.HasPrefix(id, "req_") {
				t.Errorf("X-Request-Id = %q, want req_…", id)
			}
			if tc.body == nil {
				return
			}
			got := decode(t, r.body)
			if tc.call.anthropic {
				if got["request_id"] != r.header.Get("Request-Id") {
					t.Errorf("body request_id %v, want the Request-Id header %q", got["request_id"], r.header.Get("Request-Id"))
				}
				delete(got, "request_id")
			}
			if diff := cmp.Diff(tc.body, got); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func repeat(c tcall, n int) []tcall {
	out := make([]tcall, n)
	for i := range out {
		out[i] = c
	}
	return out
}
