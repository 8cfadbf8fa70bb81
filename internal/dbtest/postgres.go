package dbtest

import (
	"cmp"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// DefaultPostgresDSN is the PostgreSQL server the tests use unless
// CERBERUS_TEST_POSTGRES_DSN names another.
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresDB is the PostgreSQL database of the run.
type PostgresDB struct {
	DSN   string  // of the run's database
	Addr  string  // host:port of the server
	Admin *sql.DB // on the run's database, to make schemas and look at tables
}

// pg is the state of the run on PostgreSQL, set up on first use.
var pg struct {
	once        sync.Once
	unreachable string  // why the server cannot be reached, if it cannot
	err         error   // why the run's database cannot be used, if it cannot
	server      *sql.DB // on the server's DSN
	name        string  // of the run's database, once made
	db          *PostgresDB
}

func pgSetup() {
	base := cmp.Or(os.Getenv("CERBERUS_TEST_POSTGRES_DSN"), DefaultPostgresDSN)
	ctx, cancel := newContext()
	defer cancel()
	server, err := sql.Open("pgx", base)
	if err == nil {
		err = server.PingContext(ctx)
	}
	if err != nil {
		closeIfOpen(server)
		pg.unreachable = fmt.Sprintf("PostgreSQL cannot be reached at CERBERUS_TEST_POSTGRES_DSN (default %s): %v", DefaultPostgresDSN, err)
		return
	}
	pg.server = server
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		pg.err = fmt.Errorf("parse CERBERUS_TEST_POSTGRES_DSN: %v", err)
		return
	}
	name := "cerberus_test_" + randomHex()
	if _, err := server.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		pg.err = fmt.Errorf("create the run's PostgreSQL database: %v", err)
		return
	}
	pg.name = name
	dsn := PostgresDSNWith(base, "dbname", name)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		pg.err = fmt.Errorf("open the run's PostgreSQL database: %v", err)
		return
	}
	pg.db = &PostgresDB{DSN: dsn, Addr: net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), Admin: admin}
}

// dropPostgres drops the run's database, if it made one.
func dropPostgres() {
	if pg.db != nil {
		pg.db.Admin.Close()
	}
	if pg.name != "" {
		ctx, cancel := newContext()
		defer cancel()
		dropDatabase(ctx, pg.server, pg.name, ` WITH (FORCE)`)
	}
	closeIfOpen(pg.server)
}

// PostgresRun returns the PostgreSQL database of the run, made on first
// use. It skips tb, or fails it when CI is set, if the server cannot be
// reached.
func PostgresRun(tb testing.TB) *PostgresDB {
	tb.Helper()
	checkMain(tb)
	pg.once.Do(pgSetup)
	if pg.unreachable != "" {
		unreachable(tb, pg.unreachable)
	}
	if pg.err != nil {
		tb.Fatal(pg.err)
	}
	return pg.db
}

// PostgresSchema creates a new, empty schema of tb's own in the run's
// database, and returns its name and a DSN whose search_path is it. It
// skips tb as PostgresRun does.
func PostgresSchema(tb testing.TB) (schema, dsn string) {
	tb.Helper()
	db := PostgresRun(tb)
	schema = "t_" + randomHex()
	if _, err := db.Admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	return schema, PostgresDSNWith(db.DSN, "search_path", schema)
}

// Postgres returns the DSN of a new, empty schema of tb's own, as
// PostgresSchema does.
func Postgres(tb testing.TB) string {
	tb.Helper()
	_, dsn := PostgresSchema(tb)
	return dsn
}

// PostgresDSNWith returns dsn, a URL or key=value pairs, with the parameter
// key set to value: "dbname", "addr" (host:port) or a run-time parameter
// such as search_path.
func PostgresDSNWith(dsn, key, value string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		switch key {
		case "dbname":
			u.Path = "/" + value
		case "addr":
			u.Host = value
		default:
			q := u.Query()
			q.Set(key, value)
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	if key == "addr" {
		host, port, _ := net.SplitHostPort(value)
		return fmt.Sprintf("%s host='%s' port='%s'", dsn, host, port)
	}
	return fmt.Sprintf("%s %s='%s'", dsn, key, value)
}
