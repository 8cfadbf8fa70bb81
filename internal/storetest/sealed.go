package storetest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// filled is a store filled with a record of every kind, and what it holds.
type filled struct {
	f     *fixture
	sdbs  []*cerberus.SDB
	paths []struct{ sdbID, path string } // every path written, current or not
	// sealed is every stored ciphertext, in the order of ListSealed.
	sealed []*service.SealedRecord
	users  []*service.User
	tokens []*service.TokenRecord
}

// archived is a value of the history, before the store gives it an id.
type archived struct {
	sdbID, path string
	kind        service.SecretKind
	version     int64
	ciphertext  []byte
}

// fill stores SDBs (one bare, without description or permissions),
// secrets with histories (one deleted and written again, so that two
// history records of a path have the same version), a file, users with and
// without a TOTP seed, tokens and server keys.
func fill(t *testing.T, s service.Store) *filled {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t, s)
	fl := &filled{f: f}
	vault := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	box := f.mustCreateSDB(t, f.shared, "Box", "box")
	bare := f.sdb(f.apps, "Bare", "bare")
	bare.Description, bare.UserGroupPermissions, bare.IAMPrincipalPermissions = nil, nil, nil
	mustOK(t, "CreateSDB Bare", s.CreateSDB(ctx, bare))
	fl.sdbs = []*cerberus.SDB{vault, box, bare}

	var history []archived
	current := map[[2]string]*service.SecretRecord{}
	write := func(sdb *cerberus.SDB, sub string, kind service.SecretKind) {
		t.Helper()
		path := sdb.Slug + "/" + sub
		prev := current[[2]string{sdb.ID, path}]
		var v int64 = 1
		if prev != nil {
			v = prev.Version + 1
			history = append(history, archived{sdb.ID, path, prev.Kind, prev.Version, prev.Ciphertext})
		}
		if !slices.ContainsFunc(fl.paths, func(p struct{ sdbID, path string }) bool { return p.sdbID == sdb.ID && p.path == path }) {
			fl.paths = append(fl.paths, struct{ sdbID, path string }{sdb.ID, path})
		}
		rec := secret(sdb, sub, fmt.Sprintf("sealed %s v%d #%d", path, v, len(history)))
		rec.Kind = kind
		rec.LastUpdatedAt = at(100 + int64(len(history)))
		mustOK(t, "PutSecret "+path, s.PutSecret(ctx, rec, v-1))
		current[[2]string{sdb.ID, path}] = rec
	}
	del := func(sdb *cerberus.SDB, sub string) {
		t.Helper()
		path := sdb.Slug + "/" + sub
		prev := current[[2]string{sdb.ID, path}]
		history = append(history, archived{sdb.ID, path, prev.Kind, prev.Version, prev.Ciphertext})
		mustOK(t, "DeleteSecret "+path, s.DeleteSecret(ctx, sdb.ID, path, prev.Version, "deleter", at(300)))
		delete(current, [2]string{sdb.ID, path})
	}
	for range 3 {
		write(vault, "db/password", service.KindObject)
	}
	write(vault, "api", service.KindObject)
	write(vault, "caf\u00e9", service.KindObject)
	write(vault, "B", service.KindObject)
	write(vault, "gone", service.KindObject)
	del(vault, "gone")
	write(vault, "gone", service.KindObject)
	write(vault, "gone", service.KindObject)
	write(box, "x", service.KindObject)
	write(box, "x", service.KindObject)
	write(box, "cert.pem", service.KindFile)

	for _, name := range []string{"carol", "alice", "bob"} {
		u := user(name)
		if name == "bob" {
			u.TOTPSecret = nil
		}
		mustOK(t, "CreateUser "+name, s.CreateUser(ctx, u))
		fl.users = append(fl.users, u)
	}
	mustOK(t, "AdvanceTOTPCounter", s.AdvanceTOTPCounter(ctx, fl.users[1].ID, 57_000_001))
	fl.users[1].TOTPLastCounter = 57_000_001
	for _, name := range []string{"token-hmac", "mfa-state"} {
		mustOK(t, "PutKeyIfAbsent "+name, s.PutKeyIfAbsent(ctx, name, []byte("sealed server key "+name)))
	}
	fl.tokens = append(fl.tokens, mustCreateToken(t, s, cerberus.PrincipalUser, "alice"),
		mustCreateToken(t, s, cerberus.PrincipalIAM, "arn:aws:iam::111122223333:role/r"))

	// What ListSealed must return: the current secrets, by SDB id and
	// path…
	var secrets, versions, seeds, keys []*service.SealedRecord
	for k, rec := range current {
		secrets = append(secrets, &service.SealedRecord{Kind: service.SealedSecret, SDBID: k[0], Path: k[1],
			SecretKind: rec.Kind, Version: rec.Version, Ciphertext: rec.Ciphertext})
	}
	slices.SortFunc(secrets, func(a, b *service.SealedRecord) int {
		return cmp.Or(strings.Compare(a.SDBID, b.SDBID), strings.Compare(a.Path, b.Path))
	})
	// …the history, by id, which the store gave each record: pair the
	// history of each path, newest first, with what was archived there…
	for _, p := range fl.paths {
		got, _, err := s.ListSecretVersions(ctx, p.sdbID, p.path, 100, 0)
		mustOK(t, "ListSecretVersions", err)
		var mine []archived
		for _, a := range history {
			if a.sdbID == p.sdbID && a.path == p.path {
				mine = append(mine, a)
			}
		}
		slices.Reverse(mine)
		if len(got) != len(mine) {
			t.Fatalf("ListSecretVersions(%q): %d records, want %d", p.path, len(got), len(mine))
		}
		for i, a := range mine {
			if got[i].Version != a.version {
				t.Fatalf("ListSecretVersions(%q)[%d]: version %d, want %d", p.path, i, got[i].Version, a.version)
			}
			versions = append(versions, &service.SealedRecord{Kind: service.SealedSecretVersion, VersionID: got[i].VersionID,
				SDBID: a.sdbID, Path: a.path, SecretKind: a.kind, Version: a.version, Ciphertext: a.ciphertext})
		}
	}
	slices.SortFunc(versions, func(a, b *service.SealedRecord) int { return strings.Compare(a.VersionID, b.VersionID) })
	// …the TOTP seeds, by user id, and the server keys, by name.
	for _, u := range fl.users {
		if u.TOTPSecret != nil {
			seeds = append(seeds, &service.SealedRecord{Kind: service.SealedUserTOTP, UserID: u.ID, Ciphertext: u.TOTPSecret})
		}
	}
	slices.SortFunc(seeds, func(a, b *service.SealedRecord) int { return strings.Compare(a.UserID, b.UserID) })
	for _, name := range []string{"mfa-state", "token-hmac"} {
		keys = append(keys, &service.SealedRecord{Kind: service.SealedServerKey, Name: name, Ciphertext: []byte("sealed server key " + name)})
	}
	fl.sealed = slices.Concat(secrets, versions, seeds, keys)
	return fl
}

// walk returns every record of ListSealed, reading pages of limit records,
// and checks the pages and cursors.
func walk(t *testing.T, s service.Store, limit int) []*service.SealedRecord {
	t.Helper()
	ctx := context.Background()
	var all []*service.SealedRecord
	var cur service.SealedCursor
	for range 10_000 {
		page, next, err := s.ListSealed(ctx, cur, limit)
		mustOK(t, "ListSealed", err)
		if len(page) == 0 {
			if next != cur {
				t.Fatalf("ListSealed at the end: cursor %+v, want it unchanged %+v", next, cur)
			}
			return all
		}
		if len(page) > limit {
			t.Fatalf("ListSealed(limit %d): %d records", limit, len(page))
		}
		if want := page[len(page)-1].Cursor(); next != want {
			t.Fatalf("ListSealed: cursor %+v, want that of the last record %+v", next, want)
		}
		all = append(all, page...)
		cur = next
	}
	t.Fatal("ListSealed: the walk does not end")
	return nil
}

func testListSealedWalk(t *testing.T, s service.Store) {
	ctx := context.Background()
	if got := walk(t, s, 10); len(got) != 0 {
		t.Fatalf("ListSealed of an empty store: %s", show(got))
	}
	fl := fill(t, s)
	for _, limit := range []int{1, 2, 3, 7, 1000} {
		wantEqual(t, fmt.Sprintf("ListSealed walk, pages of %d", limit), walk(t, s, limit), fl.sealed)
	}
	// Resuming from any record's cursor gives the records after it.
	for i, r := range fl.sealed {
		page, _, err := s.ListSealed(ctx, r.Cursor(), 1)
		mustOK(t, "ListSealed", err)
		want := fl.sealed[i+1:]
		if len(want) > 1 {
			want = want[:1]
		}
		wantEqual(t, fmt.Sprintf("ListSealed after record %d", i), page, want)
	}
	// A cursor whose record is gone still marks a position.
	gone := service.SealedCursor{Kind: service.SealedSecret, SDBID: fl.sealed[0].SDBID, Path: fl.sealed[0].Path + "\x00"}
	page, _, err := s.ListSealed(ctx, gone, 1)
	mustOK(t, "ListSealed", err)
	wantEqual(t, "ListSealed after a position between records", page, fl.sealed[1:2])
}

func testListSealedErrBadRequest(t *testing.T, s service.Store) {
	ctx := context.Background()
	for _, limit := range []int{0, -1} {
		_, _, err := s.ListSealed(ctx, service.SealedCursor{}, limit)
		wantCode(t, fmt.Sprintf("ListSealed(limit %d)", limit), err, cerberus.ECodeBadRequest)
	}
	_, _, err := s.ListSealed(ctx, service.SealedCursor{Kind: "tokens"}, 1)
	wantCode(t, "ListSealed(kind tokens)", err, cerberus.ECodeBadRequest)
}

// testListSealedLargePages stores ciphertexts that add up to more than
// MaxSealedPageBytes: a page stops short of its limit, and the walk still
// returns every record.
func testListSealedLargePages(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	// Values of 1 MiB (and a byte), which fit in a statement whatever
	// MySQL's max_allowed_packet; 8 of them fill a page.
	const n = 9
	var want []*service.SealedRecord
	for i := range n {
		ct := bytes.Repeat([]byte{byte('a' + i)}, service.MaxSealedPageBytes/(n-1)+1)
		rec := secret(sdb, fmt.Sprintf("big-%d", i), string(ct))
		mustPutSecret(t, s, rec)
		want = append(want, &service.SealedRecord{Kind: service.SealedSecret, SDBID: sdb.ID, Path: rec.Path,
			SecretKind: service.KindObject, Version: 1, Ciphertext: ct})
	}
	page, _, err := s.ListSealed(ctx, service.SealedCursor{}, 20)
	mustOK(t, "ListSealed", err)
	if len(page) == 0 || len(page) == n {
		t.Fatalf("ListSealed of %d bytes of ciphertexts: %d records, want at least 1 and fewer than %d", n*len(want[0].Ciphertext), len(page), n)
	}
	got := walk(t, s, 20)
	if len(got) != len(want) {
		t.Fatalf("ListSealed walk: %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Path != want[i].Path || !bytes.Equal(got[i].Ciphertext, want[i].Ciphertext) {
			t.Fatalf("ListSealed walk record %d: path %q, want %q (or another ciphertext)", i, got[i].Path, want[i].Path)
		}
	}
}

func testReplaceSealedOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	fl := fill(t, s)
	// What else the store holds, which a replacement must not change.
	type view struct {
		secrets  []*service.SecretRecord
		versions [][]*service.SecretRecord
		users    []*service.User
	}
	look := func() view {
		var v view
		for _, p := range fl.paths {
			if rec, err := s.FindSecret(ctx, p.sdbID, p.path); err == nil {
				rec.Ciphertext = nil
				v.secrets = append(v.secrets, rec)
			}
			hist, _, err := s.ListSecretVersions(ctx, p.sdbID, p.path, 100, 0)
			mustOK(t, "ListSecretVersions", err)
			v.versions = append(v.versions, hist)
		}
		users, err := s.ListUsers(ctx)
		mustOK(t, "ListUsers", err)
		for _, u := range users {
			u.TOTPSecret = nil
		}
		v.users = users
		return v
	}
	before := look()
	want := make([]*service.SealedRecord, len(fl.sealed))
	for i, r := range fl.sealed {
		fresh := fmt.Appendf(nil, "re-wrapped %d", i)
		mustOK(t, fmt.Sprintf("ReplaceSealed(%s %d)", r.Kind, i), s.ReplaceSealed(ctx, r, fresh))
		c := *r
		c.Ciphertext = fresh
		want[i] = &c
	}
	wantEqual(t, "ListSealed after ReplaceSealed of every record", walk(t, s, 5), want)
	wantEqual(t, "the records besides their ciphertexts after ReplaceSealed", look(), before)

	// The ciphertexts are where the records are read from.
	for _, r := range want {
		switch r.Kind {
		case service.SealedSecret:
			got, err := s.FindSecret(ctx, r.SDBID, r.Path)
			mustOK(t, "FindSecret", err)
			wantEqual(t, "FindSecret ciphertext", got.Ciphertext, r.Ciphertext)
		case service.SealedUserTOTP:
			for _, u := range fl.users {
				if u.ID == r.UserID {
					got, err := s.FindUserByName(ctx, u.Name)
					mustOK(t, "FindUserByName", err)
					wantEqual(t, "FindUserByName TOTP secret", got.TOTPSecret, r.Ciphertext)
				}
			}
		case service.SealedServerKey:
			got, err := s.FindKey(ctx, r.Name)
			mustOK(t, "FindKey", err)
			wantEqual(t, "FindKey", got, r.Ciphertext)
		}
	}
}

func testReplaceSealedErrConflict(t *testing.T, s service.Store) {
	ctx := context.Background()
	fl := fill(t, s)
	records := walk(t, s, 100)
	// A stale ciphertext: a write made a fresh one since the record was
	// read.
	for i, r := range records {
		stale := *r
		stale.Ciphertext = append(slices.Clone(r.Ciphertext), '!')
		wantCode(t, fmt.Sprintf("ReplaceSealed(%s %d) with a stale ciphertext", r.Kind, i),
			s.ReplaceSealed(ctx, &stale, []byte("x")), cerberus.ECodeConflict)
	}
	wantEqual(t, "ListSealed after failed replacements", walk(t, s, 100), records)

	// A secret written again since it was read: same path, new version.
	var sec *service.SealedRecord
	for _, r := range records {
		if r.Kind == service.SealedSecret && r.SecretKind == service.KindObject {
			sec = r
			break
		}
	}
	next := &service.SecretRecord{SDBID: sec.SDBID, Path: sec.Path, Kind: service.KindObject, Ciphertext: sec.Ciphertext,
		SizeBytes: 1, LastUpdatedBy: "w", LastUpdatedAt: at(500)}
	mustOK(t, "PutSecret", s.PutSecret(ctx, next, sec.Version))
	wantCode(t, "ReplaceSealed of a secret written again", s.ReplaceSealed(ctx, sec, []byte("x")), cerberus.ECodeConflict)
	got, err := s.FindSecret(ctx, sec.SDBID, sec.Path)
	mustOK(t, "FindSecret", err)
	wantEqual(t, "FindSecret after a failed replacement", got.Ciphertext, sec.Ciphertext)

	// Records that are gone.
	mustOK(t, "DeleteSecret", s.DeleteSecret(ctx, sec.SDBID, sec.Path, sec.Version+1, "d", at(600)))
	wantCode(t, "ReplaceSealed of a deleted secret", s.ReplaceSealed(ctx, sec, []byte("x")), cerberus.ECodeConflict)
	var seed *service.SealedRecord
	for _, r := range records {
		if r.Kind == service.SealedUserTOTP {
			seed = r
		}
	}
	for _, u := range fl.users {
		if u.ID == seed.UserID {
			mustOK(t, "DeleteUser", s.DeleteUser(ctx, u.Name))
		}
	}
	wantCode(t, "ReplaceSealed of a deleted user's seed", s.ReplaceSealed(ctx, seed, []byte("x")), cerberus.ECodeConflict)
	mustOK(t, "DeleteSDB", s.DeleteSDB(ctx, fl.sdbs[0].ID))
	for _, r := range records {
		if r.Kind == service.SealedSecretVersion && r.SDBID == fl.sdbs[0].ID {
			wantCode(t, "ReplaceSealed of a deleted history record", s.ReplaceSealed(ctx, r, []byte("x")), cerberus.ECodeConflict)
		}
	}
	wantCode(t, "ReplaceSealed of an unknown kind",
		s.ReplaceSealed(ctx, &service.SealedRecord{Kind: "token", Ciphertext: []byte("a")}, []byte("x")), cerberus.ECodeBadRequest)
}

// testReplaceSealedRace replaces one ciphertext from many goroutines that
// read it at the same time: exactly one wins.
func testReplaceSealedRace(t *testing.T, s service.Store) {
	ctx := context.Background()
	fill(t, s)
	records := walk(t, s, 100)
	for _, kind := range service.SealedKinds() {
		i := slices.IndexFunc(records, func(r *service.SealedRecord) bool { return r.Kind == kind })
		r := records[i]
		errs := race(8, func(i int) error { return s.ReplaceSealed(ctx, r, fmt.Appendf(nil, "winner %d", i)) })
		w := wantOneWinner(t, "ReplaceSealed "+string(kind), errs, cerberus.ECodeConflict)
		var from service.SealedCursor
		if i > 0 {
			from = records[i-1].Cursor()
		}
		page, _, err := s.ListSealed(ctx, from, 1)
		mustOK(t, "ListSealed", err)
		got := page[0]
		if want := fmt.Sprintf("winner %d", w); string(got.Ciphertext) != want {
			t.Fatalf("after racing ReplaceSealed of %s: ciphertext %q, want %q", kind, got.Ciphertext, want)
		}
	}
}
