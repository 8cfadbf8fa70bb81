package dbtest

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// DefaultMySQLDSN is the MySQL server the tests use unless
// CERBERUS_TEST_MYSQL_DSN names another.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/test"

// MySQLServer is the MySQL server of the run.
type MySQLServer struct {
	Admin *sql.DB // on the server, to make databases and look at tables

	config *mysql.Config // of the server's DSN, without a database
}

// Config returns the configuration of the server's DSN, without a
// database; a copy, for the caller to change.
func (s *MySQLServer) Config() *mysql.Config {
	return s.config.Clone()
}

// my is the state of the run on MySQL, set up on first use.
var my struct {
	once        sync.Once
	unreachable string // why the server cannot be reached, if it cannot
	err         error  // why the server cannot be used, if it cannot
	server      *MySQLServer
	prefix      string // begins the names of the run's databases

	mu        sync.Mutex
	databases []string // made by the run, to drop at its end
}

func mySetup() {
	cfg, err := mysql.ParseDSN(cmp.Or(os.Getenv("CERBERUS_TEST_MYSQL_DSN"), DefaultMySQLDSN))
	if err != nil {
		// Not err, which may show the password.
		my.err = errors.New("CERBERUS_TEST_MYSQL_DSN is not a valid DSN")
		return
	}
	cfg.DBName = ""
	ctx, cancel := newContext()
	defer cancel()
	var admin *sql.DB
	conn, err := mysql.NewConnector(cfg)
	if err == nil {
		admin = sql.OpenDB(conn)
		err = admin.PingContext(ctx)
	}
	if err != nil {
		closeIfOpen(admin)
		my.unreachable = fmt.Sprintf("MySQL cannot be reached at CERBERUS_TEST_MYSQL_DSN (default %s): %v", DefaultMySQLDSN, err)
		return
	}
	my.server = &MySQLServer{Admin: admin, config: cfg}
	my.prefix = "cerberus_test_" + randomHex() + "_"
}

// dropMySQL drops the databases the run made.
func dropMySQL() {
	if my.server == nil {
		return
	}
	ctx, cancel := newContext()
	defer cancel()
	my.mu.Lock()
	defer my.mu.Unlock()
	for _, name := range my.databases {
		dropDatabase(ctx, my.server.Admin, name, "")
	}
	my.server.Admin.Close()
}

// MySQLRun returns the MySQL server of the run. It skips tb, or fails it
// when CI is set, if the server cannot be reached.
func MySQLRun(tb testing.TB) *MySQLServer {
	tb.Helper()
	checkMain(tb)
	my.once.Do(mySetup)
	if my.unreachable != "" {
		unreachable(tb, my.unreachable)
	}
	if my.err != nil {
		tb.Fatal(my.err)
	}
	return my.server
}

// MySQLConfig creates a new, empty database of tb's own and returns the
// configuration of its DSN, whose DBName is its name. It skips tb as
// MySQLRun does.
func MySQLConfig(tb testing.TB) *mysql.Config {
	tb.Helper()
	s := MySQLRun(tb)
	my.mu.Lock()
	name := fmt.Sprintf("%s%d", my.prefix, len(my.databases))
	my.databases = append(my.databases, name)
	my.mu.Unlock()
	if _, err := s.Admin.Exec(`CREATE DATABASE ` + name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	cfg := s.Config()
	cfg.DBName = name
	return cfg
}

// MySQL returns the DSN of a new, empty database of tb's own, as
// MySQLConfig does.
func MySQL(tb testing.TB) string {
	tb.Helper()
	return MySQLConfig(tb).FormatDSN()
}
