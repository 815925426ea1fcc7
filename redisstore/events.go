package redisstore

import (
	"strconv"
	"time"
)

// EventKind says what an Event reports.
type EventKind uint8

// The events a Store reports through Config.OnEvent: each is a transition or a rare
// occurrence, never one per request (Stats counts those).
const (
	// EventDegraded: Redis stopped answering (Event.Err says why); the policy applies.
	EventDegraded EventKind = iota + 1
	// EventRejoined: Redis answers again and this Store has replayed what it kept while it
	// was unreachable (Event.Replayed, Event.Installed, Event.Took).
	EventRejoined
	// EventDataLost: a script found the marker gone: Redis lost the fleet's quota state
	// (Event.Epoch is the epoch this Store last saw; 0 when it saw none, as at a first
	// start). Reported once per lost epoch by each Store that notices.
	EventDataLost
	// EventRebuilt: this Store rebuilt the fleet's quota state from its Source
	// (Event.Epoch is the new epoch; Budgets, Holds, Settled and Took describe it).
	EventRebuilt
	// EventRebuildFailed: a rebuild by this Store failed (Event.Err); budget reservations
	// keep failing closed until one succeeds.
	EventRebuildFailed
	// EventOutboxFull: a settle or release that Redis could not take was dropped because
	// the outbox was full (Event.Err names the reservation). Its reservation is charged at
	// its worst case when it expires in Redis, and its leases come back after LeaseTTL.
	EventOutboxFull
)

var eventNames = [...]string{"", "degraded", "rejoined", "data_lost", "rebuilt", "rebuild_failed", "outbox_full"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is a transition of a Store, for metrics and alerts (Config.OnEvent). Fields that do
// not apply to its Kind are zero.
type Event struct {
	Kind   EventKind
	At     time.Time
	Policy Policy
	// Err is the cause of EventDegraded, EventRebuildFailed and EventOutboxFull.
	Err error
	// Epoch is the epoch lost (EventDataLost) or the new one (EventRebuilt).
	Epoch int64
	// Took is how long the rebuild (EventRebuilt) or the replay at the rejoin
	// (EventRejoined) took.
	Took time.Duration
	// Budgets, Holds and Settled are what a rebuild wrote: budget counters, open holds
	// installed as reservations, and markers of reservations the ledger already counts.
	Budgets, Holds, Settled int
	// Replayed is the number of deferred settles, releases and local charges applied at a
	// rejoin; Installed the local reservations still open that it installed in Redis;
	// Voided the reservations whose reserve got no reply, released (or their ids taken,
	// should the reserve still arrive) so that they hold nothing.
	Replayed, Installed, Voided int
}

// Stats are a Store's counters since New. All fields only grow except the gauges Degraded,
// OpenLocal, Outbox and Epoch.
type Stats struct {
	// Degraded is true while Redis is considered down (see Store.Degraded).
	Degraded bool
	// Transitions counts the times the Store went from Redis to degraded.
	Transitions uint64
	// LocalReserves counts reservations granted by the local fallback (FailOpenLocal).
	LocalReserves uint64
	// Unavailable counts operations that failed with ErrUnavailable (ErrRebuilding
	// included).
	Unavailable uint64
	// OpenLocal is the number of local reservations not yet settled, released, installed
	// in Redis or forgotten after their expiry.
	OpenLocal int64

	// Outbox is the number of operations waiting to be applied to Redis: settles and
	// releases that failed while it was unreachable, and local charges.
	Outbox int64
	// Deferred counts the operations put in the outbox; Replayed those applied from it;
	// Dropped the settles and releases refused because it was full.
	Deferred, Replayed, Dropped uint64

	// Epoch is the epoch of the fleet's state this Store last saw; 0 before its first
	// contact.
	Epoch int64
	// DataLosses counts the times a script found the marker gone (a first start counts
	// once); Rebuilds the rebuilds this Store made; RebuildFailures those that failed.
	DataLosses, Rebuilds, RebuildFailures uint64
	// LastRebuild is how long this Store's last rebuild took.
	LastRebuild time.Duration
}

// Stats returns the Store's counters. It is safe for concurrent use.
func (s *Store) Stats() Stats {
	return Stats{
		Degraded: s.down.Load(), Transitions: s.transitions.Load(),
		LocalReserves: s.localReserves.Load(), Unavailable: s.unavailable.Load(),
		OpenLocal: s.nLocal.Load(),
		Outbox:    int64(s.box.len()), Deferred: s.deferred.Load(), Replayed: s.replayed.Load(),
		Dropped: s.dropped.Load(),
		Epoch:   s.epoch.Load(), DataLosses: s.dataLosses.Load(), Rebuilds: s.rebuilds.Load(),
		RebuildFailures: s.rebuildFailures.Load(), LastRebuild: time.Duration(s.lastRebuild.Load()),
	}
}

// emit hands e to Config.OnEvent, if set.
func (s *Store) emit(e Event) {
	if s.onEvent == nil {
		return
	}
	e.At = time.Now()
	e.Policy = s.policy
	s.onEvent(e)
}
