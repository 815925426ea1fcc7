// Package learn learns the rate limits of each upstream account and model (requests,
// tokens, input and output tokens per minute) from the providers' own answers, and hands
// them to the quota machinery as quotas whose limits move (quota.Live). The queue then
// waits for learned capacity instead of calling into a 429, and tollgate uses nearly all
// of what an account may use without being told its limits.
//
// # Use
//
// A Set holds one Learner per upstream (provider name, AccountID of its key, format) and
// model. Add Learner.Quotas to every reservation of a call to that upstream and model,
// beside the configured quotas (a configured limit stays a ceiling: every quota of a
// reservation must have room), and pass every answer and refusal to Learner.Observe
// (OutcomeOf builds the Outcome from what an llm.Provider returned). Set.Status is the
// table of what was learned, for metrics, the admin API and `tollgate status`; a line is
// logged when a limit moves by more than 10%. With Config.Shared, replicas share what
// they learn (Set.Sync, RedisShared).
//
// # What it learns from
//
// Headers first: OpenAI's x-ratelimit-limit-, -remaining-, -reset-requests and -tokens,
// Anthropic's anthropic-ratelimit-requests-, -input-tokens-, -output-tokens- (and -tokens-
// when the account's limit is not split) state the limit and the provider's state exactly.
// The limit is taken as stated, and the remaining count becomes a floor under the quota's
// state (Live.RaiseFloor), so that the quota never has more room than the provider: the
// differences between tollgate's accounting and the provider's (estimated prompts,
// max_tokens counted at admission, other clients of the same key) cannot accumulate into
// 429s. A 429's message often states the limit too ("Limit 30000", "of 50,000 input tokens
// per minute"), and names the dimension that refused; a daily limit (RPD, TPD) is not a
// per-minute rate and is ignored.
//
// A refusal while the limit is stated says the provider's window is spent, not that the
// limit is lower: calls sent before the limit was known (a fleet's startup burst, a
// replica that had not learned it yet) spend it ahead of the quota. So a stated limit is
// never cut: the refusal empties the quota's room (up to its retry-after), and the
// provider's remaining count floors it from then on. The cuts below are for limits that
// nothing stated, and for probes above a limit stated only by a 429's message.
//
// Headers are read on every answer, so a limit they state follows a raise by itself and
// is never probed above. A limit stated only by a 429's message is not: while it holds,
// nothing is refused and nothing states the raise. So once it has bound without a refusal
// for Config.Hold, it is probed above like an unstated limit (steps that double, a cut
// back on refusal), never cut below the stated value unless a new message states a lower
// one. In the control loop a raise from 60 to 200 RPM is found within 6 minutes of virtual
// time (hold plus climb), at 0.15% refused.
//
// Refusals when the headers are hidden. The providers' buckets start full and refill
// continuously up to one minute's worth; a refusal says the bucket is empty now. So:
//
//   - a refusal empties the quota's room too (and a retry-after keeps it shut until then);
//   - the first refusal of a dimension estimates its limit from what the provider accepted
//     since the first call: one bucket plus the refill since (accepted / (1 + elapsed/period));
//   - each later refusal of a call sent after the last cut (the refusals of calls sent
//     before it are the same overload, whichever replica met them) closes a stretch at
//     both ends of which the provider's bucket was empty. Over the stretch the quota,
//     emptied at its start, let through the integral of its limit; the provider refilled
//     that minus the refused call. That measures the provider's rate to within one call,
//     and the limit is cut to just under it (Config.Margin), or by Config.Decrease if that
//     is lower (multiplicative decrease);
//   - while the limit binds (its quota made requests wait) and nothing is refused, it
//     climbs back to just under the estimate within a few Config.Interval, holds there for
//     Config.Hold, then probes higher in steps that double (additive increase, then a
//     probe for a limit that rose), never above a limit the provider's headers state.
//
// Holding just under the measured rate is what keeps refusals rare: an unchanged limit
// costs one probe, a refusal or two, per hold, and the provider's bucket, which fills
// while the limit holds 2% under it, pays for the probe. The control-loop tests drive the
// emulator in virtual time; BENCHMARKS.md has the figures.
//
// # Why not a library
//
// Netflix's concurrency-limits (AIMD, Gradient2, Vegas), Vector's adaptive request
// concurrency and failsafe-go's adaptive limiter all learn a concurrency limit (calls in
// flight) from latency or back-pressure. A provider limits a rate per minute with a bucket
// that banks a minute's worth, and a concurrency limit cannot bound a rate: calls in
// flight divided by latency is a rate only while latency stays put, and an LLM call's
// latency varies tenfold with its output. A latency signal would also be blind: the
// provider answers a call at full speed until the bucket is empty, then refuses. So this
// package keeps their ideas and not their unit: multiplicative decrease on a refusal and
// increase only with evidence that the limit binds (Netflix's AIMD raises only when
// inflight*2 >= limit; Vector only when the limit was reached), at most one adjustment
// per interval so that one burst of refusals is one decrease (Vector's back-pressure
// flag per RTT window), and a probe that slows near the last good value (TCP CUBIC's
// plateau). The enforcement is the quota package's GCRA, which the queue already waits on.
//
// Learners, Sets and Lives are safe for concurrent use. A Set starts no goroutines; Run
// is a loop over Sync for a goroutine that the caller owns.
package learn
