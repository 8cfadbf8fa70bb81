package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/cerberus-go/cerberus"
)

// migration is one schema change: the statements of a file of a migration
// set.
type migration struct {
	version    int
	name       string
	statements []string
}

// Migrate brings the schema up to date. migrations holds the dialect's
// migration set at its root: files named "<version>_<name>.sql" whose
// versions are 1, 2, 3…, each a list of statements that end with a
// semicolon at the end of a line; lines that begin with "--" are comments.
// Migrate applies the migrations newer than the database's schema version
// in order, recording each in the schema_version table; with the first one
// it seeds the categories and roles of the original server. It changes
// nothing if the schema is up to date, and fails if the database's schema
// is newer than the last migration, that is, if it was written by a newer
// release.
//
// Migrate holds a lock of the database while it works, so that nodes that
// start together migrate one after the other. Where the database can roll
// back schema changes (SQLite, PostgreSQL), all of it is one transaction.
// Where it cannot (MySQL commits each DDL statement on its own), each
// migration's seeding and record are one transaction run after its
// statements, and the statements must be safe to run again: a migration
// cut short is run again from its first statement.
func (db *DB) Migrate(ctx context.Context, migrations fs.FS) (err error) {
	defer db.translate(&err)
	ms, err := readMigrations(migrations)
	if err != nil {
		return err
	}
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer conn.Close()
	if db.dialect.transactionalDDL {
		return inTx(ctx, conn, nil, func(tx *sql.Tx) error {
			if lock := db.dialect.lockMigrations; lock != nil {
				if _, err := lock(ctx, tx); err != nil {
					return err
				}
			}
			current, err := db.schemaVersion(ctx, tx, len(ms))
			if err != nil {
				return err
			}
			for _, m := range ms[current:] {
				if err := db.apply(ctx, tx, m); err != nil {
					return err
				}
				if err := db.record(ctx, tx, m); err != nil {
					return err
				}
			}
			return nil
		})
	}

	unlock, err := db.dialect.lockMigrations(ctx, conn)
	if err != nil {
		return err
	}
	defer func() {
		if uerr := unlock(); uerr != nil {
			// Do not hand the connection back to the pool with the lock
			// held: a connection that is closed releases it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, uerr)
		}
	}()
	current, err := db.schemaVersion(ctx, conn, len(ms))
	if err != nil {
		return err
	}
	for _, m := range ms[current:] {
		if err := db.apply(ctx, conn, m); err != nil {
			return err
		}
		if err := inTx(ctx, conn, nil, func(tx *sql.Tx) error { return db.record(ctx, tx, m) }); err != nil {
			return err
		}
	}
	return nil
}

// schemaVersion creates the schema_version table if there is none and
// returns the database's schema version, checking that it is at most
// latest.
func (db *DB) schemaVersion(ctx context.Context, q querier, latest int) (int, error) {
	if _, err := db.exec(ctx, q, `CREATE TABLE IF NOT EXISTS schema_version (
	version INTEGER NOT NULL PRIMARY KEY,
	applied_ts BIGINT NOT NULL
)`); err != nil {
		return 0, fmt.Errorf("sqlstore: create schema_version table: %w", err)
	}
	var current int
	if err := db.queryRow(ctx, q, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return 0, fmt.Errorf("sqlstore: read schema version: %w", err)
	}
	if current > latest {
		return 0, fmt.Errorf("sqlstore: the database schema is at version %d but this binary knows versions up to %d; run a newer release", current, latest)
	}
	return current, nil
}

// apply runs the statements of m. Where schema changes are not
// transactional, a migration cut short runs again from its first
// statement, so a statement that adds a column or an index that is already
// there is skipped.
func (db *DB) apply(ctx context.Context, q querier, m migration) error {
	for i, stmt := range m.statements {
		// The migration is dialect SQL, run as written.
		_, err := q.ExecContext(ctx, stmt)
		if err != nil && !db.dialect.transactionalDDL && db.dialect.classify(err) == errApplied {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlstore: apply migration %d (%s), statement %d: %w", m.version, m.name, i+1, err)
		}
	}
	return nil
}

// record seeds the database if m is the first migration and records that m
// was applied.
func (db *DB) record(ctx context.Context, tx *sql.Tx, m migration) error {
	if m.version == 1 {
		if err := db.seed(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := db.exec(ctx, tx, `INSERT INTO schema_version (version, applied_ts) VALUES (?, ?)`,
		m.version, millis(time.Now())); err != nil {
		return fmt.Errorf("sqlstore: record migration %d: %w", m.version, err)
	}
	return nil
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
		stmts := splitStatements(string(b))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("sqlstore: migration %q has no statements", name)
		}
		ms[v-1] = migration{version: v, name: name, statements: stmts}
	}
	return ms, nil
}

// splitStatements splits a migration file into its statements: each ends
// with a semicolon at the end of a line, or with the file. Lines that begin
// with "--" (comments) and blank lines are dropped, and so are the final
// semicolons, which some drivers refuse.
func splitStatements(file string) []string {
	var stmts []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			stmts = append(stmts, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	for line := range strings.Lines(file) {
		line = strings.TrimRight(line, " \t\r\n")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		if s, ok := strings.CutSuffix(line, ";"); ok {
			if strings.TrimSpace(s) != "" {
				cur = append(cur, s)
			}
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return stmts
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
