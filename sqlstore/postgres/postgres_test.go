package postgres_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/internal/storetest"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore"
	"github.com/cerberus-go/cerberus/sqlstore/postgres"
)

// defaultDSN is the server the tests use unless CERBERUS_TEST_POSTGRES_DSN
// names another.
const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var (
	// runDSN is the DSN of the database this test run created for itself;
	// empty when the server cannot be reached.
	runDSN string
	// skipReason is why the tests skip when runDSN is empty.
	skipReason string
	// admin is a handle on the run's database, to make schemas and look at
	// tables.
	admin *sql.DB
	// slots bounds how many stores are open at once, and so the
	// connections the run holds.
	slots = make(chan struct{}, 8)
)

// TestMain creates a database of the run's own, and drops it at the end,
// so that runs never see each other's tables. Each test works in a schema
// of its own in it.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dsn := cmp.Or(os.Getenv("CERBERUS_TEST_POSTGRES_DSN"), defaultDSN)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server, err := sql.Open("pgx", dsn)
	if err == nil {
		defer server.Close()
		err = server.PingContext(ctx)
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL cannot be reached at CERBERUS_TEST_POSTGRES_DSN (default %s): %v", defaultDSN, err)
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "FAIL: %s\nCI is set, so the PostgreSQL tests fail rather than skip.\n", msg)
			return 1
		}
		skipReason = msg + " (with CI set, this fails)"
		return m.Run()
	}
	name := "cerberus_test_" + randomHex()
	if _, err := server.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: create the run's database: %v\n", err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := server.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			fmt.Fprintf(os.Stderr, "drop the run's database %s: %v\n", name, err)
		}
	}()
	runDSN = dsnWith(dsn, map[string]string{"dbname": name})
	admin, err = sql.Open("pgx", runDSN)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: open the run's database: %v\n", err)
		return 1
	}
	defer admin.Close()
	return m.Run()
}

// randomHex returns 16 random hex digits.
func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// dsnWith returns dsn, a URL or key=value pairs, with params set: "dbname",
// "addr" (host:port), or a run-time parameter such as search_path.
func dsnWith(dsn string, params map[string]string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		for k, v := range params {
			switch k {
			case "dbname":
				u.Path = "/" + v
			case "addr":
				u.Host = v
			default:
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		if k == "addr" {
			host, port, _ := net.SplitHostPort(v)
			dsn += fmt.Sprintf(" host='%s' port='%s'", host, port)
			continue
		}
		dsn += fmt.Sprintf(" %s='%s'", k, v)
	}
	return dsn
}

// needServer skips or fails t if the server cannot be reached.
func needServer(t *testing.T) {
	t.Helper()
	if runDSN == "" {
		t.Skip(skipReason)
	}
}

// newSchema creates a schema of t's own in the run's database and returns
// its name and a DSN whose search_path is it.
func newSchema(t *testing.T) (schema, dsn string) {
	t.Helper()
	needServer(t)
	schema = "t_" + randomHex()
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	return schema, dsnWith(runDSN, map[string]string{"search_path": schema})
}

// mustOpen opens the store at dsn and closes it when t ends.
func mustOpen(t *testing.T, dsn string) *sqlstore.DB {
	t.Helper()
	slots <- struct{}{}
	db, err := postgres.Open(context.Background(), dsn)
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

// count returns the result of a SELECT COUNT(*) query on table of schema.
func count(t *testing.T, schema, table string) int {
	t.Helper()
	var n int
	if err := admin.QueryRow(`SELECT COUNT(*) FROM ` + schema + `.` + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestStore(t *testing.T) {
	needServer(t)
	storetest.Run(t, func(t *testing.T) service.Store {
		_, dsn := newSchema(t)
		return mustOpen(t, dsn)
	})
}

func TestOutage(t *testing.T) {
	needServer(t)
	cfg, err := pgx.ParseConfig(runDSN)
	if err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	storetest.RunOutage(t, target, func(t *testing.T, addr string) service.Store {
		_, dsn := newSchema(t)
		return mustOpen(t, dsnWith(dsn, map[string]string{"addr": addr}))
	})
}

func TestOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	schema, dsn := newSchema(t)
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
	if n := count(t, schema, "schema_version"); n != 1 {
		t.Fatalf("schema_version has %d rows, want 1", n)
	}
	if n := count(t, schema, "roles"); n != 3 {
		t.Fatalf("roles has %d rows, want 3", n)
	}
}

// TestOpenRace opens a fresh database from several nodes at once: the
// lock makes them migrate one after the other, so that all of them start,
// and the database is migrated and seeded once.
func TestOpenRace(t *testing.T) {
	ctx := context.Background()
	for round := range 3 {
		schema, dsn := newSchema(t)
		const nodes = 4
		errs := make([]error, nodes)
		dbs := make([]*sqlstore.DB, nodes)
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Go(func() { dbs[i], errs[i] = postgres.Open(ctx, dsn) })
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
		if n := count(t, schema, "schema_version"); n != 1 {
			t.Fatalf("round %d: schema_version has %d rows, want 1", round, n)
		}
		if n := count(t, schema, "roles"); n != 3 {
			t.Fatalf("round %d: roles has %d rows, want 3", round, n)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	schema, dsn := newSchema(t)
	if err := mustOpen(t, dsn).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := admin.Exec(`INSERT INTO ` + schema + `.schema_version (version, applied_ts) VALUES (99, 0)`); err != nil {
		t.Fatalf("insert schema version: %v", err)
	}
	db, err := postgres.Open(ctx, dsn)
	if err == nil {
		db.Close()
		t.Fatal("Open of a database with schema version 99: got no error")
	}
	if msg := err.Error(); !strings.Contains(msg, "version 99") || !strings.Contains(msg, "up to 1") {
		t.Fatalf("Open of a database with schema version 99: error %q, want it to name versions 99 and 1", msg)
	}
	if n := count(t, schema, "schema_version"); n != 2 {
		t.Fatalf("schema_version has %d rows, want 2", n)
	}
}

// TestOpenFailedMigrationLeavesNothing makes the migration fail half way:
// nothing of it stays, and the next Open completes it.
func TestOpenFailedMigrationLeavesNothing(t *testing.T) {
	ctx := context.Background()
	schema, dsn := newSchema(t)
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
	for _, dsn := range []string{
		"postgres://u:" + secretPassword + "@127.0.0.1:port/db",
		"postgres://u:" + secretPassword + "@[::1/db",
		"host=127.0.0.1 password=" + secretPassword + " port=x",
		"password='" + secretPassword,
	} {
		db, err := postgres.Open(context.Background(), dsn)
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
	for _, dsn := range []string{
		"postgres://u:" + secretPassword + "@" + addr + "/db?sslmode=disable",
		dsnWith("user=u password="+secretPassword+" dbname=db sslmode=disable", map[string]string{"addr": addr}),
	} {
		start := time.Now()
		db, err := postgres.Open(context.Background(), dsn)
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
}

// TestTextNotUTF8 stores text that PostgreSQL text cannot hold, other than
// a path: the store refuses it as bad input.
func TestTextNotUTF8(t *testing.T) {
	ctx := context.Background()
	_, dsn := newSchema(t)
	db := mustOpen(t, dsn)
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
	_, dsn := newSchema(t)
	db := mustOpen(t, dsn)
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
	paths, err := db.ListSecretPaths(ctx, sdb.ID, "b/")
	if err != nil {
		t.Fatalf("ListSecretPaths: %v", err)
	}
	if want := []string{"b/\x00", "b/\xc3", "b/\xff\xfe"}; strings.Join(paths, "|") != strings.Join(want, "|") {
		t.Fatalf("ListSecretPaths: got %q, want %q in byte order", paths, want)
	}
}
