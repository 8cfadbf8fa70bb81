package service

import (
	"sync"
	"time"
)

// Bounds of wrong one-time codes: after maxMFAFailures wrong codes for a
// user within mfaFailureWindow, every code is refused until the window
// passes. The count is per node.
const (
	maxMFAFailures   = 5
	mfaFailureWindow = 5 * time.Minute
	// maxTrackedUsers bounds the memory of the counter under a flood of
	// distinct user names; beyond it, stale entries are dropped first.
	maxTrackedUsers = 10000
)

// failureCounter counts recent failures per user.
type failureCounter struct {
	mu    sync.Mutex
	users map[string]failures
}

type failures struct {
	count int
	since time.Time
}

// allow reports whether user may try again at now.
func (c *failureCounter) allow(user string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.users[user]
	return !ok || now.Sub(f.since) >= mfaFailureWindow || f.count < maxMFAFailures
}

// fail records a failure of user at now.
func (c *failureCounter) fail(user string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users == nil {
		c.users = map[string]failures{}
	}
	f := c.users[user]
	if now.Sub(f.since) >= mfaFailureWindow {
		f = failures{since: now}
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
}

// reset forgets the failures of user.
func (c *failureCounter) reset(user string) {
	c.mu.Lock()
	delete(c.users, user)
	c.mu.Unlock()
}
