package redisstore

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"sync"

	"github.com/tollgate/tollgate/quota"
)

// A slot group's quota state lives in two keys (see lua/holds.lua): the hash {g}:s, whose
// fields hold every quota and every open reservation, and the reservation index {g}:z. A
// request's quotas are read with one HMGET and written with one HSET, whatever their
// number.
//
// Names are short and fixed-length: every call sends one per quota, and the reservation
// stores them, so a quota key of any length (a session id, a scope of six labels) costs
// the same. A quota is named by the first 96 bits of the SHA-256 of its Quota.Key (<h>,
// 16 characters of base64url): finding another key with the same name takes 2^96 tries, so
// a tenant cannot aim at another's state; and two names that did collide would only share
// their counts, which makes both limits stricter, never looser.

// keyNames names a slot group's keys and its quotas' fields, remembering the names of
// recent quota keys: hashing and concatenating cost more than the rest of building a call.
type keyNames struct {
	prefix string // "{group}:"
	mu     sync.RWMutex
	m      map[nameKey]*fieldNames
}

type nameKey struct {
	key  string
	kind byte
}

// fieldNames are a quota's names in the state hash: its base name and, for a lifetime
// budget, its settled, held and TTL fields (a day's or month's add the window).
type fieldNames struct {
	base, u, h, x string
}

// maxNames bounds the cache; when full it starts over, which costs some hashing.
const maxNames = 1 << 16

// kindLetter is the first letter of a quota's name: its kind, so that the scripts can
// tell a rate's field from a budget's, and a day's from a month's.
func kindLetter(k quota.Kind) byte {
	switch k {
	case quota.Rate:
		return 't'
	case quota.Day:
		return 'd'
	case quota.Month:
		return 'm'
	case quota.Lease:
		return 'l'
	}
	return 'b'
}

// fields returns q's names in the state hash.
func (k *keyNames) fields(q *quota.Quota) *fieldNames {
	nk := nameKey{q.Key, kindLetter(q.Window.Kind)}
	k.mu.RLock()
	f, ok := k.m[nk]
	k.mu.RUnlock()
	if ok {
		return f
	}
	sum := sha256.Sum256([]byte(q.Key))
	var b [16]byte
	base64.RawURLEncoding.Encode(b[:], sum[:12])
	base := string(nk.kind) + string(b[:])
	f = &fieldNames{base: base, u: base + "u", h: base + "h", x: base + "x"}
	k.mu.Lock()
	if k.m == nil || len(k.m) >= maxNames {
		k.m = make(map[nameKey]*fieldNames)
	}
	k.m[nk] = f
	k.mu.Unlock()
	return f
}

// field returns q's base name in the state hash.
func (k *keyNames) field(q *quota.Quota) string { return k.fields(q).base }

// window returns a day's or month's base name in the window starting at start (unix s).
func window(base string, start int64) string { return base + ":" + strconv.FormatInt(start, 10) }

// holdID is a reservation id as the scripts spell it.
func holdID(id quota.ID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func (k *keyNames) state() string { return k.prefix + "s" }

func (k *keyNames) index() string { return k.prefix + "z" }

// lock is the rebuild lock (lua/lock.lua): a token and a TTL, so that one replica
// rebuilds a lost state.
func (k *keyNames) lock() string { return k.prefix + "b" }
