package mysql_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/internal/storetest"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore"
	sqlmysql "github.com/cerberus-go/cerberus/sqlstore/mysql"
)

// defaultDSN is the server the tests use unless CERBERUS_TEST_MYSQL_DSN
// names another.
const defaultDSN = "root@tcp(127.0.0.1:3306)/test"

var (
	// server is the configuration of the server's DSN, without a
	// database; nil when the server cannot be reached.
	server *mysql.Config
	// skipReason is why the tests skip when server is nil.
	skipReason string
	// admin is a handle on the server, to make databases and look at
	// tables.
	admin *sql.DB
	// prefix begins the names of the databases of this run.
	prefix string
	// maxPacket is the server's max_allowed_packet.
	maxPacket int
	// slots bounds how many stores are open at once, and so the
	// connections the run holds.
	slots = make(chan struct{}, 8)

	mu        sync.Mutex
	databases []string // made by this run, to drop at its end
)

// TestMain gives each test a database of its own, named after the run, and
// drops them at the end, so that runs and tests never see each other's
// tables.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dsn := cmp.Or(os.Getenv("CERBERUS_TEST_MYSQL_DSN"), defaultDSN)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: CERBERUS_TEST_MYSQL_DSN is not a valid DSN\n")
		return 1
	}
	cfg.DBName = ""
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := mysql.NewConnector(cfg)
	if err == nil {
		admin = sql.OpenDB(conn)
		defer admin.Close()
		err = admin.PingContext(ctx)
	}
	if err != nil {
		msg := fmt.Sprintf("MySQL cannot be reached at CERBERUS_TEST_MYSQL_DSN (default %s): %v", defaultDSN, err)
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "FAIL: %s\nCI is set, so the MySQL tests fail rather than skip.\n", msg)
			return 1
		}
		skipReason = msg + " (with CI set, this fails)"
		return m.Run()
	}
	if err := admin.QueryRowContext(ctx, `SELECT @@max_allowed_packet`).Scan(&maxPacket); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: read max_allowed_packet: %v\n", err)
		return 1
	}
	server = cfg
	prefix = "cerberus_test_" + randomHex() + "_"
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		mu.Lock()
		defer mu.Unlock()
		for _, name := range databases {
			if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name); err != nil {
				fmt.Fprintf(os.Stderr, "drop database %s: %v\n", name, err)
			}
		}
	}()
	return m.Run()
}

// randomHex returns 16 random hex digits.
func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newDatabase creates a database of t's own and returns its name and DSN.
func newDatabase(t *testing.T) (name, dsn string) {
	t.Helper()
	if server == nil {
		t.Skip(skipReason)
	}
	mu.Lock()
	name = fmt.Sprintf("%s%d", prefix, len(databases))
	databases = append(databases, name)
	mu.Unlock()
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	cfg := server.Clone()
	cfg.DBName = name
	return name, cfg.FormatDSN()
}

// mustOpen opens the store at dsn and closes it when t ends.
func mustOpen(t *testing.T, dsn string) *sqlstore.DB {
	t.Helper()
	slots <- struct{}{}
	db, err := sqlmysql.Open(context.Background(), dsn)
	if err != nil {
		<-slots
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		<-slots
	})
	return db
}

// count returns the result of a SELECT COUNT(*) query on table of
// database.
func count(t *testing.T, database, table string) int {
	t.Helper()
	var n int
	if err := admin.QueryRow(`SELECT COUNT(*) FROM ` + database + `.` + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// packetRoom is what a statement needs in max_allowed_packet besides its
// value.
const packetRoom = 64 << 10

// TestStore runs the conformance suite. Its largest value is 16 MiB if the
// server's max_allowed_packet holds it, as it must for the API's largest
// limit; otherwise the most that fits, and the test says so.
func TestStore(t *testing.T) {
	if server == nil {
		t.Skip(skipReason)
	}
	cfg := storetest.Config{}
	if maxPacket < storetest.LargeValueSize+packetRoom {
		cfg.LargeValueSize = maxPacket - packetRoom
		t.Logf("max_allowed_packet is %d bytes: the largest value stored is %d bytes, not %d; set max_allowed_packet = 32M on the server for secrets of up to 16 MiB",
			maxPacket, cfg.LargeValueSize, storetest.LargeValueSize)
	}
	storetest.RunConfig(t, func(t *testing.T) service.Store {
		_, dsn := newDatabase(t)
		return mustOpen(t, dsn)
	}, cfg)
}

func TestOutage(t *testing.T) {
	if server == nil {
		t.Skip(skipReason)
	}
	storetest.RunOutage(t, server.Addr, func(t *testing.T, addr string) service.Store {
		_, dsn := newDatabase(t)
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Addr = addr
		return mustOpen(t, cfg.FormatDSN())
	})
}

// TestPutSecretTooLarge stores a value over max_allowed_packet: the store
// refuses it as too large, and keeps working.
func TestPutSecretTooLarge(t *testing.T) {
	ctx := context.Background()
	_, dsn := newDatabase(t)
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
	_, dsn := newDatabase(t)
	db := mustOpen(t, dsn)
	sdb := newSDB(t, db)
	rec := &service.SecretRecord{SDBID: sdb.ID, Path: "b/" + strings.Repeat("x", 2000), Kind: service.KindObject,
		Ciphertext: []byte("x"), SizeBytes: 1, CreatedBy: "c", LastUpdatedBy: "c"}
	err := db.PutSecret(ctx, rec, 0)
	if code := cerberus.Code(err); code != cerberus.ECodeTooLarge {
		t.Fatalf("PutSecret of a path of %d bytes: error %v (code %d), want code %d", len(rec.Path), err, code, cerberus.ECodeTooLarge)
	}
	paths, err := db.ListSecretPaths(ctx, sdb.ID, "")
	if err != nil || len(paths) != 0 {
		t.Fatalf("ListSecretPaths: %q, %v; want none", paths, err)
	}
}

func TestOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	name, dsn := newDatabase(t)
	db := mustOpen(t, dsn)
	before, err := db.ListCategories(ctx)
	if err != nil {
		t.Fatalf("ListCategories: %v", err)
	}
	u := &service.User{ID: cerberus.NewID(), Name: "alice", PasswordHash: "h", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	for i := range 2 {
		db := mustOpen(t, dsn)
		after, err := db.ListCategories(ctx)
		if err != nil {
			t.Fatalf("ListCategories after opening again: %v", err)
		}
		if len(after) != len(before) {
			t.Fatalf("ListCategories after opening %d more times: got %d categories, want %d", i+1, len(after), len(before))
		}
		for j := range after {
			if *after[j] != *before[j] {
				t.Fatalf("ListCategories after opening again: got %+v, want %+v", after[j], before[j])
			}
		}
		if _, err := db.FindUserByName(ctx, "alice"); err != nil {
			t.Fatalf("FindUserByName after opening again: %v", err)
		}
	}
	if n := count(t, name, "schema_version"); n != 1 {
		t.Fatalf("schema_version has %d rows, want 1", n)
	}
	if n := count(t, name, "roles"); n != 3 {
		t.Fatalf("roles has %d rows, want 3", n)
	}
}

// TestOpenRace opens a fresh database from several nodes at once: the
// lock makes them migrate one after the other, so that all of them start,
// and the database is migrated and seeded once.
func TestOpenRace(t *testing.T) {
	ctx := context.Background()
	for round := range 3 {
		name, dsn := newDatabase(t)
		const nodes = 4
		errs := make([]error, nodes)
		dbs := make([]*sqlstore.DB, nodes)
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Go(func() { dbs[i], errs[i] = sqlmysql.Open(ctx, dsn) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: Open %d: %v", round, i, err)
			}
			defer dbs[i].Close()
			if _, err := dbs[i].ListRoles(ctx); err != nil {
				t.Fatalf("round %d: ListRoles %d: %v", round, i, err)
			}
		}
		if n := count(t, name, "schema_version"); n != 1 {
			t.Fatalf("round %d: schema_version has %d rows, want 1", round, n)
		}
		if n := count(t, name, "roles"); n != 3 {
			t.Fatalf("round %d: roles has %d rows, want 3", round, n)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	name, dsn := newDatabase(t)
	if err := mustOpen(t, dsn).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := admin.Exec(`INSERT INTO ` + name + `.schema_version (version, applied_ts) VALUES (99, 0)`); err != nil {
		t.Fatalf("insert schema version: %v", err)
	}
	db, err := sqlmysql.Open(ctx, dsn)
	if err == nil {
		db.Close()
		t.Fatal("Open of a database with schema version 99: got no error")
	}
	if msg := err.Error(); !strings.Contains(msg, "version 99") || !strings.Contains(msg, "up to 1") {
		t.Fatalf("Open of a database with schema version 99: error %q, want it to name versions 99 and 1", msg)
	}
	if n := count(t, name, "schema_version"); n != 2 {
		t.Fatalf("schema_version has %d rows, want 2", n)
	}
}

// TestOpenResumesMigration opens a database where a migration was cut
// short: some of its tables exist, but it was not recorded (MySQL cannot
// roll the tables back). Open runs it again, and seeds once.
func TestOpenResumesMigration(t *testing.T) {
	ctx := context.Background()
	name, dsn := newDatabase(t)
	if err := mustOpen(t, dsn).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
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
	if n := count(t, name, "schema_version"); n != 1 {
		t.Fatalf("schema_version has %d rows, want 1", n)
	}
	if n := count(t, name, "roles"); n != 3 {
		t.Fatalf("roles has %d rows, want 3", n)
	}
}

// secretPassword is a password that no error may show.
const secretPassword = "pa55-s3cret-w0rd"

func TestOpenErrDSN(t *testing.T) {
	for _, dsn := range []string{
		"root:" + secretPassword + "@tcp(127.0.0.1:3306",
		"root:" + secretPassword + "@tcp(127.0.0.1:3306)/db?timeout=" + secretPassword,
		"root:" + secretPassword + "@bogus(127.0.0.1)/db",
		"root:" + secretPassword + "@tcp(127.0.0.1:3306)/",
	} {
		db, err := sqlmysql.Open(context.Background(), dsn)
		if err == nil {
			db.Close()
			t.Fatalf("Open of a bad DSN: got no error")
		}
		if strings.Contains(err.Error(), secretPassword) {
			t.Fatalf("Open of a bad DSN: error %q shows the password", err)
		}
	}
}

func TestOpenErrUnreachable(t *testing.T) {
	// A port that nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	db, err := sqlmysql.Open(context.Background(), "u:"+secretPassword+"@tcp("+addr+")/db")
	if err == nil {
		db.Close()
		t.Fatal("Open of an unreachable database: got no error")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Open of an unreachable database took %v", took)
	}
	if code := cerberus.Code(err); code != cerberus.ECodeUnavailable {
		t.Errorf("Open of an unreachable database: error %v (code %d), want code %d", err, code, cerberus.ECodeUnavailable)
	}
	if strings.Contains(err.Error(), secretPassword) {
		t.Errorf("Open of an unreachable database: error %q shows the password", err)
	}
	var ne *net.OpError
	if !errors.As(err, &ne) {
		t.Errorf("Open of an unreachable database: error %v does not wrap the dial error", err)
	}
}

func TestOpenErrAccessDenied(t *testing.T) {
	if server == nil {
		t.Skip(skipReason)
	}
	cfg := server.Clone()
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
