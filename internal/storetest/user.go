package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// user returns a user ready to be created, with a second factor.
func user(name string) *service.User {
	return &service.User{
		ID:              cerberus.NewID(),
		Name:            name,
		PasswordHash:    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Groups:          []string{name + "-group", "everyone"},
		TOTPSecret:      []byte("sealed seed of " + name),
		TOTPLastCounter: 0,
		CreatedAt:       at(1),
		UpdatedAt:       at(1),
	}
}

// mustCreateUser creates a user made by user.
func mustCreateUser(t *testing.T, s service.Store, name string) *service.User {
	t.Helper()
	u := user(name)
	mustOK(t, "CreateUser "+name, s.CreateUser(context.Background(), u))
	return u
}

// token returns a token record of principal, ready to be created.
func token(typ cerberus.PrincipalType, principal string) *service.TokenRecord {
	return &service.TokenRecord{
		ID:            cerberus.NewID(),
		Hash:          []byte("hash of a token of " + principal + " " + cerberus.NewID()),
		PrincipalType: typ,
		Principal:     principal,
		Groups:        []string{"g1", "g2"},
		IsAdmin:       false,
		RefreshCount:  0,
		CreatedAt:     at(0),
		ExpiresAt:     at(3_600_000),
	}
}

// mustCreateToken creates a token made by token.
func mustCreateToken(t *testing.T, s service.Store, typ cerberus.PrincipalType, principal string) *service.TokenRecord {
	t.Helper()
	tok := token(typ, principal)
	mustOK(t, "CreateToken", s.CreateToken(context.Background(), tok))
	return tok
}

func testCreateUserOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	tests := []struct {
		name string
		edit func(u *service.User)
	}{
		{"WithSecondFactor", func(*service.User) {}},
		{"WithoutSecondFactor", func(u *service.User) { u.TOTPSecret = nil }},
		{"WithoutGroups", func(u *service.User) { u.Groups = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := user("user-" + tt.name)
			tt.edit(want)
			mustOK(t, "CreateUser", s.CreateUser(ctx, want))
			got, err := s.FindUserByName(ctx, want.Name)
			mustOK(t, "FindUserByName", err)
			wantEqual(t, "FindUserByName", got, want)
		})
	}
}

func testCreateUserErrExists(t *testing.T, s service.Store) {
	ctx := context.Background()
	first := mustCreateUser(t, s, "alice")
	wantCode(t, "CreateUser of an existing name", s.CreateUser(ctx, user("alice")), cerberus.ECodeUserExists)
	got, err := s.FindUserByName(ctx, "alice")
	mustOK(t, "FindUserByName", err)
	wantEqual(t, "FindUserByName", got, first)
	// Names compare case-sensitively.
	mustCreateUser(t, s, "Alice")
}

func testUpdateUserOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s, "alice")
	other := mustCreateUser(t, s, "bob")
	for i, edit := range []func(u *service.User){
		func(u *service.User) { u.PasswordHash = "$2a$10$abcdefghijklmnopqrstuv" },
		func(u *service.User) { u.Groups = []string{"admins"} },
		func(u *service.User) { u.Groups = nil },
		func(u *service.User) { u.TOTPSecret = nil },
		func(u *service.User) { u.TOTPSecret = []byte("new seed") },
	} {
		edit(u)
		u.UpdatedAt = at(int64(10 + i))
		mustOK(t, "UpdateUser", s.UpdateUser(ctx, u))
		got, err := s.FindUserByName(ctx, u.Name)
		mustOK(t, "FindUserByName", err)
		wantEqual(t, fmt.Sprintf("FindUserByName after update %d", i), got, u)
	}
	got, err := s.FindUserByName(ctx, other.Name)
	mustOK(t, "FindUserByName", err)
	wantEqual(t, "FindUserByName of another user", got, other)

	// Only AdvanceTOTPCounter moves the counter: an update from a stale
	// copy must not lower it and so re-open a used code.
	mustOK(t, "AdvanceTOTPCounter", s.AdvanceTOTPCounter(ctx, u.ID, 57_000_500))
	stale := *u
	stale.TOTPLastCounter = 1
	mustOK(t, "UpdateUser", s.UpdateUser(ctx, &stale))
	got, err = s.FindUserByName(ctx, u.Name)
	mustOK(t, "FindUserByName", err)
	if got.TOTPLastCounter != 57_000_500 {
		t.Fatalf("TOTPLastCounter after UpdateUser from a stale copy = %d, want 57000500", got.TOTPLastCounter)
	}
}

func testUpdateUserRevokesTokens(t *testing.T, s service.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s, "alice")
	mustCreateUser(t, s, "bob")
	kept := []*service.TokenRecord{
		mustCreateToken(t, s, cerberus.PrincipalUser, "bob"),
		mustCreateToken(t, s, cerberus.PrincipalUser, "Alice"),
		// An IAM principal that happens to have the name is not the user.
		mustCreateToken(t, s, cerberus.PrincipalIAM, "alice"),
	}
	for i, edit := range []func(u *service.User){
		func(u *service.User) { u.PasswordHash = "$2a$10$abcdefghijklmnopqrstuv" },
		func(u *service.User) { u.Groups = []string{"admins"} },
		func(u *service.User) { u.TOTPSecret = []byte("new seed") },
		func(u *service.User) {}, // an update that changes nothing revokes too
	} {
		gone := []*service.TokenRecord{
			mustCreateToken(t, s, cerberus.PrincipalUser, "alice"),
			mustCreateToken(t, s, cerberus.PrincipalUser, "alice"),
		}
		edit(u)
		u.UpdatedAt = at(int64(10 + i))
		mustOK(t, "UpdateUser", s.UpdateUser(ctx, u))
		for _, tok := range gone {
			_, err := s.FindTokenByHash(ctx, tok.Hash)
			wantCode(t, fmt.Sprintf("FindTokenByHash of the user's token after update %d", i), err, cerberus.ECodeNotFound)
		}
		for _, tok := range kept {
			got, err := s.FindTokenByHash(ctx, tok.Hash)
			mustOK(t, "FindTokenByHash of "+string(tok.PrincipalType)+" "+tok.Principal, err)
			wantEqual(t, "FindTokenByHash", got, tok)
		}
	}
	// A failed update revokes nothing.
	tok := mustCreateToken(t, s, cerberus.PrincipalUser, "alice")
	wantCode(t, "UpdateUser of an unknown id", s.UpdateUser(ctx, user("alice")), cerberus.ECodeNotFound)
	_, err := s.FindTokenByHash(ctx, tok.Hash)
	mustOK(t, "FindTokenByHash after a failed update", err)
}

func testUpdateUserErrNotFound(t *testing.T, s service.Store) {
	mustCreateUser(t, s, "alice")
	wantCode(t, "UpdateUser", s.UpdateUser(context.Background(), user("alice")), cerberus.ECodeNotFound)
	u := user("alice")
	u.ID = "\xff"
	wantCode(t, "UpdateUser of id \\xff", s.UpdateUser(context.Background(), u), cerberus.ECodeNotFound)
}

func testDeleteUserOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	mustCreateUser(t, s, "alice")
	bob := mustCreateUser(t, s, "bob")
	gone := []*service.TokenRecord{
		mustCreateToken(t, s, cerberus.PrincipalUser, "alice"),
		mustCreateToken(t, s, cerberus.PrincipalUser, "alice"),
	}
	kept := []*service.TokenRecord{
		mustCreateToken(t, s, cerberus.PrincipalUser, "bob"),
		mustCreateToken(t, s, cerberus.PrincipalUser, "Alice"),
		// An IAM principal that happens to have the name is not the user.
		mustCreateToken(t, s, cerberus.PrincipalIAM, "alice"),
	}
	mustOK(t, "DeleteUser", s.DeleteUser(ctx, "alice"))
	_, err := s.FindUserByName(ctx, "alice")
	wantCode(t, "FindUserByName after DeleteUser", err, cerberus.ECodeNotFound)
	for _, tok := range gone {
		_, err := s.FindTokenByHash(ctx, tok.Hash)
		wantCode(t, "FindTokenByHash of a deleted user's token", err, cerberus.ECodeNotFound)
	}
	for _, tok := range kept {
		got, err := s.FindTokenByHash(ctx, tok.Hash)
		mustOK(t, "FindTokenByHash of "+string(tok.PrincipalType)+" "+tok.Principal, err)
		wantEqual(t, "FindTokenByHash", got, tok)
	}
	got, err := s.FindUserByName(ctx, "bob")
	mustOK(t, "FindUserByName", err)
	wantEqual(t, "FindUserByName of another user", got, bob)
	// The name is free again.
	mustCreateUser(t, s, "alice")
}

func testDeleteUserErrNotFound(t *testing.T, s service.Store) {
	mustCreateUser(t, s, "alice")
	wantCode(t, "DeleteUser", s.DeleteUser(context.Background(), "ALICE"), cerberus.ECodeNotFound)
	wantCode(t, "DeleteUser", s.DeleteUser(context.Background(), "bob"), cerberus.ECodeNotFound)
	wantCode(t, "DeleteUser", s.DeleteUser(context.Background(), "\xff"), cerberus.ECodeNotFound)
}

func testFindUserByNameErrNotFound(t *testing.T, s service.Store) {
	mustCreateUser(t, s, "alice")
	for _, name := range []string{"bob", "ALICE", "alic", "alice ", "%", "_lice", "\xff", "ali\x00ce"} {
		_, err := s.FindUserByName(context.Background(), name)
		wantCode(t, fmt.Sprintf("FindUserByName(%q)", name), err, cerberus.ECodeNotFound)
	}
}

func testListUsersOrdered(t *testing.T, s service.Store) {
	ctx := context.Background()
	us, err := s.ListUsers(ctx)
	mustOK(t, "ListUsers", err)
	if len(us) != 0 {
		t.Fatalf("ListUsers of a new store: got %s, want none", show(us))
	}
	var want []*service.User
	for _, name := range []string{"carol", "alice", "Bob", "bob"} {
		want = append(want, mustCreateUser(t, s, name))
	}
	want = []*service.User{want[2], want[1], want[3], want[0]} // byte order: Bob alice bob carol
	us, err = s.ListUsers(ctx)
	mustOK(t, "ListUsers", err)
	wantEqual(t, "ListUsers", us, want)
}

func testAdvanceTOTPCounterOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s, "alice")
	other := mustCreateUser(t, s, "bob")
	for _, c := range []int64{1, 57_000_000, 57_000_001, 57_000_010} {
		mustOK(t, fmt.Sprintf("AdvanceTOTPCounter(%d)", c), s.AdvanceTOTPCounter(ctx, u.ID, c))
		got, err := s.FindUserByName(ctx, u.Name)
		mustOK(t, "FindUserByName", err)
		if got.TOTPLastCounter != c {
			t.Fatalf("FindUserByName after AdvanceTOTPCounter(%d): counter %d", c, got.TOTPLastCounter)
		}
	}
	got, err := s.FindUserByName(ctx, other.Name)
	mustOK(t, "FindUserByName", err)
	wantEqual(t, "FindUserByName of another user", got, other)

}

func testAdvanceTOTPCounterErrConflict(t *testing.T, s service.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s, "alice")
	mustOK(t, "AdvanceTOTPCounter", s.AdvanceTOTPCounter(ctx, u.ID, 100))
	for _, c := range []int64{100, 99, 0} {
		wantCode(t, fmt.Sprintf("AdvanceTOTPCounter(%d) after 100", c), s.AdvanceTOTPCounter(ctx, u.ID, c), cerberus.ECodeConflict)
	}
	for _, id := range []string{cerberus.NewID(), "\xff"} {
		wantCode(t, fmt.Sprintf("AdvanceTOTPCounter of user %q", id), s.AdvanceTOTPCounter(ctx, id, 200), cerberus.ECodeConflict)
	}
	got, err := s.FindUserByName(ctx, u.Name)
	mustOK(t, "FindUserByName", err)
	if got.TOTPLastCounter != 100 {
		t.Fatalf("FindUserByName: counter %d, want 100", got.TOTPLastCounter)
	}
}

func testAdvanceTOTPCounterRace(t *testing.T, s service.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s, "alice")
	errs := race(8, func(int) error { return s.AdvanceTOTPCounter(ctx, u.ID, 42) })
	wantOneWinner(t, "AdvanceTOTPCounter", errs, cerberus.ECodeConflict)
}
