package certificates

import (
	"context"
	"sync"
	"time"
)

// LookupTTL is how long a certificate looked up for a verification is answered from
// memory. Within this process a revocation forgets the record at once (revoke calls
// forgetLookups after its commit), so a check that starts after the revocation has
// returned always sees it. A revocation made by another replica, or a record changed
// in the database by other means, is seen here at most LookupTTL later.
const LookupTTL = time.Second

// lookupCacheMax bounds the records kept (a certificate row is about 2 kB).
const lookupCacheMax = 10000

// lookupCache keeps the certificates found by code for the verification (find): the
// lookup was the largest cost of a verification page (the SQLite driver prepares the
// statement again on every query). Only records found are kept; an unknown code is
// asked of the database every time, so a certificate issued a moment ago is found.
type lookupCache struct {
	mu sync.Mutex
	// gen counts the forgets: a lookup that started before one does not store what it
	// read, which may predate the change.
	gen  uint64
	recs map[string]lookupEntry // ente id + " " + code
}

type lookupEntry struct {
	c  Certificate // shared, read only: get returns a copy
	at time.Time
}

// get returns a copy of the record kept under key if younger than LookupTTL, and the
// generation to pass to put after reading the database otherwise.
func (lc *lookupCache) get(key string, now time.Time) (*Certificate, uint64) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	e, ok := lc.recs[key]
	if ok && now.Sub(e.at) < LookupTTL && !now.Before(e.at) {
		c := e.c
		return &c, lc.gen
	}
	return nil, lc.gen
}

// put keeps c under key, read at now, unless a forget happened since gen.
func (lc *lookupCache) put(key string, gen uint64, c *Certificate, now time.Time) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if gen != lc.gen {
		return
	}
	if lc.recs == nil || len(lc.recs) >= lookupCacheMax {
		lc.recs = map[string]lookupEntry{}
	}
	lc.recs[key] = lookupEntry{c: *c, at: now}
}

// forget drops every kept record (revocations are rare; dropping all is simplest and
// covers a certificate looked up under any ente).
func (lc *lookupCache) forget() {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.gen++
	lc.recs = nil
}

// forgetLookups drops the records kept for verification: called after a change to a
// certificate is committed.
func (m *Module) forgetLookups(context.Context) { m.lookups.forget() }
