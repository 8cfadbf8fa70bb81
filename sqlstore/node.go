package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cerberus-go/cerberus/service"
)

// PutNode implements service.Store.
func (db *DB) PutNode(ctx context.Context, n *service.NodeRecord) (err error) {
	defer db.translate(&err)
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := db.exec(ctx, tx, `DELETE FROM nodes WHERE id = ?`, n.ID); err != nil {
			return err
		}
		_, err := db.exec(ctx, tx, `INSERT INTO nodes (id, host, pid, started_ts, seen_ts, primary_key, key_ids)
	VALUES (?, ?, ?, ?, ?, ?, ?)`, n.ID, n.Host, n.PID, millis(n.StartedAt), millis(n.SeenAt), n.PrimaryKey, encodeStrings(n.KeyIDs))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: put node: %w", err)
	}
	return nil
}

// ListNodes implements service.Store.
func (db *DB) ListNodes(ctx context.Context) (_ []*service.NodeRecord, err error) {
	defer db.translate(&err)
	rows, err := db.query(ctx, db.read, `SELECT id, host, pid, started_ts, seen_ts, primary_key, key_ids FROM nodes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list nodes: %w", err)
	}
	defer rows.Close()
	var out []*service.NodeRecord
	for rows.Next() {
		n := new(service.NodeRecord)
		if err := rows.Scan(&n.ID, &n.Host, &n.PID, msTime{&n.StartedAt}, msTime{&n.SeenAt}, &n.PrimaryKey, jsonStrings{&n.KeyIDs}); err != nil {
			return nil, fmt.Errorf("sqlstore: list nodes: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list nodes: %w", err)
	}
	return out, nil
}

// DeleteNode implements service.Store.
func (db *DB) DeleteNode(ctx context.Context, id string, staleBefore time.Time) (err error) {
	defer db.translate(&err)
	if _, err := db.writeExec(ctx, `DELETE FROM nodes WHERE id = ? OR seen_ts < ?`, id, millis(staleBefore)); err != nil {
		return fmt.Errorf("sqlstore: delete node: %w", err)
	}
	return nil
}
