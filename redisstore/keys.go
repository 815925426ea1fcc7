package redisstore

import (
	"crypto/sha256"
	"encoding/base64"
	"sync"

	"github.com/tollgate/tollgate/quota"
)

// Key names are short and fixed-length: every call sends one per quota, and the hold
// stores them, so a quota key of any length (a session id, a scope of six labels) costs
// the same. A quota's key is named by the first 96 bits of the SHA-256 of its Quota.Key:
// finding another key with the same name takes 2^96 tries, so a tenant cannot aim at
// another's state; and two names that did collide would only share their counts, which
// makes both limits stricter, never looser.
//
//	{g}:t<h>          a rate: its TAT (unix ns, decimal)
//	{g}:l<h>          a lease quota: sorted set of hold ids by lease expiry (µs)
//	{g}:b<h>          a lifetime budget: hash of u (settled), h (held), x (TTL end, unix ms)
//	{g}:b<h>:<start>  a day's or month's budget: the same hash for the window that starts
//	                  at <start> (unix s)
//	{g}:r<id>         a hold (reservation), MessagePack; then a short-lived settled marker
//	{g}:e             the expiry index: sorted set of the ids of holds on budgets, by expiry
//
// <h> is 16 characters of base64url, <id> 22.

// keyNames names quota keys, remembering the names of recent ones: hashing costs more
// than the rest of building a call.
type keyNames struct {
	prefix string // "{group}:"
	mu     sync.RWMutex
	m      map[nameKey]string
}

type nameKey struct {
	key  string
	kind byte
}

// maxNames bounds the cache; when full it starts over, which costs some hashing.
const maxNames = 1 << 16

func (k *keyNames) state(q *quota.Quota) string {
	var c byte
	switch q.Window.Kind {
	case quota.Rate:
		c = 't'
	case quota.Lease:
		c = 'l'
	default:
		c = 'b'
	}
	nk := nameKey{q.Key, c}
	k.mu.RLock()
	name, ok := k.m[nk]
	k.mu.RUnlock()
	if ok {
		return name
	}
	sum := sha256.Sum256([]byte(q.Key))
	var b [16]byte
	base64.RawURLEncoding.Encode(b[:], sum[:12])
	name = k.prefix + string(c) + string(b[:])
	k.mu.Lock()
	if k.m == nil || len(k.m) >= maxNames {
		k.m = make(map[nameKey]string)
	}
	k.m[nk] = name
	k.mu.Unlock()
	return name
}

// holdID is a reservation id as key names and hold members spell it.
func holdID(id quota.ID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func (k *keyNames) hold(id quota.ID) string { return k.prefix + "r" + holdID(id) }

func (k *keyNames) index() string { return k.prefix + "e" }
