package http_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus/internal/apitest"
	"github.com/cerberus-go/cerberus/service"
)

// sourceClient returns a client whose connections come from the loopback
// address ip (any of 127.0.0.0/8), so that the server sees that client
// address.
func sourceClient(tb testing.TB, ip string) *http.Client {
	tb.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// loginFrom logs name in with password through c and returns the answer.
func loginFrom(ctx context.Context, c *http.Client, base, name, password string) (*apitest.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v2/auth/user", nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(name, password)
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &apitest.Response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// checkTooMany checks a 429 answer: code 99985 and a Retry-After of want
// seconds (0: any positive number).
func checkTooMany(tb testing.TB, call string, res *apitest.Response, want int) {
	tb.Helper()
	checkError(tb, call, res, http.StatusTooManyRequests, 99985)
	ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || ra < 1 || (want > 0 && ra != want) {
		tb.Errorf("%s: Retry-After = %q, want %d seconds", call, res.Header.Get("Retry-After"), want)
	}
}

// TestLoginFlood sends 400 concurrent bogus logins, from 200 client
// addresses, against 8 existing users with wrong passwords and against
// unknown user names, while a real user logs in again and again: no answer
// is a 5xx, every bogus login is answered 401 or 429, and every login of
// the real user succeeds. (How fast the real user gets in is measured by
// BenchmarkLoginFlood.)
func TestLoginFlood(t *testing.T) {
	t.Parallel()
	// Each existing user's password is checked twice, not 5 times, before
	// its attempts must wait: under the race detector a check costs
	// 6 times as much CPU, which the machine may share with other tests.
	// The request timeout is 30 s (not 5 s) for the same reason: the
	// answers must come from the limits, not from timeouts.
	h := newHarness(t, apitest.Options{Login: service.LoginLimits{UserFailures: 2}, RequestTimeout: 30 * time.Second})
	h.env.AddUser(t, "alice", "team")
	var victims []string
	for i := range 8 {
		victims = append(victims, fmt.Sprintf("victim%02d", i))
		h.env.AddUser(t, victims[i], "team")
	}
	real := sourceClient(t, "127.0.0.2")
	ctx := context.Background()
	if res, err := loginFrom(ctx, real, h.env.URL, "alice", apitest.Password); err != nil || res.Status != 200 {
		t.Fatalf("alice's first login: %v %v", res, err)
	}

	const bogus, addrs, rounds = 400, 200, 3
	clients := make([]*http.Client, addrs)
	for i := range clients {
		clients[i] = sourceClient(t, fmt.Sprintf("127.0.1.%d", i+1))
	}
	var mu sync.Mutex
	counts := map[int]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range bogus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for r := range rounds {
				name := fmt.Sprintf("nobody%03d-%d", i, r)
				if i%2 == 0 {
					name = victims[i%len(victims)]
				}
				call := fmt.Sprintf("bogus login %d.%d as %s from 127.0.1.%d", i, r, name, i%addrs+1)
				res, err := loginFrom(ctx, clients[i%addrs], h.env.URL, name, "not the password, no")
				if err != nil {
					t.Errorf("%s: %v", call, err)
					return
				}
				mu.Lock()
				counts[res.Status]++
				mu.Unlock()
				switch res.Status {
				case http.StatusUnauthorized:
					checkError(t, call, res, http.StatusUnauthorized, 99106)
				case http.StatusTooManyRequests:
					checkTooMany(t, call, res, 0)
				default:
					t.Errorf("%s: status %d, want 401 or 429; body %s", call, res.Status, res.Body)
				}
			}
		}()
	}
	flood := make(chan struct{})
	go func() { wg.Wait(); close(flood) }()
	close(start)
	logins := 0
	for done := false; !done || logins < 5; logins++ {
		select {
		case <-flood:
			done = true
		default:
		}
		res, err := loginFrom(ctx, real, h.env.URL, "alice", apitest.Password)
		if err != nil {
			t.Fatalf("alice's login %d during the flood: %v", logins, err)
		}
		if res.Status != http.StatusOK {
			t.Errorf("alice's login %d during the flood: status %d, want 200; body %s", logins, res.Status, res.Body)
		}
	}
	<-flood
	t.Logf("bogus logins by status: %v; alice logged in %d times", counts, logins)
	if counts[http.StatusUnauthorized] == 0 {
		t.Errorf("no bogus login was answered 401: were any checked?")
	}
}

// TestLoginThrottle checks the limits of password guessing: per user name
// (existing or not, alike) and per client address, each attempt counted
// before it is checked, refused with 429 and Retry-After for a delay that
// doubles, and a success that resets the user name's count.
func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	// Failed logins are answered at once, to keep the test short; the 4
	// attempts per user name let through at once get the 4 password-hash
	// slots at once, whatever the load of the machine.
	h := newHarness(t, apitest.Options{Login: service.LoginLimits{UserFailures: 4, IPFailures: 12, FailureDelay: time.Nanosecond}})
	h.env.AddUser(t, "alice", "team")
	ctx := context.Background()
	const wrong = "not the password, no"

	// burst sends n logins at once and returns how many got each status.
	burst := func(t *testing.T, c *http.Client, n int, name func(i int) string) map[int]int {
		t.Helper()
		var mu sync.Mutex
		got := map[int]int{}
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := loginFrom(ctx, c, h.env.URL, name(i), wrong)
				if err != nil {
					t.Errorf("login %d: %v", i, err)
					return
				}
				if res.Status == http.StatusTooManyRequests {
					checkTooMany(t, fmt.Sprintf("login %d of the burst", i), res, 0)
				}
				mu.Lock()
				got[res.Status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return got
	}
	login := func(t *testing.T, c *http.Client, name, password string) *apitest.Response {
		t.Helper()
		res, err := loginFrom(ctx, c, h.env.URL, name, password)
		if err != nil {
			t.Fatalf("login as %s: %v", name, err)
		}
		return res
	}

	for _, tt := range []struct{ name, user string }{{"ExistingUser", "alice"}, {"UnknownUser", "nobody-at-all"}} {
		t.Run(tt.name, func(t *testing.T) {
			c := sourceClient(t, "127.0.2."+map[string]string{"alice": "1", "nobody-at-all": "2"}[tt.user])
			// 11 wrong passwords at once: 4 are checked, 7 refused.
			got := burst(t, c, 11, func(int) string { return tt.user })
			if got[401] != 4 || got[429] != 7 {
				t.Fatalf("11 wrong passwords for %s at once: %v, want 4×401 and 7×429", tt.user, got)
			}
			// The delay doubles with each further failure: 1 s, then 2 s.
			checkTooMany(t, "login with the right password after 4 failures", login(t, c, tt.user, apitest.Password), 1)
			h.env.Clock.Advance(time.Second)
			checkError(t, "wrong password 1 s later", login(t, c, tt.user, wrong), 401, 99106)
			checkTooMany(t, "login right after the 5th failure", login(t, c, tt.user, apitest.Password), 2)
			h.env.Clock.Advance(time.Second)
			checkTooMany(t, "login 1 s after the 5th failure", login(t, c, tt.user, apitest.Password), 1)
			h.env.Clock.Advance(time.Second)
			if tt.user != "alice" {
				checkError(t, "login 2 s after the 5th failure", login(t, c, tt.user, apitest.Password), 401, 99106)
				return
			}
			mustStatus(t, "login with the right password 2 s after the 5th failure", login(t, c, tt.user, apitest.Password), 200)
			// The success reset the count: 4 more failures before a delay.
			got = burst(t, c, 4, func(int) string { return tt.user })
			if got[401] != 4 {
				t.Fatalf("4 wrong passwords after a success: %v, want 4×401", got)
			}
			checkTooMany(t, "5th wrong password after a success", login(t, c, tt.user, wrong), 1)
			h.env.Clock.Advance(time.Second)
			mustStatus(t, "login with the right password", login(t, c, tt.user, apitest.Password), 200)
		})
	}

	t.Run("ClientAddress", func(t *testing.T) {
		c := sourceClient(t, "127.0.2.3")
		// 17 guesses of 17 user names at once: 12 are checked.
		got := burst(t, c, 17, func(i int) string { return fmt.Sprintf("guess%02d", i) })
		if got[401] != 12 || got[429] != 5 {
			t.Fatalf("17 logins as 17 user names from one address at once: %v, want 12×401 and 5×429", got)
		}
		checkTooMany(t, "alice's login from that address", login(t, c, "alice", apitest.Password), 1)
		mustStatus(t, "alice's login from another address", login(t, sourceClient(t, "127.0.2.4"), "alice", apitest.Password), 200)
		h.env.Clock.Advance(time.Second)
		mustStatus(t, "alice's login from that address 1 s later", login(t, c, "alice", apitest.Password), 200)
		// Her success took only her own attempt back: the address is still
		// at its limit, and the next guess must wait for the delay.
		checkTooMany(t, "a guess from that address", login(t, c, "guess99", wrong), 1)
		h.env.Clock.Advance(time.Second)
		checkError(t, "a guess from that address 1 s later", login(t, c, "guess99", wrong), 401, 99106)
		checkTooMany(t, "another guess from that address", login(t, c, "guess98", wrong), 2)
	})
}
