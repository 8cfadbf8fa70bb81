package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// writeVersions writes versions 1 to n of an OBJECT at the stored path
// path of sdbID, starting with no current value, and returns the last
// record written.
func writeVersions(t *testing.T, s service.Store, sdbID, path string, n int64) *service.SecretRecord {
	t.Helper()
	var rec *service.SecretRecord
	for v := int64(1); v <= n; v++ {
		rec = &service.SecretRecord{
			SDBID: sdbID, Path: path, Kind: service.KindObject,
			Ciphertext: fmt.Appendf(nil, "%s v%d", path, v), SizeBytes: 1,
			CreatedBy: "alice", LastUpdatedBy: "alice", CreatedAt: at(100), LastUpdatedAt: at(100 + v),
		}
		mustOK(t, fmt.Sprintf("PutSecret %q (prev %d)", path, v-1), s.PutSecret(context.Background(), rec, v-1))
	}
	return rec
}

// versionsOf returns the whole history of (sdbID, path), newest first, as
// "<version> <action>" strings, checking that the total is its length.
func versionsOf(t *testing.T, s service.Store, sdbID, path string) []string {
	t.Helper()
	call := fmt.Sprintf("ListSecretVersions(%q)", path)
	recs, total, err := s.ListSecretVersions(context.Background(), sdbID, path, 1000, 0)
	mustOK(t, call, err)
	if total != len(recs) {
		t.Fatalf("%s: total %d, but %d records", call, total, len(recs))
	}
	out := []string{}
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%d %s", r.Version, r.Action))
	}
	return out
}

// wantStoredHistory fails the test unless the history of (sdbID, path) is
// want (as history returns it), total included.
func wantStoredHistory(t *testing.T, s service.Store, call, sdbID, path string, want []*service.SecretRecord) {
	t.Helper()
	got, total, err := s.ListSecretVersions(context.Background(), sdbID, path, 1000, 0)
	mustOK(t, call, err)
	if total != len(want) {
		t.Fatalf("%s: total %d, want %d; records %s", call, total, len(want), show(got))
	}
	if want == nil {
		want = []*service.SecretRecord{}
	}
	wantHistory(t, call, got, want)
}

func testLastSecretVersion(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	other := f.mustCreateSDB(t, f.apps, "Other", "other")

	writeVersions(t, s, sdb.ID, "vault/live", 1)
	writeVersions(t, s, sdb.ID, "vault/updated", 3)
	writeVersions(t, s, sdb.ID, "vault/deleted", 3)
	mustOK(t, "DeleteSecret", s.DeleteSecret(ctx, sdb.ID, "vault/deleted", 3, "bob", at(200)))
	// Deleted at version 4, then written again from version 1: the history
	// holds more than the current value.
	writeVersions(t, s, sdb.ID, "vault/again", 4)
	mustOK(t, "DeleteSecret", s.DeleteSecret(ctx, sdb.ID, "vault/again", 4, "bob", at(200)))
	writeVersions(t, s, sdb.ID, "vault/again", 2)
	explicit := secret(sdb, "explicit", "nine")
	explicit.Version = 9
	mustOK(t, "PutSecret(version 9)", s.PutSecret(ctx, explicit, 0))
	writeVersions(t, s, sdb.ID, "vault/a/b", 2)
	// The same stored path in another SDB, with more versions.
	writeVersions(t, s, other.ID, "vault/updated", 7)

	tests := []struct {
		name  string
		sdbID string
		path  string
		want  int64
	}{
		{"Live", sdb.ID, "vault/live", 1},
		{"Updated", sdb.ID, "vault/updated", 3},
		{"Deleted", sdb.ID, "vault/deleted", 3},
		{"HistoryAboveLive", sdb.ID, "vault/again", 4},
		{"Explicit", sdb.ID, "vault/explicit", 9},
		{"OtherSDB", other.ID, "vault/updated", 7},
		{"None", sdb.ID, "vault/none", 0},
		{"Folder", sdb.ID, "vault/a", 0},
		{"Prefix", sdb.ID, "vault/updat", 0},
		{"CaseSensitive", sdb.ID, "vault/UPDATED", 0},
		{"Pattern", sdb.ID, "vault/updat_d", 0},
		{"Percent", sdb.ID, "vault/%", 0},
		{"UnknownSDB", cerberus.NewID(), "vault/updated", 0},
		{"NotUTF8SDB", "\xff", "vault/updated", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.LastSecretVersion(ctx, tt.sdbID, tt.path)
			call := fmt.Sprintf("LastSecretVersion(%q, %q)", tt.sdbID, tt.path)
			mustOK(t, call, err)
			if got != tt.want {
				t.Fatalf("%s: got %d, want %d", call, got, tt.want)
			}
		})
	}

	// Once the history of a deleted path is gone, nothing is stored there.
	_, err := s.PruneSecretVersions(ctx, sdb.ID, "vault/deleted", 0)
	mustOK(t, "PruneSecretVersions", err)
	got, err := s.LastSecretVersion(ctx, sdb.ID, "vault/deleted")
	mustOK(t, "LastSecretVersion after PruneSecretVersions", err)
	if got != 0 {
		t.Fatalf("LastSecretVersion of a deleted path without history: got %d, want 0", got)
	}
}

func testPutSecretVersion(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	find := func(want *service.SecretRecord) {
		t.Helper()
		got, err := s.FindSecret(ctx, sdb.ID, want.Path)
		mustOK(t, "FindSecret", err)
		wantEqual(t, "FindSecret", got, want)
	}

	// A first value with an explicit version.
	first := secret(sdb, "a", "five")
	first.Version = 5
	mustOK(t, "PutSecret(version 5, prev 0)", s.PutSecret(ctx, first, 0))
	if first.Version != 5 {
		t.Fatalf("PutSecret(version 5, prev 0): version %d, want 5", first.Version)
	}
	find(first)

	// Version 0 is prev+1.
	next := secret(sdb, "a", "six")
	mustOK(t, "PutSecret(version 0, prev 5)", s.PutSecret(ctx, next, 5))
	if next.Version != 6 {
		t.Fatalf("PutSecret(version 0, prev 5): version %d, want 6", next.Version)
	}
	find(next)

	// A version past prev+1.
	jump := secret(sdb, "a", "ten")
	jump.Version = 10
	mustOK(t, "PutSecret(version 10, prev 6)", s.PutSecret(ctx, jump, 6))
	find(jump)
	wantEqual(t, "history after explicit versions", versionsOf(t, s, sdb.ID, jump.Path), []string{"6 UPDATE", "5 UPDATE"})

	// Written again after a delete, the path goes on after its last
	// version, as the service asks.
	mustOK(t, "DeleteSecret", s.DeleteSecret(ctx, sdb.ID, jump.Path, 10, "bob", at(300)))
	last, err := s.LastSecretVersion(ctx, sdb.ID, jump.Path)
	mustOK(t, "LastSecretVersion", err)
	if last != 10 {
		t.Fatalf("LastSecretVersion after DeleteSecret: got %d, want 10", last)
	}
	again := secret(sdb, "a", "eleven")
	again.Version = last + 1
	mustOK(t, "PutSecret(version 11, prev 0) after DeleteSecret", s.PutSecret(ctx, again, 0))
	find(again)
	more := secret(sdb, "a", "twelve")
	mustOK(t, "PutSecret(version 0, prev 11)", s.PutSecret(ctx, more, 11))
	if more.Version != 12 {
		t.Fatalf("PutSecret(version 0, prev 11): version %d, want 12", more.Version)
	}
	find(more)
	wantEqual(t, "history after a write following a delete", versionsOf(t, s, sdb.ID, jump.Path),
		[]string{"11 UPDATE", "10 DELETE", "6 UPDATE", "5 UPDATE"})
}

func testPutSecretErrVersion(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	cur := writeVersions(t, s, sdb.ID, "vault/a", 3)
	tests := []struct {
		name    string
		path    string
		version int64
		prev    int64
	}{
		{"Equal", "vault/a", 3, 3},
		{"Less", "vault/a", 2, 3},
		{"One", "vault/a", 1, 3},
		{"Negative", "vault/a", -4, 3},
		{"NegativeNew", "vault/b", -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := secret(sdb, strings.TrimPrefix(tt.path, "vault/"), "refused")
			rec.Version = tt.version
			call := fmt.Sprintf("PutSecret(version %d, prev %d)", tt.version, tt.prev)
			if err := s.PutSecret(ctx, rec, tt.prev); err == nil {
				t.Fatalf("%s: got no error, want one", call)
			}
			got, err := s.FindSecret(ctx, sdb.ID, "vault/a")
			mustOK(t, "FindSecret", err)
			wantEqual(t, "FindSecret after "+call, got, cur)
			wantEqual(t, "history after "+call, versionsOf(t, s, sdb.ID, "vault/a"), []string{"2 UPDATE", "1 UPDATE"})
			_, err = s.FindSecret(ctx, sdb.ID, "vault/b")
			wantCode(t, "FindSecret of a path never written, after "+call, err, cerberus.ECodeNotFound)
			last, err := s.LastSecretVersion(ctx, sdb.ID, "vault/b")
			mustOK(t, "LastSecretVersion", err)
			if last != 0 {
				t.Fatalf("LastSecretVersion of a path never written, after %s: got %d, want 0", call, last)
			}
		})
	}
}

// mustCreateBoundedSDB creates an SDB in the category app that keeps at
// most max history records per path.
func (f *fixture) mustCreateBoundedSDB(t *testing.T, name, slug string, max int) *cerberus.SDB {
	t.Helper()
	sdb := f.sdb(f.apps, name, slug)
	sdb.MaxVersions = max
	mustOK(t, fmt.Sprintf("CreateSDB %s (MaxVersions %d)", name, max), f.s.CreateSDB(context.Background(), sdb))
	return sdb
}

func testPutSecretBounded(t *testing.T, s service.Store) {
	f := newFixture(t, s)
	// An SDB without a bound keeps every version.
	free := f.mustCreateSDB(t, f.apps, "Free", "free")
	all := history(t, s, free, "p", 6, false, 0)
	wantStoredHistory(t, s, "ListSecretVersions of an SDB without a bound", free.ID, "free/p", all)

	for _, max := range []int{1, 2, 5, 8} {
		t.Run(fmt.Sprintf("Max%d", max), func(t *testing.T) {
			sdb := f.mustCreateBoundedSDB(t, fmt.Sprintf("Bounded %d", max), fmt.Sprintf("bounded-%d", max), max)
			// Another path at the bound, written first, which the writes
			// of the first path must not prune.
			q := history(t, s, sdb, "q", int64(max)+1, false, 0)
			p := history(t, s, sdb, "p", 6, false, 100) // 5 archived
			want := p[:min(max, len(p))]
			wantStoredHistory(t, s, fmt.Sprintf("ListSecretVersions with MaxVersions %d", max), sdb.ID, sdb.Slug+"/p", want)
			wantStoredHistory(t, s, "ListSecretVersions of another path", sdb.ID, sdb.Slug+"/q", q)
			cur, err := s.FindSecret(context.Background(), sdb.ID, sdb.Slug+"/p")
			mustOK(t, "FindSecret", err)
			if cur.Version != 6 {
				t.Fatalf("FindSecret: version %d, want 6", cur.Version)
			}
		})
	}
	wantStoredHistory(t, s, "ListSecretVersions of an SDB without a bound", free.ID, "free/p", all)
}

func testDeleteSecretBounded(t *testing.T, s service.Store) {
	f := newFixture(t, s)
	sdb := f.mustCreateBoundedSDB(t, "Bounded", "bounded", 2)
	free := f.mustCreateSDB(t, f.apps, "Free", "free")
	// The stored path bounded/p in an SDB without a bound, with older
	// records, which the bound of the other SDB does not touch.
	writeVersions(t, s, free.ID, "bounded/p", 5)
	freeHistory := versionsOf(t, s, free.ID, "bounded/p")
	// Versions 1 to 4, the last deleted: the delete archives a third record
	// past the bound.
	p := history(t, s, sdb, "p", 4, true, 0)
	wantEqual(t, "history of the same path in another SDB", versionsOf(t, s, free.ID, "bounded/p"), freeHistory)
	wantStoredHistory(t, s, "ListSecretVersions after DeleteSecret", sdb.ID, "bounded/p", p[:2])
	// A path deleted under the bound keeps all of its history.
	q := history(t, s, sdb, "q", 1, true, 0)
	wantStoredHistory(t, s, "ListSecretVersions of another path", sdb.ID, "bounded/q", q)
	all := history(t, s, free, "p", 4, true, 0)
	wantStoredHistory(t, s, "ListSecretVersions of an SDB without a bound", free.ID, "free/p", all)
	// Written again, the path keeps the newest records across its lives.
	writeVersions(t, s, sdb.ID, "bounded/p", 2)
	wantEqual(t, "history of a path written again", versionsOf(t, s, sdb.ID, "bounded/p"), []string{"1 UPDATE", "4 DELETE"})
}

func testUpdateSDBMaxVersions(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	a := f.mustCreateSDB(t, f.apps, "Alpha", "alpha")
	b := f.mustCreateSDB(t, f.apps, "Bravo", "bravo")
	ap := history(t, s, a, "p", 5, false, 0) // 4 records
	aq := history(t, s, a, "q", 3, true, 0)  // 3 records, the last a delete
	ar := history(t, s, a, "r", 2, false, 0) // 1 record
	bp := history(t, s, b, "p", 5, false, 0) // 4 records
	// The stored path alpha/p in the other SDB too, with newer records,
	// which must not count against alpha's.
	writeVersions(t, s, b.ID, "alpha/p", 5)
	bap := versionsOf(t, s, b.ID, "alpha/p")
	curP, err := s.FindSecret(ctx, a.ID, "alpha/p")
	mustOK(t, "FindSecret", err)

	update := func(max int) {
		t.Helper()
		upd := *a
		upd.MaxVersions = max
		upd.LastUpdatedBy, upd.LastUpdatedAt = "editor", at(int64(500+max))
		mustOK(t, fmt.Sprintf("UpdateSDB(MaxVersions %d)", max), s.UpdateSDB(ctx, &upd))
		got, err := s.FindSDBByID(ctx, a.ID)
		mustOK(t, "FindSDBByID", err)
		wantSDB(t, fmt.Sprintf("FindSDBByID after UpdateSDB(MaxVersions %d)", max), got, &upd)
	}

	// Lowering the bound prunes every path of the SDB at once.
	update(2)
	wantStoredHistory(t, s, "ListSecretVersions alpha/p after UpdateSDB(MaxVersions 2)", a.ID, "alpha/p", ap[:2])
	wantStoredHistory(t, s, "ListSecretVersions alpha/q after UpdateSDB(MaxVersions 2)", a.ID, "alpha/q", aq[:2])
	wantStoredHistory(t, s, "ListSecretVersions alpha/r after UpdateSDB(MaxVersions 2)", a.ID, "alpha/r", ar)
	wantStoredHistory(t, s, "ListSecretVersions of another SDB", b.ID, "bravo/p", bp)
	wantEqual(t, "history of the same path in another SDB", versionsOf(t, s, b.ID, "alpha/p"), bap)
	got, err := s.FindSecret(ctx, a.ID, "alpha/p")
	mustOK(t, "FindSecret", err)
	wantEqual(t, "FindSecret after UpdateSDB(MaxVersions 2)", got, curP)

	// Later writes keep to it.
	next := secret(a, "p", "six")
	mustOK(t, "PutSecret", s.PutSecret(ctx, next, 5))
	wantEqual(t, "history after a write under MaxVersions 2", versionsOf(t, s, a.ID, "alpha/p"), []string{"5 UPDATE", "4 UPDATE"})

	// No bound: nothing is pruned, and the history grows again.
	update(0)
	wantEqual(t, "history after UpdateSDB(MaxVersions 0)", versionsOf(t, s, a.ID, "alpha/p"), []string{"5 UPDATE", "4 UPDATE"})
	mustOK(t, "PutSecret", s.PutSecret(ctx, secret(a, "p", "seven"), 6))
	wantEqual(t, "history after a write under MaxVersions 0", versionsOf(t, s, a.ID, "alpha/p"), []string{"6 UPDATE", "5 UPDATE", "4 UPDATE"})

	// A bound above the history prunes nothing; one below it does.
	update(5)
	wantEqual(t, "history after UpdateSDB(MaxVersions 5)", versionsOf(t, s, a.ID, "alpha/p"), []string{"6 UPDATE", "5 UPDATE", "4 UPDATE"})
	update(1)
	wantEqual(t, "history of alpha/p after UpdateSDB(MaxVersions 1)", versionsOf(t, s, a.ID, "alpha/p"), []string{"6 UPDATE"})
	wantEqual(t, "history of alpha/q after UpdateSDB(MaxVersions 1)", versionsOf(t, s, a.ID, "alpha/q"), []string{"3 DELETE"})
	wantEqual(t, "history of alpha/r after UpdateSDB(MaxVersions 1)", versionsOf(t, s, a.ID, "alpha/r"), []string{"1 UPDATE"})
	wantStoredHistory(t, s, "ListSecretVersions of another SDB", b.ID, "bravo/p", bp)
	wantEqual(t, "history of the same path in another SDB", versionsOf(t, s, b.ID, "alpha/p"), bap)
	gotB, err := s.FindSDBByID(ctx, b.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID of another SDB", gotB, b)
}

func testListSecretPathsKind(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Kinds", "k")
	for _, w := range []struct {
		sub  string
		kind service.SecretKind
	}{
		{"o1", service.KindObject},
		{"f1", service.KindFile},
		{"dir/o2", service.KindObject},
		{"dir/f2", service.KindFile},
		{"B", service.KindFile},
	} {
		rec := secret(sdb, w.sub, "x")
		rec.Kind = w.kind
		mustPutSecret(t, s, rec)
	}
	tests := []struct {
		prefix string
		kind   service.SecretKind
		want   []string
	}{
		{"", service.KindObject, []string{"k/dir/o2", "k/o1"}},
		{"", service.KindFile, []string{"k/B", "k/dir/f2", "k/f1"}},
		{"k/dir/", service.KindObject, []string{"k/dir/o2"}},
		{"k/dir/", service.KindFile, []string{"k/dir/f2"}},
		{"k/o", service.KindFile, []string{}},
		{"k/f", service.KindObject, []string{}},
	}
	for _, tt := range tests {
		call := fmt.Sprintf("ListSecretPaths(%q, %s)", tt.prefix, tt.kind)
		got, err := s.ListSecretPaths(ctx, sdb.ID, tt.prefix, tt.kind)
		mustOK(t, call, err)
		if len(got) == 0 && len(tt.want) == 0 {
			continue
		}
		wantEqual(t, call, got, tt.want)
	}
}

func testListFiles(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Files", "fs")
	other := f.mustCreateSDB(t, f.apps, "Other", "other")
	file := func(sub string, created int64) *service.SecretRecord {
		rec := secret(sdb, sub, "file "+sub)
		rec.Kind = service.KindFile
		rec.CreatedAt, rec.LastUpdatedAt = at(created), at(created)
		mustPutSecret(t, s, rec)
		rec.Ciphertext = nil
		return rec
	}
	// Written out of order; a/two before a/one, created at the same time.
	pct := file("a%/pct", 200)
	two := file("a/two", 300)
	one := file("a/one", 300)
	old := file("a/old", 100)
	und := file("a_/und", 250)
	b := file("b", 400)
	high := file("\xff", 50)
	// A file updated since keeps its place: it was created long ago.
	upd := secret(sdb, "a/old", "the file, updated")
	upd.Kind = service.KindFile
	upd.CreatedBy, upd.CreatedAt = "bob", at(900) // the store keeps the old ones
	upd.LastUpdatedBy, upd.LastUpdatedAt = "bob", at(900)
	mustOK(t, "PutSecret", s.PutSecret(ctx, upd, 1))
	old.Version, old.SizeBytes, old.LastUpdatedBy, old.LastUpdatedAt = 2, upd.SizeBytes, "bob", at(900)
	// Not files, or not of this SDB.
	obj := secret(sdb, "a/obj", "a secret")
	obj.CreatedAt = at(999)
	mustPutSecret(t, s, obj)
	elsewhere := secret(other, "", "a file of another SDB")
	elsewhere.Path, elsewhere.Kind, elsewhere.CreatedAt = "fs/a/elsewhere", service.KindFile, at(999)
	mustPutSecret(t, s, elsewhere)

	all := []*service.SecretRecord{b, one, two, und, pct, old, high}
	t.Run("Prefix", func(t *testing.T) {
		tests := []struct {
			prefix string
			want   []*service.SecretRecord
		}{
			{"", all},
			{"fs/", all},
			{"fs/a/", []*service.SecretRecord{one, two, old}},
			{"fs/a", []*service.SecretRecord{one, two, und, pct, old}},
			{"fs/a/o", []*service.SecretRecord{one, old}},
			{"fs/a/old", []*service.SecretRecord{old}},
			{"fs/a%", []*service.SecretRecord{pct}},
			{"fs/a_", []*service.SecretRecord{und}},
			{"fs/%", nil},
			{"fs/_", nil},
			{"fs/a/%", nil},
			{"FS/", nil},
			{"fs/B", nil},
			{"fs/\xff", []*service.SecretRecord{high}},
			{"fs/a/obj", nil},
			{"fs/a/elsewhere", nil},
			{"fs/zzz", nil},
		}
		for _, tt := range tests {
			call := fmt.Sprintf("ListFiles(%q, limit 100, offset 0)", tt.prefix)
			got, total, err := s.ListFiles(ctx, sdb.ID, tt.prefix, 100, 0)
			mustOK(t, call, err)
			if total != len(tt.want) {
				t.Fatalf("%s: total %d, want %d", call, total, len(tt.want))
			}
			if len(got) == 0 && len(tt.want) == 0 {
				continue
			}
			wantEqual(t, call, got, tt.want)
		}
	})
	t.Run("Paged", func(t *testing.T) {
		a := []*service.SecretRecord{one, two, und, pct, old}
		tests := []struct {
			prefix        string
			limit, offset int
			want          []*service.SecretRecord
			total         int
		}{
			{"", 3, 0, all[0:3], 7},
			{"", 3, 3, all[3:6], 7},
			{"", 3, 6, all[6:], 7},
			{"", 3, 7, nil, 7},
			{"", 1, 100, nil, 7},
			{"", 100, 2, all[2:], 7},
			{"", 0, 0, nil, 7},
			{"", 0, 4, nil, 7},
			{"fs/a", 2, 1, a[1:3], 5},
			{"fs/a", 2, 4, a[4:], 5},
			{"fs/a", 2, 5, nil, 5},
		}
		for _, tt := range tests {
			call := fmt.Sprintf("ListFiles(%q, limit %d, offset %d)", tt.prefix, tt.limit, tt.offset)
			got, total, err := s.ListFiles(ctx, sdb.ID, tt.prefix, tt.limit, tt.offset)
			mustOK(t, call, err)
			if total != tt.total {
				t.Fatalf("%s: total %d, want %d", call, total, tt.total)
			}
			if len(got) == 0 && len(tt.want) == 0 {
				continue
			}
			wantEqual(t, call, got, tt.want)
		}
	})
	t.Run("UnknownSDB", func(t *testing.T) {
		for _, id := range []string{cerberus.NewID(), "\xff", ""} {
			call := fmt.Sprintf("ListFiles(%q)", id)
			got, total, err := s.ListFiles(ctx, id, "", 100, 0)
			mustOK(t, call, err)
			if len(got) != 0 || total != 0 {
				t.Fatalf("%s: got %s, total %d; want none", call, show(got), total)
			}
		}
	})
}

func testListFilesErrBadRequest(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Files", "fs")
	rec := secret(sdb, "f", "x")
	rec.Kind = service.KindFile
	mustPutSecret(t, s, rec)
	for _, tt := range []struct{ limit, offset int }{{-1, 0}, {1, -1}, {-1, -1}} {
		_, _, err := s.ListFiles(ctx, sdb.ID, "", tt.limit, tt.offset)
		wantCode(t, fmt.Sprintf("ListFiles(limit %d, offset %d)", tt.limit, tt.offset), err, cerberus.ECodeBadRequest)
	}
}

func testFindSecretVersionOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	// Versions 1 to 3, deleted, then 1 and 2 again: two records of version
	// 1, told apart by their ids.
	want := history(t, s, sdb, "f", 3, true, 0)
	want = append(history(t, s, sdb, "f", 2, false, 1000), want...)
	list, _, err := s.ListSecretVersions(ctx, sdb.ID, "vault/f", 100, 0)
	mustOK(t, "ListSecretVersions", err)
	wantHistory(t, "ListSecretVersions", list, want)
	for i, r := range list {
		call := fmt.Sprintf("FindSecretVersion(%q) of version %d", r.VersionID, r.Version)
		got, err := s.FindSecretVersion(ctx, sdb.ID, "vault/f", r.VersionID)
		mustOK(t, call, err)
		w := *want[i]
		w.VersionID = r.VersionID
		w.Ciphertext = []byte(strings.Repeat("x", int(w.Version))) // as history wrote it
		wantEqual(t, call, got, &w)
		// The listed record is the found one without its ciphertext.
		w.Ciphertext = nil
		wantEqual(t, "ListSecretVersions record", r, &w)
	}
}

func testFindSecretVersionErrNotFound(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	other := f.mustCreateSDB(t, f.apps, "Other", "other")
	history(t, s, sdb, "f", 3, false, 0)
	history(t, s, sdb, "g", 2, false, 0)
	writeVersions(t, s, other.ID, "vault/f", 2) // the same stored path in another SDB
	idOf := func(sdbID, path string) []string {
		recs, _, err := s.ListSecretVersions(ctx, sdbID, path, 100, 0)
		mustOK(t, "ListSecretVersions", err)
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.VersionID)
		}
		return ids
	}
	f1 := idOf(sdb.ID, "vault/f") // newest first: versions 2 and 1
	g1 := idOf(sdb.ID, "vault/g")[0]
	o1 := idOf(other.ID, "vault/f")[0]
	if len(f1) != 2 {
		t.Fatalf("ListSecretVersions: %d records, want 2", len(f1))
	}
	// The oldest record of vault/f is pruned.
	n, err := s.PruneSecretVersions(ctx, sdb.ID, "vault/f", 1)
	mustOK(t, "PruneSecretVersions", err)
	if n != 1 {
		t.Fatalf("PruneSecretVersions(keep 1): deleted %d, want 1", n)
	}
	tests := []struct {
		name            string
		sdbID, path, id string
	}{
		{"OtherPath", sdb.ID, "vault/f", g1},
		{"OtherPathsRecord", sdb.ID, "vault/g", f1[0]},
		{"OtherSDB", sdb.ID, "vault/f", o1},
		{"OtherSDBsRecord", other.ID, "vault/f", f1[0]},
		{"Pruned", sdb.ID, "vault/f", f1[1]},
		{"Unknown", sdb.ID, "vault/f", cerberus.NewID()},
		{"Empty", sdb.ID, "vault/f", ""},
		{"Percent", sdb.ID, "vault/f", "%"},
		{"NotUTF8", sdb.ID, "vault/f", "\xff"},
		{"PathCase", sdb.ID, "vault/F", f1[0]},
		{"PathPrefix", sdb.ID, "vault/", f1[0]},
		{"PathPattern", sdb.ID, "vault/_", f1[0]},
		{"UnknownSDB", cerberus.NewID(), "vault/f", f1[0]},
		{"NotUTF8SDB", "\xff", "vault/f", f1[0]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.FindSecretVersion(ctx, tt.sdbID, tt.path, tt.id)
			wantCode(t, fmt.Sprintf("FindSecretVersion(%q, %q, %q)", tt.sdbID, tt.path, tt.id), err, cerberus.ECodeNotFound)
		})
	}
	// The records asked for under the wrong keys are still there.
	_, err = s.FindSecretVersion(ctx, sdb.ID, "vault/f", f1[0])
	mustOK(t, "FindSecretVersion", err)
	_, err = s.FindSecretVersion(ctx, other.ID, "vault/f", o1)
	mustOK(t, "FindSecretVersion in another SDB", err)
}

func testListVersionPaths(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Versions", "vp")
	other := f.mustCreateSDB(t, f.apps, "Other", "other")
	del := func(path string, prev int64) {
		t.Helper()
		mustOK(t, "DeleteSecret "+path, s.DeleteSecret(ctx, sdb.ID, path, prev, "bob", at(300)))
	}
	// A current value only; a history only; both; a file; and a path
	// whose history was pruned after a delete, which holds nothing.
	writeVersions(t, s, sdb.ID, "vp/live", 1)
	writeVersions(t, s, sdb.ID, "vp/hist", 2)
	del("vp/hist", 2)
	writeVersions(t, s, sdb.ID, "vp/both", 3)
	writeVersions(t, s, sdb.ID, "vp/\xff", 1)
	del("vp/\xff", 1)
	writeVersions(t, s, sdb.ID, "vp/a%", 1)
	writeVersions(t, s, sdb.ID, "vp/B", 2)
	writeVersions(t, s, sdb.ID, "vp/pruned", 2)
	del("vp/pruned", 2)
	_, err := s.PruneSecretVersions(ctx, sdb.ID, "vp/pruned", 0)
	mustOK(t, "PruneSecretVersions", err)
	file := secret(sdb, "file", "x")
	file.Kind = service.KindFile
	mustPutSecret(t, s, file)
	writeVersions(t, s, other.ID, "vp/other", 2)

	got, err := s.ListVersionPaths(ctx, sdb.ID)
	mustOK(t, "ListVersionPaths", err)
	wantEqual(t, "ListVersionPaths", got, []string{"vp/B", "vp/a%", "vp/both", "vp/file", "vp/hist", "vp/live", "vp/\xff"})
	got, err = s.ListVersionPaths(ctx, other.ID)
	mustOK(t, "ListVersionPaths", err)
	wantEqual(t, "ListVersionPaths of another SDB", got, []string{"vp/other"})

	for _, id := range []string{cerberus.NewID(), "\xff", ""} {
		got, err := s.ListVersionPaths(ctx, id)
		mustOK(t, fmt.Sprintf("ListVersionPaths(%q)", id), err)
		if len(got) != 0 {
			t.Fatalf("ListVersionPaths(%q): got %q, want none", id, got)
		}
	}
}

func testPruneSecretVersions(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	other := f.mustCreateSDB(t, f.apps, "Other", "other")
	p := history(t, s, sdb, "p", 7, false, 0)       // 6 records
	q := history(t, s, sdb, "q", 3, true, 0)        // 3 records
	sub := history(t, s, sdb, "p/sub", 3, false, 0) // a path that begins with p
	writeVersions(t, s, other.ID, "vault/p", 4)     // the same stored path in another SDB
	othersHistory := versionsOf(t, s, other.ID, "vault/p")

	steps := []struct {
		keep int
		n    int64
		want []*service.SecretRecord
	}{
		{10, 0, p},
		{6, 0, p},
		{4, 2, p[:4]},
		{4, 0, p[:4]},
		{1, 3, p[:1]},
		{0, 1, nil},
		{0, 0, nil},
	}
	for _, st := range steps {
		call := fmt.Sprintf("PruneSecretVersions(vault/p, keep %d)", st.keep)
		n, err := s.PruneSecretVersions(ctx, sdb.ID, "vault/p", st.keep)
		mustOK(t, call, err)
		if n != st.n {
			t.Fatalf("%s: deleted %d, want %d", call, n, st.n)
		}
		wantStoredHistory(t, s, "ListSecretVersions after "+call, sdb.ID, "vault/p", st.want)
	}
	// Only that path's history went.
	cur, err := s.FindSecret(ctx, sdb.ID, "vault/p")
	mustOK(t, "FindSecret after PruneSecretVersions", err)
	if cur.Version != 7 {
		t.Fatalf("FindSecret after PruneSecretVersions: version %d, want 7", cur.Version)
	}
	wantStoredHistory(t, s, "ListSecretVersions of another path", sdb.ID, "vault/q", q)
	wantStoredHistory(t, s, "ListSecretVersions of a path below", sdb.ID, "vault/p/sub", sub)
	wantEqual(t, "ListSecretVersions of another SDB", versionsOf(t, s, other.ID, "vault/p"), othersHistory)

	// Nothing to prune.
	for _, tt := range []struct{ sdbID, path string }{
		{sdb.ID, "vault/none"},
		{sdb.ID, "vault/%"},
		{cerberus.NewID(), "vault/q"},
		{"\xff", "vault/q"},
	} {
		call := fmt.Sprintf("PruneSecretVersions(%q, %q, keep 0)", tt.sdbID, tt.path)
		n, err := s.PruneSecretVersions(ctx, tt.sdbID, tt.path, 0)
		mustOK(t, call, err)
		if n != 0 {
			t.Fatalf("%s: deleted %d, want 0", call, n)
		}
	}
	wantStoredHistory(t, s, "ListSecretVersions of another path", sdb.ID, "vault/q", q)

	// The history goes on after a prune.
	mustOK(t, "PutSecret", s.PutSecret(ctx, secret(sdb, "p", "eight"), 7))
	wantEqual(t, "history after a write", versionsOf(t, s, sdb.ID, "vault/p"), []string{"7 UPDATE"})
}

func testPruneSecretVersionsErrBadRequest(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	p := history(t, s, sdb, "p", 3, false, 0)
	for _, keep := range []int{-1, -100} {
		call := fmt.Sprintf("PruneSecretVersions(keep %d)", keep)
		_, err := s.PruneSecretVersions(ctx, sdb.ID, "vault/p", keep)
		wantCode(t, call, err, cerberus.ECodeBadRequest)
		wantStoredHistory(t, s, "ListSecretVersions after "+call, sdb.ID, "vault/p", p)
	}
}
