package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/sqlstore"
)

// Migrations describes an SQL store's database to RunMigrations.
type Migrations struct {
	// New makes a new, empty database of tb's own, and returns the DSN
	// that Open takes. The database is dropped, if ever, after tb ends.
	New func(tb testing.TB) (dsn string)
	// Open opens the store at dsn.
	Open func(ctx context.Context, dsn string) (*sqlstore.DB, error)
	// Driver is the database/sql driver that opens a raw handle on the
	// database at dsn, to look at its tables by their bare names (on
	// PostgreSQL, by the search_path of dsn).
	Driver string
	// Raw, if not nil, opens that handle instead, and closes it when t
	// ends.
	Raw func(t *testing.T, dsn string) *sql.DB
	// Latest is the schema version of the store's last migration.
	Latest int
	// Nodes says that the database serves several nodes at once, as a
	// server's does: a store opens while others are open, and several
	// race to open a fresh database. Otherwise, as for a file, the store
	// is closed before it is opened again.
	Nodes bool
}

// RunMigrations tests how Open migrates the store's database as m
// describes: it migrates and seeds it once, however many times it opens,
// and refuses a database of a newer schema than it knows.
func RunMigrations(t *testing.T, m Migrations) {
	t.Run("OpenMigratesOnce", func(t *testing.T) { testOpenMigratesOnce(t, m) })
	if m.Nodes {
		t.Run("OpenRace", func(t *testing.T) { testOpenRace(t, m) })
	}
	t.Run("OpenRefusesNewerSchema", func(t *testing.T) { testOpenRefusesNewerSchema(t, m) })
}

// newDB makes a new, empty database of t's own, and returns its DSN and a
// raw handle on it, closed when t ends.
func (m Migrations) newDB(t *testing.T) (dsn string, raw *sql.DB) {
	t.Helper()
	dsn = m.New(t)
	if m.Raw != nil {
		return dsn, m.Raw(t, dsn)
	}
	raw, err := sql.Open(m.Driver, dsn)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { raw.Close() })
	return dsn, raw
}

// mustOpen opens the store at dsn and closes it when t ends.
func (m Migrations) mustOpen(t *testing.T, dsn string) *sqlstore.DB {
	t.Helper()
	return MustOpener(m.Open, 0)(t, dsn)
}

// openClose opens the store at dsn, and closes it.
func (m Migrations) openClose(t *testing.T, dsn string) {
	t.Helper()
	db, err := m.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// countRows returns the number of rows of table.
func countRows(t *testing.T, raw *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// testOpenMigratesOnce opens a database, writes to it, and opens it again
// twice: the data and the seeded categories are there, and the schema
// was migrated and seeded once.
func testOpenMigratesOnce(t *testing.T, m Migrations) {
	ctx := context.Background()
	dsn, raw := m.newDB(t)
	var db *sqlstore.DB
	if m.Nodes {
		db = m.mustOpen(t, dsn)
	} else {
		var err error
		if db, err = m.Open(ctx, dsn); err != nil {
			t.Fatalf("Open: %v", err)
		}
	}
	before, err := db.ListCategories(ctx)
	if err != nil {
		t.Fatalf("ListCategories: %v", err)
	}
	u := &service.User{ID: cerberus.NewID(), Name: "alice", PasswordHash: "h", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if !m.Nodes {
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	for i := range 2 {
		db := m.mustOpen(t, dsn)
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
	if n := countRows(t, raw, "schema_version"); n != m.Latest {
		t.Fatalf("schema_version has %d rows, want %d", n, m.Latest)
	}
	if n := countRows(t, raw, "roles"); n != 3 {
		t.Fatalf("roles has %d rows, want 3", n)
	}
}

// testOpenRace opens a fresh database from several nodes at once: the
// lock makes them migrate one after the other, so that all of them start,
// and the database is migrated and seeded once.
func testOpenRace(t *testing.T, m Migrations) {
	ctx := context.Background()
	for round := range 3 {
		dsn, raw := m.newDB(t)
		const nodes = 4
		errs := make([]error, nodes)
		dbs := make([]*sqlstore.DB, nodes)
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Go(func() { dbs[i], errs[i] = m.Open(ctx, dsn) })
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
		if n := countRows(t, raw, "schema_version"); n != m.Latest {
			t.Fatalf("round %d: schema_version has %d rows, want %d", round, n, m.Latest)
		}
		if n := countRows(t, raw, "roles"); n != 3 {
			t.Fatalf("round %d: roles has %d rows, want 3", round, n)
		}
	}
}

// testOpenRefusesNewerSchema records a schema version newer than the
// store's last migration: Open refuses the database, and changes nothing.
func testOpenRefusesNewerSchema(t *testing.T, m Migrations) {
	ctx := context.Background()
	dsn, raw := m.newDB(t)
	m.openClose(t, dsn)
	if _, err := raw.Exec(`INSERT INTO schema_version (version, applied_ts) VALUES (99, 0)`); err != nil {
		t.Fatalf("insert schema version: %v", err)
	}
	db, err := m.Open(ctx, dsn)
	if err == nil {
		db.Close()
		t.Fatal("Open of a database with schema version 99: got no error")
	}
	if msg := err.Error(); !strings.Contains(msg, "version 99") || !strings.Contains(msg, fmt.Sprintf("up to %d", m.Latest)) {
		t.Fatalf("Open of a database with schema version 99: error %q, want it to name versions 99 and %d", msg, m.Latest)
	}
	if n := countRows(t, raw, "schema_version"); n != m.Latest+1 {
		t.Fatalf("schema_version has %d rows, want %d", n, m.Latest+1)
	}
}
