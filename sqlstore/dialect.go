package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// dialect is what differs between the SQL databases the store supports.
type dialect struct {
	// placeholder returns the spelling of the nth (1-based) bind parameter.
	placeholder func(n int) string
	// classify tells what a database error means to the store.
	classify func(err error) errClass
	// binary returns s as the bind argument of a column of bytes: the path
	// columns of secrets, which hold any bytes.
	binary func(s string) any
	// holdsText, if not nil, reports whether the other text columns can
	// hold s; if nil, they hold any string.
	holdsText func(s string) bool
	// forUpdate is appended to a SELECT that a write transaction runs
	// before it changes the row it reads, so that it locks the row.
	forUpdate string
	// ignoreDuplicate is appended to an INSERT INTO server_keys so that it
	// does nothing if a key with the name exists.
	ignoreDuplicate string
	// readIsolation is the isolation level of read transactions, which
	// must see one snapshot of the database.
	readIsolation sql.IsolationLevel
	// transactionalDDL reports whether schema changes can be rolled back,
	// so that a migration set can be applied in one transaction.
	transactionalDDL bool
	// lockMigrations, if not nil, takes the lock that keeps nodes from
	// migrating one database at the same time. With transactional DDL, q is
	// the migration transaction and the lock is released when it ends;
	// otherwise q is a connection that holds the lock until unlock.
	lockMigrations func(ctx context.Context, q querier) (unlock func() error, err error)
}

// errClass is what a database error means to the store.
type errClass int

const (
	errOther       errClass = iota // anything else: an internal error
	errUnique                      // a unique or primary key constraint was violated
	errRetry                       // the transaction was rolled back to break a deadlock or a serialization failure; it may succeed if run again
	errUnavailable                 // the database cannot be reached, went away, or does not accept writes
	errTooLarge                    // a value is larger than the database accepts
	errBadText                     // text that the database's text columns cannot hold
	errForeignKey                  // a row that others refer to, or a reference to no row
	errApplied                     // a schema change that is already in place: a column or index that exists, or one dropped already
)

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

// Extended result codes of SQLite that the store tells apart.
const (
	sqliteTooBig               = 18   // SQLITE_TOOBIG
	sqliteConstraintForeignKey = 787  // SQLITE_CONSTRAINT_FOREIGNKEY
	sqliteConstraintPrimaryKey = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
	sqliteConstraintUnique     = 2067 // SQLITE_CONSTRAINT_UNIQUE
)

func sqliteDialect() dialect {
	return dialect{
		placeholder: func(int) string { return "?" },
		classify: func(err error) errClass {
			if c, ok := classifyConnection(err); ok {
				return c
			}
			var e interface{ Code() int }
			if !errors.As(err, &e) {
				return errOther
			}
			switch e.Code() {
			case sqliteConstraintUnique, sqliteConstraintPrimaryKey:
				return errUnique
			case sqliteTooBig:
				return errTooLarge
			case sqliteConstraintForeignKey:
				return errForeignKey
			}
			return errOther
		},
		binary:          func(s string) any { return s },
		ignoreDuplicate: `ON CONFLICT (name) DO NOTHING`,
		// BEGIN IMMEDIATE on the single writing connection is the lock.
		transactionalDDL: true,
	}
}

// postgresLockKey is the first half of the key of the advisory lock that
// guards migrations; the second is a hash of the schema being migrated.
const postgresLockKey = 0x63657262 // "cerb"

func postgresDialect() dialect {
	return dialect{
		placeholder: func(n int) string { return fmt.Sprintf("$%d", n) },
		classify:    classifyPostgres,
		// Text parameters must be valid UTF-8; BYTEA ones are sent as bytes.
		binary:           func(s string) any { return append([]byte{}, s...) },
		holdsText:        func(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) },
		forUpdate:        ` FOR UPDATE`,
		ignoreDuplicate:  `ON CONFLICT (name) DO NOTHING`,
		readIsolation:    sql.LevelRepeatableRead,
		transactionalDDL: true,
		lockMigrations: func(ctx context.Context, q querier) (func() error, error) {
			// Released when the migration transaction ends.
			if _, err := q.ExecContext(ctx, fmt.Sprintf(
				`SELECT pg_advisory_xact_lock(%d, hashtext(COALESCE(current_schema(), '')))`, postgresLockKey)); err != nil {
				return nil, fmt.Errorf("sqlstore: take migration lock: %w", err)
			}
			return func() error { return nil }, nil
		},
	}
}

// classifyPostgres classifies the errors of the pgx driver.
func classifyPostgres(err error) errClass {
	if c, ok := classifyConnection(err); ok {
		return c
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err) {
		// A connection the database closed, or a failure before anything
		// was sent: the database is (or was) unreachable.
		return errUnavailable
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return errOther
	}
	switch pe.Code {
	case "23505": // unique_violation
		return errUnique
	case "23503": // foreign_key_violation
		return errForeignKey
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03": // lock_not_available
		return errRetry
	case "57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now
		"53300", // too_many_connections
		"25006": // read_only_sql_transaction: a standby after a failover
		return errUnavailable
	case "54000": // program_limit_exceeded, such as an index row too large
		return errTooLarge
	case "22021", // character_not_in_repertoire: text that is not UTF-8, or holds NUL
		"22P05": // untranslatable_character
		return errBadText
	}
	if strings.HasPrefix(pe.Code, "08") { // connection_exception
		return errUnavailable
	}
	return errOther
}

// mysqlLockTimeout is how long, in seconds, a node waits for another one
// to finish migrating.
const mysqlLockTimeout = 30

func mysqlDialect() dialect {
	return dialect{
		placeholder:     func(int) string { return "?" },
		classify:        classifyMySQL,
		binary:          func(s string) any { return s },
		forUpdate:       ` FOR UPDATE`,
		ignoreDuplicate: `ON DUPLICATE KEY UPDATE name = name`,
		readIsolation:   sql.LevelRepeatableRead,
		lockMigrations: func(ctx context.Context, q querier) (func() error, error) {
			// The lock is the database's own, so that stores of other
			// databases on the server do not wait for it; lock names are at
			// most 64 characters.
			const name = `CONCAT('cerberus_migrate.', MD5(DATABASE()))`
			var got sql.NullInt64
			if err := q.QueryRowContext(ctx, fmt.Sprintf(`SELECT GET_LOCK(%s, %d)`, name, mysqlLockTimeout)).Scan(&got); err != nil {
				return nil, fmt.Errorf("sqlstore: take migration lock: %w", err)
			}
			if !got.Valid || got.Int64 != 1 {
				return nil, fmt.Errorf("sqlstore: take migration lock: another node held it for %d s", mysqlLockTimeout)
			}
			return func() error {
				// Not the request's context: the lock must go even if it
				// was canceled.
				if _, err := q.ExecContext(context.WithoutCancel(ctx), `DO RELEASE_LOCK(`+name+`)`); err != nil {
					return fmt.Errorf("sqlstore: release migration lock: %w", err)
				}
				return nil
			}, nil
		},
	}
}

// classifyMySQL classifies the errors of the MySQL driver, from MySQL or
// MariaDB.
func classifyMySQL(err error) errClass {
	if c, ok := classifyConnection(err); ok {
		return c
	}
	switch {
	case errors.Is(err, mysql.ErrInvalidConn):
		return errUnavailable
	case errors.Is(err, mysql.ErrPktTooLarge):
		return errTooLarge
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return errOther
	}
	switch me.Number {
	case 1062, // ER_DUP_ENTRY
		1022, // ER_DUP_KEY
		1586: // ER_DUP_ENTRY_WITH_KEY_NAME
		return errUnique
	case 1451, // ER_ROW_IS_REFERENCED_2
		1452: // ER_NO_REFERENCED_ROW_2
		return errForeignKey
	case 1060, // ER_DUP_FIELDNAME
		1061, // ER_DUP_KEYNAME
		1091: // ER_CANT_DROP_FIELD_OR_KEY: dropped already
		return errApplied
	case 1213, // ER_LOCK_DEADLOCK
		1205, // ER_LOCK_WAIT_TIMEOUT
		1020: // ER_CHECKREAD: the record changed since it was read
		return errRetry
	case 1040, // ER_CON_COUNT_ERROR
		1053, // ER_SERVER_SHUTDOWN
		1152, // ER_ABORTING_CONNECTION
		1158, // ER_NET_READ_ERROR
		1159, // ER_NET_READ_INTERRUPTED
		1160, // ER_NET_ERROR_ON_WRITE
		1161, // ER_NET_WRITE_INTERRUPTED
		1290, // ER_OPTION_PREVENTS_STATEMENT: --read-only, as after a failover
		1836, // ER_READ_ONLY_MODE
		1927, // ER_CONNECTION_KILLED (MariaDB)
		2002, // CR_CONNECTION_ERROR
		2003, // CR_CONN_HOST_ERROR
		2006, // CR_SERVER_GONE_ERROR
		2013: // CR_SERVER_LOST
		return errUnavailable
	case 1153, // ER_NET_PACKET_TOO_LARGE: over max_allowed_packet
		1406: // ER_DATA_TOO_LONG
		return errTooLarge
	}
	return errOther
}

// classifyConnection classifies the errors that every driver reports the
// same way: a canceled call, and the failures of the connection.
func classifyConnection(err error) (errClass, bool) {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		// The caller gave up; the database may be fine.
		return errOther, true
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &ne):
		return errUnavailable, true
	}
	return errOther, false
}
