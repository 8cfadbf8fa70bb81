// Package sqlstore implements service.Store over database/sql. The SQL is
// shared by every supported database; what differs between them (how bind
// parameters are spelled, how a constraint violation is reported) is kept in
// a small dialect, and the schema lives with each dialect's package as
// embedded migrations (see package sqlite).
//
// # Trust model
//
// The database sees ciphertext only: secret values and TOTP seeds arrive
// sealed by the envelope, tokens arrive as keyed hashes.
//
// # Timestamps and paths
//
// Timestamps are stored as integer Unix milliseconds and come back in UTC,
// truncated to the millisecond. Paths, names and ARNs are compared byte-wise
// and case-sensitively; path prefixes are matched as ranges, never as LIKE
// patterns.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

var _ service.Store = (*DB)(nil)

// DB is a service.Store over an SQL database. It writes through one handle
// and reads outside transactions through another, which may be the same.
type DB struct {
	write   *sql.DB
	read    *sql.DB
	dialect dialect
}

// NewSQLite returns a DB over an SQLite database. Writes run on write, which
// should hold a single connection that begins transactions with BEGIN
// IMMEDIATE; reads run on read, which may be a pool of read-only
// connections. The DB takes ownership of both handles: Close closes them.
//
// The schema must be brought up to date with Migrate before use.
func NewSQLite(write, read *sql.DB) *DB {
	return &DB{write: write, read: read, dialect: sqliteDialect()}
}

// Close closes the database handles.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// dialect is what differs between the SQL databases the store supports.
type dialect struct {
	// placeholder returns the spelling of the nth (1-based) bind parameter.
	placeholder func(n int) string
	// isUniqueViolation reports whether err reports a violated unique or
	// primary key constraint.
	isUniqueViolation func(err error) bool
}

// Extended result codes of SQLite for the constraint violations the store
// turns into domain errors.
const (
	sqliteConstraintPrimaryKey = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
	sqliteConstraintUnique     = 2067 // SQLITE_CONSTRAINT_UNIQUE
)

func sqliteDialect() dialect {
	return dialect{
		placeholder: func(int) string { return "?" },
		isUniqueViolation: func(err error) bool {
			var e interface{ Code() int }
			if !errors.As(err, &e) {
				return false
			}
			c := e.Code()
			return c == sqliteConstraintUnique || c == sqliteConstraintPrimaryKey
		},
	}
}

// rebind rewrites the '?' bind parameters of query in the dialect's
// spelling. The queries of this package hold no '?' other than parameters.
func (d dialect) rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query))
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString(d.placeholder(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (db *DB) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	return q.ExecContext(ctx, db.dialect.rebind(query), args...)
}

func (db *DB) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	return q.QueryContext(ctx, db.dialect.rebind(query), args...)
}

func (db *DB) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	return q.QueryRowContext(ctx, db.dialect.rebind(query), args...)
}

// writeTx runs fn in a write transaction and commits it if fn returns nil.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, db.write, nil, fn)
}

// readTx runs fn in a read-only transaction, for reads that must see one
// snapshot.
func (db *DB) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, db.read, &sql.TxOptions{ReadOnly: true}, fn)
}

func inTx(ctx context.Context, h *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := h.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("sqlstore: begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // fn's error is the one that matters
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}

// rowsAffected returns how many rows res changed.
func rowsAffected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: rows affected: %w", err)
	}
	return n, nil
}

// params returns n comma-separated bind parameters, for an IN list.
func params(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// anys returns ss as bind arguments.
func anys(ss []string) []any {
	a := make([]any, len(ss))
	for i, s := range ss {
		a[i] = s
	}
	return a
}

// millis returns t as the stored Unix milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }

// msTime scans stored Unix milliseconds into a time in UTC.
type msTime struct{ t *time.Time }

// Scan implements sql.Scanner.
func (m msTime) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return fmt.Errorf("sqlstore: scan timestamp: %w", err)
	}
	if !n.Valid {
		return errors.New("sqlstore: scan timestamp: null")
	}
	*m.t = time.UnixMilli(n.Int64).UTC()
	return nil
}

// encodeStrings returns ss as the JSON array stored in a text column.
func encodeStrings(ss []string) string {
	if ss == nil {
		ss = []string{}
	}
	b, _ := json.Marshal(ss) // a []string always marshals
	return string(b)
}

// jsonStrings scans a JSON array of strings stored by encodeStrings; an
// empty one gives nil.
type jsonStrings struct{ ss *[]string }

// Scan implements sql.Scanner.
func (j jsonStrings) Scan(src any) error {
	var s sql.NullString
	if err := s.Scan(src); err != nil {
		return fmt.Errorf("sqlstore: scan string list: %w", err)
	}
	if !s.Valid {
		return errors.New("sqlstore: scan string list: null")
	}
	if err := json.Unmarshal([]byte(s.String), j.ss); err != nil {
		return fmt.Errorf("sqlstore: scan string list: %w", err)
	}
	if len(*j.ss) == 0 {
		*j.ss = nil
	}
	return nil
}

// notFound returns the ECodeNotFound error, with the original server's
// message.
func notFound() error {
	return cerberus.Errorf(cerberus.ECodeNotFound, "Not found")
}
