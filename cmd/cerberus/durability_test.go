package main

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	durabilityWriters = 8
	durabilityKills   = 4
)

// TestDurability writes secrets through the API from concurrent writers
// while it kills the server process with SIGKILL at random moments and
// starts it again on the same data; then every write the server
// acknowledged with a 2xx must be there, with its value.
func TestDurability(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) { testDurability(t, store) })
	}
}

// ackedWrite is a write the server acknowledged.
type ackedWrite struct {
	path, value string
}

func testDurability(t *testing.T, store string) {
	p := startProc(t, append([]string{"--data", privateDir(t)}, storeArgs(t, store)...)...)
	c := newAPIClient(5*time.Second, 2*durabilityWriters)
	defer c.close()
	admin := c.mustLogin(t, p.URL(), "admin", p.password)
	_, base := c.createSDB(t, p.URL(), admin, sdbSpec{name: "durable", owner: "cerberus-admins"})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	acked := make([][]ackedWrite, durabilityWriters)
	var mu sync.Mutex
	failures := map[string]int{} // write failures by kind
	for w := range durabilityWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				path := fmt.Sprintf("w%d/s%06d", w, i)
				value := "value of " + path
				res, err := c.do("PUT", p.URL(), base+path, admin, map[string]string{"path": path, "value": value})
				if err == nil && res.status/100 == 2 {
					acked[w] = append(acked[w], ackedWrite{path, value})
					continue
				}
				kind := "transport error"
				if err == nil {
					kind = fmt.Sprintf("status %d code %d", res.status, res.code())
				}
				mu.Lock()
				failures[kind]++
				mu.Unlock()
				time.Sleep(5 * time.Millisecond) // the server is down, or restarting
			}
		}()
	}
	for k := 1; k <= durabilityKills; k++ {
		time.Sleep(time.Duration(100+rand.IntN(401)) * time.Millisecond)
		start := time.Now()
		p.restart()
		t.Logf("%s: kill %d (SIGKILL) and restart: serving again after %v", store, k, time.Since(start).Round(time.Millisecond))
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	var all []ackedWrite
	for _, a := range acked {
		all = append(all, a...)
	}
	if len(all) == 0 {
		t.Fatalf("%s: no write was acknowledged", store)
	}
	// Read every acknowledged write back.
	var lost []string
	var next int
	var readers sync.WaitGroup
	for range durabilityWriters {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				mu.Lock()
				if next == len(all) || len(lost) > 20 {
					mu.Unlock()
					return
				}
				a := all[next]
				next++
				mu.Unlock()
				var problem string
				res, err := c.do("GET", p.URL(), base+a.path, admin, nil)
				switch {
				case err != nil:
					problem = err.Error()
				case res.status != 200:
					problem = res.String()
				default:
					v, err := secretValue(res.body)
					if err != nil || v["path"] != a.path || v["value"] != a.value {
						problem = fmt.Sprintf("wrong value %s", res.body)
					}
				}
				if problem != "" {
					mu.Lock()
					lost = append(lost, a.path+": "+problem)
					mu.Unlock()
				}
			}
		}()
	}
	readers.Wait()
	var kinds []string
	for k, n := range failures {
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(kinds)
	t.Logf("%s: %d writes acknowledged across %d SIGKILLs, %d lost; unacknowledged attempts: %s",
		store, len(all), durabilityKills, len(lost), strings.Join(kinds, ", "))
	if len(lost) > 0 {
		t.Errorf("%s: acknowledged writes lost or wrong after SIGKILL (first %d):\n%s", store, len(lost), strings.Join(lost, "\n"))
	}
}
