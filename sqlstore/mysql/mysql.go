// Package mysql opens the Cerberus store in a MySQL (5.7 or later) or
// MariaDB (10.2 or later) database, through the driver
// github.com/go-sql-driver/mysql. The SQL itself is package sqlstore's;
// this package holds the MySQL schema and the connection settings.
//
// # Connection
//
// The DSN is the driver's: user:password@tcp(host:3306)/database?param=value,
// and must name a database. Open sets what the store relies on whatever the
// DSN says: server-side prepared statements (interpolateParams=false), one
// statement per query (multiStatements=false), found rather than changed
// rows (clientFoundRows=true), and, unless the DSN sets sql_mode, strict
// mode, so that a value too long for its column fails rather than being cut.
// Connections are dialed within 3 s unless the DSN sets a timeout, and the
// pool holds at most 16 connections, each used for at most 5 minutes, so
// that requests fail fast while the database is down.
//
// # Large values
//
// A value and the statement that carries it must fit in the server's
// max_allowed_packet, which is 16 MiB by default in MariaDB (64 MiB in
// MySQL 8). Secrets up to the API's largest limit of 16 MiB, with their
// envelope, need max_allowed_packet = 32M or more on the server. Open reads
// the server's max_allowed_packet, and a value of more than it less
// PacketRoom fails with the code cerberus.ECodeTooLarge before it is sent:
// past the limit, the server may drop the connection rather than answer.
//
// # Migrations
//
// Open brings the schema up to date while it holds GET_LOCK on a lock named
// after the database, on a connection of its own, so that nodes starting
// together migrate one after the other. MySQL commits each DDL statement on
// its own: a migration cut short runs again from its first statement, so
// its statements are written to be run again safely.
package mysql

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cerberus-go/cerberus/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Settings of the connection pool.
const (
	dialTimeout = 3 * time.Second
	// ioTimeout bounds each read and write on a connection (readTimeout and
	// writeTimeout in the DSN override it).
	ioTimeout       = 5 * time.Second
	maxOpenConns    = 16
	connMaxLifetime = 5 * time.Minute
	connMaxIdleTime = time.Minute
)

// PacketRoom is what a statement needs in max_allowed_packet besides the
// value it stores.
const PacketRoom = 64 << 10

// strictMode adds strict mode to the session's sql_mode.
const strictMode = `CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')`

// Describe names the database of dsn for a message, without its password:
// database "cerberus" on db:3306 as "cerberus". It returns "" for a DSN
// that does not parse.
func Describe(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return ""
	}
	return where(cfg)
}

func where(cfg *mysql.Config) string {
	return fmt.Sprintf("database %q on %s as %q", cfg.DBName, cfg.Addr, cfg.User)
}

// driverLogger is the driver's Logger, writing to a slog.Logger.
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Print(v ...any) {
	d.l.Warn("mysql driver", "detail", strings.TrimSpace(fmt.Sprint(v...)))
}

// Open opens the store in the MySQL or MariaDB database that dsn names,
// checks that it can be reached, and brings its schema up to date. It fails
// if the schema is newer than this release knows. The errors it returns
// never hold the DSN, which may hold a password; if the database cannot be
// reached, they have the code cerberus.ECodeUnavailable.
//
// What the driver reports of its connections (such as "closing bad idle
// connection: EOF" while the database is unreachable), which it would print
// raw on standard error, is dropped: the failures it comes with reach the
// callers as errors anyway. OpenLogged keeps it.
func Open(ctx context.Context, dsn string) (*sqlstore.DB, error) {
	return OpenLogged(ctx, dsn, nil)
}

// OpenLogged is Open, sending what the driver reports to logger, at level
// WARN with the message "mysql driver" and the report as "detail".
func OpenLogged(ctx context.Context, dsn string, logger *slog.Logger) (*sqlstore.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		// The parser's message may quote parts of the DSN.
		return nil, errors.New("mysql: the DSN is not valid: want user:password@tcp(host:port)/database?param=value")
	}
	if cfg.DBName == "" {
		return nil, errors.New("mysql: the DSN names no database: want user:password@tcp(host:port)/database")
	}
	cfg.Logger = &mysql.NopLogger{}
	if logger != nil {
		cfg.Logger = driverLogger{logger}
	}
	cfg.InterpolateParams = false
	cfg.MultiStatements = false
	cfg.ClientFoundRows = true
	if cfg.Timeout == 0 {
		cfg.Timeout = dialTimeout
	}
	// The dial timeout does not cover the handshake or the answers: without
	// I/O timeouts, a server that accepts connections but never answers
	// hangs every request.
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = ioTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = ioTimeout
	}
	if _, ok := cfg.Params["sql_mode"]; !ok {
		if cfg.Params == nil {
			cfg.Params = make(map[string]string)
		}
		cfg.Params["sql_mode"] = strictMode
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	h := sql.OpenDB(conn)
	h.SetMaxOpenConns(maxOpenConns)
	h.SetMaxIdleConns(maxOpenConns)
	h.SetConnMaxLifetime(connMaxLifetime)
	h.SetConnMaxIdleTime(connMaxIdleTime)
	db := sqlstore.NewMySQL(h)
	where := where(cfg)
	if err := db.Ping(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("mysql: connect to %s: %w", where, err), db.Close())
	}
	var maxPacket int
	if err := h.QueryRowContext(ctx, `SELECT @@max_allowed_packet`).Scan(&maxPacket); err != nil {
		return nil, errors.Join(fmt.Errorf("mysql: read max_allowed_packet of %s: %w", where, err), db.Close())
	}
	db.LimitValues(maxPacket - PacketRoom)
	set, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("mysql: %w", err), db.Close())
	}
	if err := db.Migrate(ctx, set); err != nil {
		return nil, errors.Join(fmt.Errorf("mysql: migrate %s: %w", where, err), db.Close())
	}
	return db, nil
}
