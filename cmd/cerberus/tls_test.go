package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1000),
		Subject:               pkix.Name{CommonName: "Cerberus test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a server certificate for 127.0.0.1 with the given serial
// number to certFile and its key to keyFile (mode 0600), each replaced
// at once, as an operator's tooling would.
func (ca *testCA) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "cerberus.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	replaceFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// replaceFile replaces path with b at once (write beside it, rename).
func replaceFile(t *testing.T, path string, b []byte, mode os.FileMode) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tlsClient is a client that trusts ca, with HTTP/2, adjusted by adjust.
func tlsClient(ca *testCA, adjust func(*tls.Config)) *http.Client {
	cfg := &tls.Config{RootCAs: ca.pool}
	if adjust != nil {
		adjust(cfg)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

// servedSerial returns the serial number of the certificate that a new
// connection to url is served.
func servedSerial(t *testing.T, ca *testCA, url string) int64 {
	t.Helper()
	c := tlsClient(ca, nil)
	defer c.CloseIdleConnections()
	res, err := c.Get(url + "/healthcheck")
	if err != nil {
		t.Fatalf("GET %s/healthcheck over TLS: %v", url, err)
	}
	res.Body.Close()
	return res.TLS.PeerCertificates[0].SerialNumber.Int64()
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// TestTLS runs `cerberus server --tls-cert --tls-key` as a process and
// checks what a real TLS client sees: HTTP/2, TLS 1.2 at least, no clear
// text; then replaces the certificate and sends SIGHUP: new connections
// get the new certificate, an open connection keeps working, and a bad
// new pair is refused with a log line while the old one is kept.
func TestTLS(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, 1, certFile, keyFile)
	p := startProc(t, "--data", privateDir(t), "--tls-cert", certFile, "--tls-key", keyFile)
	url := p.URL()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("the server says it serves %s; want https://", url)
	}
	addr := strings.TrimPrefix(url, "https://")

	// An open connection, kept through the reloads below.
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	kept := tlsClient(ca, nil)
	defer kept.CloseIdleConnections()
	get := func(c *http.Client) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url+"/healthcheck", nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s/healthcheck: %v", url, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	res := get(kept)
	if res.StatusCode != 200 || res.ProtoMajor != 2 || res.TLS.NegotiatedProtocol != "h2" {
		t.Fatalf("GET /healthcheck over TLS: status %d, protocol %s, ALPN %q; want 200 over HTTP/2 (h2)", res.StatusCode, res.Proto, res.TLS.NegotiatedProtocol)
	}
	if got := res.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 1 {
		t.Fatalf("served certificate serial %d, want 1", got)
	}

	t.Run("Versions", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			version uint16
			ok      bool
		}{
			{"TLS1.0", tls.VersionTLS10, false},
			{"TLS1.1", tls.VersionTLS11, false},
			{"TLS1.2", tls.VersionTLS12, true},
			{"TLS1.3", tls.VersionTLS13, true},
		} {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, MinVersion: tc.version, MaxVersion: tc.version})
			if err == nil {
				got := conn.ConnectionState().Version
				conn.Close()
				if !tc.ok || got != tc.version {
					t.Errorf("%s: handshake succeeded with version %x; want refused", tc.name, got)
				}
			} else if tc.ok {
				t.Errorf("%s: handshake failed: %v; want it to succeed", tc.name, err)
			}
		}
	})

	t.Run("NoClearText", func(t *testing.T) {
		res, err := client.Get("http://" + addr + "/healthcheck")
		if err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("GET http://%s/healthcheck in clear: status %d, want 400 (an HTTP request to an HTTPS server)", addr, res.StatusCode)
			}
		}
	})

	// A new pair, then SIGHUP: new connections get it.
	ca.issue(t, 2, certFile, keyFile)
	p.signal(syscall.SIGHUP)
	waitFor(t, "new connections to be served the certificate of serial 2", func() bool { return servedSerial(t, ca, url) == 2 })
	res = get(kept)
	if res.StatusCode != 200 || !reused {
		t.Fatalf("after the reload, GET on the open connection: status %d, reused %v; want 200 on the same connection", res.StatusCode, reused)
	}
	if got := res.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 1 {
		t.Errorf("the open connection's certificate serial is %d, want 1 (it was opened before the reload)", got)
	}

	// Bad new pairs are refused and the old one kept.
	spare := filepath.Join(dir, "spare")
	refusals := func() int { return strings.Count(p.stderr.String(), "refused the new TLS certificate and key") }
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T)
	}{
		{"NotPEM", func(t *testing.T) { replaceFile(t, certFile, []byte("not a certificate\n"), 0o644) }},
		{"KeyOfAnotherCertificate", func(t *testing.T) {
			ca.issue(t, 3, certFile, spare) // the key of serial 2 stays in keyFile
		}},
		{"KeyReadableByOthers", func(t *testing.T) {
			ca.issue(t, 4, certFile, keyFile)
			if err := os.Chmod(keyFile, 0o640); err != nil {
				t.Fatal(err)
			}
		}},
		{"KeyMissing", func(t *testing.T) {
			ca.issue(t, 5, certFile, keyFile)
			if err := os.Remove(keyFile); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := refusals()
			tc.prepare(t)
			p.signal(syscall.SIGHUP)
			waitFor(t, "the log line refusing the new pair", func() bool { return refusals() > before })
			if got := servedSerial(t, ca, url); got != 2 {
				t.Errorf("after a refused reload, new connections are served serial %d, want 2 (the old certificate)", got)
			}
		})
	}
	if res := get(kept); res.StatusCode != 200 {
		t.Errorf("the open connection after the refused reloads: status %d", res.StatusCode)
	}

	// A good pair again is taken.
	ca.issue(t, 6, certFile, keyFile)
	p.signal(syscall.SIGHUP)
	waitFor(t, "new connections to be served the certificate of serial 6", func() bool { return servedSerial(t, ca, url) == 6 })
}

// TestTLSBadFiles checks that the server does not start on a key file
// that others can read, or on a pair that does not load.
func TestTLSBadFiles(t *testing.T) {
	ca := newTestCA(t)
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, certFile, keyFile string)
		want    func(certFile, keyFile string) string
	}{
		{"KeyGroupReadable", func(t *testing.T, certFile, keyFile string) {
			if err := os.Chmod(keyFile, 0o640); err != nil {
				t.Fatal(err)
			}
		}, func(_, keyFile string) string { return "run chmod 600 " + keyFile }},
		{"KeyOfAnotherCertificate", func(t *testing.T, certFile, keyFile string) {
			ca.issue(t, 2, certFile, keyFile+".other")
		}, func(string, string) string { return "--tls-cert" }},
		{"CertMissing", func(t *testing.T, certFile, keyFile string) {
			if err := os.Remove(certFile); err != nil {
				t.Fatal(err)
			}
		}, func(certFile, _ string) string { return certFile }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
			ca.issue(t, 1, certFile, keyFile)
			tc.prepare(t, certFile, keyFile)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := run(ctx, []string{"server", "--listen", "127.0.0.1:0", "--data", privateDir(t), "--tls-cert", certFile, "--tls-key", keyFile},
				strings.NewReader(""), &out, &errOut, noEnv)
			if want := tc.want(certFile, keyFile); code == 0 || !strings.Contains(errOut.String(), want) {
				t.Fatalf("exit %d, stderr %q; want a failure mentioning %q", code, errOut.String(), want)
			}
		})
	}
}

// TestPlainHTTPWarning checks the warning, on standard output and in the
// log, of a server that serves HTTP in clear to other hosts.
func TestPlainHTTPWarning(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, 1, certFile, keyFile)
	for _, tc := range []struct {
		name string
		args []string
		warn bool
	}{
		{"Loopback", []string{"--listen", "127.0.0.1:0"}, false},
		{"AllInterfaces", []string{"--listen", "0.0.0.0:0"}, true},
		{"AllInterfacesNoHost", []string{"--listen", ":0"}, true},
		{"AllInterfacesTLS", []string{"--listen", "0.0.0.0:0", "--tls-cert", certFile, "--tls-key", keyFile}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, privateDir(t), tc.args...)
			s.stop()
			out, log := s.stdout.String(), s.stderr.String()
			gotOut := strings.Contains(out, "WARNING: serving HTTP without TLS")
			gotLog := strings.Contains(log, `"level":"WARN","msg":"serving HTTP without TLS`)
			if gotOut != tc.warn || gotLog != tc.warn {
				t.Errorf("warning on stdout %v, in the log %v; want %v\nstdout: %s\nlog: %s", gotOut, gotLog, tc.warn, out, log)
			}
		})
	}
}
