package ledger

import "time"

// Hold is the worst case of one reserved attempt, journaled before its upstream call starts
// (Ledger.OpenHold) and closed by the Record that settles it (Record.HoldID) or by a
// release (Ledger.CloseHold). A hold that its process leaves open is charged at its worst
// case, as a Record with Outcome OutcomeOrphaned at Opened, and closed: a crash can make
// the ledger count more than was spent, never less.
type Hold struct {
	// ID identifies the hold: the quota reservation's id. Required; unique across the
	// fleet (quota.ID is).
	ID string
	// RequestID is the request's id, as its Records carry it.
	RequestID string
	// Owner is the process instance that holds it: Ledger.Instance. OpenHold fills in an
	// empty Owner and refuses another, because only the owner's liveness (its own
	// heartbeat, or its lock on the SQLite file) tells whether the hold is still live.
	Owner string

	Tenant, Key, Agent, Session string // who pays, as in Record
	Route, Provider, Model      string // what is called, as in Record
	Attempt                     int    // the attempt it reserves, as in Record

	// The worst case: estimated input tokens plus the output cap, and their cost in
	// micro-USD. An orphaned hold is charged exactly this.
	InputTokens, OutputTokens, MicroUSD int64

	// Opened is when the hold was opened; OpenHold replaces a zero Opened with the current
	// time. An orphan charge is stamped with it, so that a budget restore counts it in the
	// window the reservation was made in.
	Opened time.Time
}

// asRecord is h as the writer carries it: a hold travels the queue as its orphan charge.
func (h Hold) asRecord() Record {
	return Record{Time: h.Opened, RequestID: h.RequestID, HoldID: h.ID, Tenant: h.Tenant, Key: h.Key,
		Agent: h.Agent, Session: h.Session, Route: h.Route, Provider: h.Provider, Model: h.Model,
		InputTokens: h.InputTokens, OutputTokens: h.OutputTokens, MicroUSD: h.MicroUSD,
		Outcome: OutcomeOrphaned, Attempt: h.Attempt}
}
