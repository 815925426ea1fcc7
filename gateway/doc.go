// Package gateway is tollgate's HTTP server: it speaks the OpenAI Chat Completions,
// Responses and embeddings, and Anthropic Messages wire formats, so
// that an agent points its official SDK's base URL at it and changes nothing else, and it
// runs every request through an engine.Engine.
//
// # Endpoints
//
//	POST /v1/chat/completions         OpenAI format (streaming or not)
//	POST /v1/responses                OpenAI's Responses API (streaming, with its typed
//	                                  events, or not); a Claude model serves it translated
//	POST /v1/embeddings               OpenAI embeddings, embedding models only
//	POST /v1/messages                 Anthropic format (streaming or not)
//	POST /v1/messages/count_tokens    Anthropic token counting: the route's Anthropic
//	                                  upstream, else the offline estimate (HeaderTokenCount)
//	GET  /v1/models                   the models and routes the key may use: OpenAI's list
//	                                  format, or Anthropic's with anthropic-version
//	GET  /v1/models/{id}              one of them; 404 model_not_found for any other id
//	GET  /healthz              200 while the process serves
//	GET  /readyz               200 when ready; 503 once shutdown began or a Config.Ready check fails
//	GET  /metrics              Prometheus metrics, only with Config.ServeMetrics
//
// /healthz, /readyz and /metrics need no key. The metrics name tenants and their spend:
// by default they are served by the admin listener (package admin), behind a token, and
// not here.
//
// # Identity
//
// The virtual key comes from "Authorization: Bearer <key>" (OpenAI SDKs) or "x-api-key"
// (Anthropic SDKs) and is looked up in Config.Keys (a *keys.Registry: the configuration's
// keys and those created at run time); a missing, unknown or revoked key is a 401 in the
// caller's format. The key gives the tenant. The session is X-Session-Id, else the OpenAI "user" field or the Anthropic
// metadata.user_id; the agent is X-Agent-Id. X-Priority (an integer; see queue.LevelOf)
// is capped at the key's MaxPriority: a request above it is served at the cap, not
// refused, and the answer says so in
//
//	X-Tollgate-Priority: 1; requested=3
//
// (just "X-Tollgate-Priority: 1" when X-Priority was within the allowance). The deadline is
// Config.RequestTimeout, shortened by X-Request-Timeout (seconds such as "30" or "2.5", or a
// Go duration such as "1m30s"), and the client going away cancels the request.
//
// # Answers
//
// The caller's body reaches an upstream of its own format intact but for the model and the
// token cap; an answer from another format (cross-provider fallback) or from the cache or a
// static step is re-encoded in the caller's format, streams included. Every answer carries:
//
//	X-Tollgate-Route            the request's model field: a route name or a model
//	X-Tollgate-Model            the model that served (as the upstream reports it), or "static"
//	X-Tollgate-Fallback-Reason  why the route's first step did not serve, when it did not
//	X-Tollgate-Cache            "hit" or "stale" when the answer came from the cache
//	X-Tollgate-Max-Tokens       the max_tokens the request ran with, when it was clamped to fit a budget
//
// and, when quota rules apply to it, the state of the caller's quotas after admission:
//
//	x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests
//	x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens
//	    OpenAI's headers, for the tightest request rate and the tightest token rate (reset
//	    is a Go duration until the rate is full again, as OpenAI sends it: "1.5s", "6m0s");
//	RateLimit-Policy: "rpm";q=60;w=60;qu="requests", "daily-usd";q=5000000;w=86400;qu="usd"
//	RateLimit: "rpm";r=59;t=1, "daily-usd";r=4200000;t=3600
//	    the IETF draft's headers, one item per rate and budget quota (q limit, w window
//	    seconds, qu unit, r remaining, t seconds until reset; usd amounts in micro-USD);
//	X-Tollgate-Budget-Remaining: 0.42 usd; quota="session-usd"; limit=1.00; reset=2026-11-28T00:00:00Z
//	    the budget with the smallest fraction left: the amount and unit (usd in dollars,
//	    exact to the micro-dollar; tokens and requests as integers), then ";"-separated
//	    parameters quota (a quoted string), limit and reset (RFC 3339, absent for lifetime
//	    budgets).
//
// Streams are relayed event by event as they arrive, flushed after each. The status waits
// for the first upstream event, so that an upstream that fails before it is still answered
// with an HTTP error; after it, a failure ends the stream with an error event in the
// caller's format (OpenAI: data: {"error":{...}}; Anthropic: event: error), never with a
// clean close. A client that goes away closes the upstream stream, and its reservation
// settles at what it cost.
//
// # Errors
//
// Errors are in the caller's format, with statuses the SDKs handle:
//
//	400  invalid_request_error  malformed JSON (with its offset), a missing or ill-typed field,
//	                            max_tokens above what the route's models produce, a bad header,
//	                            no session id on a key that requires one (Key.RequireSession),
//	                            a prompt larger than every model's context window (code
//	                            context_length_exceeded, found by tollgate before any call)
//	401  invalid_api_key / authentication_error
//	403  model_not_allowed / permission_error   the key may not use that model or route
//	404  model_not_found / not_found_error      unknown model or route (the message lists the available ones)
//	408  request_timeout / invalid_request_error  the body did not arrive within ReadTimeout
//	413  request_too_large                      body over Config.MaxBodyBytes
//	429  insufficient_quota (type and code) / billing_error, with x-should-retry: false
//	     (402 with Config.BudgetStatus)  a budget cannot pay for the request; the official SDKs
//	                            do not retry it, and neither do clients that recognise OpenAI's
//	                            code for a spent quota
//	429  requests, code rate_limit_exceeded / rate_limit_error, with Retry-After and retry-after-ms
//	                            a rate, the queue (full or wait timed out), or the upstream's rate limit
//	502  upstream failure (server error, cut connection) after the whole route was tried
//	503  upstream overloaded (Anthropic callers: 529 overloaded_error), every model of the
//	     route cooling down (code models_cooling_down), the gateway is shutting down, or its
//	     quota store is unreachable (with Retry-After)
//	504  the request's deadline passed
//
// A message says what was exceeded, its limit, the use and when it resets; a budget
// refusal also carries X-Tollgate-Budget-Remaining for the refusing budget. Every error
// carries X-Tollgate-Error-Source: "tollgate" for tollgate's own refusals (quotas, the
// queue, bad input, a route none of whose steps reached an upstream), "upstream" when the
// providers failed the whole route (both can be a 429 rate_limit_exceeded). When a step was
// refused by a budget and a later one failed transiently, the budget's final refusal is
// the answer. Provider keys and virtual key secrets never appear in a response or a log
// line: the provider adapters redact every field taken from an upstream's error.
//
// Render is that rendering, answers and refusals alike, as one value that any
// http.ResponseWriter can receive: the SDK middleware of package tollgate uses it too, so
// that an agent in-process gets the same status, body and headers as over HTTP.
//
// # Logs and metrics
//
// Each request gets one access log line (msg "request") with its id, tenant, key, session,
// agent, route, the model and provider that served, the fallback reason, status, tokens and
// cost (for a stream, once it ended), queue wait and latency: every failed request, at most
// once per tenant and outcome per Config.RefusalLogInterval (the next line counts those
// suppressed), and a Config.AccessLogSample share of the answered ones. Update changes
// the sampling, the refusal interval and the status of budget refusals while the gateway
// serves (a configuration reload). Metrics are the metrics package's, fed by the gateway's
// request records and, through the engine's OnEvent, the engine's events.
package gateway
