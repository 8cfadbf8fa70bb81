package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/internal/storetest"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) service.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "cerberus.db"))
	})
}

// mustOpen opens the store at path and closes it when t ends.
func mustOpen(t *testing.T, path string) *sqlstore.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// rawDB opens the database file at path directly, to look at its tables.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustWrite writes a file.
func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// count returns the result of a SELECT COUNT(*) query.
func count(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// latestVersion returns the version of the last migration.
func latestVersion(t *testing.T) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(names) == 0 {
		t.Fatalf("list migrations: %v, %d files", err, len(names))
	}
	return len(names)
}

func TestMigrations(t *testing.T) {
	storetest.RunMigrations(t, storetest.Migrations{
		New:    func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "cerberus.db") },
		Open:   sqlite.Open,
		Raw:    rawDB,
		Latest: latestVersion(t),
	})
}

func TestOpenOddPath(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a dir?#%20", "cerberus ?x=1#y.db")
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db := mustOpen(t, path)
	if _, err := db.ListRoles(ctx); err != nil {
		t.Fatalf("ListRoles: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at %q: %v", path, err)
	}
}

func TestOpenErrPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "cerberus.db")
	if db, err := sqlite.Open(context.Background(), path); err == nil {
		db.Close()
		t.Fatalf("Open(%q): got no error", path)
	}
}

func TestOpenErrNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cerberus.db")
	mustWrite(t, path, strings.Repeat("not a database ", 100))
	if db, err := sqlite.Open(context.Background(), path); err == nil {
		db.Close()
		t.Fatalf("Open of a file that is not a database: got no error")
	}
}

func TestOpenWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cerberus.db")
	mustOpen(t, path)
	var mode string
	if err := rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatalf("PRAGMA journal_mode: %v", err)
	}
	if mode != "wal" {
		t.Fatalf("journal mode %q, want wal", mode)
	}
}

// fixture creates an SDB with a secret in db.
func fixture(t *testing.T, db *sqlstore.DB) (*cerberus.SDB, *service.SecretRecord) {
	t.Helper()
	ctx := context.Background()
	cs, err := db.ListCategories(ctx)
	if err != nil {
		t.Fatalf("ListCategories: %v", err)
	}
	roles, err := db.ListRoles(ctx)
	if err != nil {
		t.Fatalf("ListRoles: %v", err)
	}
	now := time.UnixMilli(1_700_000_000_000).UTC()
	sdb := &cerberus.SDB{
		ID: cerberus.NewID(), CategoryID: cs[0].ID, Name: "Vault", Slug: "vault", Path: cs[0].Path + "/vault/",
		Owner: "owners",
		UserGroupPermissions: []cerberus.UserGroupPermission{{
			ID: cerberus.NewID(), Name: "readers", RoleID: roles[0].ID, CreatedBy: "c", LastUpdatedBy: "c", CreatedAt: now, LastUpdatedAt: now,
		}},
		IAMPrincipalPermissions: []cerberus.IAMPrincipalPermission{{
			ID: cerberus.NewID(), ARN: "arn:aws:iam::111122223333:role/r", RoleID: roles[0].ID, CreatedBy: "c", LastUpdatedBy: "c", CreatedAt: now, LastUpdatedAt: now,
		}},
		CreatedBy: "c", LastUpdatedBy: "c", CreatedAt: now, LastUpdatedAt: now,
	}
	if err := db.CreateSDB(ctx, sdb); err != nil {
		t.Fatalf("CreateSDB: %v", err)
	}
	rec := &service.SecretRecord{
		SDBID: sdb.ID, Path: "vault/db", Kind: service.KindObject, Ciphertext: []byte("v1"), SizeBytes: 2,
		CreatedBy: "alice", LastUpdatedBy: "alice", CreatedAt: now, LastUpdatedAt: now,
	}
	if err := db.PutSecret(ctx, rec, 0); err != nil {
		t.Fatalf("PutSecret: %v", err)
	}
	return sdb, rec
}

func TestSecretVersions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cerberus.db")
	db := mustOpen(t, path)
	sdb, rec := fixture(t, db)
	ms := func(n int64) time.Time { return time.UnixMilli(1_700_000_000_000 + n).UTC() }
	for v := int64(2); v <= 3; v++ {
		next := &service.SecretRecord{
			SDBID: sdb.ID, Path: rec.Path, Kind: service.KindObject, Ciphertext: fmt.Appendf(nil, "v%d", v), SizeBytes: 2,
			LastUpdatedBy: fmt.Sprintf("writer%d", v), LastUpdatedAt: ms(v),
		}
		if err := db.PutSecret(ctx, next, v-1); err != nil {
			t.Fatalf("PutSecret(prev %d): %v", v-1, err)
		}
	}
	if err := db.DeleteSecret(ctx, sdb.ID, rec.Path, 3, "deleter", ms(10)); err != nil {
		t.Fatalf("DeleteSecret: %v", err)
	}

	rows, err := rawDB(t, path).Query(`SELECT sdb_id, path, kind, version, ciphertext, size_bytes, action,
	version_created_by, version_created_ts, action_principal, action_ts
	FROM secret_versions ORDER BY version`)
	if err != nil {
		t.Fatalf("query secret_versions: %v", err)
	}
	defer rows.Close()
	type version struct {
		SDBID, Path, Kind string
		Version           int64
		Ciphertext        string
		Size              int
		Action            string
		CreatedBy         string
		CreatedTS         int64
		Principal         string
		ActionTS          int64
	}
	const base = 1_700_000_000_000
	want := []version{
		{sdb.ID, rec.Path, "OBJECT", 1, "v1", 2, "UPDATE", "alice", base, "writer2", base + 2},
		{sdb.ID, rec.Path, "OBJECT", 2, "v2", 2, "UPDATE", "writer2", base + 2, "writer3", base + 3},
		{sdb.ID, rec.Path, "OBJECT", 3, "v3", 2, "DELETE", "writer3", base + 3, "deleter", base + 10},
	}
	var got []version
	for rows.Next() {
		var v version
		if err := rows.Scan(&v.SDBID, &v.Path, &v.Kind, &v.Version, &v.Ciphertext, &v.Size, &v.Action,
			&v.CreatedBy, &v.CreatedTS, &v.Principal, &v.ActionTS); err != nil {
			t.Fatalf("scan secret_versions: %v", err)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query secret_versions: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("secret_versions:\n got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("secret_versions row %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestSecretVersionsUntouchedOnConflict(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cerberus.db")
	db := mustOpen(t, path)
	sdb, rec := fixture(t, db)
	stale := *rec
	stale.Version = 0
	if err := db.PutSecret(ctx, &stale, 2); cerberus.Code(err) != cerberus.ECodeConflict {
		t.Fatalf("PutSecret(prev 2) of version 1: got %v, want a conflict", err)
	}
	if err := db.DeleteSecret(ctx, sdb.ID, rec.Path, 2, "x", time.Now()); cerberus.Code(err) != cerberus.ECodeConflict {
		t.Fatalf("DeleteSecret(prev 2) of version 1: got %v, want a conflict", err)
	}
	if n := count(t, rawDB(t, path), `SELECT COUNT(*) FROM secret_versions`); n != 0 {
		t.Fatalf("secret_versions has %d rows after refused writes, want 0", n)
	}
}

func TestDeleteSDBLeavesNoRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cerberus.db")
	db := mustOpen(t, path)
	sdb, rec := fixture(t, db)
	next := *rec
	next.Version = 0
	if err := db.PutSecret(ctx, &next, 1); err != nil {
		t.Fatalf("PutSecret: %v", err)
	}
	raw := rawDB(t, path)
	tables := []string{"user_group_permissions", "iam_principal_permissions", "secrets", "secret_versions"}
	for _, table := range tables {
		if n := count(t, raw, `SELECT COUNT(*) FROM `+table+` WHERE sdb_id = ?`, sdb.ID); n == 0 {
			t.Fatalf("%s has no rows of the SDB before DeleteSDB", table)
		}
	}
	if err := db.DeleteSDB(ctx, sdb.ID); err != nil {
		t.Fatalf("DeleteSDB: %v", err)
	}
	for _, table := range append(tables, "sdbs") {
		if n := count(t, raw, `SELECT COUNT(*) FROM `+table); n != 0 {
			t.Errorf("%s has %d rows after DeleteSDB, want 0", table, n)
		}
	}
}

// TestWritersShareFile opens the database twice, as two processes would,
// and races writes through both: the losers see a conflict, never a busy
// database.
func TestWritersShareFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cerberus.db")
	dbs := []*sqlstore.DB{mustOpen(t, path), mustOpen(t, path)}
	sdb, _ := fixture(t, dbs[0])
	for round := int64(1); round <= 20; round++ {
		errs := make(chan error, 2*len(dbs))
		for i := range 2 * len(dbs) {
			go func() {
				rec := &service.SecretRecord{
					SDBID: sdb.ID, Path: "vault/db", Kind: service.KindObject, Ciphertext: []byte("x"), SizeBytes: 1,
					LastUpdatedBy: "w", LastUpdatedAt: time.Now(),
				}
				errs <- dbs[i%len(dbs)].PutSecret(ctx, rec, round)
			}()
		}
		won := 0
		for range 2 * len(dbs) {
			switch err := <-errs; cerberus.Code(err) {
			case 0:
				won++
			case cerberus.ECodeConflict:
			default:
				t.Fatalf("PutSecret(prev %d): %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("PutSecret(prev %d): %d writers won, want 1", round, won)
		}
	}
}

// TestOpenUpgradesHistory writes a history under the first schema, which
// has no order of archiving, and wants the second to keep its order.
func TestOpenUpgradesHistory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cerberus.db")
	first, err := os.ReadFile(filepath.Join("migrations", "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	write, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	write.SetMaxOpenConns(1)
	read, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	old := sqlstore.NewSQLite(write, read)
	if err := old.Migrate(ctx, fstest.MapFS{"0001_init.sql": {Data: first}}); err != nil {
		t.Fatalf("Migrate to version 1: %v", err)
	}
	// What a release of the first schema wrote: version 1 by alice,
	// replaced by version 2 by second, deleted, written again as version 1
	// by third, replaced by version 2 by fourth.
	sdbID, catID := cerberus.NewID(), ""
	if err := write.QueryRow(`SELECT id FROM categories WHERE path = 'app'`).Scan(&catID); err != nil {
		t.Fatal(err)
	}
	const path1 = "vault/db"
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO sdbs (id, category_id, name, slug, description, path, created_by, last_updated_by, created_ts, last_updated_ts)
	VALUES (?, ?, 'Vault', 'vault', NULL, 'app/vault/', 'c', 'c', 1, 1)`, []any{sdbID, catID}},
		{`INSERT INTO secrets (sdb_id, path, kind, version, ciphertext, size_bytes, created_by, last_updated_by, created_ts, last_updated_ts)
	VALUES (?, ?, 'OBJECT', 2, X'66', 1, 'third', 'fourth', 4, 5)`, []any{sdbID, path1}},
	}
	for i, h := range []struct {
		version int64
		by      string
		action  string
	}{{1, "alice", "UPDATE"}, {2, "second", "DELETE"}, {1, "third", "UPDATE"}} {
		stmts = append(stmts, struct {
			q    string
			args []any
		}{`INSERT INTO secret_versions (id, sdb_id, path, kind, version, ciphertext, size_bytes, action,
	version_created_by, version_created_ts, action_principal, action_ts)
	VALUES (?, ?, ?, 'OBJECT', ?, X'66', 1, ?, ?, ?, 'x', ?)`,
			// Ids in an order other than the archiving's.
			[]any{fmt.Sprintf("%d-%s", 9-i, cerberus.NewID()), sdbID, path1, h.version, h.action, h.by, i, i}})
	}
	for _, st := range stmts {
		if _, err := write.Exec(st.q, st.args...); err != nil {
			t.Fatalf("write the first schema's rows: %v", err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sdb, rec := &cerberus.SDB{ID: sdbID}, &service.SecretRecord{Path: path1}

	db := mustOpen(t, path)
	got, total, err := db.ListSecretVersions(ctx, sdb.ID, rec.Path, 10, 0)
	if err != nil {
		t.Fatalf("ListSecretVersions: %v", err)
	}
	type version struct {
		Version int64
		By      string
		Action  string
	}
	want := []version{{1, "third", "UPDATE"}, {2, "second", "DELETE"}, {1, "alice", "UPDATE"}}
	var gotv []version
	for _, r := range got {
		gotv = append(gotv, version{r.Version, r.LastUpdatedBy, r.Action})
	}
	if total != len(want) || !slices.Equal(gotv, want) {
		t.Fatalf("ListSecretVersions after the upgrade: got %+v (total %d), want %+v", gotv, total, want)
	}
	// New history goes after the old.
	next := &service.SecretRecord{
		SDBID: sdb.ID, Path: rec.Path, Kind: service.KindObject, Ciphertext: []byte("fifth"), SizeBytes: 5,
		LastUpdatedBy: "fifth", LastUpdatedAt: time.UnixMilli(6),
	}
	if err := db.PutSecret(ctx, next, 2); err != nil {
		t.Fatalf("PutSecret: %v", err)
	}
	got, _, err = db.ListSecretVersions(ctx, sdb.ID, rec.Path, 1, 0)
	if err != nil {
		t.Fatalf("ListSecretVersions: %v", err)
	}
	if len(got) != 1 || got[0].Version != 2 || got[0].LastUpdatedBy != "fourth" {
		t.Fatalf("ListSecretVersions after a new write: got %+v, want version 2 by fourth first", got)
	}
}
