package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	cerberushttp "github.com/cerberus-go/cerberus/http"
	"github.com/cerberus-go/cerberus/internal/dbtest"
	"github.com/cerberus-go/cerberus/internal/storetest"
)

const (
	// outageAnswerWithin bounds how long an API request may take to fail
	// while the database is down (refusing connections, or hanging): the
	// request timeout, plus a second of slack for a busy machine.
	outageAnswerWithin = cerberushttp.DefaultRequestTimeout + time.Second
	// outageClientTimeout is how long the test waits for an answer at all.
	outageClientTimeout = 10 * time.Second
	// outageRecoverWithin bounds how long a node takes to serve again once
	// the database is back.
	outageRecoverWithin = 10 * time.Second
)

// TestDatabaseOutage runs a server whose database is reached through a
// proxy that the test cuts: while the database refuses connections or
// hangs, API requests fail fast with 503 and code 99997 (never 500, a wrong
// 401, or a hang) and /healthcheck answers 503 DOWN; when the database is
// back, the server recovers on its own.
func TestDatabaseOutage(t *testing.T) {
	for _, store := range []string{"postgres", "mysql"} {
		t.Run(store, func(t *testing.T) { testDatabaseOutage(t, store) })
	}
}

func testDatabaseOutage(t *testing.T, store string) {
	var target string
	var dsnVia func(addr string) string
	switch store {
	case "postgres":
		dsn := dbtest.Postgres(t)
		target = dbtest.PostgresRun(t).Addr
		dsnVia = func(addr string) string { return dbtest.PostgresDSNWith(dsn, "addr", addr) }
	case "mysql":
		cfg := dbtest.MySQLConfig(t)
		target = cfg.Addr
		dsnVia = func(addr string) string {
			c := cfg.Clone()
			c.Addr = addr
			return c.FormatDSN()
		}
	}
	proxy := storetest.NewProxy(t, target)
	s := startInProc(t, "--data", privateDir(t), "--storage", store, "--dsn", dsnVia(proxy.Addr()))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", s.stderr.String())
		}
	})
	c := newAPIClient(outageClientTimeout, 16)
	defer c.close()
	admin := c.mustLogin(t, s.url, "admin", s.password)
	_, base := c.createSDB(t, s.url, admin, sdbSpec{name: "outage", owner: "cerberus-admins"})
	c.must(t, 204, "PUT", s.url, base+"db", admin, `{"password":"before"}`)
	c.must(t, 200, "GET", s.url, base+"db", admin, nil) // admin's token is in the node's cache now
	// A token the node has not looked up yet: while the database is down,
	// it must not be answered 401.
	fresh := c.mustLogin(t, s.url, "admin", s.password)

	type call struct {
		name    string
		do      func() (response, error)
		status  int
		checkOK func(response) string // "" if the answer is right
	}
	wantUnavailable := func(r response) string {
		if r.status != 503 || r.code() != 99997 {
			return "want 503 with code 99997"
		}
		return ""
	}
	loginCall := func() (response, error) {
		r, _, err := c.login(s.url, "admin", s.password)
		return r, err
	}
	calls := []call{
		{"healthcheck", func() (response, error) { return c.do("GET", s.url, "/healthcheck", "", nil) }, 503, func(r response) string {
			if r.status != 503 || !strings.Contains(string(r.body), `"DOWN"`) {
				return `want 503 {"status":"DOWN"}`
			}
			return ""
		}},
		{"login", loginCall, 503, wantUnavailable},
		{"secret read (cached token)", func() (response, error) { return c.do("GET", s.url, base+"db", admin, nil) }, 503, wantUnavailable},
		{"secret read (token not cached)", func() (response, error) { return c.do("GET", s.url, base+"db", fresh, nil) }, 503, wantUnavailable},
		{"secret write", func() (response, error) {
			return c.do("PUT", s.url, base+"db", admin, `{"password":"during"}`)
		}, 503, wantUnavailable},
		{"SDB list", func() (response, error) { return c.do("GET", s.url, "/v2/safe-deposit-box", admin, nil) }, 503, wantUnavailable},
	}

	// during runs every call at once while the database is down, and
	// checks that each fails fast with the right answer.
	during := func(phase string) {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var report []string
		for _, cl := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				res, err := cl.do()
				took := time.Since(start)
				mu.Lock()
				defer mu.Unlock()
				report = append(report, fmt.Sprintf("%s %v", cl.name, took.Round(time.Millisecond)))
				switch {
				case err != nil:
					t.Errorf("%s while the database %s: no answer after %v (%v); want %d within %v", cl.name, phase, took.Round(time.Millisecond), err, cl.status, outageAnswerWithin)
				case cl.checkOK(res) != "":
					t.Errorf("%s while the database %s: got %s after %v; %s", cl.name, phase, res, took.Round(time.Millisecond), cl.checkOK(res))
				case took > outageAnswerWithin:
					t.Errorf("%s while the database %s: answered %d after %v; want an answer within %v", cl.name, phase, res.status, took.Round(time.Millisecond), outageAnswerWithin)
				}
			}()
		}
		wg.Wait()
		t.Logf("%s: while the database %s, answer times: %s", store, phase, strings.Join(report, ", "))
	}

	// recover waits until the node serves every call again, on its own.
	recover := func(phase string) {
		t.Helper()
		back := time.Now()
		var last string
		for {
			ok := true
			if r, err := c.do("GET", s.url, "/healthcheck", "", nil); err != nil || r.status != 200 || !strings.Contains(string(r.body), `"UP"`) {
				ok, last = false, fmt.Sprintf("healthcheck: %v %v", r, err)
			} else if r, tok, err := c.login(s.url, "admin", s.password); err != nil || r.status != 200 || tok == "" {
				ok, last = false, fmt.Sprintf("login: %v %v", r, err)
			} else if r, err := c.do("PUT", s.url, base+"db", admin, `{"password":"after"}`); err != nil || r.status != 204 {
				ok, last = false, fmt.Sprintf("secret write: %v %v", r, err)
			} else if r, err := c.do("GET", s.url, base+"db", fresh, nil); err != nil || r.status != 200 {
				ok, last = false, fmt.Sprintf("secret read: %v %v", r, err)
			} else if v, err := secretValue(r.body); err != nil || v["password"] != "after" {
				ok, last = false, fmt.Sprintf("secret read: %v %v", r, err)
			}
			if ok {
				t.Logf("%s: the node served again %v after the database came back (%s)", store, time.Since(back).Round(time.Millisecond), phase)
				return
			}
			if time.Since(back) > outageRecoverWithin {
				t.Fatalf("the node does not serve %v after the database came back (%s): %s", outageRecoverWithin, phase, last)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// The database drops every connection and is back at once, as after
	// a restart or a failover: requests on the pooled connections, now
	// dead, must be served on new ones (or at worst answered 503), never
	// answered 500.
	var cutCalls []string
	for round := 1; round <= 3; round++ {
		var wg sync.WaitGroup
		for range 16 { // fill the pool
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.do("GET", s.url, "/v2/safe-deposit-box", admin, nil)
			}()
		}
		wg.Wait()
		proxy.Forward() // drops every connection, and forwards new ones
		var mu sync.Mutex
		statuses := map[string]int{}
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, cl := range []struct{ name, method, path, body string }{
					{"SDB list", "GET", "/v2/safe-deposit-box", ""},
					{"secret read", "GET", base + "db", ""},
					{"secret write", "PUT", base + fmt.Sprintf("cut%d", g), `{"k":"v"}`},
				} {
					var body any
					if cl.body != "" {
						body = cl.body
					}
					res, err := c.do(cl.method, s.url, cl.path, admin, body)
					mu.Lock()
					switch {
					case err != nil:
						t.Errorf("%s right after the database dropped its connections: %v", cl.name, err)
					case res.status/100 == 2 || res.status == 503 && res.code() == 99997:
						statuses[fmt.Sprintf("%s %d", cl.name, res.status)]++
					default:
						statuses[fmt.Sprintf("%s %d", cl.name, res.status)]++
						if len(cutCalls) < 5 {
							cutCalls = append(cutCalls, fmt.Sprintf("%s %s: %s", cl.method, cl.path, res))
						}
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		t.Logf("%s: right after the database dropped its connections (round %d), answers: %v", store, round, statuses)
	}
	if len(cutCalls) > 0 {
		t.Errorf("right after the database dropped its connections (and was back at once), requests answered other than 2xx or 503 99997, such as:\n%s", strings.Join(cutCalls, "\n"))
	}

	proxy.Refuse()
	during("refuses connections")
	proxy.Forward()
	recover("after refusing")

	proxy.Hang()
	during("hangs")
	proxy.Forward()
	recover("after hanging")

	var sdbs []json.RawMessage
	if err := json.Unmarshal(c.must(t, 200, "GET", s.url, "/v2/safe-deposit-box", admin, nil).body, &sdbs); err != nil || len(sdbs) != 1 {
		t.Errorf("SDB list after the outages: %d SDBs, %v; want 1", len(sdbs), err)
	}
}
