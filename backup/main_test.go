package backup_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/cerberus-go/cerberus/sqlstore"
	sqlmysql "github.com/cerberus-go/cerberus/sqlstore/mysql"
	"github.com/cerberus-go/cerberus/sqlstore/postgres"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
)

// The servers the tests restore onto unless CERBERUS_TEST_POSTGRES_DSN and
// CERBERUS_TEST_MYSQL_DSN name others; as in the stores' own tests, a run
// works in a database of its own, dropped at its end, and an unreachable
// server skips the tests, or fails them when CI is set.
const (
	defaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/test"
)

var (
	pgRunDSN string  // the run's PostgreSQL database; "" if unreachable
	pgSkip   string  // why the PostgreSQL tests skip
	pgAdmin  *sql.DB // a handle on the run's database, to make schemas

	myServer *mysql.Config // the MySQL server, without a database; nil if unreachable
	mySkip   string
	myAdmin  *sql.DB
	myPrefix string
	myMu     sync.Mutex
	myDBs    []string // made by this run, to drop at its end
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ci := os.Getenv("CI") != ""

	pgDSN := cmp.Or(os.Getenv("CERBERUS_TEST_POSTGRES_DSN"), defaultPostgresDSN)
	server, err := sql.Open("pgx", pgDSN)
	if err == nil {
		defer server.Close()
		err = server.PingContext(ctx)
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL cannot be reached at CERBERUS_TEST_POSTGRES_DSN (default %s): %v", defaultPostgresDSN, err)
		if ci {
			fmt.Fprintf(os.Stderr, "FAIL: %s\nCI is set, so the PostgreSQL tests fail rather than skip.\n", msg)
			return 1
		}
		pgSkip = msg + " (with CI set, this fails)"
	} else {
		name := "cerberus_test_" + randomHex()
		if _, err := server.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: create the run's PostgreSQL database: %v\n", err)
			return 1
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := server.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
				fmt.Fprintf(os.Stderr, "drop the run's database %s: %v\n", name, err)
			}
		}()
		pgRunDSN = pgDSNWith(pgDSN, map[string]string{"dbname": name})
		if pgAdmin, err = sql.Open("pgx", pgRunDSN); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: open the run's PostgreSQL database: %v\n", err)
			return 1
		}
		defer pgAdmin.Close()
	}

	myDSN := cmp.Or(os.Getenv("CERBERUS_TEST_MYSQL_DSN"), defaultMySQLDSN)
	cfg, err := mysql.ParseDSN(myDSN)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: CERBERUS_TEST_MYSQL_DSN is not a valid DSN\n")
		return 1
	}
	cfg.DBName = ""
	conn, err := mysql.NewConnector(cfg)
	if err == nil {
		myAdmin = sql.OpenDB(conn)
		defer myAdmin.Close()
		err = myAdmin.PingContext(ctx)
	}
	if err != nil {
		msg := fmt.Sprintf("MySQL cannot be reached at CERBERUS_TEST_MYSQL_DSN (default %s): %v", defaultMySQLDSN, err)
		if ci {
			fmt.Fprintf(os.Stderr, "FAIL: %s\nCI is set, so the MySQL tests fail rather than skip.\n", msg)
			return 1
		}
		mySkip = msg + " (with CI set, this fails)"
	} else {
		myServer = cfg
		myPrefix = "cerberus_test_" + randomHex() + "_"
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			myMu.Lock()
			defer myMu.Unlock()
			for _, name := range myDBs {
				if _, err := myAdmin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name); err != nil {
					fmt.Fprintf(os.Stderr, "drop database %s: %v\n", name, err)
				}
			}
		}()
	}
	return m.Run()
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// pgDSNWith returns dsn, a URL or key=value pairs, with params set:
// "dbname" or a run-time parameter such as search_path.
func pgDSNWith(dsn string, params map[string]string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		for k, v := range params {
			if k == "dbname" {
				u.Path = "/" + v
			} else {
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		dsn += fmt.Sprintf(" %s='%s'", k, v)
	}
	return dsn
}

// storeKinds opens an empty store of each type, closed when t ends.
var storeKinds = []struct {
	name string
	open func(t *testing.T) *sqlstore.DB
}{
	{"sqlite", openSQLite},
	{"postgres", openPostgres},
	{"mysql", openMySQL},
}

func openSQLite(t *testing.T) *sqlstore.DB {
	t.Helper()
	return closeLater(t, func() (*sqlstore.DB, error) {
		return sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cerberus.db"))
	})
}

func openPostgres(t *testing.T) *sqlstore.DB {
	t.Helper()
	if pgRunDSN == "" {
		t.Skip(pgSkip)
	}
	schema := "t_" + randomHex()
	if _, err := pgAdmin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	return closeLater(t, func() (*sqlstore.DB, error) {
		return postgres.Open(context.Background(), pgDSNWith(pgRunDSN, map[string]string{"search_path": schema}))
	})
}

func openMySQL(t *testing.T) *sqlstore.DB {
	t.Helper()
	if myServer == nil {
		t.Skip(mySkip)
	}
	myMu.Lock()
	name := fmt.Sprintf("%s%d", myPrefix, len(myDBs))
	myDBs = append(myDBs, name)
	myMu.Unlock()
	if _, err := myAdmin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	cfg := myServer.Clone()
	cfg.DBName = name
	return closeLater(t, func() (*sqlstore.DB, error) { return sqlmysql.Open(context.Background(), cfg.FormatDSN()) })
}

func closeLater(t *testing.T, open func() (*sqlstore.DB, error)) *sqlstore.DB {
	t.Helper()
	db, err := open()
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}
