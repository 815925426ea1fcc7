// Package redisstore is a quota.Store in Redis, so that every gateway replica shares one set
// of rate limits, concurrency slots and budgets. It gives the memory store's semantics
// (quota.MemoryStore): GCRA rates with the same integer math, calendar days and months in an
// IANA zone, lifetime budgets, leases, settled use kept apart from open holds, and
// reservations that expire at their worst case.
//
// # One round trip, one atomic step
//
// Reserve, Settle, Release, Renew and Status are each one Lua script (lua/*.lua, embedded),
// run with EVALSHA and loaded once; Reserve checks every quota of an attempt and reserves
// all of them or none. The clock is the server's TIME, read inside the script: replicas'
// clocks cannot skew a limit.
//
// Reserve and Settle answer with every quota's state (quota.Store), so that a request
// through the engine costs exactly two round trips: the reserve, whose answer the planner
// clamps or downgrades by, and the settle, whose answer the response headers report. The
// scripts return raw numbers (a TAT, a count, a budget's settled and held amounts); the
// client turns them into statuses and, for a refusal, into the *quota.ExceededError of the
// quota that refused, with quota.State: the memory store's own code, so both stores
// classify refusals (budget, transient, too large) and report alike.
//
// Each call sends little: short fixed-length key names (below), and the numbers in one
// MessagePack argument that the script decodes in one call. Lua's numbers are doubles,
// exact below 2^53: timestamps are kept in microseconds, a rate's theoretical arrival time
// (TAT) as a decimal string of nanoseconds handled as (seconds, nanoseconds), and the
// client computes the 128-bit GCRA intervals (quota.Quota.Interval) and passes them in:
// the interval of the amount and of the burst at reserve, the exact change of the TAT at
// settle. Rate periods up to about 100 days are exact; limits above 2^53 act as 2^53.
//
// Calendar windows need a time zone, which Lua lacks. The client computes the boundaries of
// the previous, current and next day (or month) around its own clock (quota.Window.Span)
// and passes them; the script picks the one that contains the server's TIME. The client
// only proposes boundaries, so a client clock that is off by less than a day cannot move a
// reset or charge the wrong day; beyond a day the script refuses with an error rather than
// guess. Each window of a day or month budget is its own key, which expires after the
// window: a new day needs no reset.
//
// # Keys and Cluster slots
//
// Every key of a Store begins with the hash tag of its slot group, Config.SlotGroup
// (default "tg"); a quota's key is named by a hash of its quota.Quota.Key (see keys.go for
// why that is safe):
//
//	{tg}:t<h>          a rate: its TAT (unix ns, decimal)
//	{tg}:l<h>          a concurrency quota: sorted set of reservation ids by lease expiry (µs)
//	{tg}:b<h>          a lifetime budget: hash of u (settled), h (held), x (end of its TTL)
//	{tg}:b<h>:<start>  a day's or month's budget, for the window starting at <start> (unix s)
//	{tg}:r<id>         one reservation: its entries (MessagePack), then a short-lived settled marker
//	{tg}:e             the expiry index: the ids of open reservations on budgets, by expiry
//
// So every key lives in one Cluster slot, and any request's quotas (per key, per tenant,
// global, per model) can be reserved in one script. This is the simplest correct answer
// for quotas shared across tenants: a global or per-model limit is in the same slot as the
// tenant's budget by construction. The alternative, one script per slot with compensation
// when a later slot refuses, allows a window in which a refused request holds capacity in
// another slot, and turns one round trip into several. The cost is that one slot group's
// traffic lands on one Cluster node, one core: a five-quota reserve and settle cost Redis
// a few tens of microseconds (BENCHMARKS.md); fleets that outgrow it split by slot group,
// e.g. one per region or tenant shard, with no quota shared between groups.
// go-redis's AutoPipeliner satisfies Client too, and batches concurrent callers' scripts.
// Settle, Release and Renew declare only the reservation's keys; the quota keys it names
// share its slot, which is what Cluster checks.
//
// # Expiry, exactly-once settle, leases
//
// A reservation lives Config.TTL (10 minutes). One that is never settled is charged at its
// worst case, lazily: reservations on budgets are in the group's expiry index, and every
// Reserve (a few at a time) and Status charges those past their expiry, moving their
// amounts from held to used. Whoever takes a reservation out of the index, that charge or
// a settle, is the only one to apply it. Rates need nothing (the worst case is already in
// the TAT). Concurrency leases live in a sorted set scored by lease expiry, Config.LeaseTTL
// (1 minute): a replica that crashes gets its slots back after at most that long, and a
// call that runs longer calls Store.Renew. Every key has a TTL: rate keys until their TAT
// plus the hold TTL, calendar keys until their window ends, lifetime budgets their idle TTL
// (quota.Window.Idle, else Config.IdleTTL, 30 days) after their last reservation ends.
//
// Settle takes effect once. The script replaces the reservation with a one-minute marker
// holding the settle call's nonce: a retry of the same call (go-redis retries after network
// errors) finds its own nonce and reports success without charging again; any other call
// gets quota.ErrUnknownReservation. Reserve is idempotent too: the reservation id is
// chosen by the client, and a retried script finds the reservation already made. A Store
// remembers the quotas of the reservations it made until they are settled: a settle by
// another Store (another process) still settles budgets and leases exactly, keeps rates at
// their worst case, and reports no statuses.
//
// # When Redis is down or slow
//
// Each operation is bounded by Config.Timeout (50ms) and the caller's ctx. When Redis does
// not answer, the Store is degraded: with FailClosed (the default) every operation returns
// an *UnavailableError (ErrUnavailable, a 503 for the gateway); with FailOpenLocal it serves
// from a local quota.MemoryStore in which every limit is divided by Config.Replicas. One
// slog line marks each transition; Degraded and Stats expose it. While degraded, one
// caller at most every Config.ProbeInterval (1s) pings Redis; when it answers, the Store
// rejoins. Reservations made locally settle locally, even after the rejoin.
package redisstore
