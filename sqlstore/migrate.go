package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/cerberus-go/cerberus"
)

// migration is one schema change: the SQL of a file of a migration set.
type migration struct {
	version int
	name    string
	sql     string
}

// Migrate brings the schema up to date. migrations holds the dialect's
// migration set at its root: files named "<version>_<name>.sql" whose
// versions are 1, 2, 3… Migrate applies those newer than the database's
// schema version in order, in one transaction, recording each in the
// schema_version table; with the first one it seeds the categories and
// roles of the original server. It changes nothing if the schema is up to
// date, and fails if the database's schema is newer than the last migration,
// that is, if it was written by a newer release.
func (db *DB) Migrate(ctx context.Context, migrations fs.FS) error {
	ms, err := readMigrations(migrations)
	if err != nil {
		return err
	}
	latest := len(ms)
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := db.exec(ctx, tx, `CREATE TABLE IF NOT EXISTS schema_version (
	version INTEGER NOT NULL PRIMARY KEY,
	applied_ts INTEGER NOT NULL
)`); err != nil {
			return fmt.Errorf("sqlstore: create schema_version table: %w", err)
		}
		var current int
		if err := db.queryRow(ctx, tx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
			return fmt.Errorf("sqlstore: read schema version: %w", err)
		}
		if current > latest {
			return fmt.Errorf("sqlstore: the database schema is at version %d but this binary knows versions up to %d; run a newer release", current, latest)
		}
		for _, m := range ms[current:] {
			// The migration is dialect SQL, run as written.
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("sqlstore: apply migration %d (%s): %w", m.version, m.name, err)
			}
			if m.version == 1 {
				if err := db.seed(ctx, tx); err != nil {
					return err
				}
			}
			if _, err := db.exec(ctx, tx, `INSERT INTO schema_version (version, applied_ts) VALUES (?, ?)`,
				m.version, millis(time.Now())); err != nil {
				return fmt.Errorf("sqlstore: record migration %d: %w", m.version, err)
			}
		}
		return nil
	})
}

// readMigrations returns the migration set of fsys ordered by version, and
// checks that the versions run from 1 without gaps.
func readMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list migrations: %w", err)
	}
	ms := make([]migration, len(names))
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 || v > len(names) {
			return nil, fmt.Errorf("sqlstore: migration %q: want a name <version>_<name>.sql with versions 1 to %d", name, len(names))
		}
		if ms[v-1].version != 0 {
			return nil, fmt.Errorf("sqlstore: migrations %q and %q have the same version", ms[v-1].name, name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: read migration: %w", err)
		}
		ms[v-1] = migration{version: v, name: name, sql: string(b)}
	}
	return ms, nil
}

// seed inserts the categories and roles that the original server's first
// migration inserts, with fresh random ids that clients look up by name.
func (db *DB) seed(ctx context.Context, tx *sql.Tx) error {
	const by = "system"
	now := millis(time.Now())
	for _, c := range []struct{ name, path string }{{"Applications", "app"}, {"Shared", "shared"}} {
		if _, err := db.exec(ctx, tx, `INSERT INTO categories
	(id, display_name, path, created_by, last_updated_by, created_ts, last_updated_ts)
	VALUES (?, ?, ?, ?, ?, ?, ?)`,
			cerberus.NewID(), c.name, c.path, by, by, now, now); err != nil {
			return fmt.Errorf("sqlstore: seed category %s: %w", c.name, err)
		}
	}
	for _, r := range []cerberus.RoleName{cerberus.RoleOwner, cerberus.RoleWrite, cerberus.RoleRead} {
		if _, err := db.exec(ctx, tx, `INSERT INTO roles
	(id, name, created_by, last_updated_by, created_ts, last_updated_ts)
	VALUES (?, ?, ?, ?, ?, ?)`,
			cerberus.NewID(), string(r), by, by, now, now); err != nil {
			return fmt.Errorf("sqlstore: seed role %s: %w", r, err)
		}
	}
	return nil
}
