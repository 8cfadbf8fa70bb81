// Package postgres opens the Cerberus store in a PostgreSQL database (10 or
// later), through the pgx driver. The SQL itself is package sqlstore's; this
// package holds the PostgreSQL schema and the connection settings.
//
// # Connection
//
// The DSN is a URL (postgres://user:password@host:5432/database?sslmode=…)
// or key=value pairs, as libpq takes them; a search_path parameter puts the
// store's tables in that schema. Connections are made within
// connect_timeout, 3 s unless the DSN sets it, and the pool holds at most
// 16 connections, each used for at most 5 minutes, so that requests fail
// fast while the database is down and connections move to a new primary
// after a failover.
//
// # Migrations
//
// Open brings the schema up to date in one transaction that holds an
// advisory lock (pg_advisory_xact_lock) keyed by the schema, so that nodes
// starting together migrate one after the other.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cerberus-go/cerberus/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Settings of the connection pool.
const (
	connectTimeout  = 3 * time.Second
	maxOpenConns    = 16
	connMaxLifetime = 5 * time.Minute
	connMaxIdleTime = time.Minute
)

// Open opens the store in the PostgreSQL database that dsn names, checks
// that it can be reached, and brings its schema up to date. It fails if the
// schema is newer than this release knows. The errors it returns never
// hold the DSN, which may hold a password; if the database cannot be
// reached, they have the code cerberus.ECodeUnavailable.
func Open(ctx context.Context, dsn string) (*sqlstore.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parser's message quotes the DSN.
		return nil, errors.New("postgres: the DSN is not valid: want postgres://user:password@host:port/database?param=value or key=value pairs")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	h := stdlib.OpenDB(*cfg)
	h.SetMaxOpenConns(maxOpenConns)
	h.SetMaxIdleConns(maxOpenConns)
	h.SetConnMaxLifetime(connMaxLifetime)
	h.SetConnMaxIdleTime(connMaxIdleTime)
	db := sqlstore.NewPostgres(h)
	if err := db.Ping(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("postgres: connect to %s: %w", where(cfg), err), db.Close())
	}
	set, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("postgres: %w", err), db.Close())
	}
	if err := db.Migrate(ctx, set); err != nil {
		return nil, errors.Join(fmt.Errorf("postgres: migrate %s: %w", where(cfg), err), db.Close())
	}
	return db, nil
}

// where names the database of cfg for a message, without the password.
// Describe names the database of dsn for a message, without its password:
// database "cerberus" on db:5432 as "cerberus". It returns "" for a DSN
// that does not parse.
func Describe(dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return where(cfg)
}

func where(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("database %q on %s:%d as %q", cfg.Database, cfg.Host, cfg.Port, cfg.User)
}
