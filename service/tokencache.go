package service

import (
	"sync"
	"time"
)

// tokenCache keeps recent token lookups, keyed by token hash, so that a
// busy client does not cost a database read per request. An entry lives at
// most ttl: a token revoked on another node stops working here within ttl
// (on this node, at once). The cache holds at most max entries; when full,
// it drops expired entries, then arbitrary ones.
type tokenCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
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
// before now.
func (c *tokenCache) get(hash []byte, now time.Time) (*TokenRecord, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[string(hash)]
	if !ok || now.Sub(e.loaded) >= c.ttl || now.Before(e.loaded) {
		return nil, false
	}
	return e.rec, true
}

// put caches rec, loaded at now.
func (c *tokenCache) put(rec *TokenRecord, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
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
	if h, ok := c.hashes[id]; ok {
		c.drop(h, c.entries[h])
	}
}
