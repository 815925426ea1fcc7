// Package ledger keeps tollgate's durable record of spend: every settled attempt becomes one
// usage row, every reserved attempt a hold journaled before its upstream call, and at start
// the day, month and session budget counters are rebuilt from the rows, so that a restart
// does not reset today's spend.
//
// Two backends give the same API, the same records and the same guarantees (one
// conformance suite, ledgertest, runs against both):
//   - SQLite (the default): an embedded file written by one process, for one gateway.
//   - PostgreSQL: one database that every replica of a fleet writes, so that `tollgate
//     usage` and the restore at start see the whole fleet, and the holds of a replica that
//     died are charged by the others.
//
// Appends are group-committed: Append only enqueues, and one goroutine owned by the Ledger
// writes everything pending in one transaction every Config.CommitInterval or every
// Config.MaxBatch records, so thousands of settles a second cost a few commits.
//
// # Holds
//
// OpenHold journals a reservation's worst case and returns once it is durable; the Record
// that settles the attempt carries the hold's id and closes it in the same transaction,
// and CloseHold closes it for a release. A hold is committed at once (not after
// CommitInterval), together with every other hold, record and release pending, so
// concurrent callers share a transaction. A hold left open by a process that is gone is
// charged at its worst case (a Record with Outcome OutcomeOrphaned at the hold's open
// time, in the budget window it was reserved in) and closed, in one transaction, exactly
// once: never refunded, because the upstream may have billed the call.
//   - SQLite: one writing process per file (Open takes an exclusive lock on Path +
//     ".lock", which the kernel drops when the process dies), so every hold in the file
//     at Open is dead: Open charges them all before it returns.
//   - PostgreSQL: each writing Ledger is an instance with a heartbeat, renewed every
//     HeartbeatTTL/3 and by every commit that opens holds. Open, and then every
//     RecoverInterval, charges the holds of instances whose heartbeat lapsed (on
//     PostgreSQL's clock, so replicas' clocks cannot disagree), and holds left under this
//     Ledger's own Config.Instance by a previous process. A replica that dies is charged
//     HeartbeatTTL to HeartbeatTTL + RecoverInterval later, by whichever replica gets
//     there first; a transaction-scoped advisory lock and the delete-and-charge in one
//     statement make it once.
//
// Close charges this Ledger's holds still open the same way: a call that was never
// settled may have been billed.
//
// # What survives which crash
//
// Close (the SIGTERM path) and Flush: everything queued before the call is committed when
// they return nil, on both backends.
//
// kill -9 or a crash of the gateway process:
//   - Every committed transaction survives, and every hold for which OpenHold returned.
//   - Lost are at most the records and releases queued since the last commit, that is
//     in the last CommitInterval plus the commit in flight, while the storage keeps up.
//     When it falls behind, items wait in the queue, so the loss is at most QueueSize +
//     MaxBatch records, and Append pushes back with ErrBackpressure rather than queue
//     more.
//   - But a lost settle does not lose its spend when the attempt had a hold: the hold is
//     still open in the database and is charged at its worst case (SQLite: at the next
//     Open; PostgreSQL: once the heartbeat lapses). With holds, a crash can make the
//     ledger count more than was spent (the worst case instead of the real use), never
//     less. A lost release is charged the same way.
//
// Power loss or an OS crash of the gateway's machine:
//   - SQLite: the same bounds, because the file runs with synchronous=FULL, which fsyncs
//     the write-ahead log at every commit. (synchronous=NORMAL would give the same kill -9
//     bound, since a commit has written the log to the OS before it returns, but a power
//     cut could then lose every commit since the last checkpoint; with group commit the
//     fsync per batch is cheap, so FULL is the better trade.)
//   - PostgreSQL: the same bounds: the database is elsewhere and a commit returns once
//     the server has it (with the server's default synchronous_commit=on, on its disk).
//
// # Settings
//
// The ledger also keeps what an operator changes at run time through the admin API:
// virtual keys (only the SHA-256 of their secrets), and budget overrides that replace a
// rule's limit for one scope (CreateKey, RevokeKey, SetKeyBudget, SetBudgetOverride,
// DeleteBudgetOverride). These are written directly, each in its own transaction, and
// are durable when the call returns. Every change raises one revision number in the same
// transaction; replicas poll SettingsRevision and read Settings (one snapshot) when it
// moved, which is what package keys does.
//
// A crash of the PostgreSQL server: what it acknowledged survives as its own durability
// settings say (fsync, synchronous_commit, replication). While it is down commits fail
// and are retried: records wait in the queue (then ErrBackpressure), OpenHold fails when
// its context ends, and heartbeats lapse, so after HeartbeatTTL replicas may charge each
// other's holds; a hold so charged and then settled by its live owner counts twice (see
// Stats.Unmatched), more than was spent, never less.
package ledger
