package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// sdbID returns a fixed UUID that ends in n, so that tests can order SDBs
// by id.
func sdbID(n int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
}

// wantOwnerGrant fails the test unless the stored grant of the owner of
// sdb, as Export dumps it, is the one grant of sdb's owner, with the owner
// role and sdb's audit fields.
func wantOwnerGrant(t *testing.T, s service.Store, call string, sdb *cerberus.SDB) {
	t.Helper()
	roles, err := s.ListRoles(context.Background())
	mustOK(t, "ListRoles", err)
	var owner string
	for _, r := range roles {
		if r.Name == cerberus.RoleOwner {
			owner = r.ID
		}
	}
	var cols []string
	for _, d := range service.DumpTables() {
		if d.Name == "user_group_permissions" {
			for _, c := range d.Columns {
				cols = append(cols, c.Name)
			}
		}
	}
	var got []map[string]any
	for _, r := range export(t, s) {
		if r.Table != "user_group_permissions" {
			continue
		}
		m := make(map[string]any)
		for i, c := range cols {
			m[c] = r.Row[i]
		}
		if m["sdb_id"] == sdb.ID && m["is_owner"] == int64(1) {
			delete(m, "id") // the store's own
			got = append(got, m)
		}
	}
	want := []map[string]any{{
		"sdb_id": sdb.ID, "group_name": sdb.Owner, "role_id": owner, "is_owner": int64(1),
		"created_by": sdb.CreatedBy, "last_updated_by": sdb.LastUpdatedBy,
		"created_ts": sdb.CreatedAt.UnixMilli(), "last_updated_ts": sdb.LastUpdatedAt.UnixMilli(),
	}}
	wantEqual(t, call+": the owner's grant", got, want)
}

// wantFoundFor fails the test unless ListSDBSummaries finds the SDBs
// want, and no other, for the group.
func wantFoundFor(t *testing.T, s service.Store, group string, want ...*cerberus.SDB) {
	t.Helper()
	got, err := s.ListSDBSummaries(context.Background(), []string{group}, nil)
	mustOK(t, "ListSDBSummaries", err)
	wantEqual(t, fmt.Sprintf("ListSDBSummaries(%q)", group), got, summaries(want...))
}

func testCreateSDBMaxVersions(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	plain := f.mustCreateSDB(t, f.apps, "Plain", "plain")
	sdb := f.sdb(f.shared, "Bounded", "bounded")
	sdb.MaxVersions = 7
	mustOK(t, "CreateSDB(MaxVersions 7)", s.CreateSDB(ctx, sdb))
	check := func(want *cerberus.SDB) {
		t.Helper()
		call := fmt.Sprintf("MaxVersions %d", want.MaxVersions)
		got, err := s.FindSDBByID(ctx, want.ID)
		mustOK(t, "FindSDBByID", err)
		wantSDB(t, "FindSDBByID with "+call, got, want)
		got, err = s.FindSDBByPath(ctx, want.Path)
		mustOK(t, "FindSDBByPath", err)
		wantSDB(t, "FindSDBByPath with "+call, got, want)
		list, total, err := s.ListSDBs(ctx, want.Name, 10, 0)
		mustOK(t, "ListSDBs", err)
		if total != 1 {
			t.Fatalf("ListSDBs(%q): total %d, want 1", want.Name, total)
		}
		wantSDBs(t, "ListSDBs with "+call, list, []*cerberus.SDB{want})
		wantFoundFor(t, s, want.Owner, want)
	}
	check(sdb)
	for _, max := range []int{3, 0, 1_000_000} {
		upd := *sdb
		upd.MaxVersions = max
		mustOK(t, fmt.Sprintf("UpdateSDB(MaxVersions %d)", max), s.UpdateSDB(ctx, &upd))
		check(&upd)
	}
	check(plain)
}

func testListSDBsOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	got, total, err := s.ListSDBs(ctx, "", 10, 0)
	mustOK(t, "ListSDBs of an empty store", err)
	if len(got) != 0 || total != 0 {
		t.Fatalf("ListSDBs of an empty store: got %s, total %d; want none", show(got), total)
	}
	// Created in neither the order of the list, nor of names, nor of ids.
	mk := func(c *cerberus.Category, name, slug string, id int, created int64) *cerberus.SDB {
		sdb := f.sdb(c, name, slug)
		sdb.ID = sdbID(id)
		sdb.CreatedAt, sdb.LastUpdatedAt = at(created), at(created+1)
		return sdb
	}
	alpha := mk(f.apps, "Alpha", "alpha", 3, 50)
	bravo := mk(f.shared, "Bravo", "bravo", 1, 50)
	charlie := mk(f.apps, "Charlie", "charlie", 2, 50)
	delta := mk(f.apps, "Delta", "delta", 5, 10)
	delta.Description, delta.UserGroupPermissions, delta.IAMPrincipalPermissions = nil, nil, nil
	echo := mk(f.shared, "Echo", "echo", 4, 90)
	for _, sdb := range []*cerberus.SDB{alpha, delta, echo, charlie, bravo} {
		mustOK(t, "CreateSDB "+sdb.Name, s.CreateSDB(ctx, sdb))
	}
	all := []*cerberus.SDB{echo, bravo, charlie, alpha, delta}
	tests := []struct {
		limit, offset int
		want          []*cerberus.SDB
	}{
		{5, 0, all},
		{100, 0, all},
		{2, 0, all[0:2]},
		{2, 2, all[2:4]},
		{2, 4, all[4:]},
		{2, 5, nil},
		{1, 100, nil},
		{100, 1, all[1:]},
		{0, 0, nil},
		{0, 3, nil},
	}
	for _, tt := range tests {
		call := fmt.Sprintf("ListSDBs(limit %d, offset %d)", tt.limit, tt.offset)
		got, total, err := s.ListSDBs(ctx, "", tt.limit, tt.offset)
		mustOK(t, call, err)
		if total != len(all) {
			t.Fatalf("%s: total %d, want %d", call, total, len(all))
		}
		wantSDBs(t, call, got, tt.want)
	}
}

func testListSDBsName(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	alpha := f.mustCreateSDB(t, f.apps, "Alpha", "alpha")
	charlie := f.mustCreateSDB(t, f.shared, "Charlie", "charlie")
	f.mustCreateSDB(t, f.apps, "Charlie 2", "charlie-2")
	tests := []struct {
		name          string
		limit, offset int
		want          []*cerberus.SDB
		total         int
	}{
		{"Charlie", 10, 0, []*cerberus.SDB{charlie}, 1},
		{"Alpha", 10, 0, []*cerberus.SDB{alpha}, 1},
		{"Charlie", 1, 0, []*cerberus.SDB{charlie}, 1},
		{"Charlie", 10, 1, nil, 1},
		{"Charlie", 0, 0, nil, 1},
		{"charlie", 10, 0, nil, 0},
		{"CHARLIE", 10, 0, nil, 0},
		{"Charli", 10, 0, nil, 0},
		{"Charlie ", 10, 0, nil, 0},
		{" Charlie", 10, 0, nil, 0},
		{"Ch_rlie", 10, 0, nil, 0},
		{"Charlie%", 10, 0, nil, 0},
		{"%", 10, 0, nil, 0},
		{"\xff", 10, 0, nil, 0},
		{"a\x00b", 10, 0, nil, 0},
	}
	for _, tt := range tests {
		call := fmt.Sprintf("ListSDBs(%q, limit %d, offset %d)", tt.name, tt.limit, tt.offset)
		got, total, err := s.ListSDBs(ctx, tt.name, tt.limit, tt.offset)
		mustOK(t, call, err)
		if total != tt.total {
			t.Fatalf("%s: total %d, want %d", call, total, tt.total)
		}
		wantSDBs(t, call, got, tt.want)
	}
}

func testListSDBsErrBadRequest(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	f.mustCreateSDB(t, f.apps, "Alpha", "alpha")
	for _, name := range []string{"", "Alpha"} {
		for _, tt := range []struct{ limit, offset int }{{-1, 0}, {1, -1}, {-1, -1}} {
			_, _, err := s.ListSDBs(ctx, name, tt.limit, tt.offset)
			wantCode(t, fmt.Sprintf("ListSDBs(%q, limit %d, offset %d)", name, tt.limit, tt.offset), err, cerberus.ECodeBadRequest)
		}
	}
}

func testRestoreSDBCreate(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	other := f.mustCreateSDB(t, f.apps, "Other", "other")
	want := f.sdb(f.shared, "Restored", "restored")
	want.ID = sdbID(42)
	want.MaxVersions = 4
	want.CreatedBy, want.LastUpdatedBy = "first-author", "last-author"
	want.CreatedAt, want.LastUpdatedAt = at(-86_400_000), at(-3_600_000)
	mustOK(t, "RestoreSDB of a new id", s.RestoreSDB(ctx, want))
	got, err := s.FindSDBByID(ctx, want.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID after RestoreSDB", got, want)
	got, err = s.FindSDBByPath(ctx, want.Path)
	mustOK(t, "FindSDBByPath", err)
	wantSDB(t, "FindSDBByPath after RestoreSDB", got, want)
	wantOwnerGrant(t, s, "RestoreSDB", want)
	wantFoundFor(t, s, want.UserGroupPermissions[0].Name, want)
	list, total, err := s.ListSDBs(ctx, "", 10, 0)
	mustOK(t, "ListSDBs", err)
	if total != 2 {
		t.Fatalf("ListSDBs after RestoreSDB: total %d, want 2", total)
	}
	wantSDBs(t, "ListSDBs after RestoreSDB", list, []*cerberus.SDB{other, want})

	// It holds secrets like any other, and bounds their history.
	history(t, s, want, "p", 7, false, 0)
	wantEqual(t, "history in a restored SDB", versionsOf(t, s, want.ID, "restored/p"),
		[]string{"6 UPDATE", "5 UPDATE", "4 UPDATE", "3 UPDATE"})
}

func testRestoreSDBReplace(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	orig := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	other := f.mustCreateSDB(t, f.apps, "Other", "other")
	p := history(t, s, orig, "p", 5, false, 0) // 4 records
	q := secret(orig, "q", "kept")
	mustPutSecret(t, s, q)
	op := history(t, s, other, "p", 5, false, 0)

	// Every field but the id changes, and every permission, the owner too.
	fields := f.sdb(f.apps, "Vault", "vault")
	fields.ID = orig.ID
	fields.Description = nil
	fields.Owner = "restored-owners"
	fields.UserGroupPermissions = []cerberus.UserGroupPermission{{
		ID: cerberus.NewID(), Name: "restored-readers", RoleID: f.roles[cerberus.RoleRead],
		CreatedBy: "restorer", LastUpdatedBy: "restorer", CreatedAt: at(-20), LastUpdatedAt: at(-10),
	}}
	fields.IAMPrincipalPermissions = []cerberus.IAMPrincipalPermission{{
		ID: cerberus.NewID(), ARN: "arn:aws:iam::111122223333:role/restored", RoleID: f.roles[cerberus.RoleOwner],
		CreatedBy: "restorer", LastUpdatedBy: "restorer", CreatedAt: at(-20), LastUpdatedAt: at(-10),
	}}
	fields.MaxVersions = 2
	fields.CreatedBy, fields.LastUpdatedBy = "first-author", "last-author"
	fields.CreatedAt, fields.LastUpdatedAt = at(-1000), at(-500)
	// Then the name, category and path too, with no permissions and no
	// bound.
	moved := *fields
	moved.Name, moved.Slug, moved.CategoryID, moved.Path = "Vault Moved", "vault-moved", f.shared.ID, "shared/vault-moved/"
	moved.Owner = orig.Owner
	moved.UserGroupPermissions, moved.IAMPrincipalPermissions = nil, nil
	moved.MaxVersions = 0
	moved.LastUpdatedBy, moved.LastUpdatedAt = "mover", at(-400)

	steps := []struct {
		name string
		sdb  *cerberus.SDB
		hist []*service.SecretRecord // of vault/p
	}{
		{"Fields", fields, p[:2]},
		{"Again", fields, p[:2]}, // nothing changes
		{"Moved", &moved, p[:2]},
	}
	for _, st := range steps {
		call := "RestoreSDB " + st.name
		want := *st.sdb
		mustOK(t, call, s.RestoreSDB(ctx, &want))
		got, err := s.FindSDBByID(ctx, orig.ID)
		mustOK(t, "FindSDBByID", err)
		wantSDB(t, "FindSDBByID after "+call, got, st.sdb)
		got, err = s.FindSDBByPath(ctx, st.sdb.Path)
		mustOK(t, "FindSDBByPath", err)
		wantSDB(t, "FindSDBByPath after "+call, got, st.sdb)
		wantOwnerGrant(t, s, call, st.sdb)
		// The secrets stay, under their stored paths.
		cur, err := s.FindSecret(ctx, orig.ID, q.Path)
		mustOK(t, "FindSecret after "+call, err)
		wantEqual(t, "FindSecret after "+call, cur, q)
		wantStoredHistory(t, s, "ListSecretVersions after "+call, orig.ID, "vault/p", st.hist)
		wantStoredHistory(t, s, "ListSecretVersions of another SDB after "+call, other.ID, "other/p", op)
		_, total, err := s.ListSDBs(ctx, "", 10, 0)
		mustOK(t, "ListSDBs", err)
		if total != 2 {
			t.Fatalf("ListSDBs after %s: total %d, want 2", call, total)
		}
	}
	// The old path and grants are gone.
	_, err := s.FindSDBByPath(ctx, orig.Path)
	wantCode(t, "FindSDBByPath of the old path", err, cerberus.ECodeNotFound)
	wantFoundFor(t, s, "restored-owners")
	wantFoundFor(t, s, "restored-readers")
	wantFoundFor(t, s, orig.UserGroupPermissions[0].Name)
	wantFoundFor(t, s, orig.Owner, &moved)
	got, err := s.FindSDBByID(ctx, other.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID of another SDB", got, other)
}

func testRestoreSDBErrDuplicate(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	a := f.mustCreateSDB(t, f.apps, "Alpha", "alpha")
	b := f.mustCreateSDB(t, f.apps, "Bravo", "bravo")
	mustPutSecret(t, s, secret(b, "x", "kept"))
	restore := func(id string, c *cerberus.Category, name, slug, path string) *cerberus.SDB {
		sdb := f.sdb(c, name, slug)
		sdb.ID = id
		if path != "" {
			sdb.Path = path
		}
		return sdb
	}
	newID := cerberus.NewID()
	tests := []struct {
		name string
		sdb  *cerberus.SDB
	}{
		{"NewSameName", restore(newID, f.apps, "Alpha", "alpha-2", "")},
		{"NewSameSlug", restore(newID, f.shared, "Alpha 2", "alpha", "")},
		{"NewSamePath", restore(newID, f.apps, "Alpha 3", "alpha-3", a.Path)},
		{"ExistingSameName", restore(b.ID, f.apps, "Alpha", "bravo", "")},
		{"ExistingSameSlug", restore(b.ID, f.shared, "Bravo", "alpha", "")},
		{"ExistingSamePath", restore(b.ID, f.apps, "Bravo", "bravo", a.Path)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, "RestoreSDB", s.RestoreSDB(ctx, tt.sdb), cerberus.ECodeSDBNameDuplicate)
			_, err := s.FindSDBByID(ctx, newID)
			wantCode(t, "FindSDBByID of a refused new SDB", err, cerberus.ECodeNotFound)
			for _, want := range []*cerberus.SDB{a, b} {
				got, err := s.FindSDBByID(ctx, want.ID)
				mustOK(t, "FindSDBByID", err)
				wantSDB(t, "FindSDBByID after a refused RestoreSDB", got, want)
			}
			_, err = s.FindSecret(ctx, b.ID, "bravo/x")
			mustOK(t, "FindSecret after a refused RestoreSDB", err)
		})
	}
}

func testRestoreSDBErrCategoryInvalid(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	b := f.mustCreateSDB(t, f.apps, "Bravo", "bravo")
	fresh := f.sdb(f.apps, "Fresh", "fresh")
	fresh.CategoryID = cerberus.NewID()
	wantCode(t, "RestoreSDB of a new id", s.RestoreSDB(ctx, fresh), cerberus.ECodeCategoryInvalid)
	_, err := s.FindSDBByID(ctx, fresh.ID)
	wantCode(t, "FindSDBByID after a refused RestoreSDB", err, cerberus.ECodeNotFound)

	upd := *b
	upd.CategoryID = "no-such-category"
	upd.Owner = "other-owners"
	wantCode(t, "RestoreSDB of an existing id", s.RestoreSDB(ctx, &upd), cerberus.ECodeCategoryInvalid)
	got, err := s.FindSDBByID(ctx, b.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID after a refused RestoreSDB", got, b)
}

// category returns a category ready to be created.
func category(name, path string) *cerberus.Category {
	return &cerberus.Category{
		ID: cerberus.NewID(), DisplayName: name, Path: path,
		CreatedBy: "admin", LastUpdatedBy: "admin-2", CreatedAt: at(1), LastUpdatedAt: at(2),
	}
}

func testCreateCategoryOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	db := category("Databases", "db")
	archive := category("Archive", "archive")
	for _, c := range []*cerberus.Category{db, archive} {
		mustOK(t, "CreateCategory "+c.DisplayName, s.CreateCategory(ctx, c))
	}
	got, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	wantEqual(t, "ListCategories", got, []*cerberus.Category{f.apps, archive, db, f.shared})
	// SDBs can be made in it.
	sdb := f.mustCreateSDB(t, db, "Orders", "orders")
	found, err := s.FindSDBByPath(ctx, "db/orders/")
	mustOK(t, "FindSDBByPath", err)
	wantSDB(t, "FindSDBByPath", found, sdb)
}

func testCreateCategoryErrExists(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	before, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	tests := []struct {
		name string
		c    *cerberus.Category
	}{
		{"SameName", category(f.apps.DisplayName, "apps-2")},
		{"SamePath", category("Applications 2", f.apps.Path)},
		{"SameBoth", category(f.shared.DisplayName, f.shared.Path)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, "CreateCategory", s.CreateCategory(ctx, tt.c), cerberus.ECodeCategoryExists)
			after, err := s.ListCategories(ctx)
			mustOK(t, "ListCategories", err)
			wantEqual(t, "ListCategories after a refused CreateCategory", after, before)
		})
	}
}

func testDeleteCategoryOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	seeded, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	empty := category("Empty", "empty")
	emptied := category("Emptied", "emptied")
	for _, c := range []*cerberus.Category{empty, emptied} {
		mustOK(t, "CreateCategory "+c.DisplayName, s.CreateCategory(ctx, c))
	}
	sdb := f.mustCreateSDB(t, emptied, "Gone", "gone")
	mustOK(t, "DeleteSDB", s.DeleteSDB(ctx, sdb.ID))
	for _, c := range []*cerberus.Category{empty, emptied} {
		mustOK(t, "DeleteCategory "+c.DisplayName, s.DeleteCategory(ctx, c.ID))
	}
	got, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	wantEqual(t, "ListCategories after DeleteCategory", got, seeded)
	wantCode(t, "DeleteCategory again", s.DeleteCategory(ctx, empty.ID), cerberus.ECodeNotFound)
	// Its name and path are free again.
	mustOK(t, "CreateCategory again", s.CreateCategory(ctx, category("Empty", "empty")))
}

func testDeleteCategoryErrNotFound(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	before, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	for _, id := range []string{cerberus.NewID(), "", "%", "\xff", f.apps.Path, f.apps.DisplayName} {
		wantCode(t, fmt.Sprintf("DeleteCategory(%q)", id), s.DeleteCategory(ctx, id), cerberus.ECodeNotFound)
	}
	after, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	wantEqual(t, "ListCategories after refused deletes", after, before)
}

func testDeleteCategoryErrInUse(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	c := category("Databases", "db")
	mustOK(t, "CreateCategory", s.CreateCategory(ctx, c))
	inApps := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	restored := f.sdb(c, "Restored", "restored")
	mustOK(t, "RestoreSDB", s.RestoreSDB(ctx, restored))
	before, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	for _, tt := range []struct {
		c   *cerberus.Category
		sdb *cerberus.SDB
	}{{f.apps, inApps}, {c, restored}} {
		call := fmt.Sprintf("DeleteCategory(%s)", tt.c.DisplayName)
		wantCode(t, call, s.DeleteCategory(ctx, tt.c.ID), cerberus.ECodeCategoryInUse)
		after, err := s.ListCategories(ctx)
		mustOK(t, "ListCategories", err)
		wantEqual(t, "ListCategories after a refused "+call, after, before)
		got, err := s.FindSDBByID(ctx, tt.sdb.ID)
		mustOK(t, "FindSDBByID", err)
		wantSDB(t, "FindSDBByID after a refused "+call, got, tt.sdb)
	}
	// Once its SDB is gone, it can go.
	mustOK(t, "DeleteSDB", s.DeleteSDB(ctx, restored.ID))
	mustOK(t, "DeleteCategory of an emptied category", s.DeleteCategory(ctx, c.ID))
	got, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	wantEqual(t, "ListCategories after DeleteCategory", got, slices.DeleteFunc(before, func(x *cerberus.Category) bool { return x.ID == c.ID }))
}
