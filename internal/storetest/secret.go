package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

func testFindSecretErrNotFound(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	mustPutSecret(t, s, secret(sdb, "db/password", "x"))
	for _, tt := range []struct{ sdbID, path string }{
		{sdb.ID, "vault/db"},
		{sdb.ID, "vault/db/password/"},
		{sdb.ID, "vault/DB/password"},
		{sdb.ID, "vault/db/%"},
		{cerberus.NewID(), "vault/db/password"},
		{"\xff", "vault/db/password"},
	} {
		_, err := s.FindSecret(ctx, tt.sdbID, tt.path)
		wantCode(t, fmt.Sprintf("FindSecret(%q, %q)", tt.sdbID, tt.path), err, cerberus.ECodeNotFound)
	}
}

func testFindSecretInfoOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	for _, kind := range []service.SecretKind{service.KindObject, service.KindFile} {
		rec := secret(sdb, "info/"+string(kind), "a ciphertext of some size")
		rec.Kind = kind
		mustPutSecret(t, s, rec)
		next := secret(sdb, "info/"+string(kind), "the second one")
		next.Kind, next.LastUpdatedBy, next.LastUpdatedAt = kind, "bob", at(200)
		mustOK(t, "PutSecret", s.PutSecret(ctx, next, 1))
		full, err := s.FindSecret(ctx, sdb.ID, rec.Path)
		mustOK(t, "FindSecret", err)
		info, err := s.FindSecretInfo(ctx, sdb.ID, rec.Path)
		mustOK(t, "FindSecretInfo", err)
		if info.Ciphertext != nil {
			t.Fatalf("FindSecretInfo(%q): ciphertext %q, want none", rec.Path, info.Ciphertext)
		}
		full.Ciphertext = nil
		wantEqual(t, "FindSecretInfo", info, full)
	}
}

func testFindSecretInfoErrNotFound(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	mustPutSecret(t, s, secret(sdb, "db/password", "x"))
	mustOK(t, "DeleteSecret", s.DeleteSecret(ctx, sdb.ID, "vault/db/password", 1, "bob", at(300)))
	mustPutSecret(t, s, secret(sdb, "db/user", "x"))
	for _, tt := range []struct{ sdbID, path string }{
		{sdb.ID, "vault/db/password"}, // deleted: only in the history
		{sdb.ID, "vault/db"},
		{sdb.ID, "vault/db/user/"},
		{sdb.ID, "vault/DB/user"},
		{sdb.ID, "vault/db/%"},
		{cerberus.NewID(), "vault/db/user"},
		{"\xff", "vault/db/user"},
	} {
		_, err := s.FindSecretInfo(ctx, tt.sdbID, tt.path)
		wantCode(t, fmt.Sprintf("FindSecretInfo(%q, %q)", tt.sdbID, tt.path), err, cerberus.ECodeNotFound)
	}
}

func testPutSecretCreate(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	for _, kind := range []service.SecretKind{service.KindObject, service.KindFile} {
		rec := secret(sdb, "config/"+string(kind), `{"k":"v"}`)
		rec.Kind = kind
		mustOK(t, "PutSecret", s.PutSecret(ctx, rec, 0))
		if rec.Version != 1 {
			t.Fatalf("PutSecret(prev 0): version %d, want 1", rec.Version)
		}
		got, err := s.FindSecret(ctx, sdb.ID, rec.Path)
		mustOK(t, "FindSecret", err)
		wantEqual(t, "FindSecret", got, rec)
	}
}

func testPutSecretUpdate(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	first := secret(sdb, "api/key", "one")
	mustPutSecret(t, s, first)
	for v := int64(2); v <= 3; v++ {
		next := &service.SecretRecord{
			SDBID:         sdb.ID,
			Path:          first.Path,
			Kind:          service.KindObject,
			Ciphertext:    fmt.Appendf(nil, "value %d", v),
			SizeBytes:     7,
			LastUpdatedBy: fmt.Sprintf("writer-%d", v),
			LastUpdatedAt: at(100 + v),
		}
		mustOK(t, "PutSecret", s.PutSecret(ctx, next, v-1))
		if next.Version != v || next.CreatedBy != first.CreatedBy || !next.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("PutSecret(prev %d): record %s, want version %d created by %q at %v",
				v-1, show(next), v, first.CreatedBy, first.CreatedAt)
		}
		got, err := s.FindSecret(ctx, sdb.ID, first.Path)
		mustOK(t, "FindSecret", err)
		wantEqual(t, "FindSecret", got, next)
	}
}

func testPutSecretErrConflict(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	cur := secret(sdb, "a", "one")
	mustPutSecret(t, s, cur)
	mustOK(t, "PutSecret", s.PutSecret(ctx, secret(sdb, "a", "two"), 1))
	cur, err := s.FindSecret(ctx, sdb.ID, cur.Path)
	mustOK(t, "FindSecret", err)

	tests := []struct {
		name string
		path string
		prev int64
	}{
		{"Exists", "a", 0},
		{"Stale", "a", 1},
		{"Ahead", "a", 3},
		{"Missing", "b", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := secret(sdb, tt.path, "loser")
			wantCode(t, fmt.Sprintf("PutSecret(prev %d)", tt.prev), s.PutSecret(ctx, rec, tt.prev), cerberus.ECodeConflict)
		})
	}
	got, err := s.FindSecret(ctx, sdb.ID, cur.Path)
	mustOK(t, "FindSecret", err)
	wantEqual(t, "FindSecret after refused writes", got, cur)
	_, err = s.FindSecret(ctx, sdb.ID, "vault/b")
	wantCode(t, "FindSecret", err, cerberus.ECodeNotFound)
}

func testPutSecretRaceCreate(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	recs := make([]*service.SecretRecord, 8)
	for i := range recs {
		recs[i] = secret(sdb, "contested", fmt.Sprintf("writer %d", i))
	}
	errs := race(len(recs), func(i int) error { return s.PutSecret(ctx, recs[i], 0) })
	w := wantOneWinner(t, "PutSecret(prev 0)", errs, cerberus.ECodeConflict)
	got, err := s.FindSecret(ctx, sdb.ID, recs[w].Path)
	mustOK(t, "FindSecret", err)
	wantEqual(t, "FindSecret", got, recs[w])
}

func testPutSecretRaceUpdate(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	mustPutSecret(t, s, secret(sdb, "contested", "base"))
	recs := make([]*service.SecretRecord, 8)
	for i := range recs {
		recs[i] = secret(sdb, "contested", fmt.Sprintf("writer %d", i))
		recs[i].LastUpdatedBy = fmt.Sprintf("writer-%d", i)
	}
	errs := race(len(recs), func(i int) error { return s.PutSecret(ctx, recs[i], 1) })
	w := wantOneWinner(t, "PutSecret(prev 1)", errs, cerberus.ECodeConflict)
	got, err := s.FindSecret(ctx, sdb.ID, recs[w].Path)
	mustOK(t, "FindSecret", err)
	if got.Version != 2 {
		t.Fatalf("FindSecret: version %d, want 2", got.Version)
	}
	wantEqual(t, "FindSecret", got, recs[w])
}

func testPutSecretLarge(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	for prev := range int64(2) {
		rec := secret(sdb, "big", "")
		rec.Ciphertext = make([]byte, 256<<10)
		rand.Read(rec.Ciphertext)
		rec.SizeBytes = len(rec.Ciphertext)
		mustOK(t, "PutSecret", s.PutSecret(ctx, rec, prev))
		got, err := s.FindSecret(ctx, sdb.ID, rec.Path)
		mustOK(t, "FindSecret", err)
		wantEqual(t, "FindSecret of 256 KiB", got, rec)
	}
}

func testPutSecretSDBsApart(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	a := f.mustCreateSDB(t, f.apps, "A", "a")
	b := f.mustCreateSDB(t, f.apps, "B", "b")
	// The same stored path in two SDBs are two secrets.
	ra := secret(a, "x", "in a")
	rb := secret(b, "x", "in b")
	rb.Path = ra.Path
	mustPutSecret(t, s, ra)
	mustPutSecret(t, s, rb)
	for _, want := range []*service.SecretRecord{ra, rb} {
		got, err := s.FindSecret(ctx, want.SDBID, want.Path)
		mustOK(t, "FindSecret", err)
		wantEqual(t, "FindSecret", got, want)
	}
}

func testDeleteSecretOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	rec := secret(sdb, "tmp", "one")
	mustPutSecret(t, s, rec)
	mustOK(t, "PutSecret", s.PutSecret(ctx, secret(sdb, "tmp", "two"), 1))
	mustPutSecret(t, s, secret(sdb, "tmp2", "other"))

	mustOK(t, "DeleteSecret", s.DeleteSecret(ctx, sdb.ID, rec.Path, 2, "bob", at(300)))
	_, err := s.FindSecret(ctx, sdb.ID, rec.Path)
	wantCode(t, "FindSecret after DeleteSecret", err, cerberus.ECodeNotFound)
	paths, err := s.ListSecretPaths(ctx, sdb.ID, "", service.KindObject)
	mustOK(t, "ListSecretPaths", err)
	wantEqual(t, "ListSecretPaths after DeleteSecret", paths, []string{"vault/tmp2"})
	wantCode(t, "DeleteSecret again", s.DeleteSecret(ctx, sdb.ID, rec.Path, 2, "bob", at(300)), cerberus.ECodeNotFound)

	// The path can be written again from scratch.
	again := secret(sdb, "tmp", "three")
	mustOK(t, "PutSecret after DeleteSecret", s.PutSecret(ctx, again, 0))
	if again.Version != 1 {
		t.Fatalf("PutSecret after DeleteSecret: version %d, want 1", again.Version)
	}
}

func testDeleteSecretErrNotFound(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	mustPutSecret(t, s, secret(sdb, "a/b", "x"))
	for _, path := range []string{"vault/a", "vault/a/b/c", "vault/A/b", "vault/a/_"} {
		wantCode(t, "DeleteSecret "+path, s.DeleteSecret(ctx, sdb.ID, path, 1, "bob", at(1)), cerberus.ECodeNotFound)
	}
	wantCode(t, "DeleteSecret in another SDB", s.DeleteSecret(ctx, cerberus.NewID(), "vault/a/b", 1, "bob", at(1)), cerberus.ECodeNotFound)
	_, err := s.FindSecret(ctx, sdb.ID, "vault/a/b")
	mustOK(t, "FindSecret", err)
}

func testDeleteSecretErrConflict(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	rec := secret(sdb, "a", "one")
	mustPutSecret(t, s, rec)
	mustOK(t, "PutSecret", s.PutSecret(ctx, secret(sdb, "a", "two"), 1))
	for _, prev := range []int64{0, 1, 3} {
		wantCode(t, fmt.Sprintf("DeleteSecret(prev %d)", prev), s.DeleteSecret(ctx, sdb.ID, rec.Path, prev, "bob", at(1)), cerberus.ECodeConflict)
	}
	got, err := s.FindSecret(ctx, sdb.ID, rec.Path)
	mustOK(t, "FindSecret", err)
	if got.Version != 2 || string(got.Ciphertext) != "two" {
		t.Fatalf("FindSecret after refused deletes: %s, want version 2", show(got))
	}
}

func testDeleteSecretRace(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	rec := secret(sdb, "a", "one")
	mustPutSecret(t, s, rec)
	errs := race(8, func(int) error { return s.DeleteSecret(ctx, sdb.ID, rec.Path, 1, "bob", at(1)) })
	wantOneWinner(t, "DeleteSecret", errs, cerberus.ECodeNotFound)
}

func testListSecretPathsPrefix(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "List", "lst")
	other := f.mustCreateSDB(t, f.apps, "Other", "lst2")
	subs := []string{
		"a", "a/b", "a/b/c", "ab", "a%/x", "a_/y", "A/z", "b", "\xff", "\xff\xff/q", "a/\xff",
	}
	for _, sub := range subs {
		mustPutSecret(t, s, secret(sdb, sub, "x"))
	}
	// Paths of another SDB, even ones that share the prefix, stay apart.
	for _, path := range []string{"lst/a/other", "lst2/a"} {
		rec := secret(other, "", "x")
		rec.Path = path
		mustPutSecret(t, s, rec)
	}
	all := make([]string, len(subs))
	for i, sub := range subs {
		all[i] = "lst/" + sub
	}
	tests := []struct {
		name   string
		prefix string
		want   []string
	}{
		{"Empty", "", all},
		{"SDB", "lst/", all},
		{"Folder", "lst/a/", []string{"lst/a/b", "lst/a/b/c", "lst/a/\xff"}},
		{"PartialSegment", "lst/a", []string{"lst/a", "lst/a/b", "lst/a/b/c", "lst/a/\xff", "lst/ab", "lst/a%/x", "lst/a_/y"}},
		{"Exact", "lst/a/b/c", []string{"lst/a/b/c"}},
		{"PercentIsLiteral", "lst/a%", []string{"lst/a%/x"}},
		{"UnderscoreIsLiteral", "lst/a_", []string{"lst/a_/y"}},
		{"PercentAlone", "lst/%", nil},
		{"UnderscoreAlone", "lst/_", nil},
		{"CaseSensitive", "lst/A", []string{"lst/A/z"}},
		{"CaseSensitiveSDB", "LST/", nil},
		{"HighByte", "lst/\xff", []string{"lst/\xff", "lst/\xff\xff/q"}},
		{"HighBytes", "lst/\xff\xff", []string{"lst/\xff\xff/q"}},
		{"AfterFolder", "lst/a/\xff", []string{"lst/a/\xff"}},
		{"None", "lst/zzz", nil},
		{"Longer", "lst/a/b/c/d", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListSecretPaths(ctx, sdb.ID, tt.prefix, service.KindObject)
			mustOK(t, "ListSecretPaths", err)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Fatalf("ListSecretPaths(%q):\n got %q\nwant %q", tt.prefix, got, want)
			}
		})
	}
	got, err := s.ListSecretPaths(ctx, cerberus.NewID(), "", service.KindObject)
	mustOK(t, "ListSecretPaths", err)
	if len(got) != 0 {
		t.Fatalf("ListSecretPaths of an unknown SDB: got %q, want none", got)
	}
}

// testPutSecretLargest stores ciphertexts of size bytes, creating and then
// replacing one, so that the history holds one too.
func testPutSecretLargest(t *testing.T, s service.Store, size int) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	for prev := range int64(2) {
		rec := secret(sdb, "largest", "")
		rec.Ciphertext = make([]byte, size)
		rand.Read(rec.Ciphertext)
		rec.SizeBytes = size
		mustOK(t, fmt.Sprintf("PutSecret of %d bytes", size), s.PutSecret(ctx, rec, prev))
		got, err := s.FindSecret(ctx, sdb.ID, rec.Path)
		mustOK(t, "FindSecret", err)
		if !bytes.Equal(got.Ciphertext, rec.Ciphertext) {
			t.Fatalf("FindSecret of %d bytes: got %d bytes, not the ones stored", size, len(got.Ciphertext))
		}
		got.Ciphertext, rec.Ciphertext = nil, nil
		wantEqual(t, "FindSecret", got, rec)
	}
	vs, total, err := s.ListSecretVersions(ctx, sdb.ID, "vault/largest", 10, 0)
	mustOK(t, "ListSecretVersions", err)
	if total != 1 || len(vs) != 1 || vs[0].SizeBytes != size || vs[0].Version != 1 {
		t.Fatalf("ListSecretVersions: got %s, total %d; want version 1 of %d bytes", show(vs), total, size)
	}
}

// history writes a history of (sdb, sub): versions 1 to n, of which the
// last is deleted if deleted, each written by writer-<version> at
// at(100+version), except the first, written by alice at at(100). It
// returns the history newest first, as ListSecretVersions does, without
// version ids, and the time of the last write.
func history(t *testing.T, s service.Store, sdb *cerberus.SDB, sub string, n int64, deleted bool, base int64) []*service.SecretRecord {
	t.Helper()
	ctx := context.Background()
	writer := func(v int64) (string, int64) {
		if v == 1 {
			return "alice", base
		}
		return fmt.Sprintf("writer-%d", v), base + v
	}
	var hist []*service.SecretRecord
	for v := int64(1); v <= n; v++ {
		by, ms := writer(v)
		rec := secret(sdb, sub, strings.Repeat("x", int(v))) // SizeBytes tells them apart
		rec.Kind = service.KindFile
		rec.CreatedBy, rec.CreatedAt = "alice", at(base)
		rec.LastUpdatedBy, rec.LastUpdatedAt = by, at(ms)
		mustOK(t, fmt.Sprintf("PutSecret(prev %d)", v-1), s.PutSecret(ctx, rec, v-1))
		if v == 1 {
			continue
		}
		pby, pms := writer(v - 1)
		hist = append(hist, &service.SecretRecord{
			SDBID: sdb.ID, Path: rec.Path, Kind: service.KindFile, Version: v - 1, SizeBytes: int(v - 1),
			CreatedBy: pby, LastUpdatedBy: pby, CreatedAt: at(pms), LastUpdatedAt: at(pms),
			Action: "UPDATE", ActionBy: by, ActionAt: at(ms),
		})
	}
	if deleted {
		by, ms := writer(n)
		path := sdb.Slug + "/" + sub
		mustOK(t, "DeleteSecret", s.DeleteSecret(ctx, sdb.ID, path, n, "deleter", at(base+50)))
		hist = append(hist, &service.SecretRecord{
			SDBID: sdb.ID, Path: path, Kind: service.KindFile, Version: n, SizeBytes: int(n),
			CreatedBy: by, LastUpdatedBy: by, CreatedAt: at(ms), LastUpdatedAt: at(ms),
			Action: "DELETE", ActionBy: "deleter", ActionAt: at(base + 50),
		})
	}
	slices.Reverse(hist)
	return hist
}

// wantHistory fails the test unless got is want, whatever the version ids,
// which must be distinct UUIDs.
func wantHistory(t *testing.T, call string, got, want []*service.SecretRecord) {
	t.Helper()
	ids := make(map[string]bool)
	bare := make([]*service.SecretRecord, 0, len(got))
	for _, r := range got {
		if !isUUID(r.VersionID) || ids[r.VersionID] {
			t.Fatalf("%s: version id %q, want a UUID of its own", call, r.VersionID)
		}
		ids[r.VersionID] = true
		c := *r
		c.VersionID = ""
		bare = append(bare, &c)
	}
	wantEqual(t, call, bare, want)
}

func testListSecretVersionsOrdered(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	other := f.mustCreateSDB(t, f.apps, "Other", "other")
	// Histories that must not show: another path, a path that begins with
	// this one, and the same stored path in another SDB.
	history(t, s, sdb, "db", 3, false, 0)
	history(t, s, sdb, "db/password/old", 3, false, 0)
	for prev, value := range []string{"x", "y"} {
		rec := secret(other, "", value)
		rec.Path = "vault/db/password"
		mustOK(t, "PutSecret in another SDB", s.PutSecret(ctx, rec, int64(prev)))
	}

	// Versions 1 to 4, deleted; then written again: versions 1 to 3. The
	// versions start over, the order of writing does not.
	want := history(t, s, sdb, "db/password", 4, true, 1000)
	want = append(history(t, s, sdb, "db/password", 3, false, 2000), want...)
	got, total, err := s.ListSecretVersions(ctx, sdb.ID, "vault/db/password", 100, 0)
	mustOK(t, "ListSecretVersions", err)
	if total != len(want) {
		t.Fatalf("ListSecretVersions: total %d, want %d", total, len(want))
	}
	wantHistory(t, "ListSecretVersions", got, want)

	// The current value is not history.
	cur, err := s.FindSecret(ctx, sdb.ID, "vault/db/password")
	mustOK(t, "FindSecret", err)
	if cur.Version != 3 {
		t.Fatalf("FindSecret: version %d, want 3", cur.Version)
	}
}

func testListSecretVersionsPaged(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	all := history(t, s, sdb, "paged", 8, false, 0) // 7 records
	tests := []struct {
		limit, offset int
		want          []*service.SecretRecord
	}{
		{3, 0, all[0:3]},
		{3, 3, all[3:6]},
		{3, 6, all[6:]},
		{3, 7, nil},
		{3, 100, nil},
		{1, 4, all[4:5]},
		{7, 0, all},
		{100, 0, all},
		{100, 2, all[2:]},
		{0, 0, nil},
		{0, 3, nil},
	}
	for _, tt := range tests {
		call := fmt.Sprintf("ListSecretVersions(limit %d, offset %d)", tt.limit, tt.offset)
		got, total, err := s.ListSecretVersions(ctx, sdb.ID, "vault/paged", tt.limit, tt.offset)
		mustOK(t, call, err)
		if total != len(all) {
			t.Fatalf("%s: total %d, want %d", call, total, len(all))
		}
		if got == nil {
			t.Fatalf("%s: got nil, want a slice", call)
		}
		if tt.want == nil {
			tt.want = []*service.SecretRecord{}
		}
		wantHistory(t, call, got, tt.want)
	}
}

func testListSecretVersionsEmpty(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	mustPutSecret(t, s, secret(sdb, "fresh", "x"))
	for _, tt := range []struct{ sdbID, path string }{
		{sdb.ID, "vault/fresh"}, // a current value without history
		{sdb.ID, "vault/none"},
		{sdb.ID, "vault/%"},
		{cerberus.NewID(), "vault/fresh"},
		{"\xff", "vault/fresh"},
	} {
		call := fmt.Sprintf("ListSecretVersions(%q, %q)", tt.sdbID, tt.path)
		got, total, err := s.ListSecretVersions(ctx, tt.sdbID, tt.path, 10, 0)
		mustOK(t, call, err)
		if got == nil || len(got) != 0 || total != 0 {
			t.Fatalf("%s: got %s, total %d; want none", call, show(got), total)
		}
	}
}

func testListSecretVersionsErrBadRequest(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	history(t, s, sdb, "a", 2, false, 0)
	for _, tt := range []struct{ limit, offset int }{{-1, 0}, {1, -1}, {-1, -1}} {
		_, _, err := s.ListSecretVersions(ctx, sdb.ID, "vault/a", tt.limit, tt.offset)
		wantCode(t, fmt.Sprintf("ListSecretVersions(limit %d, offset %d)", tt.limit, tt.offset), err, cerberus.ECodeBadRequest)
	}
}
