package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

func testListCategoriesSeeded(t *testing.T, s service.Store) {
	cs, err := s.ListCategories(context.Background())
	mustOK(t, "ListCategories", err)
	want := []struct{ name, path string }{{"Applications", "app"}, {"Shared", "shared"}}
	if len(cs) != len(want) {
		t.Fatalf("ListCategories: got %s, want %v", show(cs), want)
	}
	for i, c := range cs {
		if c.DisplayName != want[i].name || c.Path != want[i].path {
			t.Errorf("ListCategories()[%d]: got %q %q, want %q %q", i, c.DisplayName, c.Path, want[i].name, want[i].path)
		}
		if !isUUID(c.ID) {
			t.Errorf("ListCategories()[%d].ID = %q, want a UUID", i, c.ID)
		}
		if c.CreatedBy != "system" || c.LastUpdatedBy != "system" {
			t.Errorf("ListCategories()[%d]: created by %q, updated by %q, want system", i, c.CreatedBy, c.LastUpdatedBy)
		}
		if c.CreatedAt.IsZero() || c.CreatedAt.Location() != time.UTC || c.LastUpdatedAt.IsZero() {
			t.Errorf("ListCategories()[%d]: created at %v, updated at %v, want times in UTC", i, c.CreatedAt, c.LastUpdatedAt)
		}
	}
}

func testListRolesSeeded(t *testing.T, s service.Store) {
	rs, err := s.ListRoles(context.Background())
	mustOK(t, "ListRoles", err)
	want := []cerberus.RoleName{cerberus.RoleOwner, cerberus.RoleRead, cerberus.RoleWrite}
	if len(rs) != len(want) {
		t.Fatalf("ListRoles: got %s, want %v", show(rs), want)
	}
	for i, r := range rs {
		if r.Name != want[i] {
			t.Errorf("ListRoles()[%d].Name = %q, want %q", i, r.Name, want[i])
		}
		if !isUUID(r.ID) {
			t.Errorf("ListRoles()[%d].ID = %q, want a UUID", i, r.ID)
		}
		if r.CreatedBy != "system" || r.CreatedAt.IsZero() || r.CreatedAt.Location() != time.UTC {
			t.Errorf("ListRoles()[%d]: created by %q at %v, want system, a time in UTC", i, r.CreatedBy, r.CreatedAt)
		}
	}
}

func testCreateSDBOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	want := f.sdb(f.apps, "Payments Stage", "payments-stage")
	want.UserGroupPermissions = append(want.UserGroupPermissions, cerberus.UserGroupPermission{
		ID: cerberus.NewID(), Name: "payments-writers", RoleID: f.roles[cerberus.RoleWrite],
		CreatedBy: "creator", LastUpdatedBy: "creator", CreatedAt: at(0), LastUpdatedAt: at(0),
	}, cerberus.UserGroupPermission{
		// A group may hold the owner role without being the owner.
		ID: cerberus.NewID(), Name: "payments-admins", RoleID: f.roles[cerberus.RoleOwner],
		CreatedBy: "creator", LastUpdatedBy: "creator", CreatedAt: at(0), LastUpdatedAt: at(0),
	})
	want.IAMPrincipalPermissions = append(want.IAMPrincipalPermissions, cerberus.IAMPrincipalPermission{
		ID: cerberus.NewID(), ARN: "arn:aws:iam::111122223333:role/zz-admin", RoleID: f.roles[cerberus.RoleOwner],
		CreatedBy: "creator", LastUpdatedBy: "creator", CreatedAt: at(0), LastUpdatedAt: at(0),
	})
	mustOK(t, "CreateSDB", s.CreateSDB(ctx, want))
	got, err := s.FindSDBByID(ctx, want.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID", got, want)
	got, err = s.FindSDBByPath(ctx, want.Path)
	mustOK(t, "FindSDBByPath", err)
	wantSDB(t, "FindSDBByPath", got, want)
}

func testCreateSDBBare(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	want := f.sdb(f.shared, "Bare", "bare")
	want.Description = nil
	want.UserGroupPermissions = nil
	want.IAMPrincipalPermissions = nil
	mustOK(t, "CreateSDB", s.CreateSDB(ctx, want))
	got, err := s.FindSDBByID(ctx, want.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID", got, want)
}

func testCreateSDBErrDuplicate(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	first := f.mustCreateSDB(t, f.apps, "Orders", "orders")
	tests := []struct {
		name string
		sdb  *cerberus.SDB
	}{
		{"SameName", f.sdb(f.apps, "Orders", "orders-2")},
		{"SameSlug", f.sdb(f.apps, "Orders!", "orders")},
		{"SameSlugOtherCategory", f.sdb(f.shared, "Orders?", "orders")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, "CreateSDB", s.CreateSDB(ctx, tt.sdb), cerberus.ECodeSDBNameDuplicate)
			if tt.sdb.Path != first.Path {
				_, err := s.FindSDBByPath(ctx, tt.sdb.Path)
				wantCode(t, "FindSDBByPath after a refused CreateSDB", err, cerberus.ECodeNotFound)
			}
		})
	}
	got, err := s.FindSDBByID(ctx, first.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID", got, first)
}

func testCreateSDBErrCategoryInvalid(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.sdb(f.apps, "Nowhere", "nowhere")
	sdb.CategoryID = cerberus.NewID()
	wantCode(t, "CreateSDB", s.CreateSDB(ctx, sdb), cerberus.ECodeCategoryInvalid)
	_, err := s.FindSDBByPath(ctx, sdb.Path)
	wantCode(t, "FindSDBByPath", err, cerberus.ECodeNotFound)
}

func testCreateSDBRollsBack(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.sdb(f.apps, "Half", "half")
	sdb.IAMPrincipalPermissions[0].RoleID = "no-such-role"
	if err := s.CreateSDB(ctx, sdb); err == nil {
		t.Fatal("CreateSDB with an unknown role id: got no error")
	}
	_, err := s.FindSDBByID(ctx, sdb.ID)
	wantCode(t, "FindSDBByID after a failed CreateSDB", err, cerberus.ECodeNotFound)
	// Nothing of it is left to collide with.
	sdb = f.sdb(f.apps, "Half", "half")
	mustOK(t, "CreateSDB again", s.CreateSDB(ctx, sdb))
}

// raceRounds is how many times a race test races, to give the losers more
// chances to slip through.
const raceRounds = 5

func testCreateSDBRaceSameName(t *testing.T, s service.Store) {
	f := newFixture(t, s)
	for round := range raceRounds {
		name := fmt.Sprintf("Contested %d", round)
		sdbs := make([]*cerberus.SDB, 8)
		for i := range sdbs {
			sdbs[i] = f.sdb(f.apps, name, fmt.Sprintf("contested-%d-%d", round, i))
		}
		raceCreateSDB(t, f, sdbs)
	}
}

func testCreateSDBRaceSameSlug(t *testing.T, s service.Store) {
	f := newFixture(t, s)
	for round := range raceRounds {
		slug := fmt.Sprintf("contested-%d", round)
		sdbs := make([]*cerberus.SDB, 8)
		for i := range sdbs {
			// Half of them in another category: the paths differ, the
			// slugs do not.
			c := f.apps
			if i%2 == 1 {
				c = f.shared
			}
			sdbs[i] = f.sdb(c, fmt.Sprintf("Contested %d-%d", round, i), slug)
		}
		raceCreateSDB(t, f, sdbs)
	}
}

// raceCreateSDB creates sdbs concurrently and wants exactly one of them
// created, whole, and the others refused as duplicates, leaving nothing.
func raceCreateSDB(t *testing.T, f *fixture, sdbs []*cerberus.SDB) {
	t.Helper()
	ctx := context.Background()
	errs := race(len(sdbs), func(i int) error { return f.s.CreateSDB(ctx, sdbs[i]) })
	w := wantOneWinner(t, "CreateSDB", errs, cerberus.ECodeSDBNameDuplicate)
	got, err := f.s.FindSDBByID(ctx, sdbs[w].ID)
	mustOK(t, "FindSDBByID of the winner", err)
	wantSDB(t, "FindSDBByID of the winner", got, sdbs[w])
	for i, sdb := range sdbs {
		if i == w {
			continue
		}
		_, err := f.s.FindSDBByID(ctx, sdb.ID)
		wantCode(t, "FindSDBByID of a loser", err, cerberus.ECodeNotFound)
		// The losers' grants were not stored either.
		found, err := f.s.ListSDBSummaries(ctx, []string{sdb.Owner, sdb.UserGroupPermissions[0].Name},
			[]string{sdb.IAMPrincipalPermissions[0].ARN})
		mustOK(t, "ListSDBSummaries", err)
		for _, fs := range found {
			if fs.ID != sdbs[w].ID {
				t.Fatalf("ListSDBSummaries with the grants of a loser: got %s, want the winner at most", show(found))
			}
		}
	}
}

func testUpdateSDBOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	orig := f.mustCreateSDB(t, f.apps, "Billing", "billing")
	other := f.mustCreateSDB(t, f.apps, "Other", "other")

	upd := *orig
	desc := "Changed."
	upd.Description = &desc
	upd.Owner = "new-owners"
	upd.LastUpdatedBy, upd.LastUpdatedAt = "editor", at(50)
	upd.UserGroupPermissions = []cerberus.UserGroupPermission{
		// The old readers group becomes a writer, keeping its grant's id.
		{ID: orig.UserGroupPermissions[0].ID, Name: "billing-readers", RoleID: f.roles[cerberus.RoleWrite],
			CreatedBy: "perm-creator", LastUpdatedBy: "editor", CreatedAt: at(10), LastUpdatedAt: at(50)},
		{ID: cerberus.NewID(), Name: "billing-auditors", RoleID: f.roles[cerberus.RoleRead],
			CreatedBy: "editor", LastUpdatedBy: "editor", CreatedAt: at(50), LastUpdatedAt: at(50)},
	}
	upd.IAMPrincipalPermissions = nil
	mustOK(t, "UpdateSDB", s.UpdateSDB(ctx, &upd))
	got, err := s.FindSDBByID(ctx, orig.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID after UpdateSDB", got, &upd)

	// Back to no description, and the old owner.
	upd2 := upd
	upd2.Description = nil
	upd2.Owner = orig.Owner
	mustOK(t, "UpdateSDB", s.UpdateSDB(ctx, &upd2))
	got, err = s.FindSDBByID(ctx, orig.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID after the second UpdateSDB", got, &upd2)

	got, err = s.FindSDBByID(ctx, other.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID of another SDB", got, other)
}

func testUpdateSDBOwnerTakesGroup(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	orig := f.mustCreateSDB(t, f.apps, "Swap", "swap")
	// The readers group becomes the owner; the old owners become readers.
	upd := *orig
	upd.Owner = "swap-readers"
	upd.UserGroupPermissions = []cerberus.UserGroupPermission{{
		ID: cerberus.NewID(), Name: "swap-owners", RoleID: f.roles[cerberus.RoleRead],
		CreatedBy: "editor", LastUpdatedBy: "editor", CreatedAt: at(60), LastUpdatedAt: at(60),
	}}
	upd.LastUpdatedBy, upd.LastUpdatedAt = "editor", at(60)
	mustOK(t, "UpdateSDB", s.UpdateSDB(ctx, &upd))
	got, err := s.FindSDBByID(ctx, orig.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID after UpdateSDB", got, &upd)
}

func testUpdateSDBErrNotFound(t *testing.T, s service.Store) {
	f := newFixture(t, s)
	sdb := f.sdb(f.apps, "Ghost", "ghost")
	wantCode(t, "UpdateSDB", s.UpdateSDB(context.Background(), sdb), cerberus.ECodeNotFound)
}

func testUpdateSDBRollsBack(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	orig := f.mustCreateSDB(t, f.apps, "Keep", "keep")
	upd := *orig
	desc := "Never stored."
	upd.Description = &desc
	upd.Owner = "other-owners"
	upd.UserGroupPermissions = []cerberus.UserGroupPermission{{Name: "x", RoleID: "no-such-role"}}
	if err := s.UpdateSDB(ctx, &upd); err == nil {
		t.Fatal("UpdateSDB with an unknown role id: got no error")
	}
	got, err := s.FindSDBByID(ctx, orig.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID after a failed UpdateSDB", got, orig)
}

func testDeleteSDBCascade(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	doomed := f.mustCreateSDB(t, f.apps, "Doomed", "doomed")
	kept := f.mustCreateSDB(t, f.apps, "Kept", "kept")
	for _, sdb := range []*cerberus.SDB{doomed, kept} {
		rec := secret(sdb, "db/password", "v1")
		mustPutSecret(t, s, rec)
		upd := secret(sdb, "db/password", "v2")
		mustOK(t, "PutSecret", s.PutSecret(ctx, upd, 1))
		mustPutSecret(t, s, secret(sdb, "gone", "x"))
		mustOK(t, "DeleteSecret", s.DeleteSecret(ctx, sdb.ID, sdb.Slug+"/gone", 1, "alice", at(200)))
	}

	mustOK(t, "DeleteSDB", s.DeleteSDB(ctx, doomed.ID))

	_, err := s.FindSDBByID(ctx, doomed.ID)
	wantCode(t, "FindSDBByID", err, cerberus.ECodeNotFound)
	_, err = s.FindSDBByPath(ctx, doomed.Path)
	wantCode(t, "FindSDBByPath", err, cerberus.ECodeNotFound)
	_, err = s.FindSecret(ctx, doomed.ID, "doomed/db/password")
	wantCode(t, "FindSecret", err, cerberus.ECodeNotFound)
	paths, err := s.ListSecretPaths(ctx, doomed.ID, "", service.KindObject)
	mustOK(t, "ListSecretPaths", err)
	if len(paths) != 0 {
		t.Fatalf("ListSecretPaths of a deleted SDB: got %q, want none", paths)
	}
	for _, g := range []struct{ groups, arns []string }{
		{[]string{doomed.Owner}, nil},
		{[]string{doomed.UserGroupPermissions[0].Name}, nil},
		{nil, []string{doomed.IAMPrincipalPermissions[0].ARN}},
	} {
		sdbs, err := s.ListSDBSummaries(ctx, g.groups, g.arns)
		mustOK(t, "ListSDBSummaries", err)
		if len(sdbs) != 0 {
			t.Fatalf("ListSDBSummaries(%q, %q) with the grants of a deleted SDB: got %s, want none", g.groups, g.arns, show(sdbs))
		}
		has, err := s.HasSDBGrant(ctx, g.groups, g.arns)
		mustOK(t, "HasSDBGrant", err)
		if has {
			t.Fatalf("HasSDBGrant(%q, %q) with the grants of a deleted SDB: got true, want false", g.groups, g.arns)
		}
	}

	// The other SDB is untouched.
	got, err := s.FindSDBByID(ctx, kept.ID)
	mustOK(t, "FindSDBByID", err)
	wantSDB(t, "FindSDBByID of the other SDB", got, kept)
	rec, err := s.FindSecret(ctx, kept.ID, "kept/db/password")
	mustOK(t, "FindSecret", err)
	if string(rec.Ciphertext) != "v2" || rec.Version != 2 {
		t.Fatalf("FindSecret of the other SDB: got %q version %d, want v2 version 2", rec.Ciphertext, rec.Version)
	}

	// The history goes with the SDB.
	_, total, err := s.ListSecretVersions(ctx, doomed.ID, "doomed/db/password", 10, 0)
	mustOK(t, "ListSecretVersions", err)
	if total != 0 {
		t.Fatalf("ListSecretVersions of a deleted SDB: total %d, want 0", total)
	}
	_, total, err = s.ListSecretVersions(ctx, kept.ID, "kept/db/password", 10, 0)
	mustOK(t, "ListSecretVersions", err)
	if total != 1 {
		t.Fatalf("ListSecretVersions of the other SDB: total %d, want 1", total)
	}

	// The name, slug, path and grants are free again.
	again := f.mustCreateSDB(t, f.apps, "Doomed", "doomed")
	mustPutSecret(t, s, secret(again, "db/password", "fresh"))
	wantCode(t, "DeleteSDB again", s.DeleteSDB(ctx, doomed.ID), cerberus.ECodeNotFound)
}

func testDeleteSDBErrNotFound(t *testing.T, s service.Store) {
	for _, id := range []string{cerberus.NewID(), "\xff"} {
		wantCode(t, fmt.Sprintf("DeleteSDB(%q)", id), s.DeleteSDB(context.Background(), id), cerberus.ECodeNotFound)
	}
}

func testFindSDBByIDErrNotFound(t *testing.T, s service.Store) {
	// Ids come from URLs: any bytes.
	for _, id := range []string{cerberus.NewID(), "", "%", "\xff", "a\x00b"} {
		_, err := s.FindSDBByID(context.Background(), id)
		wantCode(t, fmt.Sprintf("FindSDBByID(%q)", id), err, cerberus.ECodeNotFound)
	}
}

func testFindSDBByPathOK(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	a := f.mustCreateSDB(t, f.apps, "Alpha", "alpha")
	b := f.mustCreateSDB(t, f.shared, "Beta", "beta")
	for _, want := range []*cerberus.SDB{a, b} {
		got, err := s.FindSDBByPath(ctx, want.Path)
		mustOK(t, "FindSDBByPath", err)
		wantSDB(t, "FindSDBByPath "+want.Path, got, want)
	}
}

func testFindSDBByPathErrNotFound(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	f.mustCreateSDB(t, f.apps, "Alpha", "alpha")
	for _, path := range []string{
		"app/beta/",
		"APP/ALPHA/", // paths compare case-sensitively
		"app/Alpha/",
		"shared/alpha/",
		"app/alpha",
		"app/alpha/x/",
		"app/%/",
		"app/_lpha/",
		"app/\xff/",
		"",
	} {
		_, err := s.FindSDBByPath(ctx, path)
		wantCode(t, "FindSDBByPath "+path, err, cerberus.ECodeNotFound)
	}
}

// grantFixture creates three SDBs whose grants overlap, out of name
// order, and returns them in name order:
//   - alpha: owner alpha-owners, group shared-group (read), ARN arn1 (write);
//   - bravo: owner bravo-owners, ARN arn2;
//   - charlie: owner charlie-owners, group shared-group (write).
func grantFixture(t *testing.T, s service.Store) (alpha, bravo, charlie *cerberus.SDB) {
	t.Helper()
	f := newFixture(t, s)
	alpha = f.sdb(f.apps, "Alpha", "alpha")
	alpha.UserGroupPermissions[0].Name = "shared-group"
	alpha.IAMPrincipalPermissions[0].ARN = grantARN1
	bravo = f.sdb(f.shared, "Bravo", "bravo")
	bravo.UserGroupPermissions = nil
	bravo.IAMPrincipalPermissions[0].ARN = grantARN2
	charlie = f.sdb(f.apps, "Charlie", "charlie")
	charlie.UserGroupPermissions[0].Name = "shared-group"
	charlie.UserGroupPermissions[0].RoleID = f.roles[cerberus.RoleWrite]
	charlie.IAMPrincipalPermissions = nil
	for _, sdb := range []*cerberus.SDB{charlie, alpha, bravo} {
		mustOK(t, "CreateSDB "+sdb.Name, s.CreateSDB(context.Background(), sdb))
	}
	return alpha, bravo, charlie
}

// ARNs granted by grantFixture.
const (
	grantARN1 = "arn:aws:iam::111122223333:role/one"
	grantARN2 = "arn:aws:iam::111122223333:role/two"
)

// grantCase is a lookup of grants and the names of the SDBs (of
// grantFixture) it must find, in name order.
type grantCase struct {
	name   string
	groups []string
	arns   []string
	want   []string
}

var grantCases = []grantCase{
	{"Owner", []string{"bravo-owners"}, nil, []string{"Bravo"}},
	{"Group", []string{"shared-group"}, nil, []string{"Alpha", "Charlie"}},
	{"ARN", nil, []string{grantARN2}, []string{"Bravo"}},
	{"GroupsAndARNs", []string{"charlie-owners"}, []string{grantARN1}, []string{"Alpha", "Charlie"}},
	{"OnceEach", []string{"alpha-owners", "shared-group", "charlie-owners"}, []string{grantARN1, grantARN2}, []string{"Alpha", "Bravo", "Charlie"}},
	{"NoMatch", []string{"nobody"}, []string{"arn:aws:iam::111122223333:role/none"}, nil},
	{"Empty", nil, nil, nil},
	{"EmptyNonNil", []string{}, []string{}, nil},
	{"CaseSensitive", []string{"SHARED-GROUP", "Bravo-Owners"}, []string{"ARN:AWS:IAM::111122223333:ROLE/ONE"}, nil},
	{"NotPatterns", []string{"%", "shared_group", "shared%"}, []string{"arn:%"}, nil},
	{"ARNNotGroup", []string{grantARN1}, []string{"shared-group"}, nil},
	{"NotUTF8", []string{"\xff", "bravo-owners", "a\x00b"}, []string{"\xff"}, []string{"Bravo"}},
	{"OnlyUnholdable", []string{"\xff", "a\x00b"}, []string{"\xff"}, nil},
}

func testListSDBSummaries(t *testing.T, s service.Store) {
	alpha, bravo, charlie := grantFixture(t, s)
	byName := map[string]*cerberus.SDB{"Alpha": alpha, "Bravo": bravo, "Charlie": charlie}
	for _, tt := range grantCases {
		t.Run(tt.name, func(t *testing.T) {
			var want []*cerberus.SDB
			for _, n := range tt.want {
				want = append(want, byName[n])
			}
			got, err := s.ListSDBSummaries(context.Background(), tt.groups, tt.arns)
			mustOK(t, "ListSDBSummaries", err)
			wantEqual(t, fmt.Sprintf("ListSDBSummaries(%q, %q)", tt.groups, tt.arns), got, summaries(want...))
		})
	}
}

func testHasSDBGrant(t *testing.T, s service.Store) {
	grantFixture(t, s)
	for _, tt := range grantCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.HasSDBGrant(context.Background(), tt.groups, tt.arns)
			mustOK(t, "HasSDBGrant", err)
			if want := len(tt.want) > 0; got != want {
				t.Fatalf("HasSDBGrant(%q, %q) = %v, want %v", tt.groups, tt.arns, got, want)
			}
		})
	}
}

// testListSDBSummariesManyGrants lists SDBs of many grants each: the
// summaries are those of the SDBs, once each, whatever their grants.
func testListSDBSummariesManyGrants(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	const root = "arn:aws:iam::111122223333:root"
	var want []*cerberus.SDB
	for i := range 5 {
		sdb := f.sdb(f.apps, fmt.Sprintf("Many %d", i), fmt.Sprintf("many-%d", i))
		sdb.UserGroupPermissions, sdb.IAMPrincipalPermissions = nil, nil
		for j := range 100 {
			sdb.UserGroupPermissions = append(sdb.UserGroupPermissions, cerberus.UserGroupPermission{
				ID: cerberus.NewID(), Name: fmt.Sprintf("group-%03d", j), RoleID: f.roles[cerberus.RoleRead],
				CreatedBy: "c", LastUpdatedBy: "c", CreatedAt: at(0), LastUpdatedAt: at(0)})
			arn := fmt.Sprintf("arn:aws:iam::999988887777:role/r-%03d", j)
			if j == 50 {
				arn = root
			}
			sdb.IAMPrincipalPermissions = append(sdb.IAMPrincipalPermissions, cerberus.IAMPrincipalPermission{
				ID: cerberus.NewID(), ARN: arn, RoleID: f.roles[cerberus.RoleRead],
				CreatedBy: "c", LastUpdatedBy: "c", CreatedAt: at(0), LastUpdatedAt: at(0)})
		}
		mustOK(t, "CreateSDB", s.CreateSDB(ctx, sdb))
		want = append(want, sdb)
	}
	groups := []string{"group-000", "group-001", "group-099"}
	arns := []string{root, "arn:aws:iam::999988887777:role/r-000"}
	got, err := s.ListSDBSummaries(ctx, groups, arns)
	mustOK(t, "ListSDBSummaries", err)
	wantEqual(t, "ListSDBSummaries of SDBs matched by many grants each", got, summaries(want...))
	has, err := s.HasSDBGrant(ctx, nil, []string{root})
	mustOK(t, "HasSDBGrant", err)
	if !has {
		t.Fatalf("HasSDBGrant(nil, [%q]) = false, want true", root)
	}
}

func testCountSDBsCreatedBy(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	for i, by := range []string{"alice", "alice", "bob", "alice", "Alice", "arn:aws:iam::111122223333:role/ci"} {
		sdb := f.sdb(f.apps, fmt.Sprintf("Counted %d", i), fmt.Sprintf("counted-%d", i))
		sdb.CreatedBy, sdb.LastUpdatedBy = by, "someone-else"
		mustOK(t, "CreateSDB", s.CreateSDB(ctx, sdb))
	}
	doomed := f.sdb(f.apps, "Counted Doomed", "counted-doomed")
	doomed.CreatedBy = "alice"
	mustOK(t, "CreateSDB", s.CreateSDB(ctx, doomed))
	mustOK(t, "DeleteSDB", s.DeleteSDB(ctx, doomed.ID))
	for by, want := range map[string]int{
		"alice": 3, "Alice": 1, "bob": 1, "arn:aws:iam::111122223333:role/ci": 1,
		"someone-else": 0, "nobody": 0, "": 0, "%": 0, "alic_": 0, "\xff": 0, "a\x00b": 0,
	} {
		got, err := s.CountSDBsCreatedBy(ctx, by)
		mustOK(t, "CountSDBsCreatedBy", err)
		if got != want {
			t.Errorf("CountSDBsCreatedBy(%q) = %d, want %d", by, got, want)
		}
	}
}
