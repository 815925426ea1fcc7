package quota

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// Store holds quota state. Implementations are safe for concurrent use, and each method is
// one atomic step (one round trip for a remote store).
//
// Reserve and Settle answer with the state of the quotas they touched, so that a caller
// needs no Status call on its request path: the planner reads the budgets left from a
// reserve's answer (also from a refusal's), and the response headers from the settle's.
type Store interface {
	// Every Status a Store appends has a non-nil Quota (see Status.Quota): callers read
	// it without checking.
	//
	// Reserve takes req.Amount from every quota in req.Quotas, or from none. It appends to
	// dst one Status per quota of req.Quotas, in order, and returns the extended slice:
	// the state after the reservation when it is granted, the state that refused it when it
	// is not. A refusal is an *ExceededError for the quota reported (see Worst) and changes
	// nothing. When the store could not decide (any other error), dst comes back as given.
	Reserve(ctx context.Context, req *Request, dst []Status) (Reservation, []Status, error)
	// Settle replaces a reservation's worst case with the actual amount, refunding or
	// charging the difference, and returns its leases. It appends to dst the status of each
	// of the reservation's quotas after settling, in the order of the Request that made it.
	// It takes effect at most once per reservation; a second call returns
	// ErrUnknownReservation. A store may leave dst as given when it does not know the
	// reservation's quotas (the Redis store, for a reservation made by another process).
	Settle(ctx context.Context, id ID, actual Amount, dst []Status) ([]Status, error)
	// Release returns everything a reservation took, as if it had never been made.
	Release(ctx context.Context, id ID) error
	// Status appends to dst the current state of each quota. It is for inspection (admin
	// pages, tests), not for a request's path: Reserve and Settle report the same states.
	Status(ctx context.Context, quotas []Quota, dst []Status) ([]Status, error)
}

// DefaultTTL is how long a reservation may stay open before a store settles it at its
// worst case, in the memory and the Redis store alike, unless configured otherwise.
const DefaultTTL = 10 * time.Minute

// DefaultIdle is how long a Lifetime quota's state outlives its last reservation when its
// Window.Idle is zero, in the memory and the Redis store alike.
const DefaultIdle = 30 * 24 * time.Hour

// Request asks for one attempt's worst case across all the quotas that apply to it.
// Quota keys must be distinct. A store may keep a reference to Quotas until the reservation
// is settled, released or expired: do not modify them before then.
type Request struct {
	Quotas []Quota
	Amount Amount
}

// Reservation is a granted Request. It must be settled or released; one that is neither is
// settled at its worst case when it expires (see MemoryConfig.TTL).
type Reservation struct {
	ID        ID
	ExpiresAt time.Time
	// Warned has bit i set when this reservation took budget Quotas[i] across its WarnAt
	// threshold: the caller's cue to emit a warning event.
	Warned uint64
}

// Status is a quota's state at one instant.
type Status struct {
	// Quota is the quota this is the state of, with a Live quota's limit and burst as in
	// force. It points at the caller's own quota (in Request.Quotas or the quotas given to
	// Status) when that has no Live, so a status is a few words instead of a copy of the
	// quota: neither the store nor the caller may modify the quota while statuses of it
	// are in use.
	Quota *Quota
	// Used is what has been settled plus what is held by open reservations. For a Rate it is
	// the part of the burst not yet refilled.
	Used int64
	// Held is the part of Used taken by reservations not yet settled.
	Held int64
	// Remaining is Limit (or Burst) minus Used, never negative.
	Remaining int64
	// ResetAt is when a Day or Month window ends, or when a Rate is fully refilled; zero
	// for lifetime budgets and leases.
	ResetAt time.Time
}

// Fraction returns Used / Limit.
func (s *Status) Fraction() float64 { return float64(s.Used) / float64(s.Quota.Limit) }

// ID identifies a reservation. IDs are unique across processes: a random prefix per
// generator and a sequence number.
type ID [16]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the hexadecimal form produced by String.
func ParseID(s string) (ID, error) {
	var id ID
	if hex.DecodedLen(len(s)) != len(id) {
		return id, ErrUnknownReservation
	}
	_, err := hex.Decode(id[:], []byte(s))
	return id, err
}

// IDGen makes reservation IDs. The zero value is not usable; use NewIDGen.
type IDGen struct {
	prefix uint64
	seq    atomic.Uint64
}

// NewIDGen returns a generator with a random prefix.
func NewIDGen() *IDGen {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &IDGen{prefix: binary.BigEndian.Uint64(b[:])}
}

// Next returns a new unique ID. It is safe for concurrent use.
func (g *IDGen) Next() ID {
	var id ID
	binary.BigEndian.PutUint64(id[:8], g.prefix)
	binary.BigEndian.PutUint64(id[8:], g.seq.Add(1))
	return id
}
