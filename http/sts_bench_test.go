package http_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	cerberushttp "github.com/cerberus-go/cerberus/http"
	"github.com/cerberus-go/cerberus/internal/apitest"
	"github.com/cerberus-go/cerberus/stsauth/ststest"
)

// timingTransport records how long each call to STS took.
type timingTransport struct {
	mu   sync.Mutex
	last time.Duration
}

func (t *timingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		// The client reads the (small) body after RoundTrip returns; the
		// headers arriving is the round trip.
		t.mu.Lock()
		t.last = time.Since(start)
		t.mu.Unlock()
	}
	return res, err
}

// BenchmarkSTSLogin measures STS logins through the API handler against the
// local fake STS: logins/s, and the server-side overhead of a login over its
// STS round trip (handler time minus the time of the STS call, which
// includes storing the token durably).
func BenchmarkSTSLogin(b *testing.B) {
	tt := &timingTransport{}
	// The benchmark logs in from one address as fast as it can.
	env := apitest.New(b, apitest.Options{STS: true, STSTransport: tt, STSLoginBurst: 1 << 30})
	env.AddUser(b, "owner", "team")
	owner := env.Login(b, "owner")
	arn := "arn:aws:iam::111122223333:role/bench"
	res := env.Do(b, "POST", "/v2/safe-deposit-box", owner, map[string]any{
		"name": "bench", "category_id": env.CategoryID(b, owner, "app"), "owner": "team",
		"iam_principal_permissions": []map[string]string{{"iam_principal_arn": arn, "role_id": env.RoleID(b, owner, "read")}},
	})
	if res.Status != 201 {
		b.Fatalf("create SDB: %d %s", res.Status, res.Body)
	}
	creds := ststest.Credentials{AccessKeyID: "AKIDBENCH", SecretKey: "bench-secret", SessionToken: "bench-token"}
	env.STS.AddCredentials(creds.AccessKeyID, creds.SecretKey, creds.SessionToken, "arn:aws:sts::111122223333:assumed-role/bench/s")
	hd := ststest.Sign(creds, ststest.SignOptions{Region: "us-west-2"})
	handler := cerberushttp.NewServer(cerberushttp.Config{Auth: env.Service, SDBs: env.Service, Secrets: env.Service})
	login := func() int {
		req := httptest.NewRequest("POST", "/v2/auth/sts-identity", nil)
		req.Header.Set("Authorization", hd.Authorization)
		req.Header.Set("X-Amz-Date", hd.AmzDate)
		req.Header.Set("X-Amz-Security-Token", hd.SecurityToken)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Code
	}

	b.Run("Sequential", func(b *testing.B) {
		overhead := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			if code := login(); code != 200 {
				b.Fatalf("login: %d", code)
			}
			total := time.Since(start)
			tt.mu.Lock()
			overhead = append(overhead, total-tt.last)
			tt.mu.Unlock()
		}
		slices.Sort(overhead)
		q := func(p float64) float64 {
			return float64(overhead[int(p*float64(len(overhead)-1))].Microseconds()) / 1000
		}
		b.ReportMetric(q(0.50), "overhead-p50-ms")
		b.ReportMetric(q(0.99), "overhead-p99-ms")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	})
	b.Run("Parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if code := login(); code != 200 {
					b.Errorf("login: %d", code)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	})
}
