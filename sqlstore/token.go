package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cerberus-go/cerberus/service"
)

// CreateToken implements service.Store.
func (db *DB) CreateToken(ctx context.Context, t *service.TokenRecord) (err error) {
	defer db.translate(&err)
	if _, err := db.writeExec(ctx, `INSERT INTO tokens
	(id, hash, principal_type, principal, group_names, is_admin, refresh_count, created_ts, expires_ts)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Hash, string(t.PrincipalType), t.Principal, encodeStrings(t.Groups), boolInt(t.IsAdmin), t.RefreshCount,
		millis(t.CreatedAt), millis(t.ExpiresAt)); err != nil {
		return fmt.Errorf("sqlstore: create token: %w", err)
	}
	return nil
}

// FindTokenByHash implements service.Store.
func (db *DB) FindTokenByHash(ctx context.Context, hash []byte) (_ *service.TokenRecord, err error) {
	defer db.translate(&err)
	t := new(service.TokenRecord)
	err = db.queryRow(ctx, db.read, `SELECT id, hash, principal_type, principal, group_names, is_admin, refresh_count,
	created_ts, expires_ts FROM tokens WHERE hash = ?`, hash).Scan(
		&t.ID, &t.Hash, &t.PrincipalType, &t.Principal, jsonStrings{&t.Groups}, &t.IsAdmin, &t.RefreshCount,
		msTime{&t.CreatedAt}, msTime{&t.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: find token: %w", err)
	}
	return t, nil
}

// DeleteToken implements service.Store.
func (db *DB) DeleteToken(ctx context.Context, id string) (err error) {
	defer db.translate(&err)
	if !db.canHold(id) {
		return notFound()
	}
	res, err := db.writeExec(ctx, `DELETE FROM tokens WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete token: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return notFound()
	}
	return nil
}

// DeleteExpiredTokens implements service.Store.
func (db *DB) DeleteExpiredTokens(ctx context.Context, now time.Time) (_ int64, err error) {
	defer db.translate(&err)
	res, err := db.writeExec(ctx, `DELETE FROM tokens WHERE expires_ts < ?`, millis(now))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired tokens: %w", err)
	}
	return rowsAffected(res)
}

// CountTokens implements service.Store.
func (db *DB) CountTokens(ctx context.Context, now time.Time) (_ int64, err error) {
	defer db.translate(&err)
	var n int64
	if err := db.queryRow(ctx, db.read, `SELECT COUNT(*) FROM tokens WHERE expires_ts >= ?`, millis(now)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlstore: count tokens: %w", err)
	}
	return n, nil
}

// PutKeyIfAbsent implements service.Store.
func (db *DB) PutKeyIfAbsent(ctx context.Context, name string, sealed []byte) (err error) {
	defer db.translate(&err)
	if _, err := db.writeExec(ctx, `INSERT INTO server_keys (name, sealed, created_ts) VALUES (?, ?, ?) `+
		db.dialect.ignoreDuplicate, name, sealed, millis(time.Now())); err != nil {
		return fmt.Errorf("sqlstore: store server key: %w", err)
	}
	return nil
}

// FindKey implements service.Store.
func (db *DB) FindKey(ctx context.Context, name string) (_ []byte, err error) {
	defer db.translate(&err)
	if !db.canHold(name) {
		return nil, notFound()
	}
	var sealed []byte
	err = db.queryRow(ctx, db.read, `SELECT sealed FROM server_keys WHERE name = ?`, name).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: find server key: %w", err)
	}
	return sealed, nil
}
