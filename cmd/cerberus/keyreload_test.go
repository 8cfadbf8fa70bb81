package main

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/cerberus-go/cerberus/service"
)

// openTestBackend opens the store of the data directory data, as an admin
// command does, until t ends.
func openTestBackend(t *testing.T, data string) *backend {
	t.Helper()
	var cfg Config
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	cfg.bindFlags(fs, false)
	if err := fs.Parse([]string{"--data", data}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.resolve(fs, noEnv); err != nil {
		t.Fatal(err)
	}
	b, err := openBackend(context.Background(), &cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// nodeOf returns the report of the node with process id pid.
func nodeOf(t *testing.T, b *backend, pid int) *service.NodeRecord {
	t.Helper()
	nodes, err := b.svc.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.PID == pid {
			return n
		}
	}
	return nil
}

// TestKeysRotateWhileServing rotates the local key while a server process
// runs, without restarting it: the server reports its keys through the
// store, takes up the new key on SIGHUP, and keeps reading and writing;
// `keys rotate` refuses while a running node does not know the new key,
// and `keys remove` removes the retired key once nothing uses it.
func TestKeysRotateWhileServing(t *testing.T) {
	data := privateDir(t)
	p := startProc(t, "--data", data, "--log-level", "info")
	pid := p.cmd.Process.Pid
	c := newAPIClient(10*time.Second, 2)
	defer c.close()
	tok := c.mustLogin(t, p.URL(), "admin", p.password)
	values := rotFill(t, p.URL(), tok, "Live rotation")
	b := openTestBackend(t, data)
	ctx := context.Background()

	n := nodeOf(t, b, pid)
	if n == nil {
		t.Fatal("the server reported no node through the store")
	}
	old := n.PrimaryKey
	if !slices.Equal(n.KeyIDs, []string{old}) {
		t.Fatalf("the server reports the keys %v, primary %s; want its one key", n.KeyIDs, old)
	}

	code, out, errOut := runCmd(t, "", noEnv, "keys", "add", "--data", data)
	fresh := keyIDPattern.FindString(out)
	if code != 0 || fresh == "" || fresh == old {
		t.Fatalf("keys add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// A node that reported only the old key, seen just now: rotate waits.
	stale := &service.NodeRecord{ID: "stale-node", Host: "other-host", PID: 4242, StartedAt: time.Now(), SeenAt: time.Now(),
		PrimaryKey: old, KeyIDs: []string{old}}
	if err := b.svc.ReportNode(ctx, stale); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCmd(t, "", noEnv, "keys", "rotate", "--data", data)
	if code == 0 || !strings.Contains(errOut, "do not know the primary key "+fresh) || !strings.Contains(errOut, "node stale-node on other-host (pid 4242") ||
		!strings.Contains(errOut, "SIGHUP") || strings.Contains(out, "Re-wrapped") {
		t.Fatalf("keys rotate while a node does not know the new key: exit %d, stdout %q, stderr %q; want a refusal naming it", code, out, errOut)
	}
	if err := b.svc.ForgetNode(ctx, "stale-node", time.Hour); err != nil {
		t.Fatal(err)
	}

	// SIGHUP: the server reads the key ring again, and reports it.
	p.signal(syscall.SIGHUP)
	p.waitLog(`"msg":"reloaded the key ring"`)
	waitFor(t, "the server to report the new key", func() bool {
		n := nodeOf(t, b, pid)
		return n != nil && n.PrimaryKey == fresh && slices.Equal(n.KeyIDs, []string{old, fresh})
	})
	code, out, errOut = runCmd(t, "", noEnv, "keys", "rotate", "--data", data)
	if code != 0 || !strings.Contains(out, "Re-wrapped 8 records under the key "+fresh) || !strings.Contains(out, "Every record is under "+fresh) {
		t.Fatalf("keys rotate once every node knows the key: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The server, not restarted, reads what was re-wrapped, and writes
	// under the new key.
	rotRead(t, p.URL(), tok, values)
	for path := range values {
		c.must(t, 204, "PUT", p.URL(), path, tok, `{"value":"after the rotation"}`)
		values[path] = `{"value":"after the rotation"}`
	}
	rotRead(t, p.URL(), tok, values)
	code, out, _ = runCmd(t, "", noEnv, "keys", "status", "--data", data)
	if code != 0 || strings.Contains(out, old) || !strings.Contains(out, "Every record is under the primary key "+fresh) {
		t.Fatalf("keys status after the rotation and new writes: exit %d, stdout %q; want every record under %s", code, out, fresh)
	}

	// The retired key goes; the primary one cannot.
	code, out, errOut = runCmd(t, "", noEnv, "keys", "remove", fresh, "--data", data)
	if code == 0 || !strings.Contains(errOut, "is the primary key") {
		t.Errorf("keys remove of the primary key: exit %d, stdout %q, stderr %q; want a refusal", code, out, errOut)
	}
	code, out, errOut = runCmd(t, "", noEnv, "keys", "remove", old, "--data", data)
	if code != 0 || !strings.Contains(out, "Removed the key "+old) {
		t.Fatalf("keys remove %s: exit %d, stdout %q, stderr %q", old, code, out, errOut)
	}
	p.signal(syscall.SIGHUP)
	waitFor(t, "the server to drop the removed key", func() bool {
		n := nodeOf(t, b, pid)
		return n != nil && slices.Equal(n.KeyIDs, []string{fresh})
	})
	rotRead(t, p.URL(), tok, values)
	if !regexp.MustCompile(`"msg":"reloaded the key ring".*"removed":\["` + old + `"\]`).MatchString(p.stderr.String()) {
		t.Errorf("the server did not log the removal of %s: %q", old, p.stderr.String())
	}

	// A node that stops says so: its report goes.
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(20 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if n := nodeOf(t, b, pid); n != nil {
		t.Errorf("the stopped server's report is still in the store: %+v", n)
	}
}

// TestKeysRecordUnderUnknownKey reads, through a server that was given no
// signal, records re-wrapped under a key added after it started: the
// record names a key that the server's key ring lacks, which makes it read
// the key ring file again (before, such reads failed with 500 until a
// restart).
func TestKeysRecordUnderUnknownKey(t *testing.T) {
	data := privateDir(t)
	s := startServer(t, data)
	_, tok := login(t, s.url, "admin", s.password)
	values := rotFill(t, s.url, tok, "Unknown key")
	if code, out, errOut := runCmd(t, "", noEnv, "keys", "add", "--data", data); code != 0 {
		t.Fatalf("keys add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// --force: the server may not know the key yet (it reads the file
	// again every 10 s).
	if code, out, errOut := runCmd(t, "", noEnv, "keys", "rotate", "--force", "--data", data); code != 0 || !strings.Contains(out, "Re-wrapped 8 records") {
		t.Fatalf("keys rotate --force: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	rotRead(t, s.url, tok, values)
	if !strings.Contains(s.stderr.String(), `"msg":"reloaded the key ring"`) {
		t.Errorf("the server did not log that it read the key ring again: %q", s.stderr.String())
	}
}
