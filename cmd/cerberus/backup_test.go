package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBackupRestoreCommands(t *testing.T) {
	const alicePW = "a long enough password"
	src := privateDir(t)
	s := startServer(t, src)
	password := s.password
	_, tok := login(t, s.url, "admin", password)
	values := rotFill(t, s.url, tok, "Backed Up")
	if code, _, errOut := runCmd(t, alicePW+"\n", noEnv, "user", "add", "alice", "--groups", "team", "--data", src); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}

	// Back up while the server runs.
	file := filepath.Join(t.TempDir(), "cerberus.backup")
	code, out, errOut := runCmd(t, "", noEnv, "backup", "--data", src, "--out", file)
	if code != 0 || !strings.Contains(out, "Wrote the backup "+file) || !strings.Contains(out, "1 SDBs, 3 secrets, 3 history records, 2 users") ||
		!strings.Contains(out, filepath.Join(src, "master.key")) {
		t.Fatalf("backup: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 0600", fi, err)
	}
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	// A new data directory without the master key: refused, saying why.
	dst := privateDir(t)
	code, _, errOut = runCmd(t, "", noEnv, "restore", "--data", dst, "--in", file)
	if code == 0 || !strings.Contains(errOut, "master.key of the server that made the backup") {
		t.Fatalf("restore without the master key: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Fatalf("the refused restore left the data directory %s", dst)
	}
	key, err := os.ReadFile(filepath.Join(src, masterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, masterKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}

	// A damaged or cut backup is refused, and leaves the store empty.
	bad := func(name string, b []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := append([]byte{}, good...)
	flipped[len(flipped)/2] ^= 0x20
	for _, tt := range []struct{ file, want string }{
		{bad("flipped", flipped), "damaged or was altered"},
		{bad("cut", good[:len(good)-100]), "truncated"},
		{bad("other", []byte("not a backup at all")), "not a Cerberus backup file"},
		{filepath.Join(t.TempDir(), "missing"), "no such file"},
	} {
		code, _, errOut := runCmd(t, "", noEnv, "restore", "--data", dst, "--in", tt.file)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Fatalf("restore of %s: exit %d, stderr %q; want %q", filepath.Base(tt.file), code, errOut, tt.want)
		}
	}

	code, out, errOut = runCmd(t, "", noEnv, "restore", "--data", dst, "--in", file)
	if code != 0 || !strings.Contains(out, "Restored the backup") || !strings.Contains(out, "of a sqlite store") ||
		!strings.Contains(out, "1 SDBs, 3 secrets, 3 history records, 2 users") {
		t.Fatalf("restore: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Once is enough: the store is not empty any more.
	code, _, errOut = runCmd(t, "", noEnv, "restore", "--data", dst, "--in", file)
	if code == 0 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore into a store with data: exit %d, stderr %q", code, errOut)
	}

	// A server on the restored directory has the users and the secrets.
	r := startServer(t, dst)
	if r.password != "" {
		t.Fatal("the server on the restored store created a new admin")
	}
	_, tok = login(t, r.url, "admin", password)
	if tok == "" {
		t.Fatal("admin login on the restored store failed")
	}
	if code, _ := login(t, r.url, "alice", alicePW); code != 200 {
		t.Fatalf("alice login on the restored store: %d", code)
	}
	rotRead(t, r.url, tok, values)
}

func TestBackupCommandErrors(t *testing.T) {
	data := privateDir(t)
	s := startServer(t, data)
	s.stop()
	missing := privateDir(t)
	out := filepath.Join(t.TempDir(), "b")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"backup", "--data", data}, "--out FILE is required"},
		{[]string{"backup", "--data", missing, "--out", out}, "there is no master.key"},
		{[]string{"backup", "--data", data, "--out", filepath.Join(missing, "sub", "b")}, "no such file or directory"},
		{[]string{"restore", "--data", data}, "--in FILE is required"},
	}
	for _, tt := range tests {
		code, stdout, errOut := runCmd(t, "", noEnv, tt.args...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want a failure saying %q", tt.args, code, stdout, errOut, tt.want)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a failed backup created the data directory %s", missing)
	}
}
