// Package tollgate puts tollgate inside a Go agent: middleware for the official OpenAI and
// Anthropic Go SDKs that runs each call through an engine.Engine in-process, with its
// budgets, rate limits, priority queue, retries and fallback chains, and no gateway to
// run. The agent's code keeps its SDK calls as they are and adds one option to its client:
//
//	eng, err := engine.New(engine.Config{Providers: ..., Routes: ..., Rules: ...})
//	oc := openai.NewClient(option.WithMiddleware(tollgate.OpenAI(eng)), option.WithMaxRetries(0))
//	ac := anthropic.NewClient(aoption.WithMiddleware(tollgate.Anthropic(eng)), aoption.WithMaxRetries(0))
//
// One engine serves any number of clients and goroutines; the quotas it enforces are
// shared by all of them (and by other processes, with a Redis store). Put the middleware
// last among a client's middleware: it answers the requests it intercepts itself, without
// calling the next one.
//
// # What is intercepted
//
// OpenAI's chat completions (POST …/chat/completions) and Anthropic's messages (POST
// …/v1/messages), streamed or not. The body the SDK built is parsed by tollgate's provider
// adapters and handed to the engine, which calls the upstream of the engine's providers
// with their keys: the SDK's own base URL and API key are not used for these calls. Every
// other request of the SDK (embeddings, the Responses API, count_tokens, batches, files,
// models) passes through to the SDK's own transport unchanged: neither metered nor limited.
//
// # Who pays and who waits
//
// The identity of a call comes from its context: WithTenant, WithAgent, WithSession and
// WithPriority (or WithIdentity for all at once), read by the quota rules that scope by
// them and by the admission queue. A call with no session takes the body's OpenAI "user"
// or Anthropic metadata.user_id as its session, as the gateway does. The context's
// deadline is the call's deadline: the queue does not wait past it, retries stop at it.
//
//	ctx = tollgate.WithSession(tollgate.WithAgent(ctx, "researcher"), "run-42")
//	resp, err := oc.Chat.Completions.New(ctx, params)
//
// # Answers
//
// The request's model may name a route of the engine: the engine picks the model, falls
// back down the chain, and an answer from a model of the other format (an OpenAI client
// served by Claude) is translated into the SDK's format, streamed or not. The SDK parses
// the answer as usual, and its *http.Response (option.WithResponseInto) carries the
// gateway's headers: X-Tollgate-Model (the model that served), X-Tollgate-Route,
// X-Tollgate-Fallback-Reason, the rate-limit and budget headers, and X-Request-Id and
// Request-Id, the request's id in the ledger.
//
// A stream is relayed as the SDK reads it, each event as the upstream sends it. Closing
// the SDK's stream (or cancelling the call's context) before its end cancels the upstream
// call; the engine charges what was generated, and Close returns once it has. A stream
// that the SDK neither reads to its end nor closes holds its upstream connection and its
// reservation, as an unclosed HTTP body would.
//
// # Refusals and retries
//
// A refusal surfaces as the SDK's own error, *openai.Error or *anthropic.Error, with the
// status, body (message, type, code) and headers that the gateway sends for it (see
// package gateway): a budget refusal is a 429 insufficient_quota (Anthropic billing_error)
// whose message names the budget, its limit, its use and when it resets, with
// x-should-retry: false and X-Tollgate-Budget-Remaining; a rate or queue refusal a 429
// rate_limit_exceeded with Retry-After; every refusal says in X-Tollgate-Error-Source
// whether tollgate or the upstreams refused.
//
// tollgate retries (engine.Config.Retry, bounded by a fleet-wide retry budget) and falls
// back; the SDK must not retry on top of it, or every retry of the SDK would run the whole
// chain again: give the client option.WithMaxRetries(0). (A budget refusal is never
// retried by the SDKs, whatever their setting: it says x-should-retry: false.)
package tollgate
