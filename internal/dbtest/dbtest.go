// Package dbtest gives tests databases of their own on the PostgreSQL and
// MySQL (MariaDB) servers of the test environment.
//
// The servers are PostgreSQL at CERBERUS_TEST_POSTGRES_DSN (default
// DefaultPostgresDSN) and MySQL at CERBERUS_TEST_MYSQL_DSN (default
// DefaultMySQLDSN). A test binary works in databases of its own, named
// after the run and made on first use, so that runs and tests never see
// each other's tables: on PostgreSQL a database of the run, with a schema
// of each test's own in it; on MySQL a database of each test's own. The
// package's TestMain must run the tests with Main, which drops them all at
// the end of the run.
//
// When a server cannot be reached, the tests that need it skip, or fail
// when the environment variable CI is set.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// setupTimeout bounds the making and the dropping of the run's databases.
const setupTimeout = 30 * time.Second

// inMain is set while Main runs the tests.
var inMain atomic.Bool

// Main runs the tests of m, drops the databases the run made, and exits
// with the tests' status. A package that uses dbtest calls it from its
// TestMain.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the exit: it runs the tests of m, drops the
// databases the run made, and returns the tests' status, for a TestMain
// that must exit on its own (such as testscript.Main's).
func Run(m interface{ Run() int }) int {
	inMain.Store(true)
	code := m.Run()
	inMain.Store(false)
	dropPostgres()
	dropMySQL()
	return code
}

// checkMain fails tb if the tests do not run under Main, which alone drops
// the databases.
func checkMain(tb testing.TB) {
	tb.Helper()
	if !inMain.Load() {
		tb.Fatal("dbtest: the package's TestMain must run the tests with dbtest.Main, so that the run's databases are dropped")
	}
}

// unreachable skips tb, or fails it when CI is set, because a database
// server cannot be reached.
func unreachable(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s (CI is set, so this fails rather than skips)", msg)
	}
	tb.Skipf("%s (with CI set, this fails)", msg)
}

// randomHex returns 16 random hex digits.
func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newContext returns a context bounded by setupTimeout.
func newContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), setupTimeout)
}

// closeIfOpen closes db unless it is nil.
func closeIfOpen(db *sql.DB) {
	if db != nil {
		db.Close()
	}
}

// dropDatabase drops the database name on server, with the options of
// DROP DATABASE that follow it, if any, and says so on standard error if it
// cannot.
func dropDatabase(ctx context.Context, server *sql.DB, name, options string) {
	if _, err := server.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+options); err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: drop the run's database %s: %v\n", name, err)
	}
}
