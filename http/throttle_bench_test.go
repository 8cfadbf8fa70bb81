package http_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus/internal/apitest"
)

// BenchmarkLoginFlood measures a real user's logins (from its own address,
// with the right password) while 400 concurrent bogus logins — from 200
// client addresses, half against 20 existing users with wrong passwords,
// half against unknown user names — keep arriving, each sent as soon as the
// previous one of its sender is answered; and, in the same run, the same
// logins with no flood. It reports the real logins' p50, p99 and max in
// milliseconds, and the bogus logins per second and how many were
// answered 5xx.
//
//	go test ./http/ -run NONE -bench BenchmarkLoginFlood -benchtime 200x
func BenchmarkLoginFlood(b *testing.B) {
	for _, flood := range []int{0, 400} {
		b.Run(fmt.Sprintf("bogus=%d", flood), func(b *testing.B) {
			env := apitest.New(b, apitest.Options{})
			env.AddUser(b, "alice", "team")
			var victims []string
			for i := range 20 {
				victims = append(victims, fmt.Sprintf("victim%02d", i))
				env.AddUser(b, victims[i], "team")
			}
			real := sourceClient(b, "127.0.0.2")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if res, err := loginFrom(ctx, real, env.URL, "alice", apitest.Password); err != nil || res.Status != 200 {
				b.Fatalf("alice's first login: %v %v", res, err)
			}
			clients := make([]*http.Client, 200)
			for i := range clients {
				clients[i] = sourceClient(b, fmt.Sprintf("127.0.1.%d", i+1))
			}
			var sent, fivexx, other atomic.Int64
			var wg sync.WaitGroup
			for i := range flood {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := 0; ctx.Err() == nil; r++ {
						name := fmt.Sprintf("nobody%03d-%d", i, r)
						if i%2 == 0 {
							name = victims[(i+r)%len(victims)]
						}
						res, err := loginFrom(ctx, clients[i%len(clients)], env.URL, name, "not the password, no")
						if err != nil {
							continue // canceled at the end
						}
						sent.Add(1)
						switch {
						case res.Status >= 500:
							fivexx.Add(1)
						case res.Status != 401 && res.Status != 429:
							other.Add(1)
						}
					}
				}()
			}
			time.Sleep(time.Duration(flood) * time.Millisecond) // let the flood start
			lat := make([]time.Duration, 0, b.N)
			failed := 0
			sent0 := sent.Load()
			start := time.Now()
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				res, err := loginFrom(ctx, real, env.URL, "alice", apitest.Password)
				lat = append(lat, time.Since(t0))
				if err != nil || res.Status != 200 {
					failed++
				}
			}
			b.StopTimer()
			elapsed := time.Since(start)
			bogus := sent.Load() - sent0
			cancel()
			wg.Wait()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
			b.ReportMetric(float64(bogus)/elapsed.Seconds(), "bogus/s")
			b.ReportMetric(float64(fivexx.Load()), "bogus-5xx")
			if failed > 0 || other.Load() > 0 {
				b.Errorf("%d of %d real logins failed; %d bogus logins answered neither 401, 429 nor 5xx", failed, b.N, other.Load())
			}
		})
	}
}
