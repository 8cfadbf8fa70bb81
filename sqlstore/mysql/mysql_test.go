package mysql_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/internal/dbtest"
	"github.com/cerberus-go/cerberus/internal/storetest"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore"
	sqlmysql "github.com/cerberus-go/cerberus/sqlstore/mysql"
)

// TestMain runs the tests with dbtest, which gives each test a database
// of its own, named after the run, and drops them at the end, so that runs
// and tests never see each other's tables.
func TestMain(m *testing.M) {
	dbtest.Main(m)
}

// mustOpen opens the store at dsn and closes it when t ends. At most 8
// stores are open at once, to bound the connections the run holds.
var mustOpen = storetest.MustOpener(sqlmysql.Open, 8)

// count returns the result of a SELECT COUNT(*) query on table of
// database.
func count(t *testing.T, database, table string) int {
	t.Helper()
	var n int
	if err := dbtest.MySQLRun(t).Admin.QueryRow(`SELECT COUNT(*) FROM ` + database + `.` + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// serverMaxPacket returns the server's max_allowed_packet.
func serverMaxPacket(t *testing.T) int {
	t.Helper()
	var n int
	if err := dbtest.MySQLRun(t).Admin.QueryRow(`SELECT @@max_allowed_packet`).Scan(&n); err != nil {
		t.Fatalf("read max_allowed_packet: %v", err)
	}
	return n
}

// TestStore runs the conformance suite. Its largest value is 16 MiB if the
// server's max_allowed_packet holds it, as it must for the API's largest
// limit; otherwise the most that fits, and the test says so.
func TestStore(t *testing.T) {
	maxPacket := serverMaxPacket(t)
	cfg := storetest.Config{}
	if maxPacket < storetest.LargeValueSize+sqlmysql.PacketRoom {
		cfg.LargeValueSize = maxPacket - sqlmysql.PacketRoom
		t.Logf("max_allowed_packet is %d bytes: the largest value stored is %d bytes, not %d; set max_allowed_packet = 32M on the server for secrets of up to 16 MiB",
			maxPacket, cfg.LargeValueSize, storetest.LargeValueSize)
	}
	storetest.RunConfig(t, func(t *testing.T) service.Store {
		return mustOpen(t, dbtest.MySQL(t))
	}, cfg)
}

func TestOutage(t *testing.T) {
	storetest.RunOutage(t, dbtest.MySQLRun(t).Config().Addr, func(t *testing.T, addr string) service.Store {
		cfg := dbtest.MySQLConfig(t)
		cfg.Addr = addr
		return mustOpen(t, cfg.FormatDSN())
	})
}

func TestMigrations(t *testing.T) {
	storetest.RunMigrations(t, storetest.Migrations{
		New:    dbtest.MySQL,
		Driver: "mysql",
		Open:   sqlmysql.Open,
		Latest: 4,
		Nodes:  true,
	})
}

// TestPutSecretTooLarge stores a value over max_allowed_packet: the store
// refuses it as too large, and keeps working.
func TestPutSecretTooLarge(t *testing.T) {
	ctx := context.Background()
	dsn := dbtest.MySQL(t)
	maxPacket := serverMaxPacket(t)
	if maxPacket > 64<<20 {
		t.Skipf("max_allowed_packet is %d bytes: too much to exceed in a test", maxPacket)
	}
	db := mustOpen(t, dsn)
	sdb := newSDB(t, db)
	rec := &service.SecretRecord{SDBID: sdb.ID, Path: "b/big", Kind: service.KindFile,
		Ciphertext: make([]byte, maxPacket+1), SizeBytes: maxPacket + 1, CreatedBy: "c", LastUpdatedBy: "c"}
	err := db.PutSecret(ctx, rec, 0)
	if code := cerberus.Code(err); code != cerberus.ECodeTooLarge {
		t.Fatalf("PutSecret of %d bytes: error %v (code %d), want code %d", len(rec.Ciphertext), err, code, cerberus.ECodeTooLarge)
	}
	rec.Ciphertext, rec.SizeBytes = []byte("small"), 5
	for range 3 {
		if err := db.PutSecret(ctx, rec, 0); err != nil {
			t.Fatalf("PutSecret of a small value after a large one: %v", err)
		}
		got, err := db.FindSecret(ctx, sdb.ID, rec.Path)
		if err != nil || !bytes.Equal(got.Ciphertext, rec.Ciphertext) {
			t.Fatalf("FindSecret after a large value: %v, %v", got, err)
		}
		if err := db.DeleteSecret(ctx, sdb.ID, rec.Path, 1, "c", time.Now()); err != nil {
			t.Fatalf("DeleteSecret: %v", err)
		}
	}
}

// newSDB creates an SDB with the slug "b" in db.
func newSDB(t *testing.T, db *sqlstore.DB) *cerberus.SDB {
	t.Helper()
	ctx := context.Background()
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
	return sdb
}

// TestValueTooLongForColumn stores a path longer than its column: strict
// mode refuses it rather than cutting it short.
func TestValueTooLongForColumn(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, dbtest.MySQL(t))
	sdb := newSDB(t, db)
	rec := &service.SecretRecord{SDBID: sdb.ID, Path: "b/" + strings.Repeat("x", 2000), Kind: service.KindObject,
		Ciphertext: []byte("x"), SizeBytes: 1, CreatedBy: "c", LastUpdatedBy: "c"}
	err := db.PutSecret(ctx, rec, 0)
	if code := cerberus.Code(err); code != cerberus.ECodeTooLarge {
		t.Fatalf("PutSecret of a path of %d bytes: error %v (code %d), want code %d", len(rec.Path), err, code, cerberus.ECodeTooLarge)
	}
	paths, err := db.ListSecretPaths(ctx, sdb.ID, "", service.KindObject)
	if err != nil || len(paths) != 0 {
		t.Fatalf("ListSecretPaths: %q, %v; want none", paths, err)
	}
}

// TestOpenResumesMigration opens a database where a migration was cut
// short: some of its tables exist, but it was not recorded (MySQL cannot
// roll the tables back). Open runs it again, and seeds once.
func TestOpenResumesMigration(t *testing.T) {
	ctx := context.Background()
	cfg := dbtest.MySQLConfig(t)
	name, dsn := cfg.DBName, cfg.FormatDSN()
	if err := mustOpen(t, dsn).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	admin := dbtest.MySQLRun(t).Admin
	// As if the node died after some of the statements: the seeding and
	// the record, one transaction, never happened.
	for _, stmt := range []string{
		`DROP TABLE ` + name + `.server_keys`,
		`DROP TABLE ` + name + `.tokens`,
		`DELETE FROM ` + name + `.categories`,
		`DELETE FROM ` + name + `.roles`,
		`DELETE FROM ` + name + `.schema_version`,
	} {
		if _, err := admin.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db := mustOpen(t, dsn)
	if err := db.PutKeyIfAbsent(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("PutKeyIfAbsent: %v", err)
	}
	if n := count(t, name, "schema_version"); n != 4 {
		t.Fatalf("schema_version has %d rows, want 4", n)
	}
	// The later migrations ran again over their own columns and indexes.
	var cols int
	if err := admin.QueryRow(`SELECT COUNT(*) FROM information_schema.columns
	WHERE table_schema = ? AND table_name = 'sdbs' AND column_name = 'max_versions'`, name).Scan(&cols); err != nil || cols != 1 {
		t.Fatalf("sdbs.max_versions: %d columns, %v; want 1", cols, err)
	}
	var idx int
	if err := admin.QueryRow(`SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics
	WHERE table_schema = ? AND table_name = 'sdbs' AND index_name = 'sdbs_created_by'`, name).Scan(&idx); err != nil || idx != 1 {
		t.Fatalf("index sdbs_created_by: %d, %v; want 1", idx, err)
	}
	if n := count(t, name, "roles"); n != 3 {
		t.Fatalf("roles has %d rows, want 3", n)
	}
}

// secretPassword is a password that no error may show.
const secretPassword = "pa55-s3cret-w0rd"

func TestOpenErrDSN(t *testing.T) {
	storetest.OpenErrDSN(t, sqlmysql.Open, secretPassword,
		"root:"+secretPassword+"@tcp(127.0.0.1:3306",
		"root:"+secretPassword+"@tcp(127.0.0.1:3306)/db?timeout="+secretPassword,
		"root:"+secretPassword+"@bogus(127.0.0.1)/db",
		"root:"+secretPassword+"@tcp(127.0.0.1:3306)/",
	)
}

func TestOpenErrUnreachable(t *testing.T) {
	storetest.OpenErrUnreachable(t, sqlmysql.Open, secretPassword, func(addr string) []string {
		return []string{"u:" + secretPassword + "@tcp(" + addr + ")/db"}
	})
}

func TestOpenErrAccessDenied(t *testing.T) {
	cfg := dbtest.MySQLRun(t).Config()
	cfg.User, cfg.Passwd, cfg.DBName = "cerberus_no_such_user", secretPassword, "db"
	db, err := sqlmysql.Open(context.Background(), cfg.FormatDSN())
	if err == nil {
		db.Close()
		t.Fatal("Open as an unknown user: got no error")
	}
	if strings.Contains(err.Error(), secretPassword) {
		t.Errorf("Open as an unknown user: error %q shows the password", err)
	}
}
