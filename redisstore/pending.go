package redisstore

import (
	"sync"
	"time"

	"github.com/tollgate/tollgate/quota"
)

// pending remembers the reservations this Store made and has not yet settled: their quotas
// and worst case, from which a settle computes the exact refund of its rates and reads its
// statuses. Sharded, because every reserve adds and every settle takes.
type pending struct {
	shards [16]pendingShard
}

type pendingShard struct {
	mu   sync.Mutex
	m    map[quota.ID]openRes
	adds int
}

type openRes struct {
	quotas  []quota.Quota
	amount  quota.Amount
	starts  []int64 // the window start (unix s) of each day or month quota; nil if none
	expires int64   // unix ns
	epoch   int64   // the epoch of the state it was made in (rebuild.go); 0 unknown
}

func (p *pending) shard(id quota.ID) *pendingShard { return &p.shards[id[15]&15] }

func (p *pending) put(id quota.ID, r openRes) {
	sh := p.shard(id)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[quota.ID]openRes)
	}
	sh.m[id] = r
	if sh.adds++; sh.adds >= 1024 {
		// Reservations that expired unsettled would stay otherwise. A minute's margin
		// covers a client clock behind the server's.
		sh.adds = 0
		cut := time.Now().Add(-time.Minute).UnixNano()
		for k, v := range sh.m {
			if v.expires < cut {
				delete(sh.m, k)
			}
		}
	}
	sh.mu.Unlock()
}

func (p *pending) take(id quota.ID) (openRes, bool) {
	sh := p.shard(id)
	sh.mu.Lock()
	r, ok := sh.m[id]
	delete(sh.m, id)
	sh.mu.Unlock()
	return r, ok
}

// get returns a reservation's record without taking it.
func (p *pending) get(id quota.ID) (openRes, bool) {
	sh := p.shard(id)
	sh.mu.Lock()
	r, ok := sh.m[id]
	sh.mu.Unlock()
	return r, ok
}

// olderRes is one of the reservations older returns.
type olderRes struct {
	id quota.ID
	r  openRes
}

// older returns the reservations made in an epoch other than epoch (and known).
func (p *pending) older(epoch int64) []olderRes {
	var out []olderRes
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		for id, r := range sh.m {
			if r.epoch != 0 && r.epoch != epoch {
				out = append(out, olderRes{id, r})
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// setEpoch moves a reservation still open from epoch from to epoch to.
func (p *pending) setEpoch(id quota.ID, from, to int64) {
	sh := p.shard(id)
	sh.mu.Lock()
	if r, ok := sh.m[id]; ok && r.epoch == from {
		r.epoch = to
		sh.m[id] = r
	}
	sh.mu.Unlock()
}
