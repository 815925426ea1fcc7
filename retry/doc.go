// Package retry is tollgate's one retry layer: when to try an upstream call again, how long
// to wait, and how many retries a whole fleet may add.
//
// The official SDKs' own retries are turned off inside tollgate, so that retries do not
// multiply (SDK x gateway x fallback). What is left is decided here:
//
//   - [Policy] decides between attempts ([Policy.Next]): only retryable upstream failures
//     are retried, after the server's requested wait when it gave one, else after an
//     exponential backoff with full jitter, never past the request's deadline and never
//     more than MaxAttempts times. [Policy.Do] is the same loop for library users.
//   - [ServerDelay] reads the wait a provider asked for out of its response status and
//     headers (retry-after-ms and Retry-After on any status; OpenAI x-ratelimit-reset-*
//     and Anthropic anthropic-ratelimit-*-reset only on a 429 or for an exhausted
//     dimension).
//   - [Budget] caps retries at a fraction of recent first attempts, so that a fleet cannot
//     turn an upstream outage into a retry storm.
//   - [Attempts] caps attempts across a whole fallback chain, so that retries per model
//     times fallback steps cannot multiply beyond one number.
//
// Time is explicit everywhere except in [Policy.Do], which uses the clock and timers and is
// tested in testing/synctest bubbles.
package retry
