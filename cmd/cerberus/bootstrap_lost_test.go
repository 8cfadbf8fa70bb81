package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lostHint is what a start says when the user admin may have lost its
// password.
const lostHint = `The user "admin" still has the password made when it was created. If that password was lost, set a new one with: cerberus user passwd admin --data `

// TestLostAdminPassword kills a first start as it prints the admin's
// password (its standard output is a pipe nobody reads: SIGPIPE), after it
// made the admin: the password is lost. The next start says how to set a
// new one, until one is set.
func TestLostAdminPassword(t *testing.T) {
	data := privateDir(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	args, _ := json.Marshal([]string{"server", "--listen", "127.0.0.1:0", "--log-level", "warn", "--data", data})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(args))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	stdin, err := cmd.StdinPipe() // open until the end: the child serves until it closes
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("a first start with its standard output gone exited 0; stderr %q", stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("a first start with its standard output gone did not end within 30 s; stderr %q", stderr.String())
	}
	if code, out, errOut := runCmd(t, "", noEnv, "user", "list", "--data", data); code != 0 || !strings.Contains(out, "admin") {
		t.Fatalf("user list after the lost start: exit %d, stdout %q, stderr %q; want the admin, made before the password was printed", code, out, errOut)
	}

	s := startServer(t, data)
	if out := s.stdout.String(); !strings.Contains(out, lostHint+data+"\n") {
		t.Fatalf("the start after the password was lost printed %q; want %q", out, lostHint+data)
	}
	s.stop()
	const pw = "a new password for admin"
	if code, _, errOut := runCmd(t, pw+"\n", noEnv, "user", "passwd", "admin", "--data", data); code != 0 {
		t.Fatalf("user passwd admin: %s", errOut)
	}
	s = startServer(t, data)
	if out := s.stdout.String(); strings.Contains(out, `"admin"`) {
		t.Errorf("a start after the admin's password was set printed %q; want no word of it", out)
	}
	if code, _ := login(t, s.url, "admin", pw); code != 200 {
		t.Errorf("admin login with the password set by user passwd = %d, want 200", code)
	}
}

// failingWriter fails every write, as a standard output on a full disk
// does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestAdminPasswordNotPrinted checks that a first start that cannot print
// the admin's password fails, saying how to set one.
func TestAdminPasswordNotPrinted(t *testing.T) {
	data := privateDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errOut bytes.Buffer
	code := run(ctx, []string{"server", "--listen", "127.0.0.1:0", "--data", data}, strings.NewReader(""), failingWriter{}, &errOut, noEnv)
	want := "created the user admin, but could not print its password (no space left on device): set one with: cerberus user passwd admin --data " + data
	if code != 1 || !strings.Contains(errOut.String(), want) {
		t.Fatalf("exit %d, stderr %q; want exit 1 and %q", code, errOut.String(), want)
	}
	if s := startServer(t, data); !strings.Contains(s.stdout.String(), lostHint) {
		t.Errorf("the next start printed %q; want %q", s.stdout.String(), lostHint)
	}
}

// TestFailedFirstStartMakesNoAdmin checks that a first start that fails
// (the port taken, an audit log it cannot open) makes no admin, so that
// the next start makes it and prints its password.
func TestFailedFirstStartMakesNoAdmin(t *testing.T) {
	taken := startServer(t, privateDir(t))
	for name, args := range map[string][]string{
		"ListenTaken": {"--listen", strings.TrimPrefix(taken.url, "http://")},
		"BadAuditLog": {"--audit-log", filepath.Join(t.TempDir(), "missing", "audit.log")},
	} {
		t.Run(name, func(t *testing.T) {
			data := privateDir(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := run(ctx, append([]string{"server", "--listen", "127.0.0.1:0", "--data", data}, args...), strings.NewReader(""), &out, &errOut, noEnv)
			if code == 0 || strings.Contains(out.String(), "admin") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want a failure that says nothing of an admin", code, out.String(), errOut.String())
			}
			s := startServer(t, data)
			if s.password == "" {
				t.Fatalf("the start after a failed first start printed %q; want the admin's password", s.stdout.String())
			}
			if code, _ := login(t, s.url, "admin", s.password); code != 200 {
				t.Errorf("admin login = %d, want 200", code)
			}
		})
	}
}

// TestNoAdminHint checks that a start on a store where no user is in an
// admin group says how to make one.
func TestNoAdminHint(t *testing.T) {
	data := privateDir(t)
	startServer(t, data).stop()
	for _, args := range [][]string{{"user", "add", "alice", "--groups", "team-a"}, {"user", "delete", "admin"}} {
		if code, _, errOut := runCmd(t, "a long enough password\n", noEnv, append(args, "--data", data)...); code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	want := "No user is in an admin group (cerberus-admins), so no user can administer this server. Make one with: cerberus user add NAME --groups cerberus-admins --data " + data + "\n"
	s := startServer(t, data)
	if out := s.stdout.String(); !strings.Contains(out, want) {
		t.Fatalf("start printed %q; want %q", out, want)
	}
	s.stop()
	// With an admin role, an IAM principal administers it.
	s = startServer(t, data, "--admin-roles", "arn:aws:iam::111122223333:role/admin")
	if out := s.stdout.String(); strings.Contains(out, "admin group") {
		t.Errorf("start with --admin-roles printed %q; want no hint", out)
	}
}
