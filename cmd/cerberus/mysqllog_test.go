package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus/internal/dbtest"
	"github.com/cerberus-go/cerberus/internal/storetest"
)

// TestMySQLOutageLog cuts the connections of a server process to MySQL,
// then lets them through again: the driver's own complaints ("closing bad
// idle connection: EOF") go to the server's JSON log, never as raw
// "[mysql] …" lines on its standard error.
func TestMySQLOutageLog(t *testing.T) {
	cfg := dbtest.MySQLConfig(t)
	proxy := storetest.NewProxy(t, cfg.Addr)
	via := cfg.Clone()
	via.Addr = proxy.Addr()
	p := startProc(t, "--data", privateDir(t), "--storage", "mysql", "--dsn", via.FormatDSN())
	c := newAPIClient(10*time.Second, 16)
	defer c.close()
	admin := c.mustLogin(t, p.URL(), "admin", p.password)
	// Fill the pool with idle connections, then break them all.
	for range 3 {
		done := make(chan struct{})
		for range 8 {
			go func() {
				defer func() { done <- struct{}{} }()
				c.do("GET", p.URL(), "/v2/safe-deposit-box", admin, nil)
			}()
		}
		for range 8 {
			<-done
		}
		proxy.Forward() // closes every connection through the proxy
		for range 8 {
			c.do("GET", p.URL(), "/v2/safe-deposit-box", admin, nil)
		}
	}
	proxy.Refuse()
	for range 4 {
		c.do("GET", p.URL(), "/v2/safe-deposit-box", admin, nil)
	}
	proxy.Forward()
	c.must(t, 200, "GET", p.URL(), "/v2/safe-deposit-box", admin, nil)

	stderr := p.stderr.String()
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if line != "" && !strings.HasPrefix(line, "{") {
			t.Errorf("the server wrote a line that is not JSON to its log: %q", line)
		}
	}
	if !strings.Contains(stderr, `"msg":"mysql driver"`) {
		t.Errorf("the server log holds no message of the MySQL driver; log:\n%s", stderr)
	}
}
