package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// ListSealed implements service.Store. Each kind is read with a keyset
// query (WHERE key > cursor ORDER BY key LIMIT n) outside a transaction, so
// that a long walk holds no snapshot and no lock.
func (db *DB) ListSealed(ctx context.Context, after service.SealedCursor, limit int) (_ []*service.SealedRecord, _ service.SealedCursor, err error) {
	defer db.translate(&err)
	if limit <= 0 {
		return nil, after, cerberus.Errorf(cerberus.ECodeBadRequest, "The limit must be positive.")
	}
	kinds := service.SealedKinds()
	start := 0
	if after.Kind != "" {
		if start = slices.Index(kinds, after.Kind); start < 0 {
			return nil, after, cerberus.Errorf(cerberus.ECodeBadRequest, "Unknown kind of sealed record %q.", after.Kind)
		}
	}
	recs := []*service.SealedRecord{}
	size := 0
	for _, kind := range kinds[start:] {
		if len(recs) >= limit || size > service.MaxSealedPageBytes {
			break
		}
		var from *service.SealedCursor // nil: from the start of kind
		if kind == after.Kind {
			from = &after
		}
		page, err := db.sealedPage(ctx, kind, from, limit-len(recs), service.MaxSealedPageBytes-size)
		if err != nil {
			return nil, after, err
		}
		for _, r := range page {
			size += len(r.Ciphertext)
		}
		recs = append(recs, page...)
	}
	if len(recs) == 0 {
		return recs, after, nil
	}
	return recs, recs[len(recs)-1].Cursor(), nil
}

// sealedPage returns up to limit records of kind after the cursor from (or
// from the first one if from is nil), stopping after the record whose
// ciphertext makes them hold more than maxBytes.
func (db *DB) sealedPage(ctx context.Context, kind service.SealedKind, from *service.SealedCursor, limit, maxBytes int) ([]*service.SealedRecord, error) {
	var query string
	var args []any
	switch kind {
	case service.SealedSecret:
		query = `SELECT sdb_id, path, kind, version, ciphertext FROM secrets`
		if from != nil {
			query += ` WHERE sdb_id > ? OR (sdb_id = ? AND path > ?)`
			args = append(args, from.SDBID, from.SDBID, db.dialect.binary(from.Path))
		}
		query += ` ORDER BY sdb_id, path`
	case service.SealedSecretVersion:
		query = `SELECT id, sdb_id, path, kind, version, ciphertext FROM secret_versions`
		if from != nil {
			query += ` WHERE id > ?`
			args = append(args, from.ID)
		}
		query += ` ORDER BY id`
	case service.SealedUserTOTP:
		query = `SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL`
		if from != nil {
			query += ` AND id > ?`
			args = append(args, from.ID)
		}
		query += ` ORDER BY id`
	case service.SealedServerKey:
		query = `SELECT name, sealed FROM server_keys`
		if from != nil {
			query += ` WHERE name > ?`
			args = append(args, from.ID)
		}
		query += ` ORDER BY name`
	}
	rows, err := db.query(ctx, db.read, query+` LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list sealed %s records: %w", kind, err)
	}
	defer rows.Close()
	recs := []*service.SealedRecord{}
	size := 0
	for size <= maxBytes && rows.Next() {
		r := &service.SealedRecord{Kind: kind}
		var path []byte
		switch kind {
		case service.SealedSecret:
			err = rows.Scan(&r.SDBID, &path, &r.SecretKind, &r.Version, &r.Ciphertext)
		case service.SealedSecretVersion:
			err = rows.Scan(&r.VersionID, &r.SDBID, &path, &r.SecretKind, &r.Version, &r.Ciphertext)
		case service.SealedUserTOTP:
			err = rows.Scan(&r.UserID, &r.Ciphertext)
		case service.SealedServerKey:
			err = rows.Scan(&r.Name, &r.Ciphertext)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list sealed %s records: %w", kind, err)
		}
		r.Path = string(path)
		size += len(r.Ciphertext)
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list sealed %s records: %w", kind, err)
	}
	return recs, nil
}

// ReplaceSealed implements service.Store. The UPDATE matches the record
// and its old ciphertext, so that a write that made a fresh ciphertext in
// the meantime is never overwritten.
func (db *DB) ReplaceSealed(ctx context.Context, rec *service.SealedRecord, newCiphertext []byte) (err error) {
	defer db.translate(&err)
	if len(newCiphertext) == 0 {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "The new ciphertext is empty.")
	}
	var res sql.Result
	switch rec.Kind {
	case service.SealedSecret:
		if !db.canHold(rec.SDBID) {
			return errSealedChanged()
		}
		res, err = db.writeExec(ctx, `UPDATE secrets SET ciphertext = ?
	WHERE sdb_id = ? AND path = ? AND kind = ? AND version = ? AND ciphertext = ?`,
			newCiphertext, rec.SDBID, db.dialect.binary(rec.Path), string(rec.SecretKind), rec.Version, rec.Ciphertext)
	case service.SealedSecretVersion:
		if !db.canHold(rec.VersionID) {
			return errSealedChanged()
		}
		res, err = db.writeExec(ctx, `UPDATE secret_versions SET ciphertext = ? WHERE id = ? AND ciphertext = ?`,
			newCiphertext, rec.VersionID, rec.Ciphertext)
	case service.SealedUserTOTP:
		if !db.canHold(rec.UserID) {
			return errSealedChanged()
		}
		res, err = db.writeExec(ctx, `UPDATE users SET totp_secret = ? WHERE id = ? AND totp_secret = ?`,
			newCiphertext, rec.UserID, rec.Ciphertext)
	case service.SealedServerKey:
		if !db.canHold(rec.Name) {
			return errSealedChanged()
		}
		res, err = db.writeExec(ctx, `UPDATE server_keys SET sealed = ? WHERE name = ? AND sealed = ?`,
			newCiphertext, rec.Name, rec.Ciphertext)
	default:
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Unknown kind of sealed record %q.", rec.Kind)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: replace sealed %s record: %w", rec.Kind, err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n != 1 {
		return errSealedChanged()
	}
	return nil
}

func errSealedChanged() error {
	return cerberus.Errorf(cerberus.ECodeConflict, "The record was changed or deleted since it was read.")
}
