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
// Learned limits (a Rate whose Quota.Live is set, package learn) are resolved by the
// client at each reserve: the Live's limit and burst in force give the intervals sent,
// and the Live's floor under the TAT (the provider's word on its own state: what remains,
// or shut until its retry-after) travels as an offset from the client's now, which the
// script adds to the server's TIME: the stored TAT becomes at least that, for every
// replica, so that what one replica hears from the provider binds the whole fleet at
// once. A reservation settles at the limit it was reserved at. The limits themselves are
// shared by package learn (learn.RedisShared); while Redis is down (fail_open_local) a
// replica's local store enforces its own learned limits whole, not divided by Replicas.
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
// not answer, the Store is degraded: with FailClosed (the default) every reserve returns
// an *UnavailableError (ErrUnavailable, a 503 for the gateway); with FailOpenLocal it
// serves from a local quota.MemoryStore with this replica's share of each quota (below).
// One slog line and one Event (Config.OnEvent) mark each transition; Degraded and Stats
// expose it. While degraded, one caller at most every Config.ProbeInterval (200ms), and a
// goroutine of the Store's own, ping Redis; when it answers, the Store replays what it
// kept (below) and only then rejoins, with a log line saying how much it replayed.
//
// Nothing that ended during the outage is lost. A settle or release that Redis cannot take
// (it fails, or the Store is degraded) goes to the outbox and Settle returns nil; the
// outbox is applied at the rejoin, eight operations at a time, each idempotent by
// reservation id and the settle call's nonce (a settle that timed out but ran, and is
// replayed, counts once). So the leases of calls that ended during a blip are back as
// soon as Redis answers and the Store notices, within ProbeInterval plus the replay, not
// after their LeaseTTL. The outbox is bounded (Config.Outbox, 65536): a settle or release
// that finds it full is dropped with a log line, EventOutboxFull and Stats.Dropped; its
// reservation is then charged at its worst case when it expires in Redis (Config.TTL),
// and its leases come back after LeaseTTL: counted too much, never too little.
//
// Nor does a reserve that got no reply leave anything behind. It timed out, or its caller
// gave up, yet it may have run in Redis, or may run when Redis resumes from a pause and
// reads it from the socket; nobody would settle that reservation, and it would hold its
// worst case and its leases until its TTL, so that a nearly spent budget would refuse as
// transient (held, worth waiting for) what its settled use refuses as final. Each such
// reserve leaves a void in the outbox: applied like a release, it returns what the
// reservation took if it was made, and otherwise takes its id for TTL, so that the
// reserve, should it still arrive, finds its id taken and changes nothing.
//
// # Fail open, and its bound on overspend
//
// Under FailOpenLocal, a replica's local share of a rate or a concurrency quota is its
// limit divided by Config.Replicas (at least 1). Its share of a budget is its part of what
// remained at its last contact with Redis: the Store remembers, per budget and window, the
// remainder in Redis's last answer to it (a reserve's or a settle's), and during an outage
// the local store starts that budget at a use that leaves floor(remaining / Replicas);
// a budget this replica never heard of in the current window gets floor(limit /
// Replicas). Each outage starts a new local store, from what Redis said last.
//
// What a replica spends locally reaches Redis when it answers again: each local
// reservation that touches a budget is promised a slot in the outbox when it is granted
// (one that finds none is refused: never spent unaccounted). Its settle (or its expiry, at
// its worst case) puts a charge in that slot, which the rejoin adds to the budgets in
// Redis, once per reservation id; a local reservation still open at the rejoin is
// installed in Redis as a reservation holding its worst case until its expiry, whose
// settle then goes to Redis and refunds the difference. Then the replica admits nothing
// for a quiet period (2 x ProbeInterval + Timeout), in which the other replicas, which
// probe as often, replay their own local spend; only then does it reserve from Redis
// again. (Without it the first replica back would spend what Redis believes remains while
// the others' local spend is not in it yet.) After the rejoin, Redis's totals include
// every replica's local spend.
//
// The worst case. For one budget of limit L shared by a fleet of N = Config.Replicas
// replicas, let R0 be what remained of it in Redis when the outage began (open
// reservations already count at their worst case), and Ri what remained in Redis's last
// answer to replica i about it before the outage (L if it had none in this window). A
// replica spends at most floor(Ri / N) locally, so
//
//	overspend <= sum_i floor(Ri / N) - R0 + C  <=  sum_i (Ri - R0) / N + C
//
// where the sum is over the replicas that served locally, and C is what replicas reserved
// from Redis while another's local spend was not yet in it: 0 when Redis itself was down
// for every replica and each found it answering within the others' quiet period; at most
// R0 when only some replicas lost Redis (a network partition: the others kept spending
// from it), so that overspend <= sum_i floor(Ri / N) always. Ri - R0 is what the rest of
// the fleet reserved on that budget (net of refunds) between replica i's last answer and
// the outage: its staleness. When every replica spoke to Redis about the budget just
// before the outage the bound is 0 (plus C); when none ever did it is L - R0. It holds per
// outage (each starts from Redis's totals after the previous rejoin's replay) and assumes
// Config.Replicas is at least the number of replicas. Rates may overshoot by up to one
// burst per outage (each replica starts a fresh bucket of burst / N), and concurrency by
// the leases in flight when it began (still held in Redis and not seen locally).
// BENCHMARKS.md and docs/config.md have the measured figures.
//
// # When Redis loses its data
//
// The state hash holds a marker, the field _e: the epoch (a random number) of the state,
// written when it was initialised. Every quota script reads it in the same call that reads
// the quotas, so checking it costs nothing; a script that finds it gone (a restart
// without persistence, a failover to a replica that did not have it, FLUSHALL, an eviction
// under an allkeys-* policy) changes nothing and answers TGLOST. The Store then rebuilds
// the fleet's state, once for the whole fleet: it takes a lock in Redis ({g}:b, a random
// token with a TTL of Config.RebuildTimeout, so that a replica that dies while rebuilding
// stops blocking the others), reads its Source (the fleet's ledger: each budget's settled
// use in its current day, month or lifetime, orphaned holds' charges included; the holds
// still open; the reservations settled in the last TTL), empties the state, writes the
// budgets, installs the open holds as reservations holding their worst case, marks the
// recently settled reservations as settled, and writes a new marker last, in batches
// under the token. Meanwhile other replicas' callers get a *RebuildingError (ErrRebuilding,
// quota.ErrUnavailable: a 503) instead of a reservation, and this replica's wait for the
// rebuild as long as their ctx allows; settles that cannot wait go to the outbox. Rate windows and leases start empty. One log
// line and EventRebuilt report it (EventRebuildFailed when the Source fails: budget
// reservations keep failing closed, and the next operation tries again after
// ProbeInterval). A fleet's first start is the same path, with a Source that finds the
// ledger's totals: Ensure does it at start.
//
// Reservations made before the loss (each remembers the epoch it was made in) end this
// way: one whose hold the ledger journaled was installed again by the rebuild, and
// settles normally; so does one still open in its replica, which installs its own again
// when it first sees the new epoch (in a reply, or from the rebuild it made or waited
// for); one the ledger had already settled is refused as unknown and counts once; any
// other (its replica settled it before seeing the new epoch) is charged its actual amount
// to its budgets as a plain charge, once (a marker with the reservation id lives for TTL);
// a release of one returns nothing. So nothing spent before the loss is
// lost; what can be counted twice is a settle that was kept in the outbox across the loss
// of a reservation whose ledger record was written but does not name its hold (more than
// was spent, never less). Leases of calls in flight at the loss are not restored, so
// concurrency may exceed its limit by those calls until they end.
//
// A failover to a replica that lagged only by some writes keeps the marker and is not
// detected: it loses those writes (at most the replication lag's reservations and
// settles). Redis's WAIT, or min-replicas-max-lag, bounds that window.
package redisstore
