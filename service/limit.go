package service

import (
	"sync"
	"time"
)

// Bounds of one-time codes: after maxMFAFailures codes for a user that
// were not accepted within mfaFailureWindow, every code is refused until
// the window passes. The count is per node.
const (
	maxMFAFailures   = 5
	mfaFailureWindow = 5 * time.Minute
	// maxTrackedUsers bounds the memory of the counter under a flood of
	// distinct user names; beyond it, stale entries are dropped first.
	maxTrackedUsers = 10000
)

// failureCounter counts recent attempts per user that did not succeed.
type failureCounter struct {
	mu    sync.Mutex
	users map[string]failures
}

type failures struct {
	count int
	since time.Time
}

// reserve counts an attempt of user at now, before it is evaluated, and
// reports whether it may be evaluated: false once maxMFAFailures attempts
// were counted within mfaFailureWindow. Counting first, under one lock,
// means that attempts evaluated concurrently (a slow unwrap of the seed)
// cannot exceed the limit; an attempt that succeeds calls reset.
func (c *failureCounter) reserve(user string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users == nil {
		c.users = map[string]failures{}
	}
	f := c.users[user]
	if now.Sub(f.since) >= mfaFailureWindow || now.Before(f.since) {
		f = failures{since: now}
	}
	if f.count >= maxMFAFailures {
		return false
	}
	f.count++
	c.users[user] = f
	if len(c.users) > maxTrackedUsers {
		for u, g := range c.users {
			if now.Sub(g.since) >= mfaFailureWindow || len(c.users) > maxTrackedUsers {
				delete(c.users, u)
			}
			if len(c.users) <= maxTrackedUsers/2 {
				break
			}
		}
	}
	return true
}

// reset forgets the failures of user.
func (c *failureCounter) reset(user string) {
	c.mu.Lock()
	delete(c.users, user)
	c.mu.Unlock()
}
