package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cerberus-go/cerberus"
)

// ListCategories implements service.Store.
func (db *DB) ListCategories(ctx context.Context) (_ []*cerberus.Category, err error) {
	defer db.translate(&err)
	rows, err := db.query(ctx, db.read, `SELECT id, display_name, path, created_by, last_updated_by, created_ts, last_updated_ts
	FROM categories ORDER BY display_name`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list categories: %w", err)
	}
	defer rows.Close()
	cs := []*cerberus.Category{}
	for rows.Next() {
		c := new(cerberus.Category)
		if err := rows.Scan(&c.ID, &c.DisplayName, &c.Path, &c.CreatedBy, &c.LastUpdatedBy,
			msTime{&c.CreatedAt}, msTime{&c.LastUpdatedAt}); err != nil {
			return nil, fmt.Errorf("sqlstore: list categories: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list categories: %w", err)
	}
	return cs, nil
}

// ListRoles implements service.Store.
func (db *DB) ListRoles(ctx context.Context) (_ []*cerberus.Role, err error) {
	defer db.translate(&err)
	rows, err := db.query(ctx, db.read, `SELECT id, name, created_by, last_updated_by, created_ts, last_updated_ts
	FROM roles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list roles: %w", err)
	}
	defer rows.Close()
	rs := []*cerberus.Role{}
	for rows.Next() {
		r := new(cerberus.Role)
		if err := rows.Scan(&r.ID, &r.Name, &r.CreatedBy, &r.LastUpdatedBy,
			msTime{&r.CreatedAt}, msTime{&r.LastUpdatedAt}); err != nil {
			return nil, fmt.Errorf("sqlstore: list roles: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list roles: %w", err)
	}
	return rs, nil
}

// CreateSDB implements service.Store. The SDB and its permissions are
// stored as given, ids and audit fields included; the owner's grant gets a
// new id and sdb's audit fields.
func (db *DB) CreateSDB(ctx context.Context, sdb *cerberus.SDB) (err error) {
	defer db.translate(&err)
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := db.checkCategory(ctx, tx, sdb.CategoryID); err != nil {
			return err
		}
		if err := db.insertSDB(ctx, tx, sdb); err != nil {
			return err
		}
		return db.insertGrants(ctx, tx, sdb)
	})
}

// insertSDB stores the row of sdb, without its permissions.
func (db *DB) insertSDB(ctx context.Context, tx *sql.Tx, sdb *cerberus.SDB) error {
	_, err := db.exec(ctx, tx, `INSERT INTO sdbs
	(id, category_id, name, slug, description, path, created_by, last_updated_by, created_ts, last_updated_ts, max_versions)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sdb.ID, sdb.CategoryID, sdb.Name, sdb.Slug, sdb.Description, sdb.Path,
		sdb.CreatedBy, sdb.LastUpdatedBy, millis(sdb.CreatedAt), millis(sdb.LastUpdatedAt), sdb.MaxVersions)
	if db.isUnique(err) {
		return errDuplicateSDB()
	}
	if err != nil {
		return fmt.Errorf("sqlstore: store sdb: %w", err)
	}
	return nil
}

func errDuplicateSDB() error {
	return cerberus.Errorf(cerberus.ECodeSDBNameDuplicate, "Duplicate SDB names are not allowed.")
}

// checkCategory returns ECodeCategoryInvalid if there is no category id.
func (db *DB) checkCategory(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := db.queryRow(ctx, tx, `SELECT 1 FROM categories WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return cerberus.Errorf(cerberus.ECodeCategoryInvalid, "The category id is invalid.")
	}
	if err != nil {
		return fmt.Errorf("sqlstore: find category: %w", err)
	}
	return nil
}

// insertGrants stores the owner of sdb, as a group permission with the
// owner role, a new id and sdb's audit fields, and its other permissions.
func (db *DB) insertGrants(ctx context.Context, tx *sql.Tx, sdb *cerberus.SDB) error {
	res, err := db.exec(ctx, tx, `INSERT INTO user_group_permissions
	(id, sdb_id, group_name, role_id, is_owner, created_by, last_updated_by, created_ts, last_updated_ts)
	SELECT ?, ?, ?, id, 1, ?, ?, ?, ? FROM roles WHERE name = ?`,
		cerberus.NewID(), sdb.ID, sdb.Owner, sdb.CreatedBy, sdb.LastUpdatedBy,
		millis(sdb.CreatedAt), millis(sdb.LastUpdatedAt), string(cerberus.RoleOwner))
	if err != nil {
		return fmt.Errorf("sqlstore: store sdb owner: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n != 1 {
		return errors.New("sqlstore: store sdb owner: the database has no owner role")
	}
	return db.insertPermissions(ctx, tx, sdb)
}

// RestoreSDB implements service.Store.
func (db *DB) RestoreSDB(ctx context.Context, sdb *cerberus.SDB) (err error) {
	defer db.translate(&err)
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := db.checkCategory(ctx, tx, sdb.CategoryID); err != nil {
			return err
		}
		res, err := db.exec(ctx, tx, `UPDATE sdbs SET category_id = ?, name = ?, slug = ?, description = ?, path = ?,
	created_by = ?, last_updated_by = ?, created_ts = ?, last_updated_ts = ?, max_versions = ? WHERE id = ?`,
			sdb.CategoryID, sdb.Name, sdb.Slug, sdb.Description, sdb.Path,
			sdb.CreatedBy, sdb.LastUpdatedBy, millis(sdb.CreatedAt), millis(sdb.LastUpdatedAt), sdb.MaxVersions, sdb.ID)
		if db.isUnique(err) {
			return errDuplicateSDB()
		}
		if err != nil {
			return fmt.Errorf("sqlstore: restore sdb: %w", err)
		}
		n, err := rowsAffected(res)
		if err != nil {
			return err
		}
		if n == 0 {
			if err := db.insertSDB(ctx, tx, sdb); err != nil {
				return err
			}
		}
		for _, table := range []string{"user_group_permissions", "iam_principal_permissions"} {
			if _, err := db.exec(ctx, tx, `DELETE FROM `+table+` WHERE sdb_id = ?`, sdb.ID); err != nil {
				return fmt.Errorf("sqlstore: restore sdb: clear %s: %w", table, err)
			}
		}
		if err := db.insertGrants(ctx, tx, sdb); err != nil {
			return err
		}
		return db.pruneSDBHistory(ctx, tx, sdb.ID, sdb.MaxVersions)
	})
}

// pruneSDBHistory deletes the history records of every path of the SDB
// but the keep newest of each; keep 0 keeps them all.
func (db *DB) pruneSDBHistory(ctx context.Context, tx *sql.Tx, sdbID string, keep int) error {
	if keep <= 0 {
		return nil
	}
	// The ranking is a derived table, which MySQL materializes before the
	// DELETE reads the table it deletes from.
	if _, err := db.exec(ctx, tx, `DELETE FROM secret_versions WHERE sdb_id = ? AND id IN (
	SELECT id FROM (
		SELECT id, ROW_NUMBER() OVER (PARTITION BY path ORDER BY seq DESC) AS rn
		FROM secret_versions WHERE sdb_id = ?
	) ranked WHERE rn > ?)`, sdbID, sdbID, keep); err != nil {
		return fmt.Errorf("sqlstore: prune sdb history: %w", err)
	}
	return nil
}

// CreateCategory implements service.Store.
func (db *DB) CreateCategory(ctx context.Context, c *cerberus.Category) (err error) {
	defer db.translate(&err)
	_, err = db.writeExec(ctx, `INSERT INTO categories
	(id, display_name, path, created_by, last_updated_by, created_ts, last_updated_ts)
	VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.DisplayName, c.Path, c.CreatedBy, c.LastUpdatedBy, millis(c.CreatedAt), millis(c.LastUpdatedAt))
	if db.isUnique(err) {
		return cerberus.Errorf(cerberus.ECodeCategoryExists, "A category with the name %q or the path %q exists.", c.DisplayName, c.Path)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create category: %w", err)
	}
	return nil
}

// DeleteCategory implements service.Store. The foreign key of the SDBs
// decides whether one is in the category, even one created meanwhile.
func (db *DB) DeleteCategory(ctx context.Context, id string) (err error) {
	defer db.translate(&err)
	if !db.canHold(id) {
		return notFound()
	}
	res, err := db.writeExec(ctx, `DELETE FROM categories WHERE id = ?`, id)
	if err != nil && db.dialect.classify(err) == errForeignKey {
		return cerberus.Errorf(cerberus.ECodeCategoryInUse, "The category holds safe deposit boxes; move or delete them first.")
	}
	if err != nil {
		return fmt.Errorf("sqlstore: delete category: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return notFound()
	}
	return nil
}

// UpdateSDB implements service.Store. The permissions replace the stored
// ones whole, with the ids and audit fields they are given. When the owner
// changes, the owner's grant passes to the new group, as in the original
// server, with sdb's last-updated fields.
func (db *DB) UpdateSDB(ctx context.Context, sdb *cerberus.SDB) (err error) {
	defer db.translate(&err)
	if !db.canHold(sdb.ID) {
		return notFound()
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE sdbs SET description = ?, last_updated_by = ?, last_updated_ts = ?, max_versions = ? WHERE id = ?`,
			sdb.Description, sdb.LastUpdatedBy, millis(sdb.LastUpdatedAt), sdb.MaxVersions, sdb.ID)
		if err != nil {
			return fmt.Errorf("sqlstore: update sdb: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return notFound()
		}
		if _, err := db.exec(ctx, tx, `DELETE FROM user_group_permissions WHERE sdb_id = ? AND is_owner = 0`, sdb.ID); err != nil {
			return fmt.Errorf("sqlstore: update sdb: delete group permissions: %w", err)
		}
		if _, err := db.exec(ctx, tx, `DELETE FROM iam_principal_permissions WHERE sdb_id = ?`, sdb.ID); err != nil {
			return fmt.Errorf("sqlstore: update sdb: delete iam permissions: %w", err)
		}
		if _, err := db.exec(ctx, tx, `UPDATE user_group_permissions SET group_name = ?, last_updated_by = ?, last_updated_ts = ?
	WHERE sdb_id = ? AND is_owner = 1 AND group_name <> ?`,
			sdb.Owner, sdb.LastUpdatedBy, millis(sdb.LastUpdatedAt), sdb.ID, sdb.Owner); err != nil {
			return fmt.Errorf("sqlstore: update sdb: change owner: %w", err)
		}
		if err := db.insertPermissions(ctx, tx, sdb); err != nil {
			return err
		}
		return db.pruneSDBHistory(ctx, tx, sdb.ID, sdb.MaxVersions)
	})
}

// insertPermissions stores the group and IAM permissions of sdb, not its
// owner.
func (db *DB) insertPermissions(ctx context.Context, tx *sql.Tx, sdb *cerberus.SDB) error {
	for _, p := range sdb.UserGroupPermissions {
		if _, err := db.exec(ctx, tx, `INSERT INTO user_group_permissions
	(id, sdb_id, group_name, role_id, is_owner, created_by, last_updated_by, created_ts, last_updated_ts)
	VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)`,
			p.ID, sdb.ID, p.Name, p.RoleID, p.CreatedBy, p.LastUpdatedBy,
			millis(p.CreatedAt), millis(p.LastUpdatedAt)); err != nil {
			return fmt.Errorf("sqlstore: store group permission: %w", err)
		}
	}
	for _, p := range sdb.IAMPrincipalPermissions {
		if _, err := db.exec(ctx, tx, `INSERT INTO iam_principal_permissions
	(id, sdb_id, arn, role_id, created_by, last_updated_by, created_ts, last_updated_ts)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, sdb.ID, p.ARN, p.RoleID, p.CreatedBy, p.LastUpdatedBy,
			millis(p.CreatedAt), millis(p.LastUpdatedAt)); err != nil {
			return fmt.Errorf("sqlstore: store iam permission: %w", err)
		}
	}
	return nil
}

// DeleteSDB implements service.Store. The permissions, secrets and versions
// of the SDB go with it by cascade.
func (db *DB) DeleteSDB(ctx context.Context, id string) (err error) {
	defer db.translate(&err)
	if !db.canHold(id) {
		return notFound()
	}
	res, err := db.writeExec(ctx, `DELETE FROM sdbs WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete sdb: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return notFound()
	}
	return nil
}

// FindSDBByID implements service.Store.
func (db *DB) FindSDBByID(ctx context.Context, id string) (_ *cerberus.SDB, err error) {
	defer db.translate(&err)
	return db.findSDB(ctx, "id", id)
}

// FindSDBByPath implements service.Store.
func (db *DB) FindSDBByPath(ctx context.Context, path string) (_ *cerberus.SDB, err error) {
	defer db.translate(&err)
	return db.findSDB(ctx, "path", path)
}

// findSDB returns the SDB whose column (id or path) is value.
func (db *DB) findSDB(ctx context.Context, column, value string) (*cerberus.SDB, error) {
	if !db.canHold(value) {
		return nil, notFound()
	}
	var sdbs []*cerberus.SDB
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		sdbs, err = db.loadSDBs(ctx, tx, column+` = ?`, value)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(sdbs) == 0 {
		return nil, notFound()
	}
	return sdbs[0], nil
}

// grantedSDBs returns a query of the ids of the SDBs where one of groups
// is the owner or has a group permission, or one of arns has an IAM
// permission, with its arguments; "" if both are empty.
func (db *DB) grantedSDBs(groups, arns []string) (string, []any) {
	groups, arns = db.holdable(groups), db.holdable(arns)
	var match []string
	var args []any
	if len(groups) > 0 {
		match = append(match, `SELECT sdb_id FROM user_group_permissions WHERE group_name IN (`+params(len(groups))+`)`)
		args = append(args, anys(groups)...)
	}
	if len(arns) > 0 {
		match = append(match, `SELECT sdb_id FROM iam_principal_permissions WHERE arn IN (`+params(len(arns))+`)`)
		args = append(args, anys(arns)...)
	}
	return strings.Join(match, ` UNION `), args
}

// ListSDBSummaries implements service.Store. The grants are found through
// the indexes of group_name and arn; the SDBs by their primary key.
func (db *DB) ListSDBSummaries(ctx context.Context, groups, arns []string) (_ []*cerberus.SDBSummary, err error) {
	defer db.translate(&err)
	out := []*cerberus.SDBSummary{}
	match, args := db.grantedSDBs(groups, arns)
	if match == "" {
		return out, nil
	}
	rows, err := db.query(ctx, db.read, `SELECT id, name, path, category_id FROM sdbs WHERE id IN (`+match+`) ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list sdb summaries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		s := new(cerberus.SDBSummary)
		if err := rows.Scan(&s.ID, &s.Name, &s.Path, &s.CategoryID); err != nil {
			return nil, fmt.Errorf("sqlstore: list sdb summaries: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list sdb summaries: %w", err)
	}
	return out, nil
}

// HasSDBGrant implements service.Store: one EXISTS per kind of grant,
// each answered by the first index entry found.
func (db *DB) HasSDBGrant(ctx context.Context, groups, arns []string) (_ bool, err error) {
	defer db.translate(&err)
	groups, arns = db.holdable(groups), db.holdable(arns)
	var exists []string
	var args []any
	if len(groups) > 0 {
		exists = append(exists, `EXISTS (SELECT 1 FROM user_group_permissions WHERE group_name IN (`+params(len(groups))+`))`)
		args = append(args, anys(groups)...)
	}
	if len(arns) > 0 {
		exists = append(exists, `EXISTS (SELECT 1 FROM iam_principal_permissions WHERE arn IN (`+params(len(arns))+`))`)
		args = append(args, anys(arns)...)
	}
	if len(exists) == 0 {
		return false, nil
	}
	var found int
	if err := db.queryRow(ctx, db.read, `SELECT CASE WHEN `+strings.Join(exists, ` OR `)+` THEN 1 ELSE 0 END`, args...).Scan(&found); err != nil {
		return false, fmt.Errorf("sqlstore: find a grant: %w", err)
	}
	return found == 1, nil
}

// CountSDBsCreatedBy implements service.Store, through the index
// sdbs_created_by.
func (db *DB) CountSDBsCreatedBy(ctx context.Context, by string) (_ int, err error) {
	defer db.translate(&err)
	if !db.canHold(by) {
		return 0, nil
	}
	var n int
	if err := db.queryRow(ctx, db.read, `SELECT COUNT(*) FROM sdbs WHERE created_by = ?`, by).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlstore: count sdbs: %w", err)
	}
	return n, nil
}

// ListSDBs implements service.Store. The page of ids is read first, then
// the SDBs with their permissions, in the same snapshot.
func (db *DB) ListSDBs(ctx context.Context, name string, limit, offset int) (_ []*cerberus.SDB, _ int, err error) {
	defer db.translate(&err)
	if limit < 0 || offset < 0 {
		return nil, 0, cerberus.Errorf(cerberus.ECodeBadRequest, "The limit and the offset may not be negative.")
	}
	sdbs := []*cerberus.SDB{}
	if name != "" && !db.canHold(name) {
		return sdbs, 0, nil
	}
	where, args := `1 = 1`, []any{}
	if name != "" {
		where, args = `name = ?`, []any{name}
	}
	var total int
	err = db.readTx(ctx, func(tx *sql.Tx) error {
		if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM sdbs WHERE `+where, args...).Scan(&total); err != nil {
			return fmt.Errorf("sqlstore: count sdbs: %w", err)
		}
		if limit == 0 || offset >= total {
			return nil
		}
		rows, err := db.query(ctx, tx, `SELECT id FROM sdbs WHERE `+where+` ORDER BY created_ts DESC, id LIMIT ? OFFSET ?`,
			append(args, limit, offset)...)
		if err != nil {
			return fmt.Errorf("sqlstore: list sdbs: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: list sdbs: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: list sdbs: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		sdbs, err = db.loadSDBs(ctx, tx, `id IN (`+params(len(ids))+`)`, anys(ids)...)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	slices.SortFunc(sdbs, func(a, b *cerberus.SDB) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return sdbs, total, nil
}

// loadSDBs returns the SDBs that satisfy the condition where, ordered by
// name, with their owners and permissions. tx must read one snapshot, so
// that every permission it finds belongs to an SDB it found.
func (db *DB) loadSDBs(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]*cerberus.SDB, error) {
	rows, err := db.query(ctx, tx, `SELECT id, category_id, name, slug, description, path,
	created_by, last_updated_by, created_ts, last_updated_ts, max_versions
	FROM sdbs WHERE `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: find sdbs: %w", err)
	}
	defer rows.Close()
	sdbs := []*cerberus.SDB{}
	byID := make(map[string]*cerberus.SDB)
	for rows.Next() {
		s := new(cerberus.SDB)
		if err := rows.Scan(&s.ID, &s.CategoryID, &s.Name, &s.Slug, &s.Description, &s.Path,
			&s.CreatedBy, &s.LastUpdatedBy, msTime{&s.CreatedAt}, msTime{&s.LastUpdatedAt}, &s.MaxVersions); err != nil {
			return nil, fmt.Errorf("sqlstore: find sdbs: %w", err)
		}
		sdbs = append(sdbs, s)
		byID[s.ID] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: find sdbs: %w", err)
	}
	if len(sdbs) == 0 {
		return sdbs, nil
	}
	of := `sdb_id IN (SELECT id FROM sdbs WHERE ` + where + `)`
	if err := db.loadGroupPermissions(ctx, tx, byID, of, args); err != nil {
		return nil, err
	}
	if err := db.loadIAMPermissions(ctx, tx, byID, of, args); err != nil {
		return nil, err
	}
	return sdbs, nil
}

// loadGroupPermissions sets the owners and group permissions of the SDBs
// byID, which are those the permissions that satisfy the condition where
// belong to.
func (db *DB) loadGroupPermissions(ctx context.Context, tx *sql.Tx, byID map[string]*cerberus.SDB, where string, args []any) error {
	rows, err := db.query(ctx, tx, `SELECT sdb_id, is_owner, id, group_name, role_id,
	created_by, last_updated_by, created_ts, last_updated_ts
	FROM user_group_permissions WHERE `+where+` ORDER BY group_name`, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: find group permissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sdbID string
		var owner bool
		var p cerberus.UserGroupPermission
		if err := rows.Scan(&sdbID, &owner, &p.ID, &p.Name, &p.RoleID, &p.CreatedBy, &p.LastUpdatedBy,
			msTime{&p.CreatedAt}, msTime{&p.LastUpdatedAt}); err != nil {
			return fmt.Errorf("sqlstore: find group permissions: %w", err)
		}
		s := byID[sdbID]
		if owner {
			s.Owner = p.Name
		} else {
			s.UserGroupPermissions = append(s.UserGroupPermissions, p)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: find group permissions: %w", err)
	}
	return nil
}

// loadIAMPermissions sets the IAM permissions of the SDBs byID, which are
// those the permissions that satisfy the condition where belong to.
func (db *DB) loadIAMPermissions(ctx context.Context, tx *sql.Tx, byID map[string]*cerberus.SDB, where string, args []any) error {
	rows, err := db.query(ctx, tx, `SELECT sdb_id, id, arn, role_id,
	created_by, last_updated_by, created_ts, last_updated_ts
	FROM iam_principal_permissions WHERE `+where+` ORDER BY arn`, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: find iam permissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sdbID string
		var p cerberus.IAMPrincipalPermission
		if err := rows.Scan(&sdbID, &p.ID, &p.ARN, &p.RoleID, &p.CreatedBy, &p.LastUpdatedBy,
			msTime{&p.CreatedAt}, msTime{&p.LastUpdatedAt}); err != nil {
			return fmt.Errorf("sqlstore: find iam permissions: %w", err)
		}
		byID[sdbID].IAMPrincipalPermissions = append(byID[sdbID].IAMPrincipalPermissions, p)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: find iam permissions: %w", err)
	}
	return nil
}
