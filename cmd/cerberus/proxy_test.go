package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrustedProxiesSetting checks that --trusted-proxies decides whether
// X-Forwarded-For names the client IP of the audit log. The test connects
// from 127.0.0.1.
func TestTrustedProxiesSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"Default", nil, "127.0.0.1"},
		{"OtherProxy", []string{"--trusted-proxies", "10.0.0.0/8"}, "127.0.0.1"},
		{"Loopback", []string{"--trusted-proxies", "10.0.0.0/8,127.0.0.1"}, "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := privateDir(t)
			s := startServer(t, data, tc.args...)
			req, _ := http.NewRequest("GET", s.url+"/info", nil) // audited, as the health probes are not
			req.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if code := s.stop(); code != 0 {
				t.Fatalf("exit code %d", code)
			}
			b, err := os.ReadFile(filepath.Join(data, "audit.log"))
			if err != nil {
				t.Fatal(err)
			}
			var ev struct {
				ClientIP string `json:"client_ip"`
				XFF      string `json:"x_forwarded_for"`
			}
			if err := json.Unmarshal([]byte(strings.TrimSpace(string(b))), &ev); err != nil {
				t.Fatalf("audit log %q: %v", b, err)
			}
			if ev.ClientIP != tc.want || ev.XFF != "198.51.100.1, 203.0.113.9" {
				t.Errorf("audit event client_ip %q, x_forwarded_for %q; want %q and the header as sent", ev.ClientIP, ev.XFF, tc.want)
			}
		})
	}
}
