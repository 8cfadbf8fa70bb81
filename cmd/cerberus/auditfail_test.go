package main

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// breakableOut is a standard output that fails, as a full disk would,
// once broken.
type breakableOut struct {
	syncBuffer
	broken atomic.Bool
}

func (b *breakableOut) Write(p []byte) (int, error) {
	if b.broken.Load() {
		return 0, errors.New("no space left on device")
	}
	return b.syncBuffer.Write(p)
}

// TestAuditFailureSetting runs the server with its audit log on a standard
// output that breaks, and reads a secret: refused by default and with
// --audit-failure closed, served with --audit-failure open.
func TestAuditFailureSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"Default", nil, 503},
		{"Closed", []string{"--audit-failure", "closed"}, 503},
		{"Open", []string{"--audit-failure", "open"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			out, errOut := &breakableOut{}, &syncBuffer{}
			done := make(chan int, 1)
			args := append([]string{"server", "--listen", "127.0.0.1:0", "--data", privateDir(t), "--audit-log", "-"}, tc.args...)
			go func() { done <- run(ctx, args, strings.NewReader(""), out, errOut, noEnv) }()
			t.Cleanup(func() {
				cancel()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					t.Error("server did not stop within 20 s")
				}
			})
			deadline := time.Now().Add(10 * time.Second)
			for !servingLine.MatchString(out.String()) {
				if time.Now().After(deadline) {
					t.Fatalf("server did not start; stdout %q, stderr %q", out.String(), errOut.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			url := servingLine.FindStringSubmatch(out.String())[1]
			password := regexp.MustCompile(`shown only this once:\s+(\S+)`).FindStringSubmatch(out.String())[1]
			c := newAPIClient(10*time.Second, 2)
			defer c.close()
			tok := c.mustLogin(t, url, "admin", password)
			_, base := c.createSDB(t, url, tok, sdbSpec{name: "audited", owner: "cerberus-admins"})
			c.must(t, 204, "PUT", url, base+"db", tok, map[string]string{"password": "s3cr3t-of-the-test"})

			out.broken.Store(true)
			res, err := c.do("GET", url, base+"db", tok, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.status != tc.want {
				t.Fatalf("GET %s with the audit log broken: %s; want status %d", base+"db", res, tc.want)
			}
			if tc.want == 503 && (res.code() != 99997 || strings.Contains(string(res.body), "s3cr3t-of-the-test")) {
				t.Errorf("GET %s: %s; want the retryable error 99997 without the secret", base+"db", res)
			}
			if !strings.Contains(errOut.String(), "write audit event") {
				t.Errorf("the server log does not record the lost event: %q", errOut.String())
			}
		})
	}
}
