// Package sqlite opens the Cerberus store in an SQLite database file, through
// the pure-Go driver modernc.org/sqlite. The SQL itself is package
// sqlstore's; this package holds the SQLite schema and the connection
// settings.
//
// # Durability and concurrency
//
// The database runs in WAL mode with synchronous=FULL, so a write is on disk
// when it is acknowledged and survives a crash or power loss. All writes go
// through one connection whose transactions begin with BEGIN IMMEDIATE, so
// writers queue instead of failing with SQLITE_BUSY; other processes that
// write the same file wait up to five seconds for the lock. Reads run on a
// pool of read-only connections beside the writer.
//
// # File permissions
//
// Open creates the database file with mode 0600. SQLite gives its -wal and
// -shm files the mode of the database file.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"github.com/cerberus-go/cerberus/sqlstore"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open opens the store in the SQLite database file at path, creating the
// file with mode 0600 if it does not exist, and brings its schema up to
// date. It fails if the schema is newer than this release knows.
func Open(ctx context.Context, path string) (*sqlstore.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}
	file := (&url.URL{Scheme: "file", Path: abs}).String()
	write, err := openHandle(ctx, file, url.Values{
		"_txlock": {"immediate"},
		"_pragma": {"busy_timeout(5000)", "foreign_keys(1)", "journal_mode(WAL)", "synchronous(FULL)"},
	})
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	read, err := openHandle(ctx, file, url.Values{
		"_pragma": {"busy_timeout(5000)", "query_only(1)"},
	})
	if err != nil {
		return nil, errors.Join(err, write.Close())
	}
	n := runtime.GOMAXPROCS(0)
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	db := sqlstore.NewSQLite(write, read)
	set, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: %w", err), db.Close())
	}
	if err := db.Migrate(ctx, set); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s: %w", path, err), db.Close())
	}
	return db, nil
}

// createFile creates an empty database file at path with mode 0600 unless a
// file exists there.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: create database: %w", err)
	}
	// The umask may have cleared bits of the mode. Set it exactly: SQLite
	// gives the -wal and -shm files the mode of the database file.
	if err := errors.Join(f.Chmod(0o600), f.Close()); err != nil {
		return fmt.Errorf("sqlite: create database: %w", err)
	}
	return nil
}

// openHandle opens a handle on the database file URI with the driver
// parameters q, and checks that a connection can be made.
func openHandle(ctx context.Context, file string, q url.Values) (*sql.DB, error) {
	h, err := sql.Open("sqlite", file+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := h.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: connect: %w", err), h.Close())
	}
	return h, nil
}
