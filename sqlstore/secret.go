package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// Actions recorded with a secret's history.
const (
	actionUpdate = "UPDATE"
	actionDelete = "DELETE"
)

func errSecretConflict() error {
	return cerberus.Errorf(cerberus.ECodeConflict, "The secret was changed by another request.")
}

// FindSecret implements service.Store.
func (db *DB) FindSecret(ctx context.Context, sdbID, path string) (*service.SecretRecord, error) {
	return db.findSecret(ctx, sdbID, path, "ciphertext")
}

// FindSecretInfo implements service.Store.
func (db *DB) FindSecretInfo(ctx context.Context, sdbID, path string) (*service.SecretRecord, error) {
	return db.findSecret(ctx, sdbID, path, "NULL")
}

// findSecret returns the current record at (sdbID, path), with the
// ciphertext column selected as ciphertext: "ciphertext" or "NULL".
func (db *DB) findSecret(ctx context.Context, sdbID, path, ciphertext string) (_ *service.SecretRecord, err error) {
	defer db.translate(&err)
	if !db.canHold(sdbID) {
		return nil, notFound()
	}
	rec := &service.SecretRecord{SDBID: sdbID, Path: path}
	err = db.queryRow(ctx, db.read, `SELECT kind, version, `+ciphertext+`, size_bytes,
	created_by, last_updated_by, created_ts, last_updated_ts
	FROM secrets WHERE sdb_id = ? AND path = ?`, sdbID, db.dialect.binary(path)).Scan(
		&rec.Kind, &rec.Version, &rec.Ciphertext, &rec.SizeBytes,
		&rec.CreatedBy, &rec.LastUpdatedBy, msTime{&rec.CreatedAt}, msTime{&rec.LastUpdatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: find secret: %w", err)
	}
	return rec, nil
}

// LastSecretVersion implements service.Store.
func (db *DB) LastSecretVersion(ctx context.Context, sdbID, path string) (_ int64, err error) {
	defer db.translate(&err)
	if !db.canHold(sdbID) {
		return 0, nil
	}
	var v int64
	err = db.queryRow(ctx, db.read, `SELECT COALESCE(MAX(v), 0) FROM (
	SELECT MAX(version) AS v FROM secrets WHERE sdb_id = ? AND path = ?
	UNION ALL SELECT MAX(version) AS v FROM secret_versions WHERE sdb_id = ? AND path = ?) versions`,
		sdbID, db.dialect.binary(path), sdbID, db.dialect.binary(path)).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: last secret version: %w", err)
	}
	return v, nil
}

// PutSecret implements service.Store.
func (db *DB) PutSecret(ctx context.Context, rec *service.SecretRecord, prev int64) (err error) {
	defer db.translate(&err)
	if rec.Version == 0 {
		rec.Version = prev + 1
	}
	if rec.Version <= prev {
		return fmt.Errorf("sqlstore: put secret: version %d does not follow %d", rec.Version, prev)
	}
	if db.maxValue > 0 && len(rec.Ciphertext) > db.maxValue {
		return cerberus.Errorf(cerberus.ECodeTooLarge, "The value is larger than the database accepts (%d bytes).", db.maxValue)
	}
	if prev == 0 {
		_, err := db.writeExec(ctx, `INSERT INTO secrets
	(sdb_id, path, kind, version, ciphertext, size_bytes, created_by, last_updated_by, created_ts, last_updated_ts)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			rec.SDBID, db.dialect.binary(rec.Path), string(rec.Kind), rec.Version, rec.Ciphertext, rec.SizeBytes,
			rec.CreatedBy, rec.LastUpdatedBy, millis(rec.CreatedAt), millis(rec.LastUpdatedAt))
		if db.isUnique(err) {
			return errSecretConflict()
		}
		if err != nil {
			return fmt.Errorf("sqlstore: create secret: %w", err)
		}
		return nil
	}
	var createdBy string
	var createdAt time.Time
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		createdBy, createdAt, err = db.archiveSecret(ctx, tx, rec.SDBID, rec.Path, prev, actionUpdate, rec.LastUpdatedBy, rec.LastUpdatedAt)
		if err != nil {
			return err
		}
		res, err := db.exec(ctx, tx, `UPDATE secrets
	SET kind = ?, version = ?, ciphertext = ?, size_bytes = ?, last_updated_by = ?, last_updated_ts = ?
	WHERE sdb_id = ? AND path = ? AND version = ?`,
			string(rec.Kind), rec.Version, rec.Ciphertext, rec.SizeBytes, rec.LastUpdatedBy, millis(rec.LastUpdatedAt),
			rec.SDBID, db.dialect.binary(rec.Path), prev)
		if err != nil {
			return fmt.Errorf("sqlstore: update secret: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n != 1 {
			return errSecretConflict()
		}
		return nil
	})
	if err != nil {
		return err
	}
	rec.CreatedBy, rec.CreatedAt = createdBy, createdAt
	return nil
}

// DeleteSecret implements service.Store.
func (db *DB) DeleteSecret(ctx context.Context, sdbID, path string, prev int64, by string, at time.Time) (err error) {
	defer db.translate(&err)
	if !db.canHold(sdbID) {
		return notFound()
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, _, err := db.archiveSecret(ctx, tx, sdbID, path, prev, actionDelete, by, at); err != nil {
			return err
		}
		res, err := db.exec(ctx, tx, `DELETE FROM secrets WHERE sdb_id = ? AND path = ? AND version = ?`,
			sdbID, db.dialect.binary(path), prev)
		if err != nil {
			return fmt.Errorf("sqlstore: delete secret: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n != 1 {
			return errSecretConflict()
		}
		return nil
	})
}

// archiveSecret copies the current value at (sdbID, path) into the history
// with action, by and at, if its version is prev, and returns who created it
// and when. It returns ECodeNotFound if there is no current value when
// deleting, ECodeConflict if there is none when updating or if its version
// is not prev.
func (db *DB) archiveSecret(ctx context.Context, tx *sql.Tx, sdbID, path string, prev int64, action, by string, at time.Time) (createdBy string, createdAt time.Time, err error) {
	var version int64
	err = db.queryRow(ctx, tx, `SELECT version, created_by, created_ts FROM secrets WHERE sdb_id = ? AND path = ?`+
		db.dialect.forUpdate, sdbID, db.dialect.binary(path)).Scan(&version, &createdBy, msTime{&createdAt})
	switch {
	case errors.Is(err, sql.ErrNoRows) && action == actionDelete:
		return "", time.Time{}, notFound()
	case errors.Is(err, sql.ErrNoRows):
		return "", time.Time{}, errSecretConflict()
	case err != nil:
		return "", time.Time{}, fmt.Errorf("sqlstore: find secret version: %w", err)
	case version != prev:
		return "", time.Time{}, errSecretConflict()
	}
	res, err := db.exec(ctx, tx, `INSERT INTO secret_versions
	(id, sdb_id, path, kind, version, ciphertext, size_bytes, action,
	version_created_by, version_created_ts, action_principal, action_ts)
	SELECT ?, sdb_id, path, kind, version, ciphertext, size_bytes, ?,
	last_updated_by, last_updated_ts, ?, ?
	FROM secrets WHERE sdb_id = ? AND path = ? AND version = ?`,
		cerberus.NewID(), action, by, millis(at), sdbID, db.dialect.binary(path), prev)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sqlstore: archive secret version: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return "", time.Time{}, err
	} else if n != 1 {
		return "", time.Time{}, errSecretConflict()
	}
	var keep int
	if err := db.queryRow(ctx, tx, `SELECT max_versions FROM sdbs WHERE id = ?`, sdbID).Scan(&keep); err != nil {
		return "", time.Time{}, fmt.Errorf("sqlstore: find the sdb's history bound: %w", err)
	}
	if keep > 0 {
		if _, err := db.prune(ctx, tx, sdbID, path, keep); err != nil {
			return "", time.Time{}, err
		}
	}
	return createdBy, createdAt, nil
}

// prune deletes the history records of (sdbID, path) but the keep newest
// and returns how many it deleted.
func (db *DB) prune(ctx context.Context, tx *sql.Tx, sdbID, path string, keep int) (int64, error) {
	var seq int64
	err := db.queryRow(ctx, tx, `SELECT seq FROM secret_versions WHERE sdb_id = ? AND path = ?
	ORDER BY seq DESC LIMIT 1 OFFSET ?`, sdbID, db.dialect.binary(path), keep).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil // at most keep records
	}
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune secret versions: %w", err)
	}
	res, err := db.exec(ctx, tx, `DELETE FROM secret_versions WHERE sdb_id = ? AND path = ? AND seq <= ?`,
		sdbID, db.dialect.binary(path), seq)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune secret versions: %w", err)
	}
	return rowsAffected(res)
}

// PruneSecretVersions implements service.Store.
func (db *DB) PruneSecretVersions(ctx context.Context, sdbID, path string, keep int) (n int64, err error) {
	defer db.translate(&err)
	if keep < 0 {
		return 0, cerberus.Errorf(cerberus.ECodeBadRequest, "The number of versions to keep may not be negative.")
	}
	if !db.canHold(sdbID) {
		return 0, nil
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = db.prune(ctx, tx, sdbID, path, keep)
		return err
	})
	return n, err
}

// ListSecretPaths implements service.Store.
func (db *DB) ListSecretPaths(ctx context.Context, sdbID, prefix string, kind service.SecretKind) (_ []string, err error) {
	defer db.translate(&err)
	if !db.canHold(sdbID) {
		return []string{}, nil
	}
	cond, args := db.underPrefix(prefix)
	rows, err := db.query(ctx, db.read, `SELECT path FROM secrets WHERE sdb_id = ? AND kind = ? AND `+cond+` ORDER BY path`,
		append([]any{sdbID, string(kind)}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list secret paths: %w", err)
	}
	return scanPaths(rows)
}

// scanPaths returns the one column of rows, which it closes.
func scanPaths(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	paths := []string{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("sqlstore: list paths: %w", err)
		}
		paths = append(paths, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list paths: %w", err)
	}
	return paths, nil
}

// underPrefix returns the condition that a path begins with prefix, as a
// range of the path column, and its arguments.
func (db *DB) underPrefix(prefix string) (string, []any) {
	if end, ok := prefixEnd(prefix); ok {
		return `path >= ? AND path < ?`, []any{db.dialect.binary(prefix), db.dialect.binary(end)}
	}
	return `path >= ?`, []any{db.dialect.binary(prefix)}
}

// ListFiles implements service.Store.
func (db *DB) ListFiles(ctx context.Context, sdbID, prefix string, limit, offset int) (_ []*service.SecretRecord, _ int, err error) {
	defer db.translate(&err)
	if limit < 0 || offset < 0 {
		return nil, 0, cerberus.Errorf(cerberus.ECodeBadRequest, "The limit and the offset may not be negative.")
	}
	recs := []*service.SecretRecord{}
	if !db.canHold(sdbID) {
		return recs, 0, nil
	}
	cond, pargs := db.underPrefix(prefix)
	where := `sdb_id = ? AND kind = ? AND ` + cond
	args := append([]any{sdbID, string(service.KindFile)}, pargs...)
	var total int
	err = db.readTx(ctx, func(tx *sql.Tx) error {
		if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM secrets WHERE `+where, args...).Scan(&total); err != nil {
			return fmt.Errorf("sqlstore: count files: %w", err)
		}
		if limit == 0 || offset >= total {
			return nil
		}
		rows, err := db.query(ctx, tx, `SELECT path, version, size_bytes, created_by, last_updated_by, created_ts, last_updated_ts
	FROM secrets WHERE `+where+` ORDER BY created_ts DESC, path LIMIT ? OFFSET ?`, append(args, limit, offset)...)
		if err != nil {
			return fmt.Errorf("sqlstore: list files: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r := &service.SecretRecord{SDBID: sdbID, Kind: service.KindFile}
			if err := rows.Scan(&r.Path, &r.Version, &r.SizeBytes, &r.CreatedBy, &r.LastUpdatedBy,
				msTime{&r.CreatedAt}, msTime{&r.LastUpdatedAt}); err != nil {
				return fmt.Errorf("sqlstore: list files: %w", err)
			}
			recs = append(recs, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: list files: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return recs, total, nil
}

// ListVersionPaths implements service.Store.
func (db *DB) ListVersionPaths(ctx context.Context, sdbID string) (_ []string, err error) {
	defer db.translate(&err)
	if !db.canHold(sdbID) {
		return []string{}, nil
	}
	rows, err := db.query(ctx, db.read, `SELECT path FROM secrets WHERE sdb_id = ?
	UNION SELECT path FROM secret_versions WHERE sdb_id = ? ORDER BY path`, sdbID, sdbID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list version paths: %w", err)
	}
	return scanPaths(rows)
}

// FindSecretVersion implements service.Store.
func (db *DB) FindSecretVersion(ctx context.Context, sdbID, path, id string) (_ *service.SecretRecord, err error) {
	defer db.translate(&err)
	if !db.canHold(sdbID) || !db.canHold(id) {
		return nil, notFound()
	}
	r := &service.SecretRecord{SDBID: sdbID, Path: path}
	err = db.queryRow(ctx, db.read, `SELECT id, kind, version, ciphertext, size_bytes, action,
	version_created_by, version_created_ts, action_principal, action_ts
	FROM secret_versions WHERE id = ? AND sdb_id = ? AND path = ?`, id, sdbID, db.dialect.binary(path)).Scan(
		&r.VersionID, &r.Kind, &r.Version, &r.Ciphertext, &r.SizeBytes, &r.Action,
		&r.CreatedBy, msTime{&r.CreatedAt}, &r.ActionBy, msTime{&r.ActionAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: find secret version: %w", err)
	}
	r.LastUpdatedBy, r.LastUpdatedAt = r.CreatedBy, r.CreatedAt
	return r, nil
}

// prefixEnd returns the least string that is greater than every string that
// begins with prefix, in byte order, and false if there is none: if prefix
// is empty or all 0xff bytes.
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// ListSecretVersions implements service.Store. The history is listed in the
// order it was written (newest first), which is version order within one
// life of the path and stays right when a deleted path is written again
// from version 1.
func (db *DB) ListSecretVersions(ctx context.Context, sdbID, path string, limit, offset int) (_ []*service.SecretRecord, _ int, err error) {
	defer db.translate(&err)
	if limit < 0 || offset < 0 {
		return nil, 0, cerberus.Errorf(cerberus.ECodeBadRequest, "The limit and the offset may not be negative.")
	}
	recs := []*service.SecretRecord{}
	if !db.canHold(sdbID) {
		return recs, 0, nil
	}
	var total int
	err = db.readTx(ctx, func(tx *sql.Tx) error {
		if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM secret_versions WHERE sdb_id = ? AND path = ?`,
			sdbID, db.dialect.binary(path)).Scan(&total); err != nil {
			return fmt.Errorf("sqlstore: count secret versions: %w", err)
		}
		if limit == 0 || offset >= total {
			return nil
		}
		rows, err := db.query(ctx, tx, `SELECT id, kind, version, size_bytes, action,
	version_created_by, version_created_ts, action_principal, action_ts
	FROM secret_versions WHERE sdb_id = ? AND path = ?
	ORDER BY seq DESC LIMIT ? OFFSET ?`, sdbID, db.dialect.binary(path), limit, offset)
		if err != nil {
			return fmt.Errorf("sqlstore: list secret versions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r := &service.SecretRecord{SDBID: sdbID, Path: path}
			if err := rows.Scan(&r.VersionID, &r.Kind, &r.Version, &r.SizeBytes, &r.Action,
				&r.CreatedBy, msTime{&r.CreatedAt}, &r.ActionBy, msTime{&r.ActionAt}); err != nil {
				return fmt.Errorf("sqlstore: list secret versions: %w", err)
			}
			r.LastUpdatedBy, r.LastUpdatedAt = r.CreatedBy, r.CreatedAt
			recs = append(recs, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: list secret versions: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return recs, total, nil
}
