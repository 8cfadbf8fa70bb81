package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAdminPasswordFile checks --admin-password-file: the first admin's
// password goes to a new 0600 file, never to standard output; an existing
// file is refused before the admin is created; later starts leave it be.
func TestAdminPasswordFile(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		data := privateDir(t)
		pwFile := filepath.Join(t.TempDir(), "admin-password")
		s := startServer(t, data, "--admin-password-file", pwFile)
		out := s.stdout.String()
		if s.password != "" || strings.Contains(out, "shown only this once") {
			t.Fatalf("stdout %q shows a password; want only where it is", out)
		}
		if !strings.Contains(out, pwFile) {
			t.Errorf("stdout %q does not say the password is in %s", out, pwFile)
		}
		fi, err := os.Stat(pwFile)
		if err != nil {
			t.Fatalf("stat the password file: %v", err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("mode of %s = %04o, want 0600", pwFile, got)
		}
		b, err := os.ReadFile(pwFile)
		if err != nil {
			t.Fatal(err)
		}
		pw := strings.TrimSuffix(string(b), "\n")
		if len(pw) < 20 || strings.ContainsAny(pw, " \n") {
			t.Fatalf("password file holds %q, want one password line", b)
		}
		if strings.Contains(out, pw) {
			t.Error("stdout holds the password of the file")
		}
		if code, tok := login(t, s.url, "admin", pw); code != 200 || tok == "" {
			t.Fatalf("admin login with the password of the file = %d, want 200", code)
		}
		if code := s.stop(); code != 0 {
			t.Fatalf("exit code = %d", code)
		}
		// A restart with the same setting finds the admin and the file:
		// it starts, and leaves the file as it is.
		s2 := startServer(t, data, "--admin-password-file", pwFile)
		if b2, err := os.ReadFile(pwFile); err != nil || !bytes.Equal(b2, b) {
			t.Errorf("after a restart the password file holds %q (%v), want %q", b2, err, b)
		}
		if code, _ := login(t, s2.url, "admin", pw); code != 200 {
			t.Fatalf("admin login after restart = %d, want 200", code)
		}
	})
	t.Run("ErrExists", func(t *testing.T) {
		data := privateDir(t)
		pwFile := filepath.Join(t.TempDir(), "admin-password")
		if err := os.WriteFile(pwFile, []byte("keep me\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var out, errOut bytes.Buffer
		code := run(ctx, []string{"server", "--listen", "127.0.0.1:0", "--data", data, "--admin-password-file", pwFile},
			strings.NewReader(""), &out, &errOut, noEnv)
		if code == 0 || !strings.Contains(errOut.String(), pwFile) || !strings.Contains(errOut.String(), "exists") {
			t.Fatalf("exit %d, stderr %q; want a failure saying %s exists", code, errOut.String(), pwFile)
		}
		if b, _ := os.ReadFile(pwFile); string(b) != "keep me\n" {
			t.Errorf("the existing file now holds %q", b)
		}
		// No admin was created: a start without the setting creates it.
		s := startServer(t, data)
		if s.password == "" {
			t.Fatalf("a start after the refusal printed no admin password: %q", s.stdout.String())
		}
	})
}
