// Package storetest is the conformance suite of service.Store: every store
// implementation runs it from its own tests, so that all of them keep the
// contract written in the Store interface's doc comments.
package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// testCase is one subtest of the suite, run on a store of its own.
type testCase struct {
	name string
	fn   func(t *testing.T, s service.Store)
}

// LargeValueSize is the size of the largest ciphertext the suite stores by
// default: the API's largest limit of a secret's size.
const LargeValueSize = 16 << 20

// Config adjusts the suite to what a store's database allows.
type Config struct {
	// LargeValueSize is the size of the largest ciphertext the suite
	// stores; zero means LargeValueSize.
	LargeValueSize int
}

// Run runs the conformance suite with the zero Config. open must return a
// new, empty store with its schema in place (and only the seeded
// categories and roles), and arrange for it to be closed when t ends; it is
// called once per subtest, and subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) service.Store) {
	RunConfig(t, open, Config{})
}

// RunConfig runs the conformance suite as cfg says; open is as for Run.
func RunConfig(t *testing.T, open func(t *testing.T) service.Store, cfg Config) {
	large := cfg.LargeValueSize
	if large == 0 {
		large = LargeValueSize
	}
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"ListCategories", []testCase{{"Seeded", testListCategoriesSeeded}}},
		{"ListRoles", []testCase{{"Seeded", testListRolesSeeded}}},
		{"CreateCategory", []testCase{
			{"OK", testCreateCategoryOK},
			{"ErrExists", testCreateCategoryErrExists},
		}},
		{"DeleteCategory", []testCase{
			{"OK", testDeleteCategoryOK},
			{"ErrNotFound", testDeleteCategoryErrNotFound},
			{"ErrInUse", testDeleteCategoryErrInUse},
		}},
		{"CreateSDB", []testCase{
			{"OK", testCreateSDBOK},
			{"NoDescriptionNoPermissions", testCreateSDBBare},
			{"ErrDuplicate", testCreateSDBErrDuplicate},
			{"ErrCategoryInvalid", testCreateSDBErrCategoryInvalid},
			{"RollsBack", testCreateSDBRollsBack},
			{"RaceSameName", testCreateSDBRaceSameName},
			{"RaceSameSlug", testCreateSDBRaceSameSlug},
			{"MaxVersions", testCreateSDBMaxVersions},
		}},
		{"UpdateSDB", []testCase{
			{"OK", testUpdateSDBOK},
			{"OwnerTakesGroup", testUpdateSDBOwnerTakesGroup},
			{"ErrNotFound", testUpdateSDBErrNotFound},
			{"RollsBack", testUpdateSDBRollsBack},
			{"MaxVersionsPrunes", testUpdateSDBMaxVersions},
		}},
		{"DeleteSDB", []testCase{
			{"Cascade", testDeleteSDBCascade},
			{"ErrNotFound", testDeleteSDBErrNotFound},
		}},
		{"FindSDBByID", []testCase{{"ErrNotFound", testFindSDBByIDErrNotFound}}},
		{"FindSDBByPath", []testCase{
			{"OK", testFindSDBByPathOK},
			{"ErrNotFound", testFindSDBByPathErrNotFound},
		}},
		{"ListSDBSummaries", []testCase{
			{"Match", testListSDBSummaries},
			{"NoPermissionsRead", testListSDBSummariesManyGrants},
		}},
		{"HasSDBGrant", []testCase{{"Match", testHasSDBGrant}}},
		{"CountSDBsCreatedBy", []testCase{{"OK", testCountSDBsCreatedBy}}},
		{"ListSDBs", []testCase{
			{"Ordered", testListSDBsOK},
			{"Name", testListSDBsName},
			{"ErrBadRequest", testListSDBsErrBadRequest},
		}},
		{"RestoreSDB", []testCase{
			{"Create", testRestoreSDBCreate},
			{"Replace", testRestoreSDBReplace},
			{"ErrDuplicate", testRestoreSDBErrDuplicate},
			{"ErrCategoryInvalid", testRestoreSDBErrCategoryInvalid},
		}},
		{"FindSecret", []testCase{{"ErrNotFound", testFindSecretErrNotFound}}},
		{"FindSecretInfo", []testCase{
			{"OK", testFindSecretInfoOK},
			{"ErrNotFound", testFindSecretInfoErrNotFound},
		}},
		{"LastSecretVersion", []testCase{{"OK", testLastSecretVersion}}},
		{"PutSecret", []testCase{
			{"Create", testPutSecretCreate},
			{"Update", testPutSecretUpdate},
			{"ErrConflict", testPutSecretErrConflict},
			{"RaceCreate", testPutSecretRaceCreate},
			{"RaceUpdate", testPutSecretRaceUpdate},
			{"Large", testPutSecretLarge},
			{"Largest", func(t *testing.T, s service.Store) { testPutSecretLargest(t, s, large) }},
			{"SDBsApart", testPutSecretSDBsApart},
			{"Version", testPutSecretVersion},
			{"ErrVersion", testPutSecretErrVersion},
			{"Bounded", testPutSecretBounded},
		}},
		{"DeleteSecret", []testCase{
			{"OK", testDeleteSecretOK},
			{"ErrNotFound", testDeleteSecretErrNotFound},
			{"ErrConflict", testDeleteSecretErrConflict},
			{"Race", testDeleteSecretRace},
			{"Bounded", testDeleteSecretBounded},
		}},
		{"ListSecretPaths", []testCase{
			{"Prefix", testListSecretPathsPrefix},
			{"Kind", testListSecretPathsKind},
		}},
		{"ListFiles", []testCase{
			{"OK", testListFiles},
			{"ErrBadRequest", testListFilesErrBadRequest},
		}},
		{"ListSecretVersions", []testCase{
			{"Ordered", testListSecretVersionsOrdered},
			{"Paged", testListSecretVersionsPaged},
			{"Empty", testListSecretVersionsEmpty},
			{"ErrBadRequest", testListSecretVersionsErrBadRequest},
		}},
		{"FindSecretVersion", []testCase{
			{"OK", testFindSecretVersionOK},
			{"ErrNotFound", testFindSecretVersionErrNotFound},
		}},
		{"ListVersionPaths", []testCase{{"OK", testListVersionPaths}}},
		{"PruneSecretVersions", []testCase{
			{"OK", testPruneSecretVersions},
			{"ErrBadRequest", testPruneSecretVersionsErrBadRequest},
		}},
		{"CreateUser", []testCase{
			{"OK", testCreateUserOK},
			{"ErrUserExists", testCreateUserErrExists},
		}},
		{"UpdateUser", []testCase{
			{"OK", testUpdateUserOK},
			{"RevokesTokens", testUpdateUserRevokesTokens},
			{"ErrNotFound", testUpdateUserErrNotFound},
		}},
		{"DeleteUser", []testCase{
			{"OK", testDeleteUserOK},
			{"ErrNotFound", testDeleteUserErrNotFound},
		}},
		{"FindUserByName", []testCase{{"ErrNotFound", testFindUserByNameErrNotFound}}},
		{"ListUsers", []testCase{{"Ordered", testListUsersOrdered}}},
		{"AdvanceTOTPCounter", []testCase{
			{"OK", testAdvanceTOTPCounterOK},
			{"ErrConflict", testAdvanceTOTPCounterErrConflict},
			{"Race", testAdvanceTOTPCounterRace},
		}},
		{"CreateToken", []testCase{{"OK", testCreateTokenOK}}},
		{"FindTokenByHash", []testCase{{"ErrNotFound", testFindTokenByHashErrNotFound}}},
		{"DeleteToken", []testCase{
			{"OK", testDeleteTokenOK},
			{"ErrNotFound", testDeleteTokenErrNotFound},
			{"Race", testDeleteTokenRace},
		}},
		{"DeleteExpiredTokens", []testCase{{"OK", testDeleteExpiredTokens}}},
		{"Nodes", []testCase{{"OK", testNodes}}},
		{"PutKeyIfAbsent", []testCase{
			{"FirstWins", testPutKeyIfAbsentFirstWins},
			{"Race", testPutKeyIfAbsentRace},
		}},
		{"FindKey", []testCase{{"ErrNotFound", testFindKeyErrNotFound}}},
		{"ListSealed", []testCase{
			{"Walk", testListSealedWalk},
			{"LargePages", testListSealedLargePages},
			{"ErrBadRequest", testListSealedErrBadRequest},
		}},
		{"ReplaceSealed", []testCase{
			{"OK", testReplaceSealedOK},
			{"ErrConflict", testReplaceSealedErrConflict},
			{"Race", testReplaceSealedRace},
		}},
		{"Export", []testCase{{"ErrFn", testExportErrFn}}},
		{"Import", []testCase{
			{"ErrNotEmpty", testImportErrNotEmpty},
			{"ErrBadDump", testImportErrBadDump},
			{"MaxVersions", testImportMaxVersions},
		}},
		{"Timestamps", []testCase{{"RoundTrip", testTimestampsRoundTrip}}},
		{"Context", []testCase{{"Canceled", testContextCanceled}}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.fn(t, open(t))
				})
			}
		})
	}
	// Cases that open two stores run one after the other, in parallel with
	// the others, so that they never all wait for a second store while
	// holding a first one, when open bounds the stores open at once.
	t.Run("TwoStores", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			name string
			fn   func(t *testing.T, open func(t *testing.T) service.Store)
		}{
			{"ExportImportRoundTrip", testExportImportRoundTrip},
		} {
			t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
		}
	})
}

// at returns a fixed time in UTC, ms milliseconds after the suite's epoch,
// as a store returns it.
func at(ms int64) time.Time {
	return time.UnixMilli(1_700_000_000_000 + ms).UTC()
}

// mustOK fails the test if err is not nil.
func mustOK(t *testing.T, call string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", call, err)
	}
}

// wantCode fails the test unless err carries the code want.
func wantCode(t *testing.T, call string, err error, want cerberus.ErrorCode) {
	t.Helper()
	if got := cerberus.Code(err); got != want {
		t.Fatalf("%s: got error %v (code %d), want code %d", call, err, got, want)
	}
}

// wantEqual fails the test unless got and want are deeply equal.
func wantEqual(t *testing.T, call string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", call, show(got), show(want))
	}
}

// wantSDB fails the test unless got and want are equal SDBs, whatever the
// order of their permissions.
func wantSDB(t *testing.T, call string, got, want *cerberus.SDB) {
	t.Helper()
	wantSDBs(t, call, []*cerberus.SDB{got}, []*cerberus.SDB{want})
}

// wantSDBs fails the test unless got and want are equal lists of SDBs,
// whatever the order of their permissions.
func wantSDBs(t *testing.T, call string, got, want []*cerberus.SDB) {
	t.Helper()
	if !reflect.DeepEqual(normalSDBs(got), normalSDBs(want)) {
		t.Fatalf("%s:\n got %s\nwant %s", call, show(got), show(want))
	}
}

// normalSDBs returns copies of sdbs with their permissions sorted, and nil
// for none.
func normalSDBs(sdbs []*cerberus.SDB) []cerberus.SDB {
	out := make([]cerberus.SDB, len(sdbs))
	for i, s := range sdbs {
		if s == nil {
			continue
		}
		c := *s
		c.UserGroupPermissions = slices.SortedFunc(slices.Values(s.UserGroupPermissions), func(a, b cerberus.UserGroupPermission) int {
			return strings.Compare(a.Name, b.Name)
		})
		c.IAMPrincipalPermissions = slices.SortedFunc(slices.Values(s.IAMPrincipalPermissions), func(a, b cerberus.IAMPrincipalPermission) int {
			return strings.Compare(a.ARN, b.ARN)
		})
		out[i] = c
	}
	return out
}

// summaries returns the summaries of sdbs, ordered by name, as
// ListSDBSummaries gives them.
func summaries(sdbs ...*cerberus.SDB) []*cerberus.SDBSummary {
	out := []*cerberus.SDBSummary{}
	for _, s := range sdbs {
		out = append(out, &cerberus.SDBSummary{ID: s.ID, Name: s.Name, Path: s.Path, CategoryID: s.CategoryID})
	}
	slices.SortFunc(out, func(a, b *cerberus.SDBSummary) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// isUUID reports whether s is a version 4 UUID in canonical form.
func isUUID(s string) bool {
	ok, _ := regexp.MatchString(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, s)
	return ok
}

// show formats v for a failure message, following pointers.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// race runs fn n times concurrently and returns the errors, in the order of
// the calls' indexes.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errs
}

// wantOneWinner fails the test unless exactly one of errs is nil and the
// others carry the code lose, and returns the index of the nil one.
func wantOneWinner(t *testing.T, call string, errs []error, lose cerberus.ErrorCode) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: calls %d and %d both succeeded", call, winner, i)
		case err == nil:
			winner = i
		default:
			wantCode(t, call, err, lose)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no call succeeded", call)
	}
	return winner
}

// fixture holds the seeded categories and roles of a store.
type fixture struct {
	s      service.Store
	apps   *cerberus.Category
	shared *cerberus.Category
	roles  map[cerberus.RoleName]string // name → id
}

func newFixture(t *testing.T, s service.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{s: s, roles: make(map[cerberus.RoleName]string)}
	cs, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	for _, c := range cs {
		switch c.Path {
		case "app":
			f.apps = c
		case "shared":
			f.shared = c
		}
	}
	if f.apps == nil || f.shared == nil {
		t.Fatalf("ListCategories: got %s, want the categories app and shared", show(cs))
	}
	rs, err := s.ListRoles(ctx)
	mustOK(t, "ListRoles", err)
	for _, r := range rs {
		f.roles[r.Name] = r.ID
	}
	return f
}

// sdb returns an SDB in category c that is ready to be created, with an
// owner and a permission of each kind.
func (f *fixture) sdb(c *cerberus.Category, name, slug string) *cerberus.SDB {
	desc := "The " + name + " box."
	return &cerberus.SDB{
		ID:          cerberus.NewID(),
		CategoryID:  c.ID,
		Name:        name,
		Slug:        slug,
		Description: &desc,
		Path:        c.Path + "/" + slug + "/",
		Owner:       slug + "-owners",
		UserGroupPermissions: []cerberus.UserGroupPermission{{
			ID: cerberus.NewID(), Name: slug + "-readers", RoleID: f.roles[cerberus.RoleRead],
			CreatedBy: "perm-creator", LastUpdatedBy: "perm-updater", CreatedAt: at(10), LastUpdatedAt: at(11),
		}},
		IAMPrincipalPermissions: []cerberus.IAMPrincipalPermission{{
			ID: cerberus.NewID(), ARN: "arn:aws:iam::111122223333:role/" + slug, RoleID: f.roles[cerberus.RoleWrite],
			CreatedBy: "perm-creator", LastUpdatedBy: "perm-updater", CreatedAt: at(12), LastUpdatedAt: at(13),
		}},
		CreatedBy:     "creator",
		LastUpdatedBy: "creator",
		CreatedAt:     at(0),
		LastUpdatedAt: at(0),
	}
}

// mustCreateSDB creates an SDB made by sdb.
func (f *fixture) mustCreateSDB(t *testing.T, c *cerberus.Category, name, slug string) *cerberus.SDB {
	t.Helper()
	sdb := f.sdb(c, name, slug)
	mustOK(t, "CreateSDB "+name, f.s.CreateSDB(context.Background(), sdb))
	return sdb
}

// secret returns a record at path in sdb, ready to be created.
func secret(sdb *cerberus.SDB, sub string, ciphertext string) *service.SecretRecord {
	return &service.SecretRecord{
		SDBID:         sdb.ID,
		Path:          sdb.Slug + "/" + sub,
		Kind:          service.KindObject,
		Ciphertext:    []byte(ciphertext),
		SizeBytes:     len(ciphertext),
		CreatedBy:     "alice",
		LastUpdatedBy: "alice",
		CreatedAt:     at(100),
		LastUpdatedAt: at(100),
	}
}

// mustPutSecret creates the secret rec.
func mustPutSecret(t *testing.T, s service.Store, rec *service.SecretRecord) {
	t.Helper()
	mustOK(t, "PutSecret "+rec.Path, s.PutSecret(context.Background(), rec, 0))
}
