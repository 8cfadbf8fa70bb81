package awskms_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/kekcache"
)

// countingProxy forwards requests to target and counts them.
func countingProxy(tb testing.TB, target string, n *atomic.Int64) string {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkReads opens small secrets of 100 records, read in turn, through a
// KEK on two local-kms regions, with and without the data-key cache, and
// reports the KMS calls (requests that reach local-kms, counted by a proxy)
// per 1,000 reads and the reads per second.
func BenchmarkReads(b *testing.B) {
	const records = 100
	ctx := testContext(b)
	rs := startRegions(b, "us-east-1", "us-west-2")
	var kmsCalls atomic.Int64
	cfg := config(rs...)
	for _, r := range rs {
		cfg.Endpoints[r.srv.Region] = countingProxy(b, r.srv.URL, &kmsCalls)
	}
	kek := mustNew(b, cfg)

	type record struct{ ct, aad []byte }
	recs := make([]record, records)
	for i := range recs {
		aad := secretAAD("sdb-1", fmt.Sprintf("app/secret-%d", i), 1)
		ct, err := envelope.New(kek).Seal(ctx, []byte(`{"password":"hunter2"}`), aad)
		if err != nil {
			b.Fatalf("Seal: %v", err)
		}
		recs[i] = record{ct, aad}
	}

	// cache=on starts with an empty cache, so its figures include the first
	// read of each record; cache=warm reads every record once before the
	// timer starts.
	for _, bc := range []struct {
		name string
		kek  func() envelope.KEK
		warm bool
	}{
		{"cache=off", func() envelope.KEK { return kek }, false},
		{"cache=on", func() envelope.KEK { return kekcache.New(kek, kekcache.Config{}) }, false},
		{"cache=warm", func() envelope.KEK { return kekcache.New(kek, kekcache.Config{}) }, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			env := envelope.New(bc.kek())
			if bc.warm {
				for _, r := range recs {
					if _, err := env.Open(ctx, r.ct, r.aad); err != nil {
						b.Fatalf("Open: %v", err)
					}
				}
			}
			before := kmsCalls.Load()
			i := 0
			for b.Loop() {
				r := recs[i%records]
				if _, err := env.Open(ctx, r.ct, r.aad); err != nil {
					b.Fatalf("Open: %v", err)
				}
				i++
			}
			calls := kmsCalls.Load() - before
			b.ReportMetric(float64(calls)*1000/float64(b.N), "kms-calls/1000reads")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
		})
	}
}
