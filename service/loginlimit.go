package service

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/cerberus-go/cerberus"
)

// LoginLimits bound password guessing on one node. After UserFailures
// failed logins for one user name, or IPFailures from one client address,
// within Window, each further attempt is refused (429 with Retry-After)
// until Backoff has passed since the last one counted, a wait that doubles
// with each further failure up to MaxBackoff. Refused attempts do not count:
// there is no lockout, only a rate. A successful login resets its user
// name's count and takes its attempt back from its address's. Zero fields
// take the defaults of DefaultLoginLimits.
type LoginLimits struct {
	UserFailures int
	IPFailures   int
	Window       time.Duration
	Backoff      time.Duration
	MaxBackoff   time.Duration
	// FailureDelay is how long after it arrived a login that failed or
	// was refused is answered, at the soonest.
	FailureDelay time.Duration
	// TableSize bounds the user names, and separately the addresses,
	// tracked; beyond it the entries that expired, then those that refuse
	// nothing, then any, are forgotten.
	TableSize int
}

// DefaultLoginLimits returns the limits a zero LoginLimits field takes.
func DefaultLoginLimits() LoginLimits {
	return LoginLimits{
		UserFailures: 5,
		IPFailures:   20,
		Window:       15 * time.Minute,
		Backoff:      time.Second,
		MaxBackoff:   time.Minute,
		FailureDelay: time.Second,
		TableSize:    100000,
	}
}

func (l LoginLimits) withDefaults() LoginLimits {
	d := DefaultLoginLimits()
	if l.UserFailures <= 0 {
		l.UserFailures = d.UserFailures
	}
	if l.IPFailures <= 0 {
		l.IPFailures = d.IPFailures
	}
	if l.Window <= 0 {
		l.Window = d.Window
	}
	if l.Backoff <= 0 {
		l.Backoff = d.Backoff
	}
	if l.MaxBackoff <= 0 {
		l.MaxBackoff = d.MaxBackoff
	}
	if l.FailureDelay <= 0 {
		l.FailureDelay = d.FailureDelay
	}
	if l.TableSize <= 0 {
		l.TableSize = d.TableSize
	}
	return l
}

// loginClass orders logins for the password-hash slots: logins of user
// names and from addresses without failures go first, so that a flood of
// guesses cannot starve real users.
type loginClass int

const (
	// classTrusted: no failure of the user name nor of the address within
	// the window (since the address's latest success), and a success from
	// the address.
	classTrusted loginClass = iota
	// classClean: no such failure.
	classClean
	// classSuspect: anything else.
	classSuspect
	numClasses
)

// throttleEntry is the recent history of one user name or address.
type throttleEntry struct {
	count   int       // attempts counted in the window: failed, or being checked
	failed  int       // attempts that failed in the window (addresses: since their latest success)
	last    time.Time // the latest attempt counted
	success time.Time // the latest success (addresses)
	exists  bool      // the user name is an existing user's (user names)
}

// loginThrottle counts login attempts per user name and per address. An
// attempt counts before it is checked (begin), so that attempts checked at
// once cannot pass the limit; end records how it went.
type loginThrottle struct {
	lim LoginLimits

	mu    sync.Mutex
	users map[string]*throttleEntry
	ips   map[string]*throttleEntry
}

func newLoginThrottle(lim LoginLimits) *loginThrottle {
	return &loginThrottle{lim: lim, users: map[string]*throttleEntry{}, ips: map[string]*throttleEntry{}}
}

// loginAttempt is an attempt counted by begin.
type loginAttempt struct {
	user, ip string
	class    loginClass
}

// loginOutcome is how a counted attempt ended.
type loginOutcome int

const (
	// outcomeNone: the attempt was not checked (an outage, a full queue);
	// it is taken back.
	outcomeNone loginOutcome = iota
	outcomeFailure
	outcomeSuccess
)

// clientKey returns the throttling key of an address: IPv4 addresses as
// they are, IPv6 addresses by their /64 prefix (what one host usually
// holds), "" when unknown.
func clientKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// entry returns the entry of key in table, created or, when its window
// passed, cleared.
func (t *loginThrottle) entry(table map[string]*throttleEntry, key string, now time.Time) *throttleEntry {
	e, ok := table[key]
	if !ok {
		if len(table) >= t.lim.TableSize {
			t.evict(table, now)
		}
		e = &throttleEntry{}
		table[key] = e
		return e
	}
	if now.Sub(e.last) >= t.lim.Window || now.Before(e.last) {
		e.count, e.failed = 0, 0
	}
	return e
}

// evict forgets entries of a full table, down to 90% of its size: those
// whose window passed, then those that refuse nothing, then any.
func (t *loginThrottle) evict(table map[string]*throttleEntry, now time.Time) {
	target := t.lim.TableSize * 9 / 10
	for pass := 0; pass < 3 && len(table) > target; pass++ {
		for k, e := range table {
			if len(table) <= target {
				return
			}
			expired := now.Sub(e.last) >= t.lim.Window && now.Sub(e.success) >= t.lim.Window
			if pass == 2 || (pass == 0 && expired) || (pass == 1 && e.count < t.lim.UserFailures && e.count < t.lim.IPFailures) {
				delete(table, k)
			}
		}
	}
}

// openAt returns when e lets an attempt through, for a limit of failures.
func (t *loginThrottle) openAt(e *throttleEntry, limit int) time.Time {
	if e == nil || e.count < limit {
		return time.Time{}
	}
	d := t.lim.Backoff
	for i := limit; i < e.count && d < t.lim.MaxBackoff; i++ {
		d *= 2
	}
	return e.last.Add(min(d, t.lim.MaxBackoff))
}

// begin counts an attempt to log in as user ("" if no user can have the
// name) from ip ("" if unknown) at now. It returns the attempt, or the time
// to wait when the attempt is refused; known tells whether the user name
// was seen to be an existing user's, for the audit log.
func (t *loginThrottle) begin(user, ip string, now time.Time) (a loginAttempt, wait time.Duration, known bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ue, ie *throttleEntry
	if user != "" {
		ue = t.entry(t.users, user, now)
		known = ue.exists
	}
	if ip != "" {
		ie = t.entry(t.ips, ip, now)
	}
	open := t.openAt(ue, t.lim.UserFailures)
	if at := t.openAt(ie, t.lim.IPFailures); at.After(open) {
		open = at
	}
	if wait := open.Sub(now); wait > 0 {
		return loginAttempt{}, wait, known
	}
	a = loginAttempt{user: user, ip: ip, class: classSuspect}
	if (ue == nil || ue.failed == 0) && (ie == nil || ie.failed == 0) {
		a.class = classClean
		if ie != nil && !ie.success.IsZero() && now.Sub(ie.success) < t.lim.Window {
			a.class = classTrusted
		}
	}
	for _, e := range []*throttleEntry{ue, ie} {
		if e != nil {
			e.count++
			e.last = now
		}
	}
	return a, 0, known
}

// end records how an attempt that begin counted went.
func (t *loginThrottle) end(a loginAttempt, outcome loginOutcome, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ue, ie := t.users[a.user], t.ips[a.ip]
	switch outcome {
	case outcomeSuccess:
		if ue != nil {
			ue.count, ue.failed = 0, 0
		}
		if ie != nil {
			// The address holds a real user: its earlier failures no
			// longer lower its logins' priority (they still count).
			ie.count = max(0, ie.count-1)
			ie.failed = 0
			ie.success = now
		}
	case outcomeFailure:
		for _, e := range []*throttleEntry{ue, ie} {
			if e != nil {
				e.failed++
			}
		}
	case outcomeNone:
		for _, e := range []*throttleEntry{ue, ie} {
			if e != nil {
				e.count = max(0, e.count-1)
			}
		}
	}
}

// setExists records whether user is an existing user's name.
func (t *loginThrottle) setExists(user string, exists bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.users[user]; ok {
		e.exists = exists
	}
}

// maxPasswordSlots bounds the password checks that run at once; a node
// runs no more than it has cores (more would only make each slower).
const maxPasswordSlots = 4

// errPasswordBusy reports a login that found no password-hash slot in
// time. (A sentinel error value, never changed.)
var errPasswordBusy = errors.New("service: no password-hash slot")

// passwordGate hands out the password-hash slots, each of which takes tens
// of MiB of memory and a core for tens of milliseconds, by class: a freed
// slot goes to the longest-waiting login of the best class that may run:
// one slot is kept for trusted logins, and suspect ones hold at most one
// (slotsFrom). A login that would wait past its class's queue or
// wait bound is refused at once or when the wait ends, never held until its
// request times out.
type passwordGate struct {
	// slotsFrom[k] bounds the slots held by logins of class k or worse;
	// queue[k] the logins of class k that wait, maxWait[k] how long.
	slotsFrom [numClasses]int
	queue     [numClasses]int
	maxWait   [numClasses]time.Duration

	mu      sync.Mutex
	running [numClasses]int
	queues  [numClasses][]*gateWaiter
}

type gateWaiter struct {
	class   loginClass
	ready   chan struct{}
	granted bool
}

// newPasswordGate returns a gate of slots slots (at least 2).
func newPasswordGate(slots int) *passwordGate {
	slots = max(2, slots)
	return &passwordGate{
		slotsFrom: [numClasses]int{slots, slots - 1, 1},
		queue:     [numClasses]int{64, 64, 16},
		maxWait:   [numClasses]time.Duration{2 * time.Second, 2 * time.Second, time.Second},
	}
}

// canRun reports whether a login of class c may take a slot now: for each
// class k up to c, the logins running of class k or worse hold fewer than
// slotsFrom[k] slots.
func (g *passwordGate) canRun(c loginClass) bool {
	n := 0 // running of class k or worse
	for k := numClasses - 1; k >= 0; k-- {
		n += g.running[k]
		if k <= c && n >= g.slotsFrom[k] {
			return false
		}
	}
	return true
}

// acquire takes a slot for a login of class c, or returns errPasswordBusy.
func (g *passwordGate) acquire(ctx context.Context, c loginClass) (release func(), err error) {
	release = func() { g.release(c) }
	g.mu.Lock()
	if len(g.queues[c]) == 0 && g.canRun(c) {
		g.running[c]++
		g.mu.Unlock()
		return release, nil
	}
	if len(g.queues[c]) >= g.queue[c] {
		g.mu.Unlock()
		return nil, errPasswordBusy
	}
	w := &gateWaiter{class: c, ready: make(chan struct{})}
	g.queues[c] = append(g.queues[c], w)
	g.mu.Unlock()

	wait := g.maxWait[c]
	if dl, ok := ctx.Deadline(); ok {
		// Leave time to answer before the request times out.
		wait = min(wait, time.Until(dl)/2)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-w.ready:
		return release, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.granted {
		return release, nil
	}
	for i, x := range g.queues[c] {
		if x == w {
			g.queues[c] = append(g.queues[c][:i:i], g.queues[c][i+1:]...)
			break
		}
	}
	return nil, errPasswordBusy
}

func (g *passwordGate) release(c loginClass) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running[c]--
	for {
		var next *gateWaiter
		for k := range numClasses {
			if len(g.queues[k]) > 0 && g.canRun(k) {
				next, g.queues[k] = g.queues[k][0], g.queues[k][1:]
				break
			}
		}
		if next == nil {
			return
		}
		g.running[next.class]++
		next.granted = true
		close(next.ready)
	}
}

// verifyTimes keeps the durations of recent password checks, so that a
// login of an unknown user can take as long as one of a known user without
// spending a check.
type verifyTimes struct {
	mu   sync.Mutex
	ring [32]time.Duration
	n    int
}

func (v *verifyTimes) add(d time.Duration) {
	v.mu.Lock()
	v.ring[v.n%len(v.ring)] = d
	v.n++
	v.mu.Unlock()
}

// sample returns one of the recent durations, if there is one.
func (v *verifyTimes) sample() (time.Duration, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.n == 0 {
		return 0, false
	}
	return v.ring[rand.IntN(min(v.n, len(v.ring)))], true
}

// errTooManyAttempts is the answer to a login refused before its check.
func errTooManyAttempts(wait time.Duration) error {
	return &cerberus.RetryError{
		Err:   cerberus.Errorf(cerberus.ECodeTooManyAttempts, "Too many login attempts. Try again later."),
		After: wait,
	}
}
