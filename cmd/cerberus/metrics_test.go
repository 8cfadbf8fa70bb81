package main

import (
	"encoding/json"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cerberus-go/cerberus/internal/kmstest"
)

var metricsLine = regexp.MustCompile(`Metrics are served at (http://\S+)`)

// scrape reads the metrics that the server s serves with --metrics-listen.
func scrape(t *testing.T, s *server) map[string]*dto.MetricFamily {
	t.Helper()
	m := metricsLine.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("the server did not say where its metrics are: stdout %q", s.stdout.String())
	}
	res, err := client.Get(m[1])
	if err != nil {
		t.Fatalf("scrape %s: %v", m[1], err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("scrape %s: %d %s", m[1], res.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("scrape %s: not the Prometheus text format: %v", m[1], err)
	}
	return fams
}

// sample returns the value of the sample of family name whose labels
// include want (a counter's or gauge's value, a histogram's count), and
// whether there is one.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// wantSample fails t unless family name has a sample with labels want
// whose value is at least min.
func wantSample(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string, min float64) {
	t.Helper()
	v, ok := sample(fams, name, want)
	if !ok {
		t.Errorf("no sample of %s with labels %v; the family: %v", name, want, fams[name])
		return
	}
	if v < min {
		t.Errorf("%s%v = %v, want at least %v", name, want, v, min)
	}
}

// TestMetrics scrapes the metrics of a server that served logins, secrets
// and a path that is no route, and checks them by name and label: requests
// by route pattern and status, logins by method and outcome, store and KEK
// calls, the token cache, the token count and the build. No label holds a
// path, a secret or a token that a caller sent.
func TestMetrics(t *testing.T) {
	off := startServer(t, privateDir(t))
	if metricsLine.MatchString(off.stdout.String()) {
		t.Fatalf("metrics are served without --metrics-listen: %q", off.stdout.String())
	}
	off.stop()

	s := startServer(t, privateDir(t), "--metrics-listen", "127.0.0.1:0")
	if code, _ := login(t, s.url, "admin", "not the password"); code != 401 {
		t.Fatalf("login with a wrong password: %d, want 401", code)
	}
	_, tok := login(t, s.url, "admin", s.password)
	values := rotFill(t, s.url, tok, "Metered")
	rotRead(t, s.url, tok, values)
	const secretPath, secretValue = "sentinel-path-q7", "sentinel-value-q7"
	for path := range values {
		base := path[:strings.LastIndex(path, "/")+1]
		if code, body := rotAPI(t, s.url, tok, "PUT", base+secretPath, `{"v":"`+secretValue+`"}`); code != 204 {
			t.Fatalf("PUT %s: %d %s", base+secretPath, code, body)
		}
		break
	}
	if code, _ := rotAPI(t, s.url, tok, "GET", "/no/such/route-"+secretPath, ""); code != 404 {
		t.Fatalf("GET of no route: %d, want 404", code)
	}
	if code, _ := rotAPI(t, s.url, "", "GET", "/metrics", ""); code != 401 {
		t.Errorf("GET /metrics on the API listener: %d, want 401 (metrics are served on --metrics-listen only)", code)
	}

	fams := scrape(t, s)
	secret := map[string]string{"route": "/v1/secret/{path...}"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	wantSample(t, fams, "cerberus_http_requests_total", with(secret, "method", "PUT", "status", "204"), 7)
	wantSample(t, fams, "cerberus_http_requests_total", with(secret, "method", "GET", "status", "200"), 3)
	wantSample(t, fams, "cerberus_http_request_duration_seconds", with(secret, "method", "GET", "status", "200"), 3)
	wantSample(t, fams, "cerberus_http_requests_total", map[string]string{"method": "GET", "route": "other", "status": "404"}, 1)
	wantSample(t, fams, "cerberus_http_requests_total", map[string]string{"method": "POST", "route": "/v2/safe-deposit-box", "status": "201"}, 1)
	wantSample(t, fams, "cerberus_http_requests_in_flight", nil, 0)
	wantSample(t, fams, "cerberus_logins_total", map[string]string{"method": "user", "outcome": "success"}, 1)
	wantSample(t, fams, "cerberus_logins_total", map[string]string{"method": "user", "outcome": "denied"}, 1)
	wantSample(t, fams, "cerberus_store_call_duration_seconds", map[string]string{"op": "FindSecret"}, 3)
	wantSample(t, fams, "cerberus_store_call_duration_seconds", map[string]string{"op": "PutSecret"}, 7)
	wantSample(t, fams, "cerberus_store_call_duration_seconds", map[string]string{"op": "FindTokenByHash"}, 1)
	wantSample(t, fams, "cerberus_kms_call_duration_seconds", map[string]string{"kek": "local", "op": "wrap"}, 7)
	wantSample(t, fams, "cerberus_kms_call_duration_seconds", map[string]string{"kek": "local", "op": "unwrap"}, 3)
	wantSample(t, fams, "cerberus_cache_requests_total", map[string]string{"cache": "token", "result": "hit"}, 1)
	wantSample(t, fams, "cerberus_cache_requests_total", map[string]string{"cache": "token", "result": "miss"}, 1)
	wantSample(t, fams, "cerberus_tokens", nil, 1)
	wantSample(t, fams, "cerberus_build_info", map[string]string{"version": version()}, 1)
	wantSample(t, fams, "go_goroutines", nil, 1)
	if v, _ := sample(fams, "cerberus_logins_total", map[string]string{"method": "user", "outcome": "denied"}); v != 1 {
		t.Errorf("cerberus_logins_total{method=user,outcome=denied} = %v, want 1 (one wrong password)", v)
	}

	// Labels come from bounded sets: nothing a caller sent.
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v := l.GetValue(); strings.Contains(v, secretPath) || strings.Contains(v, secretValue) || strings.Contains(v, tok) ||
					strings.Contains(v, "metered") {
					t.Errorf("%s has the label %s=%q, which holds what a caller sent", name, l.GetName(), v)
				}
			}
		}
	}
}

// TestMetricsOnAWSKMS checks the KMS calls and the data-key cache of a
// server on AWS KMS (local-kms): reads of the same secret are answered by
// the cache, and only misses call KMS.
func TestMetricsOnAWSKMS(t *testing.T) {
	west := kmstest.Start(t, "us-west-2")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCALKMS")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local-kms-ignores-signatures")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	s := startServer(t, privateDir(t), "--metrics-listen", "127.0.0.1:0", "--kek", "awskms",
		"--kms-key-arns", west.CreateKey(t), "--kms-endpoints", "us-west-2="+west.URL)
	_, tok := login(t, s.url, "admin", s.password)
	values := rotFill(t, s.url, tok, "Cached")
	const reads = 4
	for range reads {
		rotRead(t, s.url, tok, values)
	}
	fams := scrape(t, s)
	hits, _ := sample(fams, "cerberus_cache_requests_total", map[string]string{"cache": "data_key", "result": "hit"})
	misses, _ := sample(fams, "cerberus_cache_requests_total", map[string]string{"cache": "data_key", "result": "miss"})
	unwraps, _ := sample(fams, "cerberus_kms_call_duration_seconds", map[string]string{"kek": "awskms", "op": "unwrap"})
	wraps, _ := sample(fams, "cerberus_kms_call_duration_seconds", map[string]string{"kek": "awskms", "op": "wrap"})
	t.Logf("data-key cache: %v hits, %v misses; KMS: %v unwraps, %v wraps", hits, misses, unwraps, wraps)
	if hits < float64((reads-1)*len(values)) {
		t.Errorf("data-key cache hits = %v after %d reads of %d secrets, want at least %d", hits, reads, len(values), (reads-1)*len(values))
	}
	if misses < 1 || unwraps != misses {
		t.Errorf("data-key cache misses = %v, KMS unwraps = %v: want each miss, and only a miss, to call KMS", misses, unwraps)
	}
	if wraps < 6 {
		t.Errorf("KMS wraps = %v after 6 writes, want at least 6", wraps)
	}
	if _, ok := sample(fams, "cerberus_kms_call_errors_total", nil); ok {
		b, _ := json.Marshal(fams["cerberus_kms_call_errors_total"])
		t.Errorf("KMS call errors were counted: %s", b)
	}
}
