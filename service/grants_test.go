package service_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
	"github.com/cerberus-go/cerberus/stsauth"
)

// sdbLoads counts the calls of the Store methods that load whole SDBs,
// with every one of their permissions: the work that a principal granted
// on many SDBs of many grants multiplies.
type sdbLoads struct {
	service.Store
	mu    sync.Mutex
	calls map[string]int
}

// heavySDBMethods lists the Store methods that return SDBs with their
// permissions; sdbLoads overrides each of them.
var heavySDBMethods = []string{"FindSDBByID", "FindSDBByPath", "ListSDBs"}

func (l *sdbLoads) count(method string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls == nil {
		l.calls = map[string]int{}
	}
	l.calls[method]++
}

// take returns the calls counted since the last take.
func (l *sdbLoads) take() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

func (l *sdbLoads) FindSDBByID(ctx context.Context, id string) (*cerberus.SDB, error) {
	l.count("FindSDBByID")
	return l.Store.FindSDBByID(ctx, id)
}

func (l *sdbLoads) FindSDBByPath(ctx context.Context, path string) (*cerberus.SDB, error) {
	l.count("FindSDBByPath")
	return l.Store.FindSDBByPath(ctx, path)
}

func (l *sdbLoads) ListSDBs(ctx context.Context, name string, limit, offset int) ([]*cerberus.SDB, int, error) {
	l.count("ListSDBs")
	return l.Store.ListSDBs(ctx, name, limit, offset)
}

// TestHeavySDBMethodsCounted keeps sdbLoads complete: every Store method
// that returns SDBs is one it counts.
func TestHeavySDBMethodsCounted(t *testing.T) {
	st := reflect.TypeFor[service.Store]()
	one, many := reflect.TypeFor[*cerberus.SDB](), reflect.TypeFor[[]*cerberus.SDB]()
	var got []string
	for i := range st.NumMethod() {
		m := st.Method(i)
		for j := range m.Type.NumOut() {
			if out := m.Type.Out(j); out == one || out == many {
				got = append(got, m.Name)
				break
			}
		}
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(heavySDBMethods)); !slices.Equal(got, want) {
		t.Fatalf("Store methods that return SDBs: %q; sdbLoads counts %q", got, want)
	}
}

// TestLoginAndListingLoadNoPermissions checks that an STS login and an SDB
// listing never load whole SDBs: a login needs to know only whether some
// grant covers the principal, a listing only the id, name, path and
// category of each SDB (API.md), whatever the number of grants.
func TestLoginAndListingLoadNoPermissions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := localkms.Create(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "cerberus.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	loads := &sdbLoads{Store: db}
	sts := &switchSTS{}
	svc, err := service.New(ctx, loads, envelope.New(kr), service.Config{
		AdminGroups: []string{"admins"}, TokenTTL: time.Hour, STS: sts,
	})
	if err != nil {
		t.Fatal(err)
	}
	alice := cerberus.NewContextWithPrincipal(ctx, &cerberus.Principal{Type: cerberus.PrincipalUser, Name: "alice", Groups: []string{"team"}})
	cats, err := svc.ListCategories(alice)
	if err != nil {
		t.Fatal(err)
	}
	var read string
	rs, _ := svc.ListRoles(alice)
	for _, r := range rs {
		if r.Name == cerberus.RoleRead {
			read = r.ID
		}
	}
	// Three SDBs of team; two grant the account of the IAM principal, with
	// many other grants each.
	var want []*cerberus.SDB
	for i := range 3 {
		in := &cerberus.SDBInput{Name: fmt.Sprintf("Box %d", i), CategoryID: cats[i%len(cats)].ID, Owner: "team"}
		for j := range 40 {
			in.UserGroupPermissions = append(in.UserGroupPermissions, cerberus.PermissionInput{Name: fmt.Sprintf("group-%d", j), RoleID: read})
			if i < 2 {
				in.IAMPrincipalPermissions = append(in.IAMPrincipalPermissions,
					cerberus.PermissionInput{Name: fmt.Sprintf("arn:aws:iam::999988887777:role/r-%d", j), RoleID: read})
			}
		}
		if i < 2 {
			in.IAMPrincipalPermissions = append(in.IAMPrincipalPermissions,
				cerberus.PermissionInput{Name: "arn:aws:iam::111122223333:root", RoleID: read})
		}
		sdb, err := svc.CreateSDB(alice, in)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, sdb)
	}
	loads.take()

	const session = "arn:aws:sts::111122223333:assumed-role/app/i-1"
	summary := func(sdbs ...*cerberus.SDB) string {
		var out []string
		for _, s := range sdbs {
			out = append(out, fmt.Sprintf("%s %s %s %s", s.ID, s.Name, s.Path, s.CategoryID))
		}
		slices.Sort(out)
		return fmt.Sprint(out)
	}
	listed := func(t *testing.T, ctx context.Context) string {
		t.Helper()
		got, err := svc.FindSDBs(ctx)
		if err != nil {
			t.Fatalf("FindSDBs: %v", err)
		}
		var out []string
		for _, s := range got {
			out = append(out, fmt.Sprintf("%s %s %s %s", s.ID, s.Name, s.Path, s.CategoryID))
		}
		slices.Sort(out)
		return fmt.Sprint(out)
	}
	iam := cerberus.NewContextWithPrincipal(ctx, &cerberus.Principal{Type: cerberus.PrincipalIAM, Name: session, Groups: []string{"registered-iam-principals"}})
	tests := []struct {
		name string
		call func(t *testing.T)
	}{
		{"STSLogin", func(t *testing.T) {
			sts.set(session)
			if _, err := svc.LoginSTS(ctx, cerberus.AWSSignature{}); err != nil {
				t.Fatalf("LoginSTS as %s: %v", session, err)
			}
		}},
		{"STSLoginNotGranted", func(t *testing.T) {
			sts.set("arn:aws:sts::444455556666:assumed-role/app/i-1")
			_, err := svc.LoginSTS(ctx, cerberus.AWSSignature{})
			if code := cerberus.Code(err); code != cerberus.ECodeIAMPrincipalInvalid {
				t.Fatalf("LoginSTS of a principal granted nowhere: error %v (code %d), want code %d", err, code, cerberus.ECodeIAMPrincipalInvalid)
			}
		}},
		{"ListAsUser", func(t *testing.T) {
			if got, w := listed(t, alice), summary(want...); got != w {
				t.Fatalf("FindSDBs as alice: %s, want %s", got, w)
			}
		}},
		{"ListAsIAMPrincipal", func(t *testing.T) {
			if got, w := listed(t, iam), summary(want[0], want[1]); got != w {
				t.Fatalf("FindSDBs as %s: %s, want %s", session, got, w)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.call(t)
			if calls := loads.take(); len(calls) != 0 {
				t.Errorf("loaded whole SDBs with their permissions: %v; want no such call", calls)
			}
		})
	}
}

// switchSTS answers every login with the ARN set last.
type switchSTS struct {
	mu  sync.Mutex
	arn string
}

func (s *switchSTS) set(arn string) {
	s.mu.Lock()
	s.arn = arn
	s.mu.Unlock()
}

func (s *switchSTS) GetCallerIdentity(ctx context.Context, h stsauth.Headers) (*stsauth.Identity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &stsauth.Identity{ARN: s.arn, Region: "us-west-2"}, nil
}
