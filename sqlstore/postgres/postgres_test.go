package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/internal/dbtest"
	"github.com/cerberus-go/cerberus/internal/storetest"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore/postgres"
)

// TestMain runs the tests with dbtest, which makes a database of the run's
// own, and drops it at the end, so that runs never see each other's
// tables. Each test works in a schema of its own in it.
func TestMain(m *testing.M) {
	dbtest.Main(m)
}

// mustOpen opens the store at dsn and closes it when t ends. At most 8
// stores are open at once, to bound the connections the run holds.
var mustOpen = storetest.MustOpener(postgres.Open, 8)

func TestStore(t *testing.T) {
	dbtest.PostgresRun(t)
	storetest.Run(t, func(t *testing.T) service.Store {
		return mustOpen(t, dbtest.Postgres(t))
	})
}

func TestOutage(t *testing.T) {
	storetest.RunOutage(t, dbtest.PostgresRun(t).Addr, func(t *testing.T, addr string) service.Store {
		return mustOpen(t, dbtest.PostgresDSNWith(dbtest.Postgres(t), "addr", addr))
	})
}

func TestMigrations(t *testing.T) {
	storetest.RunMigrations(t, storetest.Migrations{
		New:    dbtest.Postgres,
		Driver: "pgx",
		Open:   postgres.Open,
		Latest: 4,
		Nodes:  true,
	})
}

// TestOpenFailedMigrationLeavesNothing makes the migration fail half way:
// nothing of it stays, and the next Open completes it.
func TestOpenFailedMigrationLeavesNothing(t *testing.T) {
	ctx := context.Background()
	schema, dsn := dbtest.PostgresSchema(t)
	admin := dbtest.PostgresRun(t).Admin
	// A table that the migration creates after several others.
	if _, err := admin.Exec(`CREATE TABLE ` + schema + `.users (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if db, err := postgres.Open(ctx, dsn); err == nil {
		db.Close()
		t.Fatal("Open with a table in the way: got no error")
	}
	var tables int
	if err := admin.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 1 {
		t.Fatalf("after a failed migration, the schema has %d tables, want only the one in the way", tables)
	}
	if _, err := admin.Exec(`DROP TABLE ` + schema + `.users`); err != nil {
		t.Fatal(err)
	}
	db := mustOpen(t, dsn)
	if _, err := db.ListUsers(ctx); err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
}

// secretPassword is a password that no error may show.
const secretPassword = "pa55-s3cret-w0rd"

func TestOpenErrDSN(t *testing.T) {
	storetest.OpenErrDSN(t, postgres.Open, secretPassword,
		"postgres://u:"+secretPassword+"@127.0.0.1:port/db",
		"postgres://u:"+secretPassword+"@[::1/db",
		"host=127.0.0.1 password="+secretPassword+" port=x",
		"password='"+secretPassword,
	)
}

func TestOpenErrUnreachable(t *testing.T) {
	storetest.OpenErrUnreachable(t, postgres.Open, secretPassword, func(addr string) []string {
		return []string{
			"postgres://u:" + secretPassword + "@" + addr + "/db?sslmode=disable",
			dbtest.PostgresDSNWith("user=u password="+secretPassword+" dbname=db sslmode=disable", "addr", addr),
		}
	})
}

// TestTextNotUTF8 stores text that PostgreSQL text cannot hold, other than
// a path: the store refuses it as bad input.
func TestTextNotUTF8(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, dbtest.Postgres(t))
	for _, name := range []string{"\xff", "a\x00b"} {
		u := &service.User{ID: cerberus.NewID(), Name: name, PasswordHash: "h"}
		err := db.CreateUser(ctx, u)
		if code := cerberus.Code(err); code != cerberus.ECodeBadRequest {
			t.Errorf("CreateUser(%q): error %v (code %d), want code %d", name, err, code, cerberus.ECodeBadRequest)
		}
	}
}

// TestPathsAreBytes stores paths that are not UTF-8, which PostgreSQL
// text cannot hold, and wants them back byte for byte.
func TestPathsAreBytes(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, dbtest.Postgres(t))
	cs, err := db.ListCategories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_700_000_000_000).UTC()
	sdb := &cerberus.SDB{ID: cerberus.NewID(), CategoryID: cs[0].ID, Name: "B", Slug: "b", Path: cs[0].Path + "/b/",
		Owner: "o", CreatedBy: "c", LastUpdatedBy: "c", CreatedAt: now, LastUpdatedAt: now}
	if err := db.CreateSDB(ctx, sdb); err != nil {
		t.Fatalf("CreateSDB: %v", err)
	}
	for _, path := range []string{"b/\x00", "b/\xff\xfe", "b/\xc3"} {
		rec := &service.SecretRecord{SDBID: sdb.ID, Path: path, Kind: service.KindObject, Ciphertext: []byte("x"), SizeBytes: 1,
			CreatedBy: "c", LastUpdatedBy: "c", CreatedAt: now, LastUpdatedAt: now}
		if err := db.PutSecret(ctx, rec, 0); err != nil {
			t.Fatalf("PutSecret(%q): %v", path, err)
		}
		got, err := db.FindSecret(ctx, sdb.ID, path)
		if err != nil || got.Path != path {
			t.Fatalf("FindSecret(%q): %+v, %v", path, got, err)
		}
	}
	paths, err := db.ListSecretPaths(ctx, sdb.ID, "b/", service.KindObject)
	if err != nil {
		t.Fatalf("ListSecretPaths: %v", err)
	}
	if want := []string{"b/\x00", "b/\xc3", "b/\xff\xfe"}; strings.Join(paths, "|") != strings.Join(want, "|") {
		t.Fatalf("ListSecretPaths: got %q, want %q in byte order", paths, want)
	}
}
