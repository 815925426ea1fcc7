package ledger

import (
	"context"
	"database/sql"
)

// batch is what one transaction writes: records, opened holds and released holds, in the
// order the writer received them.
type batch struct {
	records []Record // usage rows; those with a HoldID close their hold
	holds   []Record // holds opened, each as its orphan charge (Hold.asRecord)
	closes  []string // ids of released holds
}

// add puts what it carries into b.
func (b *batch) add(it item) {
	switch it.kind {
	case kindRecord:
		b.records = append(b.records, it.rec)
	case kindHold:
		b.holds = append(b.holds, it.rec)
	case kindRelease:
		b.closes = append(b.closes, it.rec.HoldID)
	}
}

func (b *batch) len() int { return len(b.records) + len(b.holds) + len(b.closes) }

// reset empties b, dropping its strings for the collector.
func (b *batch) reset() {
	clear(b.records)
	clear(b.holds)
	clear(b.closes)
	b.records, b.holds, b.closes = b.records[:0], b.holds[:0], b.closes[:0]
}

// backend is a store of the ledger: SQLite or PostgreSQL. The Ledger serializes writes
// (one writer goroutine) and calls every method but queryDB from at most one goroutine at a
// time besides the writer's, so implementations need no locking of their own beyond their
// database handles'.
type backend interface {
	// write commits b in one transaction: the holds are inserted, then the records, then
	// the holds that the records settle and the releases name are deleted. It returns how
	// many of those closes found no open hold (released or charged before, or never
	// opened), which is not an error.
	write(ctx context.Context, b *batch) (unmatched int, err error)

	// recoverHolds charges every hold whose owner is dead at its worst case (a usage row
	// with outcome "orphaned" at the hold's open time) and deletes it, in one transaction,
	// so that each hold is charged exactly once; it returns how many. Never this
	// instance's holds, except at Open (atOpen), when holds under its id are from a
	// previous process with the same Config.Instance. SQLite at Open: every hold (its one
	// writer holds the file's lock, so whoever wrote the others is gone). PostgreSQL: the
	// holds of instances whose heartbeat lapsed.
	recoverHolds(ctx context.Context, atOpen bool) (int, error)

	// heartbeat renews this instance's liveness; a backend without instances does nothing.
	heartbeat(ctx context.Context) error

	// retire charges the holds this instance still has open, as recoverHolds would, and
	// ends the instance: the last write of a Ledger, at Close.
	retire(ctx context.Context) (int, error)

	// queryDB is the handle the queries use, safe for concurrent use.
	queryDB() *sql.DB

	// close releases the connections and locks.
	close() error
}
