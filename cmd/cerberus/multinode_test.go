package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The bounds that docs/operations.md ("What a node caches") documents for a
// change made on one node to take effect on another node over the same
// database:
//   - a logout (token revocation): within --token-cache-ttl;
//   - a permission removal or an SDB deletion: at once (nothing cached).
//
// The multi-node test runs its nodes with this --token-cache-ttl.
const multiNodeCacheTTL = 2 * time.Second

// pollSlack is what the test allows beyond a bound: the poll interval, the
// poll request itself, and a noisy machine.
const pollSlack = time.Second

// pollEvery is the interval between polls of node B.
const pollEvery = 10 * time.Millisecond

// TestMultiNode runs two server processes over one database, and checks
// that a logout, a permission removal and an SDB deletion made on node A
// take effect on node B within the documented bounds.
func TestMultiNode(t *testing.T) {
	// Not on SQLite: one server serves a SQLite data directory
	// (TestDataDirLock).
	for _, store := range []string{"postgres", "mysql"} {
		t.Run(store, func(t *testing.T) { testMultiNode(t, store) })
	}
}

func testMultiNode(t *testing.T, store string) {
	ttl := multiNodeCacheTTL
	args := append(storeArgs(t, store), "--token-cache-ttl", ttl.String())
	dataA := privateDir(t)
	a := startProc(t, append([]string{"--data", dataA}, args...)...)
	if a.password == "" {
		t.Fatal("node A printed no admin password")
	}
	dataB := dataA // SQLite: one database file, in the shared data directory
	if store != "sqlite" {
		// Node B runs elsewhere, with the same master key.
		dataB = privateDir(t)
		key, err := os.ReadFile(filepath.Join(dataA, masterKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dataB, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dataB, masterKeyFile), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := startProc(t, append([]string{"--data", dataB}, args...)...)
	if b.password != "" {
		t.Fatal("node B made a second admin")
	}
	const alicePW = "alice's long password"
	userArgs := []string{"user", "add", "alice", "--groups", "team-a", "--data", dataA}
	if store != "sqlite" {
		userArgs = append(userArgs, "--storage", store, "--dsn", dsnOf(args))
	}
	if code, out, errOut := runCmd(t, alicePW+"\n", noEnv, userArgs...); code != 0 {
		t.Fatalf("user add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	c := newAPIClient(10*time.Second, 4)
	defer c.close()
	A, B := a.URL(), b.URL()
	admin := c.mustLogin(t, A, "admin", a.password)
	alice := c.mustLogin(t, A, "alice", alicePW)
	sharedID, shared := c.createSDB(t, A, admin, sdbSpec{name: "shared", owner: "cerberus-admins", groups: map[string]string{"team-a": "read"}})
	c.must(t, 204, "PUT", A, shared+"db", admin, `{"password":"one"}`)
	ownID, own := c.createSDB(t, A, alice, sdbSpec{name: "team a", owner: "team-a"})
	c.must(t, 204, "PUT", A, own+"db", alice, `{"password":"two"}`)

	t.Run("Logout", func(t *testing.T) {
		// A stall of the machine between the read that fills node B's
		// cache and the first poll can let the entry expire before the
		// poll; then the attempt shows nothing about the cache, and runs
		// again.
		for attempt := 1; attempt <= 3; attempt++ {
			tok := c.mustLogin(t, A, "alice", alicePW)
			primed := time.Now()
			c.must(t, 200, "GET", B, shared+"db", tok, nil) // node B caches the token
			c.must(t, 204, "DELETE", A, "/v1/auth", tok, nil)
			revoked := time.Now()
			if res, err := c.do("GET", A, shared+"db", tok, nil); err != nil || res.status != 401 {
				t.Fatalf("node A, right after the logout it served: got %v %v, want 401", res, err)
			}
			r := pollB(t, revoked, ttl+pollSlack, func() (bool, string) {
				res, err := c.do("GET", B, shared+"db", tok, nil)
				if err != nil {
					t.Fatalf("node B: %v", err)
				}
				switch res.status {
				case 401:
					return true, res.String()
				case 200:
					return false, "200"
				}
				t.Fatalf("node B, after the logout on node A: got %s, want 200 (cached) or 401", res)
				return false, ""
			})
			t.Logf("%s: a logout on node A took effect on node B after %v (%d polls, %d answered 200 from the cache; --token-cache-ttl %v)",
				store, r.took.Round(time.Millisecond), r.polls, r.before, ttl)
			if !r.done {
				t.Fatalf("node B still accepted the token %v after the logout on node A; the documented bound is --token-cache-ttl = %v", r.took, ttl)
			}
			if r.took > ttl+pollSlack {
				t.Errorf("node B accepted the token for %v after the logout on node A; want at most --token-cache-ttl %v (+ %v slack)", r.took, ttl, pollSlack)
			}
			if r.before > 0 {
				return // the cache is real, and bounded
			}
			if since := r.firstPoll.Sub(primed); since < ttl/2 {
				t.Fatalf("node B refused the token at once (first poll %v after it cached it), although --token-cache-ttl is %v: is the token cache used?", since, ttl)
			}
			t.Logf("attempt %d: the first poll came %v after node B cached the token: trying again", attempt, r.firstPoll.Sub(primed))
		}
		t.Log("the machine stalled on every attempt: only the bound was checked")
	})

	t.Run("PermissionRemoval", func(t *testing.T) {
		c.must(t, 200, "GET", B, shared+"db", alice, nil)
		var sdb map[string]any
		if err := json.Unmarshal(c.must(t, 200, "GET", A, "/v2/safe-deposit-box/"+sharedID, admin, nil).body, &sdb); err != nil {
			t.Fatal(err)
		}
		sdb["user_group_permissions"] = []any{}
		c.must(t, 200, "PUT", A, "/v2/safe-deposit-box/"+sharedID, admin, sdb)
		changed := time.Now()
		r := pollB(t, changed, pollSlack, func() (bool, string) {
			res, err := c.do("GET", B, shared+"db", alice, nil)
			if err != nil {
				t.Fatalf("node B: %v", err)
			}
			return res.status == 403, res.String()
		})
		t.Logf("%s: a permission removal on node A took effect on node B after %v (%d polls; first answer %s)", store, r.took.Round(time.Millisecond), r.polls, r.first)
		if r.before > 0 {
			t.Errorf("node B let alice read %d time(s) after her group's permission was removed on node A (for %v; first answer %s); want 403 at once", r.before, r.took, r.first)
		}
		if !r.done {
			t.Fatalf("node B let alice read %v after the permission removal; want 403", r.took)
		}
		if res := c.must(t, 200, "GET", B, "/v2/safe-deposit-box", alice, nil); json.Valid(res.body) && containsID(res.body, sharedID) {
			t.Errorf("node B still lists the SDB for alice: %s", res)
		}
	})

	t.Run("SDBDeletion", func(t *testing.T) {
		c.must(t, 200, "GET", B, own+"db", alice, nil)
		c.must(t, 200, "GET", B, "/v2/safe-deposit-box/"+ownID, alice, nil)
		c.must(t, 204, "DELETE", A, "/v2/safe-deposit-box/"+ownID, alice, nil)
		deleted := time.Now()
		r := pollB(t, deleted, pollSlack, func() (bool, string) {
			res, err := c.do("GET", B, own+"db", alice, nil)
			if err != nil {
				t.Fatalf("node B: %v", err)
			}
			meta, err := c.do("GET", B, "/v2/safe-deposit-box/"+ownID, alice, nil)
			if err != nil {
				t.Fatalf("node B: %v", err)
			}
			return res.status == 404 && meta.status == 404, "secret " + res.String() + ", SDB " + meta.String()
		})
		t.Logf("%s: an SDB deletion on node A took effect on node B after %v (%d polls; first answers %s)", store, r.took.Round(time.Millisecond), r.polls, r.first)
		if r.before > 0 {
			t.Errorf("node B served the deleted SDB %d time(s) after its deletion on node A (first answers %s); want 404 at once", r.before, r.first)
		}
		if !r.done {
			t.Fatalf("node B served the deleted SDB for %v; want 404", r.took)
		}
	})
}

// dsnOf returns the value of --dsn in args.
func dsnOf(args []string) string {
	for i, a := range args {
		if a == "--dsn" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func containsID(list []byte, id string) bool {
	var sdbs []struct{ ID string }
	if json.Unmarshal(list, &sdbs) != nil {
		return false
	}
	for _, s := range sdbs {
		if s.ID == id {
			return true
		}
	}
	return false
}

// pollResult is what pollB saw.
type pollResult struct {
	done      bool
	took      time.Duration // from the change to the answer that showed it
	polls     int
	before    int       // answers that did not show the change yet
	first     string    // the first answer
	firstPoll time.Time // when the first poll began
}

// pollB calls check every pollEvery until it reports that the change made
// at since shows, or limit has passed since it.
func pollB(t *testing.T, since time.Time, limit time.Duration, check func() (done bool, answer string)) pollResult {
	t.Helper()
	var r pollResult
	for {
		start := time.Now()
		done, answer := check()
		r.took = time.Since(since)
		if r.polls == 0 {
			r.first, r.firstPoll = answer, start
		}
		r.polls++
		if done {
			r.done = true
			return r
		}
		r.before++
		if r.took > limit {
			return r
		}
		time.Sleep(pollEvery)
	}
}
