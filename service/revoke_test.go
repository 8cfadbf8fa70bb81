package service_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
)

// nodes returns a function that starts a node with the given admin groups
// over one database, as a restart with another --admin-groups would.
func nodes(t *testing.T) func(adminGroups ...string) *service.Service {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := localkms.Create(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return func(adminGroups ...string) *service.Service {
		store, err := sqlite.Open(ctx, filepath.Join(dir, "cerberus.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		svc, err := service.New(ctx, store, envelope.New(kr), service.Config{
			AdminGroups: adminGroups, TokenTTL: time.Hour, MaxRefreshCount: 5, TokenCacheTTL: 5 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
}

// TestRefreshRederivesPrincipal refreshes tokens after the configuration
// or the directory changed: the new token's groups and admin flag come from
// the user directory and the admin groups of now, not from the old token.
func TestRefreshRederivesPrincipal(t *testing.T) {
	ctx := context.Background()
	node := nodes(t)
	before := node("cerberus-admins", "ops")
	if _, err := before.AddUser(ctx, "carol", "a long password", []string{"ops", "team"}, false); err != nil {
		t.Fatal(err)
	}
	res, err := before.LoginUser(ctx, "carol", "a long password")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Token.Principal.IsAdmin {
		t.Fatalf("LoginUser(carol) with ops an admin group: is_admin false, want true")
	}
	tok := res.Token.Token

	// The server restarts without ops among the admin groups.
	after := node("cerberus-admins")
	p, err := after.Authenticate(ctx, tok)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	res, err = after.RefreshToken(cerberus.NewContextWithPrincipal(ctx, p))
	if err != nil {
		t.Fatalf("RefreshToken: %v", err)
	}
	if got := res.Token.Principal; got.IsAdmin || !slices.Equal(got.Groups, []string{"ops", "team"}) || got.RefreshCount != 1 {
		t.Errorf("RefreshToken after ops left the admin groups: is_admin %v, groups %q, refresh count %d; want false, [ops team], 1",
			got.IsAdmin, got.Groups, got.RefreshCount)
	}
	p, err = after.Authenticate(ctx, res.Token.Token)
	if err != nil {
		t.Fatalf("Authenticate the refreshed token: %v", err)
	}
	if p.IsAdmin {
		t.Errorf("Authenticate the refreshed token: is_admin true, want false")
	}

	// Another node, which cached the token, refreshes it after the user
	// was deleted: 401.
	other := node("cerberus-admins")
	if _, err := other.Authenticate(ctx, res.Token.Token); err != nil {
		t.Fatal(err)
	}
	if err := after.RemoveUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	p, err = other.Authenticate(ctx, res.Token.Token) // still cached there
	if err != nil {
		t.Fatalf("Authenticate on a node that cached the token: %v; want the cached token within the TTL", err)
	}
	if _, err := other.RefreshToken(cerberus.NewContextWithPrincipal(ctx, p)); cerberus.Code(err) != cerberus.ECodeTokenInvalid {
		t.Errorf("RefreshToken of a deleted user: %v, want ECodeTokenInvalid", err)
	}
}
