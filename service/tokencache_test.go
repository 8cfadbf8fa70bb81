package service_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestTokenCacheBound runs two nodes over one database: a logout on node A
// takes effect on node B, which cached the token, within the cache TTL and
// not before.
func TestTokenCacheBound(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := localkms.Create(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	node := func() *service.Service {
		store, err := sqlite.Open(ctx, filepath.Join(dir, "cerberus.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		svc, err := service.New(ctx, store, envelope.New(kr), service.Config{
			AdminGroups: []string{"admins"}, TokenTTL: time.Hour, TokenCacheTTL: 5 * time.Second, Now: clock.now,
		})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b := node(), node()
	if _, err := a.AddUser(ctx, "alice", "a long password", []string{"team"}, false); err != nil {
		t.Fatal(err)
	}
	res, err := a.LoginUser(ctx, "alice", "a long password")
	if err != nil {
		t.Fatal(err)
	}
	tok := res.Token.Token
	p, err := b.Authenticate(ctx, tok) // node B caches the lookup
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Logout(cerberus.NewContextWithPrincipal(ctx, p)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, tok); cerberus.Code(err) != cerberus.ECodeTokenInvalid {
		t.Fatalf("node A after its own logout: %v, want ECodeTokenInvalid at once", err)
	}
	clock.advance(4 * time.Second)
	if _, err := b.Authenticate(ctx, tok); err != nil {
		t.Fatalf("node B 4 s after the logout: %v; want the cached token (the bound is 5 s)", err)
	}
	clock.advance(time.Second)
	if _, err := b.Authenticate(ctx, tok); cerberus.Code(err) != cerberus.ECodeTokenInvalid {
		t.Fatalf("node B 5 s after the logout: %v, want ECodeTokenInvalid", err)
	}
	// A cached token still expires on time.
	res, _ = a.LoginUser(ctx, "alice", "a long password")
	if _, err := b.Authenticate(ctx, res.Token.Token); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Hour)
	if _, err := b.Authenticate(ctx, res.Token.Token); cerberus.Code(err) != cerberus.ECodeTokenInvalid {
		t.Fatalf("cached token after its TTL: %v, want ECodeTokenInvalid", err)
	}
}
