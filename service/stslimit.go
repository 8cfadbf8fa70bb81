package service

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the STS login rate per client address. Each STS login costs
// an outbound call to AWS that nobody had to authenticate for, so a
// client's rate is bounded; a workload logs in once per token lifetime.
const (
	DefaultSTSLoginRate  = 5  // logins per second, sustained
	DefaultSTSLoginBurst = 30 // logins at once
)

// clientRates is a token bucket per client address, bounded in number: a
// full table forgets the buckets that are full again (idle clients), then
// the least recently used.
type clientRates struct {
	mu     sync.Mutex
	limit  rate.Limit
	burst  int
	max    int
	bucket map[string]*clientBucket
}

type clientBucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newClientRates(perSecond float64, burst, max int) *clientRates {
	return &clientRates{limit: rate.Limit(perSecond), burst: burst, max: max, bucket: map[string]*clientBucket{}}
}

// take takes a token of key's bucket at now, or returns how long until one
// is there.
func (c *clientRates) take(key string, now time.Time) (wait time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, found := c.bucket[key]
	if !found {
		if len(c.bucket) >= c.max {
			c.evict(now)
		}
		b = &clientBucket{lim: rate.NewLimiter(c.limit, c.burst)}
		c.bucket[key] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// evict forgets buckets down to 90% of the bound: the full ones first,
// then the least recently used.
func (c *clientRates) evict(now time.Time) {
	target := c.max * 9 / 10
	for k, b := range c.bucket {
		if len(c.bucket) <= target {
			return
		}
		if b.lim.TokensAt(now) >= float64(c.burst) {
			delete(c.bucket, k)
		}
	}
	for len(c.bucket) > target {
		var oldest string
		var at time.Time
		for k, b := range c.bucket {
			if oldest == "" || b.last.Before(at) {
				oldest, at = k, b.last
			}
		}
		delete(c.bucket, oldest)
	}
}
