package service

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cerberus-go/cerberus"
)

// tokenCache keeps recent token lookups, keyed by token hash, so that a
// busy client does not cost a database read per request. An entry lives at
// most ttl: a token revoked on another node stops working here within ttl
// (on this node, at once). The cache holds at most max entries; when full,
// it drops expired entries, then arbitrary ones.
//
// A removal wins over lookups in flight: every removal moves the cache to a
// new generation, and put stores a record only if the cache is still in the
// generation get saw before the record was read from the store. So a
// request that read a token just before its logout cannot cache it again
// after the logout. Callers remove a token from the cache after deleting
// it from the store: a lookup that starts later finds it gone there.
type tokenCache struct {
	ttl time.Duration
	max int
	// hits and misses count the lookups of get.
	hits, misses atomic.Uint64

	mu      sync.Mutex
	gen     uint64                // incremented by every removal
	entries map[string]tokenEntry // by token hash
	hashes  map[string]string     // token id → token hash
}

type tokenEntry struct {
	rec    *TokenRecord
	loaded time.Time
}

func newTokenCache(ttl time.Duration, max int) *tokenCache {
	return &tokenCache{ttl: ttl, max: max, entries: map[string]tokenEntry{}, hashes: map[string]string{}}
}

// get returns the cached record of hash, if it was loaded less than ttl
// before now, and the current generation, to give to put after a lookup in
// the store.
func (c *tokenCache) get(hash []byte, now time.Time) (*TokenRecord, uint64, bool) {
	if c.ttl <= 0 {
		return nil, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[string(hash)]
	if !ok || now.Sub(e.loaded) >= c.ttl || now.Before(e.loaded) {
		c.misses.Add(1)
		return nil, c.gen, false
	}
	c.hits.Add(1)
	return e.rec, c.gen, true
}

// put caches rec, loaded at now, unless something was removed from the
// cache since get returned gen: the record may have been read before that
// removal.
func (c *tokenCache) put(rec *TokenRecord, now time.Time, gen uint64) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if now.Sub(e.loaded) >= c.ttl {
				c.drop(k, e)
			}
		}
		for k, e := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			c.drop(k, e)
		}
	}
	c.entries[string(rec.Hash)] = tokenEntry{rec: rec, loaded: now}
	c.hashes[rec.ID] = string(rec.Hash)
}

func (c *tokenCache) drop(hash string, e tokenEntry) {
	delete(c.entries, hash)
	delete(c.hashes, e.rec.ID)
}

// remove forgets the token with the given id.
func (c *tokenCache) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if h, ok := c.hashes[id]; ok {
		c.drop(h, c.entries[h])
	}
}

// removePrincipal forgets every token of the principal.
func (c *tokenCache) removePrincipal(typ cerberus.PrincipalType, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for h, e := range c.entries {
		if e.rec.PrincipalType == typ && e.rec.Principal == name {
			c.drop(h, e)
		}
	}
}
