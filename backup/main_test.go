package backup_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cerberus-go/cerberus/internal/dbtest"
	"github.com/cerberus-go/cerberus/sqlstore"
	sqlmysql "github.com/cerberus-go/cerberus/sqlstore/mysql"
	"github.com/cerberus-go/cerberus/sqlstore/postgres"
	"github.com/cerberus-go/cerberus/sqlstore/sqlite"
)

// As in the stores' own tests, the tests restore onto stores in databases
// of the run's own on the servers of dbtest, dropped at the end of the run;
// an unreachable server skips the tests, or fails them when CI is set.
func TestMain(m *testing.M) {
	dbtest.Main(m)
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
	dsn := dbtest.Postgres(t)
	return closeLater(t, func() (*sqlstore.DB, error) { return postgres.Open(context.Background(), dsn) })
}

func openMySQL(t *testing.T) *sqlstore.DB {
	t.Helper()
	dsn := dbtest.MySQL(t)
	return closeLater(t, func() (*sqlstore.DB, error) { return sqlmysql.Open(context.Background(), dsn) })
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
