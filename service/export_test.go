package service

import "time"

// LoginTableSizes returns how many user names and client addresses the
// login throttle tracks.
func (s *Service) LoginTableSizes() (users, addrs int) {
	s.logins.mu.Lock()
	defer s.logins.mu.Unlock()
	return len(s.logins.users), len(s.logins.ips)
}

// ClientRates exposes the token buckets of STS logins to the tests.
type ClientRates = clientRates

// NewClientRates is newClientRates.
var NewClientRates = newClientRates

// Take is take.
func (c *ClientRates) Take(key string, now time.Time) (time.Duration, bool) { return c.take(key, now) }

// Len returns how many buckets c holds.
func (c *ClientRates) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.bucket)
}
