// Package kekcache caches the data keys that a key-encryption key unwraps,
// so that reading a hot record does not cost a call to a key management
// service each time, and limits the rate of the calls that do reach it.
//
// A Cache wraps an envelope.KEK and is one itself. Unwrap looks the data key
// up by the SHA-256 of the key id, the wrapped key and the aad; on a miss it
// calls the underlying KEK and keeps a copy of the data key. An entry leaves
// the cache, and its copy of the key is zeroed, when it is the least
// recently used one and the cache is full, when it is older than MaxAge
// (a timer removes it even if the cache is idle), or after it has served
// MaxUses unwraps. Concurrent misses of the same
// entry share one call. Wrap is never cached: every write draws and wraps a
// fresh data key.
//
// Every call to the underlying KEK, Wrap or Unwrap, first takes a token from
// a token bucket (golang.org/x/time/rate), so that a burst of reads never
// calls the key service faster than the configured rate; a call waits for a
// token as long as its context allows.
//
// # Trust model
//
// An entry is made only by a successful unwrap of exactly that key id,
// wrapped key and aad, so a hit returns what the underlying KEK would
// return; but a hit does not ask the KEK again, so revoking access to a key
// takes up to MaxAge to take effect on a running server. Cached data keys
// are in the process memory, which is out of the threat model; they are
// zeroed when they leave the cache, and callers get copies.
package kekcache

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/cerberus-go/cerberus/envelope"
)

// minSweep is the shortest wait between two sweeps of expired entries.
const minSweep = 10 * time.Millisecond

// Defaults of the fields of Config that are zero.
const (
	// DefaultMaxEntries is the default bound on the number of cached keys.
	DefaultMaxEntries = 10_000

	// DefaultMaxAge is the default time a key stays cached.
	DefaultMaxAge = 5 * time.Minute

	// DefaultMaxUses is the default number of unwraps a cached key answers.
	DefaultMaxUses = 10_000

	// DefaultRate is the default limit of calls per second to the
	// underlying KEK, and DefaultBurst the default bucket size. AWS KMS
	// allows an account at least 5,500 cryptographic calls per second in a
	// region, shared by all its users.
	DefaultRate  rate.Limit = 1000
	DefaultBurst            = 100
)

// Config configures a Cache. Zero or negative fields take the defaults.
type Config struct {
	// MaxEntries bounds the number of data keys in the cache; the least
	// recently used one leaves first.
	MaxEntries int

	// MaxAge bounds the time a data key stays in the cache after it was
	// unwrapped.
	MaxAge time.Duration

	// MaxUses bounds the number of Unwrap calls a data key answers, the one
	// that unwrapped it included. MaxUses 1 disables caching.
	MaxUses int

	// Rate limits the calls to the underlying KEK, in calls per second;
	// rate.Inf removes the limit. Burst is the number of calls that may be
	// made at once after a quiet period.
	Rate  rate.Limit
	Burst int

	// Now returns the current time; nil means time.Now. It sets the age of
	// entries only: the rate limiter uses the real clock.
	Now func() time.Time
}

// Stats counts the work of a Cache since it was made.
type Stats struct {
	// Hits counts Unwrap calls answered from the cache, including those
	// that waited for a concurrent miss of the same entry.
	Hits uint64

	// Misses counts Unwrap calls that called the underlying KEK.
	Misses uint64

	// Calls counts calls to the underlying KEK, Wrap and Unwrap, that got
	// past the rate limiter.
	Calls uint64

	// Entries is the number of data keys in the cache now.
	Entries int
}

// Cache is a KEK that caches the data keys of another KEK. It implements
// envelope.KEK and is safe for concurrent use if the underlying KEK is.
type Cache struct {
	kek     envelope.KEK
	limiter *rate.Limiter
	maxLen  int
	maxAge  time.Duration
	maxUses int
	now     func() time.Time

	hits, misses, calls atomic.Uint64

	mu       sync.Mutex
	entries  map[digest]*entry
	lru      list.List // of *entry, most recently used first
	byAge    list.List // of *entry, oldest first
	inflight map[digest]*call
	sweeper  *time.Timer // set while an entry is cached, fires when the oldest expires
}

var _ envelope.KEK = (*Cache)(nil)

// digest identifies an entry: the SHA-256 of its key id, wrapped key and
// aad.
type digest [sha256.Size]byte

type entry struct {
	id      digest
	key     []byte // the cache's own copy, zeroed when the entry leaves
	created time.Time
	uses    int
	lruElem *list.Element
	ageElem *list.Element
}

// call is an Unwrap of the underlying KEK in flight; done is closed when it
// returns, after its data key, if any, is in the cache.
type call struct {
	done chan struct{}
	err  error
}

// New returns a Cache in front of kek, which must not be nil.
func New(kek envelope.KEK, cfg Config) *Cache {
	c := &Cache{
		kek:      kek,
		maxLen:   cfg.MaxEntries,
		maxAge:   cfg.MaxAge,
		maxUses:  cfg.MaxUses,
		now:      cfg.Now,
		entries:  make(map[digest]*entry),
		inflight: make(map[digest]*call),
	}
	if c.maxLen <= 0 {
		c.maxLen = DefaultMaxEntries
	}
	if c.maxAge <= 0 {
		c.maxAge = DefaultMaxAge
	}
	if c.maxUses <= 0 {
		c.maxUses = DefaultMaxUses
	}
	if c.now == nil {
		c.now = time.Now
	}
	limit, burst := cfg.Rate, cfg.Burst
	if limit <= 0 {
		limit = DefaultRate
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	c.limiter = rate.NewLimiter(limit, burst)
	return c
}

// KeyID returns the key id of the underlying KEK.
func (c *Cache) KeyID() string { return c.kek.KeyID() }

// Wrap wraps dataKey with the underlying KEK, after waiting for the rate
// limiter. It does not cache anything.
//
// Returns the error of the underlying KEK unchanged, or an error wrapping
// the context's error if the context ends, or would end, before the rate
// limiter lets the call through.
func (c *Cache) Wrap(ctx context.Context, dataKey, aad []byte) ([]byte, error) {
	if err := c.wait(ctx); err != nil {
		return nil, err
	}
	return c.kek.Wrap(ctx, dataKey, aad)
}

// Unwrap returns a copy of the cached data key for keyID, wrapped and aad,
// or unwraps it with the underlying KEK, after waiting for the rate limiter,
// and caches it. Errors are never cached.
//
// Returns the error of the underlying KEK unchanged, which wraps
// envelope.ErrUnknownKey or envelope.ErrDecrypt as that KEK documents, or
// an error wrapping the context's error if the context ends, or would end,
// before the rate limiter lets the call through.
func (c *Cache) Unwrap(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	id := entryID(keyID, wrapped, aad)
	for {
		c.mu.Lock()
		if dataKey, ok := c.useLocked(id); ok {
			c.mu.Unlock()
			c.hits.Add(1)
			return dataKey, nil
		}
		if cl := c.inflight[id]; cl != nil {
			c.mu.Unlock()
			select {
			case <-cl.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("kekcache: unwrap: %w", ctx.Err())
			}
			// If the call that this one waited for failed because its
			// own context ended, try again with this context.
			if cl.err != nil && !(isContextError(cl.err) && ctx.Err() == nil) {
				return nil, cl.err
			}
			continue
		}
		cl := &call{done: make(chan struct{})}
		c.inflight[id] = cl
		c.mu.Unlock()

		c.misses.Add(1)
		dataKey, err := c.unwrap(ctx, keyID, wrapped, aad)

		c.mu.Lock()
		delete(c.inflight, id)
		if err == nil {
			c.insertLocked(id, dataKey)
		}
		c.mu.Unlock()
		cl.err = err
		close(cl.done)
		return dataKey, err
	}
}

func (c *Cache) unwrap(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	if err := c.wait(ctx); err != nil {
		return nil, err
	}
	return c.kek.Unwrap(ctx, keyID, wrapped, aad)
}

// wait takes a token from the rate limiter and counts the call it allows.
func (c *Cache) wait(ctx context.Context) error {
	if err := c.limiter.Wait(ctx); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("kekcache: wait for the rate limiter: %w", ctxErr)
		}
		// The limiter refuses to wait past the context's deadline.
		return fmt.Errorf("kekcache: wait for the rate limiter: %v: %w", err, context.DeadlineExceeded)
	}
	c.calls.Add(1)
	return nil
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// useLocked returns a copy of the data key of entry id, if it is cached,
// and counts the use.
func (c *Cache) useLocked(id digest) ([]byte, bool) {
	c.expireLocked()
	e := c.entries[id]
	if e == nil {
		return nil, false
	}
	dataKey := bytes.Clone(e.key)
	e.uses++
	if e.uses >= c.maxUses {
		c.removeLocked(e)
	} else {
		c.lru.MoveToFront(e.lruElem)
	}
	return dataKey, true
}

// insertLocked caches a copy of dataKey as entry id, which has served one
// use, and evicts the least recently used entries beyond the limit.
func (c *Cache) insertLocked(id digest, dataKey []byte) {
	if c.maxUses <= 1 {
		return
	}
	c.expireLocked()
	if old := c.entries[id]; old != nil {
		c.removeLocked(old)
	}
	e := &entry{id: id, key: bytes.Clone(dataKey), created: c.now(), uses: 1}
	e.lruElem = c.lru.PushFront(e)
	e.ageElem = c.byAge.PushBack(e)
	c.entries[id] = e
	for len(c.entries) > c.maxLen {
		c.removeLocked(c.lru.Back().Value.(*entry))
	}
	c.scheduleLocked()
}

// scheduleLocked starts a timer that removes the oldest entry when it
// expires, if there is an entry and no timer, so that expired keys are
// zeroed even if the cache is not used.
func (c *Cache) scheduleLocked() {
	if c.sweeper != nil || c.byAge.Len() == 0 {
		return
	}
	oldest := c.byAge.Front().Value.(*entry)
	d := c.maxAge - c.now().Sub(oldest.created)
	c.sweeper = time.AfterFunc(max(d, minSweep), c.sweep)
}

// sweep removes the expired entries and schedules the next sweep.
func (c *Cache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweeper = nil
	c.expireLocked()
	c.scheduleLocked()
}

// expireLocked removes the entries older than MaxAge. Entries are created
// in time order, so they are the first ones of byAge. Every call of the
// cache and a timer call it.
func (c *Cache) expireLocked() {
	now := c.now()
	for f := c.byAge.Front(); f != nil; f = c.byAge.Front() {
		e := f.Value.(*entry)
		if now.Sub(e.created) < c.maxAge {
			return
		}
		c.removeLocked(e)
	}
}

// removeLocked removes e from the cache and zeroes its data key.
func (c *Cache) removeLocked(e *entry) {
	delete(c.entries, e.id)
	c.lru.Remove(e.lruElem)
	c.byAge.Remove(e.ageElem)
	clear(e.key)
}

// Purge removes every entry from the cache and zeroes its data key, for
// example when the server stops.
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		c.removeLocked(e)
	}
	if c.sweeper != nil {
		c.sweeper.Stop()
		c.sweeper = nil
	}
}

// Stats returns the counters of the cache.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	c.expireLocked()
	n := len(c.entries)
	c.mu.Unlock()
	return Stats{
		Hits:    c.hits.Load(),
		Misses:  c.misses.Load(),
		Calls:   c.calls.Load(),
		Entries: n,
	}
}

// entryID returns the digest of a key id, wrapped key and aad. The lengths
// of the first two make the encoding unambiguous.
func entryID(keyID string, wrapped, aad []byte) digest {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(keyID)))
	h.Write(n[:])
	h.Write([]byte(keyID))
	binary.BigEndian.PutUint64(n[:], uint64(len(wrapped)))
	h.Write(n[:])
	h.Write(wrapped)
	h.Write(aad)
	var d digest
	h.Sum(d[:0])
	return d
}
