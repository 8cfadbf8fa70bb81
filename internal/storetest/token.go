package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

func testCreateTokenOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	tests := []struct {
		name string
		edit func(tok *service.TokenRecord)
	}{
		{"User", func(*service.TokenRecord) {}},
		{"AdminRefreshed", func(tok *service.TokenRecord) { tok.IsAdmin, tok.RefreshCount = true, 3 }},
		{"IAMWithoutGroups", func(tok *service.TokenRecord) {
			tok.PrincipalType, tok.Principal, tok.Groups = cerberus.PrincipalIAM, "arn:aws:iam::111122223333:role/app", nil
		}},
		{"Expired", func(tok *service.TokenRecord) { tok.ExpiresAt = at(-1) }},
		{"BinaryHash", func(tok *service.TokenRecord) { tok.Hash = []byte{0, 0xff, 0, 0x80, 'a'} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := token(cerberus.PrincipalUser, "alice")
			tt.edit(want)
			mustOK(t, "CreateToken", s.CreateToken(ctx, want))
			got, err := s.FindTokenByHash(ctx, want.Hash)
			mustOK(t, "FindTokenByHash", err)
			wantEqual(t, "FindTokenByHash", got, want)
		})
	}
}

func testFindTokenByHashErrNotFound(t *testing.T, s service.Store) {
	ctx := context.Background()
	tok := mustCreateToken(t, s, cerberus.PrincipalUser, "alice")
	for _, h := range [][]byte{
		[]byte("no such hash"),
		tok.Hash[:len(tok.Hash)-1],
		append(bytes.Clone(tok.Hash), 0),
		bytes.ToUpper(tok.Hash),
		{},
	} {
		_, err := s.FindTokenByHash(ctx, h)
		wantCode(t, fmt.Sprintf("FindTokenByHash(%q)", h), err, cerberus.ECodeNotFound)
	}
}

func testDeleteTokenOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	tok := mustCreateToken(t, s, cerberus.PrincipalUser, "alice")
	other := mustCreateToken(t, s, cerberus.PrincipalUser, "alice")
	mustOK(t, "DeleteToken", s.DeleteToken(ctx, tok.ID))
	_, err := s.FindTokenByHash(ctx, tok.Hash)
	wantCode(t, "FindTokenByHash after DeleteToken", err, cerberus.ECodeNotFound)
	got, err := s.FindTokenByHash(ctx, other.Hash)
	mustOK(t, "FindTokenByHash of another token", err)
	wantEqual(t, "FindTokenByHash of another token", got, other)
}

func testDeleteTokenErrNotFound(t *testing.T, s service.Store) {
	ctx := context.Background()
	tok := mustCreateToken(t, s, cerberus.PrincipalUser, "alice")
	wantCode(t, "DeleteToken of an unknown id", s.DeleteToken(ctx, cerberus.NewID()), cerberus.ECodeNotFound)
	wantCode(t, "DeleteToken of id \\xff", s.DeleteToken(ctx, "\xff"), cerberus.ECodeNotFound)
	mustOK(t, "DeleteToken", s.DeleteToken(ctx, tok.ID))
	wantCode(t, "DeleteToken again", s.DeleteToken(ctx, tok.ID), cerberus.ECodeNotFound)
}

func testDeleteTokenRace(t *testing.T, s service.Store) {
	ctx := context.Background()
	tok := mustCreateToken(t, s, cerberus.PrincipalUser, "alice")
	errs := race(8, func(int) error { return s.DeleteToken(ctx, tok.ID) })
	wantOneWinner(t, "DeleteToken", errs, cerberus.ECodeNotFound)
}

func testDeleteExpiredTokens(t *testing.T, s service.Store) {
	ctx := context.Background()
	now := at(1_000_000)
	expiring := func(exp time.Time) *service.TokenRecord {
		tok := token(cerberus.PrincipalUser, "alice")
		tok.ExpiresAt = exp
		mustOK(t, "CreateToken", s.CreateToken(ctx, tok))
		return tok
	}
	expired := []*service.TokenRecord{expiring(now.Add(-time.Hour)), expiring(now.Add(-time.Millisecond))}
	live := []*service.TokenRecord{expiring(now), expiring(now.Add(time.Millisecond)), expiring(now.Add(time.Hour))}

	for _, c := range []struct {
		now  time.Time
		want int
	}{{now.Add(-2 * time.Hour), len(expired) + len(live)}, {now, len(live)}, {now.Add(2 * time.Hour), 0}} {
		n, err := s.CountTokens(ctx, c.now)
		mustOK(t, "CountTokens", err)
		if n != int64(c.want) {
			t.Fatalf("CountTokens(%v): %d, want %d", c.now, n, c.want)
		}
	}
	n, err := s.DeleteExpiredTokens(ctx, now)
	mustOK(t, "DeleteExpiredTokens", err)
	if n != int64(len(expired)) {
		t.Fatalf("DeleteExpiredTokens: deleted %d, want %d", n, len(expired))
	}
	for _, tok := range expired {
		_, err := s.FindTokenByHash(ctx, tok.Hash)
		wantCode(t, "FindTokenByHash of an expired token", err, cerberus.ECodeNotFound)
	}
	for _, tok := range live {
		_, err := s.FindTokenByHash(ctx, tok.Hash)
		mustOK(t, "FindTokenByHash of a live token", err)
	}
	n, err = s.DeleteExpiredTokens(ctx, now)
	mustOK(t, "DeleteExpiredTokens", err)
	if n != 0 {
		t.Fatalf("DeleteExpiredTokens again: deleted %d, want 0", n)
	}
	if n, err := s.CountTokens(ctx, now); err != nil || n != int64(len(live)) {
		t.Fatalf("CountTokens after DeleteExpiredTokens: %d, %v; want %d", n, err, len(live))
	}
}

func testPutKeyIfAbsentFirstWins(t *testing.T, s service.Store) {
	ctx := context.Background()
	mustOK(t, "PutKeyIfAbsent", s.PutKeyIfAbsent(ctx, "token-hmac", []byte("first")))
	mustOK(t, "PutKeyIfAbsent", s.PutKeyIfAbsent(ctx, "token-hmac", []byte("second")))
	mustOK(t, "PutKeyIfAbsent", s.PutKeyIfAbsent(ctx, "mfa-state", []byte("other")))
	for name, want := range map[string]string{"token-hmac": "first", "mfa-state": "other"} {
		got, err := s.FindKey(ctx, name)
		mustOK(t, "FindKey", err)
		if string(got) != want {
			t.Fatalf("FindKey(%q) = %q, want %q", name, got, want)
		}
	}
}

func testPutKeyIfAbsentRace(t *testing.T, s service.Store) {
	ctx := context.Background()
	keys := make([][]byte, 8)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key %d", i)
	}
	for i, err := range race(len(keys), func(i int) error { return s.PutKeyIfAbsent(ctx, "k", keys[i]) }) {
		mustOK(t, fmt.Sprintf("PutKeyIfAbsent %d", i), err)
	}
	first, err := s.FindKey(ctx, "k")
	mustOK(t, "FindKey", err)
	found := false
	for _, k := range keys {
		found = found || bytes.Equal(first, k)
	}
	if !found {
		t.Fatalf("FindKey = %q, want one of the keys put", first)
	}
	mustOK(t, "PutKeyIfAbsent", s.PutKeyIfAbsent(ctx, "k", []byte("late")))
	got, err := s.FindKey(ctx, "k")
	mustOK(t, "FindKey", err)
	if !bytes.Equal(got, first) {
		t.Fatalf("FindKey after a late PutKeyIfAbsent = %q, want %q", got, first)
	}
}

func testFindKeyErrNotFound(t *testing.T, s service.Store) {
	ctx := context.Background()
	mustOK(t, "PutKeyIfAbsent", s.PutKeyIfAbsent(ctx, "token-hmac", []byte("k")))
	for _, name := range []string{"mfa-state", "TOKEN-HMAC", "token-hmac ", "%", "\xff", "token-hmac\x00"} {
		_, err := s.FindKey(ctx, name)
		wantCode(t, fmt.Sprintf("FindKey(%q)", name), err, cerberus.ECodeNotFound)
	}
}

// testTimestampsRoundTrip stores times with sub-millisecond parts in another
// zone and wants them back truncated to the millisecond, in UTC.
func testTimestampsRoundTrip(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	zone := time.FixedZone("UTC+05:30", 5*3600+1800)
	in := func(ms int64) time.Time {
		return time.Date(2031, time.February, 3, 4, 5, 6, 0, zone).Add(time.Duration(ms)*time.Millisecond + 999_999)
	}
	check := func(what string, got, stored time.Time) {
		t.Helper()
		want := stored.Truncate(time.Millisecond).UTC()
		if !got.Equal(want) || got.Location() != time.UTC || got.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}

	sdb := f.sdb(f.apps, "Times", "times")
	sdb.CreatedAt, sdb.LastUpdatedAt = in(1), in(2)
	sdb.UserGroupPermissions[0].CreatedAt, sdb.UserGroupPermissions[0].LastUpdatedAt = in(3), in(4)
	sdb.IAMPrincipalPermissions[0].CreatedAt, sdb.IAMPrincipalPermissions[0].LastUpdatedAt = in(5), in(6)
	mustOK(t, "CreateSDB", s.CreateSDB(ctx, sdb))
	gotSDB, err := s.FindSDBByID(ctx, sdb.ID)
	mustOK(t, "FindSDBByID", err)
	check("SDB.CreatedAt", gotSDB.CreatedAt, sdb.CreatedAt)
	check("SDB.LastUpdatedAt", gotSDB.LastUpdatedAt, sdb.LastUpdatedAt)
	check("UserGroupPermission.CreatedAt", gotSDB.UserGroupPermissions[0].CreatedAt, sdb.UserGroupPermissions[0].CreatedAt)
	check("UserGroupPermission.LastUpdatedAt", gotSDB.UserGroupPermissions[0].LastUpdatedAt, sdb.UserGroupPermissions[0].LastUpdatedAt)
	check("IAMPrincipalPermission.CreatedAt", gotSDB.IAMPrincipalPermissions[0].CreatedAt, sdb.IAMPrincipalPermissions[0].CreatedAt)
	check("IAMPrincipalPermission.LastUpdatedAt", gotSDB.IAMPrincipalPermissions[0].LastUpdatedAt, sdb.IAMPrincipalPermissions[0].LastUpdatedAt)

	rec := secret(sdb, "t", "x")
	rec.CreatedAt, rec.LastUpdatedAt = in(7), in(8)
	mustPutSecret(t, s, rec)
	gotRec, err := s.FindSecret(ctx, sdb.ID, rec.Path)
	mustOK(t, "FindSecret", err)
	check("SecretRecord.CreatedAt", gotRec.CreatedAt, rec.CreatedAt)
	check("SecretRecord.LastUpdatedAt", gotRec.LastUpdatedAt, rec.LastUpdatedAt)
	upd := secret(sdb, "t", "y")
	upd.LastUpdatedAt = in(9)
	mustOK(t, "PutSecret", s.PutSecret(ctx, upd, 1))
	check("PutSecret's SecretRecord.CreatedAt", upd.CreatedAt, rec.CreatedAt)

	u := user("alice")
	u.CreatedAt, u.UpdatedAt = in(10), in(11)
	mustOK(t, "CreateUser", s.CreateUser(ctx, u))
	gotUser, err := s.FindUserByName(ctx, u.Name)
	mustOK(t, "FindUserByName", err)
	check("User.CreatedAt", gotUser.CreatedAt, u.CreatedAt)
	check("User.UpdatedAt", gotUser.UpdatedAt, u.UpdatedAt)

	tok := token(cerberus.PrincipalUser, "alice")
	tok.CreatedAt, tok.ExpiresAt = in(12), in(13)
	mustOK(t, "CreateToken", s.CreateToken(ctx, tok))
	gotTok, err := s.FindTokenByHash(ctx, tok.Hash)
	mustOK(t, "FindTokenByHash", err)
	check("TokenRecord.CreatedAt", gotTok.CreatedAt, tok.CreatedAt)
	check("TokenRecord.ExpiresAt", gotTok.ExpiresAt, tok.ExpiresAt)
}

// testContextCanceled wants every kind of call to give up on a canceled
// context, with an error that is not a domain error.
func testContextCanceled(t *testing.T, s service.Store) {
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	rec := secret(sdb, "a", "x")
	mustPutSecret(t, s, rec)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"ListCategories", func() error { _, err := s.ListCategories(ctx); return err }},
		{"FindSDBByID", func() error { _, err := s.FindSDBByID(ctx, sdb.ID); return err }},
		{"ListSDBSummaries", func() error { _, err := s.ListSDBSummaries(ctx, []string{sdb.Owner}, nil); return err }},
		{"HasSDBGrant", func() error { _, err := s.HasSDBGrant(ctx, []string{sdb.Owner}, nil); return err }},
		{"CountSDBsCreatedBy", func() error { _, err := s.CountSDBsCreatedBy(ctx, sdb.CreatedBy); return err }},
		{"CreateSDB", func() error { return s.CreateSDB(ctx, f.sdb(f.apps, "Late", "late")) }},
		{"FindSecret", func() error { _, err := s.FindSecret(ctx, sdb.ID, rec.Path); return err }},
		{"PutSecret", func() error { return s.PutSecret(ctx, secret(sdb, "a", "y"), 1) }},
		{"DeleteSecret", func() error { return s.DeleteSecret(ctx, sdb.ID, rec.Path, 1, "bob", at(1)) }},
		{"ListSecretPaths", func() error { _, err := s.ListSecretPaths(ctx, sdb.ID, "", service.KindObject); return err }},
		{"CreateUser", func() error { return s.CreateUser(ctx, user("late")) }},
		{"DeleteExpiredTokens", func() error { _, err := s.DeleteExpiredTokens(ctx, at(0)); return err }},
		{"CountTokens", func() error { _, err := s.CountTokens(ctx, at(0)); return err }},
	}
	for _, c := range calls {
		err := c.call()
		if !errors.Is(err, context.Canceled) || cerberus.Code(err) != cerberus.ECodeInternal {
			t.Errorf("%s with a canceled context: got error %v, want one that wraps context.Canceled", c.name, err)
		}
	}
	got, err := s.FindSecret(context.Background(), sdb.ID, rec.Path)
	mustOK(t, "FindSecret", err)
	wantEqual(t, "FindSecret after canceled calls", got, rec)
}

func testNodes(t *testing.T, s service.Store) {
	ctx := context.Background()
	nodes, err := s.ListNodes(ctx)
	mustOK(t, "ListNodes", err)
	if len(nodes) != 0 {
		t.Fatalf("ListNodes of a new store: %d nodes, want none", len(nodes))
	}
	a := &service.NodeRecord{ID: "node-a", Host: "host-1", PID: 41, StartedAt: at(1000), SeenAt: at(2000),
		PrimaryKey: "local-00000002", KeyIDs: []string{"local-00000001", "local-00000002"}}
	b := &service.NodeRecord{ID: "node-b", Host: "host-2", PID: 42, StartedAt: at(1500), SeenAt: at(1500),
		PrimaryKey: "awskms:0123456789abcdef", KeyIDs: []string{"awskms:0123456789abcdef"}}
	mustOK(t, "PutNode", s.PutNode(ctx, a))
	mustOK(t, "PutNode", s.PutNode(ctx, b))
	a.SeenAt, a.PrimaryKey, a.KeyIDs = at(3000), "local-00000003", []string{"local-00000002", "local-00000003"}
	mustOK(t, "PutNode again", s.PutNode(ctx, a))
	nodes, err = s.ListNodes(ctx)
	mustOK(t, "ListNodes", err)
	if len(nodes) != 2 || !reflect.DeepEqual(nodes[0], a) || !reflect.DeepEqual(nodes[1], b) {
		t.Fatalf("ListNodes = %+v, want %+v and %+v", nodes, a, b)
	}
	// Deleting a, the stale b (seen before 2000) goes too.
	mustOK(t, "DeleteNode", s.DeleteNode(ctx, "node-a", at(2000)))
	mustOK(t, "DeleteNode of a missing node", s.DeleteNode(ctx, "node-a", at(0)))
	nodes, err = s.ListNodes(ctx)
	mustOK(t, "ListNodes", err)
	if len(nodes) != 0 {
		t.Fatalf("ListNodes after DeleteNode: %+v, want none", nodes)
	}
}
