package main

import (
	"bufio"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The shutdown of a server process: what it logs, how it exits, and what a
// second signal does (docs/operations.md, "Shutdown and reload").

// slowRequest is a request that the server is serving and that waits for
// the rest of its body: it holds a shutdown until the test sends the body.
type slowRequest struct {
	conn net.Conn
	r    *bufio.Reader
}

const slowBody = `{"state_token":"x","otp_token":"1"}`

// startSlowRequest sends the header of an MFA check with "Expect:
// 100-continue" and waits for the "100 Continue" that the server sends
// when the handler begins to read the body: the request is then in flight.
func startSlowRequest(t *testing.T, base string) *slowRequest {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	_, err = conn.Write([]byte("POST /v2/auth/mfa_check HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: application/json\r\n" +
		"Expect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(slowBody)) + "\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want HTTP/1.1 100 Continue, got %q, %v", line, err)
	}
	if blank, err := r.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q, %v", blank, err)
	}
	return &slowRequest{conn: conn, r: r}
}

// finish sends the body and returns the status line of the answer.
func (s *slowRequest) finish(t *testing.T) string {
	t.Helper()
	if _, err := s.conn.Write([]byte(slowBody)); err != nil {
		t.Fatalf("send the rest of the body: %v", err)
	}
	line, err := s.r.ReadString('\n')
	if err != nil {
		t.Fatalf("the request in flight got no answer: %v", err)
	}
	return strings.TrimSpace(line)
}

// waitExit waits up to within for the process to exit and returns its exit
// code.
func (p *proc) waitExit(within time.Duration) int {
	p.tb.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	select {
	case <-done:
	case <-time.After(within):
		p.tb.Fatalf("the server process did not exit within %v; stderr %q", within, p.stderr.String())
	}
	return cmd.ProcessState.ExitCode()
}

// waitLog waits up to 10 s for the server log to hold want.
func (p *proc) waitLog(want string) {
	p.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), want) {
		select {
		case <-p.done:
			p.tb.Fatalf("the server process exited before logging %q; stderr %q", want, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("the server did not log %q within 10 s; stderr %q", want, p.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestShutdownDrainsAndExitsZero(t *testing.T) {
	p := startProc(t, "--data", privateDir(t), "--log-level", "info")
	req := startSlowRequest(t, p.URL())
	p.signal(syscall.SIGTERM)
	p.waitLog(`"msg":"shutting down: accepting no new connections`)
	if log := p.stderr.String(); !strings.Contains(log, `"in_flight":1`) || !strings.Contains(log, `"reason":"terminated signal received"`) {
		t.Errorf("the shutdown log line names neither the request in flight nor the signal: %q", log)
	}
	select {
	case <-p.done:
		t.Fatalf("the server exited with a request in flight: stderr %q", p.stderr.String())
	default:
	}
	// The request in flight is answered (a bad MFA state: 401) after the
	// shutdown began.
	if status := req.finish(t); !strings.HasPrefix(status, "HTTP/1.1 4") {
		t.Errorf("the request in flight was answered %q; want its own answer, a 4xx", status)
	}
	if code := p.waitExit(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after a clean drain, want 0; stderr %q", code, p.stderr.String())
	}
	if log := p.stderr.String(); !strings.Contains(log, `"msg":"stopped: every request in flight finished"`) {
		t.Errorf("the outcome of the shutdown is not logged: %q", log)
	}
}

func TestShutdownSecondSignalForces(t *testing.T) {
	p := startProc(t, "--data", privateDir(t), "--log-level", "info")
	req := startSlowRequest(t, p.URL())
	p.signal(os.Interrupt)
	p.waitLog(`"msg":"shutting down`)
	p.signal(os.Interrupt)
	code := p.waitExit(10 * time.Second)
	log := p.stderr.String()
	if code == 0 {
		t.Errorf("exit code 0 after requests were cut; want non-zero")
	}
	if !strings.Contains(log, `"msg":"stopped at once by a second signal: requests in flight were cut"`) || !strings.Contains(log, `"cut":1`) ||
		!strings.Contains(log, "cerberus: shutdown: stopped at once by a second signal (interrupt); 1 requests in flight were cut") {
		t.Errorf("the forced stop is not logged, or not with the request it cut: %q", log)
	}
	if _, err := req.conn.Write([]byte(slowBody)); err == nil {
		if line, err := req.r.ReadString('\n'); err == nil {
			t.Errorf("the cut request was answered %q; want its connection closed", line)
		}
	}
}

func TestShutdownTimeoutCuts(t *testing.T) {
	p := startProc(t, "--data", privateDir(t), "--log-level", "info", "--shutdown-timeout", "1s")
	startSlowRequest(t, p.URL())
	p.signal(syscall.SIGTERM)
	code := p.waitExit(20 * time.Second)
	log := p.stderr.String()
	if code != 1 {
		t.Errorf("exit code %d after requests were cut at the end of --shutdown-timeout; want 1", code)
	}
	if !strings.Contains(log, `"msg":"stopped: requests in flight were cut at the end of --shutdown-timeout"`) ||
		!strings.Contains(log, "cerberus: shutdown: 1 requests were still running after --shutdown-timeout 1s and were cut") {
		t.Errorf("the cut is not logged, or not clearly: %q", log)
	}
}
