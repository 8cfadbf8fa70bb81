// Package sqlstore implements service.Store over database/sql. The SQL is
// shared by every supported database (SQLite, PostgreSQL, MySQL and
// MariaDB); what differs between them (how bind parameters are spelled, how
// errors are reported, how migrations are locked) is kept in a small
// dialect, and the schema lives with each dialect's package as embedded
// migrations (see packages sqlite, postgres and mysql).
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
//
// # Concurrency
//
// Writes that race are decided by the database, never by an isolation level
// the store assumes: conditional UPDATEs and DELETEs, unique constraints, and
// rows locked with SELECT … FOR UPDATE before they change. A write the
// database rolls back to break a deadlock or a serialization failure is run
// again a few times; if it keeps losing, the store reports ECodeConflict.
// Reads that span several queries run in one REPEATABLE READ (snapshot)
// transaction.
//
// # Errors
//
// Besides the codes of the service.Store contract, the store reports
// ECodeUnavailable when the database cannot be reached, does not answer
// before the context's deadline, went away or does not accept writes (so
// that the API answers 503 and clients retry), and
// ECodeTooLarge when a value is larger than the database accepts (on MySQL,
// one over max_allowed_packet). These errors wrap the database's error.
// Anything else is an internal error.
//
// PostgreSQL text holds UTF-8 without NUL characters only. Secret paths are
// stored as bytes there, so that any path works as in the other databases;
// other text that PostgreSQL cannot hold is refused with ECodeBadRequest
// when it would be stored, and finds nothing when it is looked up, as a key
// that was never stored.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
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
	stmts   stmtCache
	// maxValue, if positive, bounds the ciphertext of a secret.
	maxValue int
}

// LimitValues makes PutSecret refuse, with ECodeTooLarge, a ciphertext of
// more than n bytes, before it reaches the database: for a database that
// would otherwise drop the connection (MySQL past max_allowed_packet).
func (db *DB) LimitValues(n int) { db.maxValue = n }

// NewSQLite returns a DB over an SQLite database. Writes run on write, which
// should hold a single connection that begins transactions with BEGIN
// IMMEDIATE; reads run on read, which may be a pool of read-only
// connections. The DB takes ownership of both handles: Close closes them.
//
// The schema must be brought up to date with Migrate before use.
func NewSQLite(write, read *sql.DB) *DB {
	return &DB{write: write, read: read, dialect: sqliteDialect()}
}

// NewPostgres returns a DB over a PostgreSQL database, reached through h,
// a handle of the pgx driver (github.com/jackc/pgx/v5/stdlib). Secret paths
// are stored as BYTEA, other text as TEXT COLLATE "C". The DB takes
// ownership of h: Close closes it.
//
// The schema must be brought up to date with Migrate before use.
func NewPostgres(h *sql.DB) *DB {
	return &DB{write: h, read: h, dialect: postgresDialect()}
}

// NewMySQL returns a DB over a MySQL or MariaDB database, reached through h,
// a handle of the driver github.com/go-sql-driver/mysql whose connections
// report found rather than changed rows (clientFoundRows=true), so that an
// UPDATE that changes nothing still finds its row. The DB takes ownership of
// h: Close closes it.
//
// The schema must be brought up to date with Migrate before use.
func NewMySQL(h *sql.DB) *DB {
	return &DB{write: h, read: h, dialect: mysqlDialect()}
}

// Close closes the database handles.
func (db *DB) Close() error {
	db.stmts.close()
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// Ping checks that the database can be reached, making a connection if
// there is none, for health checks. It returns an error with the code
// ECodeUnavailable if it cannot be.
func (db *DB) Ping(ctx context.Context) (err error) {
	defer db.translate(&err)
	if err := db.write.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return fmt.Errorf("sqlstore: ping: %w", err)
		}
	}
	return nil
}

// querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (db *DB) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	query = db.dialect.rebind(query)
	if st := db.stmts.forQuerier(ctx, q, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.ExecContext(ctx, query, args...)
}

func (db *DB) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	query = db.dialect.rebind(query)
	if st := db.stmts.forQuerier(ctx, q, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.QueryContext(ctx, query, args...)
}

func (db *DB) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	query = db.dialect.rebind(query)
	if st := db.stmts.forQuerier(ctx, q, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.QueryRowContext(ctx, query, args...)
}

// writeExec runs a write of one statement outside a transaction.
func (db *DB) writeExec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := db.retry(ctx, func() error {
		var err error
		res, err = db.exec(ctx, db.write, query, args...)
		return err
	})
	return res, err
}

// writeTx runs fn in a write transaction and commits it if fn returns nil.
// fn may run more than once.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.retry(ctx, func() error {
		return inTx(ctx, db.write, nil, func(tx *sql.Tx) error { return db.stmts.track(tx, db.write, fn) })
	})
}

// readTx runs fn in a read-only transaction, for reads that must see one
// snapshot.
func (db *DB) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, db.read, &sql.TxOptions{Isolation: db.dialect.readIsolation, ReadOnly: true},
		func(tx *sql.Tx) error { return db.stmts.track(tx, db.read, fn) })
}

// beginner is what *sql.DB and *sql.Conn have in common.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// beginAttempts bounds the tries to begin a transaction. Beginning sends
// nothing that matters, so it is safe to try again: a pooled connection the
// database closed (after a restart or failover) fails once and leaves the
// pool, and the next try dials afresh.
const beginAttempts = 3

func inTx(ctx context.Context, h beginner, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	var tx *sql.Tx
	var err error
	for range beginAttempts {
		tx, err = h.BeginTx(ctx, opts)
		var ne net.Error
		if err == nil || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
			break // a timeout would only repeat
		}
	}
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

// maxAttempts bounds how many times a write runs when the database rolls it
// back to break a deadlock or a serialization failure.
const maxAttempts = 5

// retry runs the write fn until the database does not roll it back to
// break a deadlock or a serialization failure, at most maxAttempts times,
// waiting a little longer, with jitter, each time.
func (db *DB) retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == maxAttempts || db.dialect.classify(err) != errRetry {
			return err
		}
		wait := time.Duration(attempt)*time.Millisecond + rand.N(time.Duration(attempt)*time.Millisecond)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
}

// translate replaces the error in *errp, if it is a failure of the database
// that the store reports with a domain code, by one that has the code and
// wraps it. Exported methods defer it.
func (db *DB) translate(errp *error) {
	err := *errp
	if err == nil {
		return
	}
	if cerberus.Code(err) != cerberus.ECodeInternal {
		return // already a domain error
	}
	var domain *cerberus.Error
	switch db.dialect.classify(err) {
	case errUnavailable:
		domain = cerberus.Errorf(cerberus.ECodeUnavailable, "The database is not available. Try again later.")
	case errRetry:
		domain = cerberus.Errorf(cerberus.ECodeConflict, "The request lost a race with another request. Try again.")
	case errTooLarge:
		domain = cerberus.Errorf(cerberus.ECodeTooLarge, "The value is larger than the database accepts.")
	case errBadText:
		domain = cerberus.Errorf(cerberus.ECodeBadRequest, "The request holds text that is not UTF-8 or holds a NUL character.")
	default:
		return
	}
	*errp = &dbError{domain: domain, err: err}
}

// dbError is a failure of the database that the store reports with a
// domain code. errors.As finds the domain error, errors.Is the failure.
type dbError struct {
	domain *cerberus.Error
	err    error
}

// Error returns the message of the failure.
func (e *dbError) Error() string { return e.err.Error() }

// Unwrap returns the domain error and the failure.
func (e *dbError) Unwrap() []error { return []error{e.domain, e.err} }

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

// boolInt returns b as the 0 or 1 stored in a flag column; not every
// driver turns a bool into an integer.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// isUnique reports whether err reports a violated unique or primary key
// constraint.
func (db *DB) isUnique(err error) bool {
	return err != nil && db.dialect.classify(err) == errUnique
}

// canHold reports whether the text columns can hold s. A key that they
// cannot hold is not stored, so a lookup by it finds nothing.
func (db *DB) canHold(s string) bool {
	return db.dialect.holdsText == nil || db.dialect.holdsText(s)
}

// holdable returns the strings of ss that the text columns can hold.
func (db *DB) holdable(ss []string) []string {
	if db.dialect.holdsText == nil {
		return ss
	}
	return slices.DeleteFunc(slices.Clone(ss), func(s string) bool { return !db.dialect.holdsText(s) })
}
