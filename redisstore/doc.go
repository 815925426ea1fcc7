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
// Each call does and sends little. A call from Lua costs Redis several times the work of a
// small command, so a slot group's quotas are fields of one hash, read with one HMGET and
// written with one HSET whatever their number: a reserve makes four calls (TIME, HMGET,
// HSET, and ZADD to index the reservation) and a settle four or five, where the scripts
// made one or two per quota before. Names are short and fixed-length (a hash of the
// quota key), the numbers travel in one MessagePack argument that the script decodes in
// one call, and the client packs the reservation's record itself. Lua's numbers are
// doubles, exact below 2^53: timestamps are kept in microseconds, a rate's theoretical
// arrival time (TAT) as a decimal string of nanoseconds handled as (seconds, nanoseconds),
// and the client computes the 128-bit GCRA intervals (quota.Quota.Interval) and passes
// them in: the interval of the amount and of the burst at reserve, the exact change of the
// TAT at settle. Rate periods up to about 100 days are exact; limits above 2^53 act as
// 2^53.
//
// Calendar windows need a time zone, which Lua lacks. The client computes the day (or
// month) that contains its own time (quota.Window.Span) and sends its bounds; the script
// checks them against the server's TIME, which decides. When they disagree (a replica's
// clock on the other side of midnight) nothing is reserved and the client sends again with
// the windows around the server's time: one more round trip, never the wrong day. Each
// window of a day or month budget has its own fields, so a new day needs no reset.
//
// # Keys and Cluster slots
//
// A slot group, Config.SlotGroup (default "tg"), is two keys with its hash tag: {tg}:s,
// the hash of every quota's state and every open reservation (lua/holds.lua lists the
// fields), and {tg}:z, the sorted set that says when to look at a reservation again (its
// expiry, its leases' expiry, the end of a settled marker). So every key lives in one
// Cluster slot, and any request's quotas (per key, per tenant, global, per model) can be
// reserved in one script. This is the simplest correct answer for quotas shared across
// tenants: a global or per-model limit is in the same slot as the tenant's budget by
// construction. The alternative, one script per slot with compensation when a later slot
// refuses, allows a window in which a refused request holds capacity in another slot, and
// turns one round trip into several. The cost is that one slot group's traffic lands on
// one Cluster node, one core (BENCHMARKS.md has its figures); fleets that outgrow it split
// by slot group, e.g. one per region or tenant shard, with no quota shared between groups.
// go-redis's AutoPipeliner satisfies Client too, and batches concurrent callers' scripts.
//
// The hash's fields have no TTL of their own (Redis 7.0 has none): the scripts forget a
// quota once its state equals a fresh one's, looking at a few fields per reservation that
// creates one (and every 64th), so its size follows the quotas in use: a rate one hold
// TTL after it refilled, a day or month well after it ended, a concurrency quota with no
// lease, a lifetime budget after its idle TTL (quota.Window.Idle, else Config.IdleTTL, 30
// days, counted from its last reservation's end).
//
// # Expiry, exactly-once settle, leases
//
// A reservation lives Config.TTL (10 minutes). One that is never settled is charged at its
// worst case: every sixteenth Reserve, any Reserve that a held amount may be refusing, and
// every Status take the reservations past their expiry out of {tg}:z and move their
// amounts from held to used. Rates need nothing (the worst case is already in the TAT).
// Concurrency leases lapse after Config.LeaseTTL (1 minute) the same way: a replica that
// crashes gets its slots back after at most that long, and a call that runs longer calls
// Store.Renew. Whoever takes a reservation (or its leases) out of {tg}:z, the expiry or
// the settle, is the only one to apply it.
//
// Settle takes effect once. The script replaces the reservation with a ten-second marker
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
