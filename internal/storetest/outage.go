package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// Bounds of how long a call may take to report an outage.
const (
	// refusedWithin bounds a call while the server refuses connections.
	refusedWithin = 5 * time.Second
	// hungTimeout is the deadline of a call while the server hangs, and
	// hungWithin bounds how long the call takes, deadline included.
	hungTimeout = 250 * time.Millisecond
	hungWithin  = 3 * time.Second
	// recoverWithin bounds how long the store takes to work again.
	recoverWithin = 10 * time.Second
)

// RunOutage checks that a store over a database server reports an outage
// as ECodeUnavailable, quickly, and works again when the server is back.
// open must return a new, empty store that reaches its server at addr,
// the address of a proxy to target (the server's host:port) that the test
// cuts, and arrange for it to be closed when t ends. If the store has a
// Ping(context.Context) error method, it is checked too.
func RunOutage(t *testing.T, target string, open func(t *testing.T, addr string) service.Store) {
	ctx := context.Background()
	p := NewProxy(t, target)
	s := open(t, p.Addr())
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	rec := secret(sdb, "a", "one")
	mustPutSecret(t, s, rec)
	u := mustCreateUser(t, s, "alice")
	tok := mustCreateToken(t, s, cerberus.PrincipalUser, "alice")

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"ListCategories", func(ctx context.Context) error { _, err := s.ListCategories(ctx); return err }},
		{"FindSDBByID", func(ctx context.Context) error { _, err := s.FindSDBByID(ctx, sdb.ID); return err }},
		{"ListSDBSummaries", func(ctx context.Context) error {
			_, err := s.ListSDBSummaries(ctx, []string{sdb.Owner}, nil)
			return err
		}},
		{"HasSDBGrant", func(ctx context.Context) error {
			_, err := s.HasSDBGrant(ctx, []string{sdb.Owner}, nil)
			return err
		}},
		{"CountSDBsCreatedBy", func(ctx context.Context) error {
			_, err := s.CountSDBsCreatedBy(ctx, sdb.CreatedBy)
			return err
		}},
		{"CreateSDB", func(ctx context.Context) error { return s.CreateSDB(ctx, f.sdb(f.apps, "Late", "late")) }},
		{"FindSecret", func(ctx context.Context) error { _, err := s.FindSecret(ctx, sdb.ID, rec.Path); return err }},
		{"PutSecret", func(ctx context.Context) error { return s.PutSecret(ctx, secret(sdb, "b", "two"), 0) }},
		{"DeleteSecret", func(ctx context.Context) error { return s.DeleteSecret(ctx, sdb.ID, rec.Path, 1, "bob", at(1)) }},
		{"ListSecretVersions", func(ctx context.Context) error {
			_, _, err := s.ListSecretVersions(ctx, sdb.ID, rec.Path, 10, 0)
			return err
		}},
		{"CreateUser", func(ctx context.Context) error { return s.CreateUser(ctx, user("bob")) }},
		{"AdvanceTOTPCounter", func(ctx context.Context) error { return s.AdvanceTOTPCounter(ctx, u.ID, 7) }},
		{"FindTokenByHash", func(ctx context.Context) error { _, err := s.FindTokenByHash(ctx, tok.Hash); return err }},
		{"DeleteToken", func(ctx context.Context) error { return s.DeleteToken(ctx, tok.ID) }},
	}
	if pinger, ok := s.(interface{ Ping(context.Context) error }); ok {
		calls = append(calls, struct {
			name string
			call func(ctx context.Context) error
		}{"Ping", pinger.Ping})
	}
	wantUnavailable := func(phase string, timeout, within time.Duration) {
		t.Helper()
		for i, c := range calls {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			start := time.Now()
			err := c.call(ctx)
			took := time.Since(start)
			cancel()
			if i == 0 {
				t.Logf("%s while the database %s: %v", c.name, phase, err)
			}
			if code := cerberus.Code(err); code != cerberus.ECodeUnavailable {
				t.Errorf("%s while the database %s: got error %v (code %d), want code %d", c.name, phase, err, code, cerberus.ECodeUnavailable)
			}
			if took > within {
				t.Errorf("%s while the database %s: took %v, want at most %v", c.name, phase, took, within)
			}
		}
	}

	p.Refuse()
	wantUnavailable("refuses connections", time.Minute, refusedWithin)
	p.Hang()
	wantUnavailable("hangs", hungTimeout, hungWithin)
	p.Forward()

	// The store works again, and none of the calls above changed anything:
	// each of them succeeds now, even those that would fail if they had
	// been applied before.
	deadline := time.Now().Add(recoverWithin)
	for {
		_, err := s.ListCategories(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ListCategories %v after the database came back: %v", recoverWithin, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := s.FindSecret(ctx, sdb.ID, rec.Path)
	mustOK(t, "FindSecret after the outage", err)
	wantEqual(t, "FindSecret after the outage", got, rec)
	_, err = s.FindTokenByHash(ctx, tok.Hash)
	mustOK(t, "FindTokenByHash after the outage", err)
	for i, c := range calls {
		mustOK(t, fmt.Sprintf("call %d, %s, after the outage", i, c.name), c.call(ctx))
	}
}
