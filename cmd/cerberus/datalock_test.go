//go:build unix

package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDataDirLock starts a second server on the SQLite data directory of a
// running server process: it is refused with a message naming the holder,
// while the admin commands keep working beside the server. Once the first
// server is killed (SIGKILL, which leaves no chance to clean up), a server
// starts there again.
func TestDataDirLock(t *testing.T) {
	data := privateDir(t)
	a := startProc(t, "--data", data)
	pid := a.cmd.Process.Pid

	code, out, errOut := runServerOnce(t, "--data", data)
	if code == 0 || !strings.Contains(errOut, "another cerberus server is serving the data directory "+data+" (pid "+strconv.Itoa(pid)+", since ") ||
		!strings.Contains(errOut, "--storage postgres or mysql") {
		t.Fatalf("second server on the data directory: exit %d, stdout %q, stderr %q; want a refusal naming pid %d", code, out, errOut, pid)
	}
	if strings.Contains(out, "shown only this once") {
		t.Errorf("the refused server created an admin: %q", out)
	}
	if code, out, errOut := runCmd(t, "", noEnv, "user", "list", "--data", data); code != 0 || !strings.Contains(out, "admin") {
		t.Errorf("user list beside the server: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	a.kill()
	if code, out, errOut := runServerOnce(t, "--data", data); code != 0 || !strings.Contains(out, "Cerberus is serving") {
		t.Errorf("server after the first was killed: exit %d, stdout %q, stderr %q; want it to serve", code, out, errOut)
	}
}

// runServerOnce runs `cerberus server --listen 127.0.0.1:0 args...` in this
// process until it serves, then stops it; or until it exits without
// serving. It returns the exit code and the output.
func runServerOnce(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"server", "--listen", "127.0.0.1:0"}, args...), strings.NewReader(""), out, errOut, noEnv)
	}()
	served := make(chan struct{})
	go func() {
		defer close(served)
		for !servingLine.MatchString(out.String()) {
			select {
			case <-ctx.Done():
				return
			default:
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	select {
	case code = <-done:
	case <-served:
		cancel()
		code = <-done
	}
	return code, out.String(), errOut.String()
}
