package kekcache

// CachedKey returns the cache's own copy of the data key of an entry, not a
// copy of it, or nil if the entry is not cached. Tests use it to check that
// keys are zeroed when they leave the cache.
func (c *Cache) CachedKey(keyID string, wrapped, aad []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[entryID(keyID, wrapped, aad)]; e != nil {
		return e.key
	}
	return nil
}
