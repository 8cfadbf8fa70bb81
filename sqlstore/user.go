package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

const userColumns = `id, name, password_hash, group_names, totp_secret, totp_last_counter, created_ts, updated_ts`

// scanUser scans a row of userColumns.
func scanUser(scan func(dest ...any) error) (*service.User, error) {
	u := new(service.User)
	err := scan(&u.ID, &u.Name, &u.PasswordHash, jsonStrings{&u.Groups}, &u.TOTPSecret, &u.TOTPLastCounter,
		msTime{&u.CreatedAt}, msTime{&u.UpdatedAt})
	return u, err
}

// CreateUser implements service.Store.
func (db *DB) CreateUser(ctx context.Context, u *service.User) (err error) {
	defer db.translate(&err)
	_, err = db.writeExec(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, u.PasswordHash, encodeStrings(u.Groups), u.TOTPSecret, u.TOTPLastCounter,
		millis(u.CreatedAt), millis(u.UpdatedAt))
	if db.isUnique(err) {
		return cerberus.Errorf(cerberus.ECodeUserExists, "The user %q already exists.", u.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create user: %w", err)
	}
	return nil
}

// UpdateUser implements service.Store. It finds the user by u.ID and also
// replaces its UpdatedAt; it never moves the TOTP counter. The user's
// tokens are deleted in the same transaction.
func (db *DB) UpdateUser(ctx context.Context, u *service.User) (err error) {
	defer db.translate(&err)
	if !db.canHold(u.ID) {
		return notFound()
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		var name string
		err := db.queryRow(ctx, tx, `SELECT name FROM users WHERE id = ?`, u.ID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound()
		} else if err != nil {
			return fmt.Errorf("sqlstore: update user: %w", err)
		}
		if _, err := db.exec(ctx, tx, `UPDATE users
	SET password_hash = ?, group_names = ?, totp_secret = ?, updated_ts = ?
	WHERE id = ?`,
			u.PasswordHash, encodeStrings(u.Groups), u.TOTPSecret, millis(u.UpdatedAt), u.ID); err != nil {
			return fmt.Errorf("sqlstore: update user: %w", err)
		}
		if _, err := db.exec(ctx, tx, `DELETE FROM tokens WHERE principal_type = ? AND principal = ?`,
			string(cerberus.PrincipalUser), name); err != nil {
			return fmt.Errorf("sqlstore: delete tokens of user: %w", err)
		}
		return nil
	})
}

// DeleteUser implements service.Store.
func (db *DB) DeleteUser(ctx context.Context, name string) (err error) {
	defer db.translate(&err)
	if !db.canHold(name) {
		return notFound()
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `DELETE FROM users WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("sqlstore: delete user: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return notFound()
		}
		if _, err := db.exec(ctx, tx, `DELETE FROM tokens WHERE principal_type = ? AND principal = ?`,
			string(cerberus.PrincipalUser), name); err != nil {
			return fmt.Errorf("sqlstore: delete tokens of user: %w", err)
		}
		return nil
	})
}

// FindUserByName implements service.Store.
func (db *DB) FindUserByName(ctx context.Context, name string) (_ *service.User, err error) {
	defer db.translate(&err)
	if !db.canHold(name) {
		return nil, notFound()
	}
	row := db.queryRow(ctx, db.read, `SELECT `+userColumns+` FROM users WHERE name = ?`, name)
	u, err := scanUser(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: find user: %w", err)
	}
	return u, nil
}

// ListUsers implements service.Store.
func (db *DB) ListUsers(ctx context.Context) (_ []*service.User, err error) {
	defer db.translate(&err)
	rows, err := db.query(ctx, db.read, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list users: %w", err)
	}
	defer rows.Close()
	us := []*service.User{}
	for rows.Next() {
		u, err := scanUser(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list users: %w", err)
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list users: %w", err)
	}
	return us, nil
}

// AdvanceTOTPCounter implements service.Store. It also returns ECodeConflict
// if there is no user userID.
func (db *DB) AdvanceTOTPCounter(ctx context.Context, userID string, counter int64) (err error) {
	defer db.translate(&err)
	if !db.canHold(userID) {
		return errReplayed()
	}
	res, err := db.writeExec(ctx, `UPDATE users SET totp_last_counter = ? WHERE id = ? AND totp_last_counter < ?`,
		counter, userID, counter)
	if err != nil {
		return fmt.Errorf("sqlstore: advance totp counter: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return errReplayed()
	}
	return nil
}

func errReplayed() error {
	return cerberus.Errorf(cerberus.ECodeConflict, "The one-time code was already used.")
}
