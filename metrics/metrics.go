// Package metrics holds the Prometheus metrics of a Cerberus server and
// serves them. A Metrics registers its collectors on the registry it is
// given, never on the global one, so that two servers in one process (the
// tests) keep apart. The other packages do not import Prometheus: they
// report to small interfaces that they declare (http.Metrics, the store and
// KEK observers of cmd/cerberus), which a Metrics implements.
//
// # Labels
//
// Every label value comes from a bounded set that the server defines:
// route patterns (such as "/v1/secret/{path...}"), method names, status
// codes, operation names. No label holds a secret, a token, a user name,
// an SDB or a path that a caller sent.
//
// The metrics, their labels and example alerts are documented in
// docs/operations.md ("Metrics").
package metrics

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cerberus-go/cerberus"
)

const namespace = "cerberus"

// Metrics holds the metrics of one server.
type Metrics struct {
	reg *prometheus.Registry

	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	logins      *prometheus.CounterVec
	storeCalls  *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	kmsCalls    *prometheus.HistogramVec
	kmsErrors   *prometheus.CounterVec
}

// BuildInfo describes the binary, for cerberus_build_info.
type BuildInfo struct {
	Version  string // the release, such as "1.2.0" or "devel-0123456789ab"
	Revision string // the VCS commit, if known
}

// New returns the metrics of a server, registered on reg (which should be
// a registry of their own, from prometheus.NewRegistry) with the Go runtime
// and process collectors.
func New(reg *prometheus.Registry, build BuildInfo) *Metrics {
	// Buckets of the latency histograms, in seconds: from a cached read
	// (well under a millisecond) to the request timeout.
	latencyBuckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_total",
			Help: "API requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, by method, route pattern and status code.",
			Buckets: latencyBuckets,
		}, []string{"method", "route", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "API requests being served.",
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "logins_total",
			Help: "Logins by method (user, mfa, sts, refresh, kms) and outcome (success, mfa_required, denied, throttled, unavailable, invalid, error).",
		}, []string{"method", "outcome"}),
		storeCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "store", Name: "call_duration_seconds",
			Help:    "Duration of the calls to the store (the database), by operation.",
			Buckets: latencyBuckets,
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "store", Name: "call_errors_total",
			Help: "Store calls that failed, by operation and kind: unavailable (the database cannot be reached or timed out) or internal.",
		}, []string{"op", "kind"}),
		kmsCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "kms", Name: "call_duration_seconds",
			Help:    "Duration of the calls to the key-encryption key (AWS KMS or the local key ring), by KEK and operation (wrap, unwrap); cached data keys make none.",
			Buckets: latencyBuckets,
		}, []string{"kek", "op"}),
		kmsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "kms", Name: "call_errors_total",
			Help: "Calls to the key-encryption key that failed, by KEK and operation.",
		}, []string{"kek", "op"}),
	}
	reg.MustRegister(m.requests, m.latency, m.inFlight, m.logins, m.storeCalls, m.storeErrors, m.kmsCalls, m.kmsErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; its labels describe the binary.",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision, "goversion": runtime.Version()},
	}, func() float64 { return 1 }))
	return m
}

// Handler returns the handler of GET /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// Registry returns the registry the metrics are registered on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest counts an answered API request and its duration. route is
// the pattern that served it, never the request's path.
func (m *Metrics) ObserveRequest(method, route string, status int, d time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(method, route, code).Inc()
	m.latency.WithLabelValues(method, route, code).Observe(d.Seconds())
}

// RequestStarted counts a request in flight until done is called.
func (m *Metrics) RequestStarted() (done func()) {
	m.inFlight.Inc()
	return m.inFlight.Dec
}

// ObserveLogin counts a login by method and outcome.
func (m *Metrics) ObserveLogin(method, outcome string) {
	m.logins.WithLabelValues(method, outcome).Inc()
}

// ObserveStoreCall records a call to the store: op is the name of the
// store method. Domain answers (not found, conflict, …) are not errors;
// ECodeUnavailable is counted as "unavailable", anything else as
// "internal".
func (m *Metrics) ObserveStoreCall(op string, d time.Duration, err error) {
	m.storeCalls.WithLabelValues(op).Observe(d.Seconds())
	if err == nil {
		return
	}
	switch cerberus.Code(err) {
	case cerberus.ECodeUnavailable:
		m.storeErrors.WithLabelValues(op, "unavailable").Inc()
	case cerberus.ECodeInternal:
		if errors.Is(err, context.Canceled) {
			return // the caller went away
		}
		m.storeErrors.WithLabelValues(op, "internal").Inc()
	}
}

// ObserveKMSCall records a call to the key-encryption key kek ("awskms",
// "local") of operation op ("wrap", "unwrap").
func (m *Metrics) ObserveKMSCall(kek, op string, d time.Duration, err error) {
	m.kmsCalls.WithLabelValues(kek, op).Observe(d.Seconds())
	if err != nil && !errors.Is(err, context.Canceled) {
		m.kmsErrors.WithLabelValues(kek, op).Inc()
	}
}

// AddCache exposes the counts of the cache name ("data_key", "token") as
// cerberus_cache_requests_total{cache=name, result="hit"|"miss"}: stats
// returns the hits and misses of the cache since it was made.
func (m *Metrics) AddCache(name string, stats func() (hits, misses uint64)) {
	for _, result := range []string{"hit", "miss"} {
		hit := result == "hit"
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "cache", Name: "requests_total",
			Help:        "Lookups of a cache (data_key: unwrapped data keys; token: token lookups), by result: hit or miss.",
			ConstLabels: prometheus.Labels{"cache": name, "result": result},
		}, func() float64 {
			h, mi := stats()
			if hit {
				return float64(h)
			}
			return float64(mi)
		}))
	}
}

// tokenCountTimeout bounds the query of a scrape, and tokenCountAge is how
// long its answer serves the scrapes that follow, so that scrapes cost the
// database one count query at most every tokenCountAge.
const (
	tokenCountTimeout = 2 * time.Second
	tokenCountAge     = 15 * time.Second
)

// AddTokenCount exposes as cerberus_tokens what count returns: the number
// of tokens in the store that have not expired. A count that fails is left
// out of the scrape (and counted as a store error by the store's
// observer).
func (m *Metrics) AddTokenCount(count func(ctx context.Context) (int64, error)) {
	m.reg.MustRegister(&tokenCollector{count: count, desc: prometheus.NewDesc(namespace+"_tokens",
		"Tokens in the store that have not expired, every node's, counted at most every 15 s.", nil, nil)})
}

type tokenCollector struct {
	count func(ctx context.Context) (int64, error)
	desc  *prometheus.Desc

	mu   sync.Mutex
	at   time.Time
	last float64
}

func (c *tokenCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *tokenCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || time.Since(c.at) >= tokenCountAge {
		ctx, cancel := context.WithTimeout(context.Background(), tokenCountTimeout)
		n, err := c.count(ctx)
		cancel()
		if err != nil {
			return
		}
		c.at, c.last = time.Now(), float64(n)
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, c.last)
}
