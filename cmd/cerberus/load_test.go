package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadConcurrency is how many requests the throughput benchmark keeps in
// flight (GOALS.md: concurrency 16).
const loadConcurrency = 16

// BenchmarkAPIThroughput measures authenticated secret reads and durable
// secret writes per second at concurrency 16, through keep-alive HTTP on
// loopback to a server in this process, on each store; and, as the
// reference of GOALS.md, a bare net/http handler answering 100 bytes of
// JSON in the same run. It ends with the ratios of every figure to SQLite's
// and to the bare handler's.
//
//	go test ./cmd/cerberus/ -run NONE -bench BenchmarkAPIThroughput -benchtime 3s
func BenchmarkAPIThroughput(b *testing.B) {
	var mu sync.Mutex
	results := map[string]float64{} // sub-benchmark → ops/s of its last run
	record := func(name string, opsPerSec float64) {
		mu.Lock()
		results[name] = opsPerSec
		mu.Unlock()
	}
	c := newAPIClient(30*time.Second, 2*loadConcurrency)
	defer c.close()

	b.Run("bare", func(b *testing.B) {
		body := []byte(`{"status":"ok","data":{"value":"` + strings.Repeat("x", 100-35) + `"}}` + "\n")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}))
		defer srv.Close()
		record("bare", loadRun(b, func(int, int) error {
			res, err := c.hc.Get(srv.URL + "/")
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				return fmt.Errorf("status %d", res.StatusCode)
			}
			return err
		}))
	})

	// value is a secret body of 100 bytes.
	value := func(s string) string {
		v := `{"value":"` + s + `"}`
		return v + strings.Repeat(" ", max(0, 100-len(v)))
	}
	var writes atomic.Int64
	for _, store := range stores {
		b.Run(store, func(b *testing.B) {
			s := startInProc(b, append([]string{"--data", b.TempDir() + "/data"}, storeArgs(b, store)...)...)
			admin := c.mustLogin(b, s.url, "admin", s.password)
			_, base := c.createSDB(b, s.url, admin, sdbSpec{name: "load", owner: "cerberus-admins"})
			c.must(b, 204, "PUT", s.url, base+"read", admin, value("read me"))
			b.Run("read", func(b *testing.B) {
				record(store+"/read", loadRun(b, func(int, int) error {
					res, err := c.do("GET", s.url, base+"read", admin, nil)
					if err == nil && res.status != 200 {
						err = fmt.Errorf("read: %s", res)
					}
					return err
				}))
			})
			b.Run("write", func(b *testing.B) {
				record(store+"/write", loadRun(b, func(g, i int) error {
					n := writes.Add(1)
					res, err := c.do("PUT", s.url, fmt.Sprintf("%sw/%d", base, n), admin, value(fmt.Sprint(n)))
					if err == nil && res.status != 204 {
						err = fmt.Errorf("write: %s", res)
					}
					return err
				}))
			})
		})
	}

	mu.Lock()
	defer mu.Unlock()
	bare, sqlite := results["bare"], results["sqlite/read"]
	var lines []string
	for _, name := range []string{"bare", "sqlite/read", "sqlite/write", "postgres/read", "postgres/write", "mysql/read", "mysql/write"} {
		ops, ok := results[name]
		if !ok {
			continue
		}
		line := fmt.Sprintf("%-15s %9.0f ops/s", name, ops)
		if bare > 0 {
			line += fmt.Sprintf("  %5.3f× bare", ops/bare)
		}
		if kind := name[strings.Index(name, "/")+1:]; name != "bare" {
			if ref := results["sqlite/"+kind]; ref > 0 {
				line += fmt.Sprintf("  %5.3f× sqlite/%s", ops/ref, kind)
			}
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 {
		// Printed, not logged: the log of a benchmark that has
		// sub-benchmarks shows only with -v.
		fmt.Printf("throughput at concurrency %d (bare handler %.0f ops/s, SQLite read %.0f ops/s):\n\t%s\n",
			loadConcurrency, bare, sqlite, strings.Join(lines, "\n\t"))
	}
}

// loadRun runs op b.N times from loadConcurrency goroutines, reports ops/s
// and the 99th percentile latency, and returns the ops/s. op gets the
// goroutine's number and the operation's.
func loadRun(b *testing.B, op func(g, i int) error) float64 {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Pointer[error]
	lat := make([][]time.Duration, loadConcurrency)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range loadConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > b.N || failed.Load() != nil {
					return
				}
				t0 := time.Now()
				if err := op(g, i); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	ops := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(ops, "ops/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	return ops
}
