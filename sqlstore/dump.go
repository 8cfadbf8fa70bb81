package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// dumpOrder is the ORDER BY clause of each dumped table: its key, or, for
// the history, the order it was archived in, which Import keeps by
// inserting the rows in that order (seq is not dumped: each database
// numbers the rows again).
var dumpOrder = map[string]string{
	"categories":                "id",
	"roles":                     "id",
	"sdbs":                      "id",
	"user_group_permissions":    "id",
	"iam_principal_permissions": "id",
	"secrets":                   "sdb_id, path",
	"secret_versions":           "seq",
	"users":                     "id",
	"server_keys":               "name",
}

// binaryColumn reports whether the column holds any bytes (a secret path),
// bound through the dialect's binary.
func binaryColumn(table, column string) bool {
	return column == "path" && (table == "secrets" || table == "secret_versions")
}

// Limits of the multi-row INSERTs of Import: a batch is flushed before it
// would hold more than importBatchRows rows or, unless it holds one row
// only, more than importBatchBytes bytes of text and binary values, so that
// a statement stays far below MySQL's max_allowed_packet and the bind
// parameters below every database's limit.
const (
	importBatchRows  = 100
	importBatchBytes = 1 << 20
)

// Export implements service.Store. The rows are read in one read
// transaction (a snapshot), a table at a time.
func (db *DB) Export(ctx context.Context, fn func(table string, row []any) error) (err error) {
	var fnErr error
	defer func() {
		if fnErr != nil {
			err = fnErr
			return
		}
		db.translate(&err)
	}()
	return db.readTx(ctx, func(tx *sql.Tx) error {
		for _, t := range service.DumpTables() {
			if err := db.exportTable(ctx, tx, t, func(row []any) error {
				if err := fn(t.Name, row); err != nil {
					fnErr = err
					return err
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// exportTable reads the rows of t and passes each to fn.
func (db *DB) exportTable(ctx context.Context, tx *sql.Tx, t service.DumpTable, fn func(row []any) error) error {
	order, ok := dumpOrder[t.Name]
	if !ok {
		return fmt.Errorf("sqlstore: export: no order for table %s", t.Name)
	}
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	rows, err := db.query(ctx, tx, `SELECT `+strings.Join(names, ", ")+` FROM `+t.Name+` ORDER BY `+order)
	if err != nil {
		return fmt.Errorf("sqlstore: export %s: %w", t.Name, err)
	}
	defer rows.Close()
	vals := make([]dumpValue, len(t.Columns))
	dest := make([]any, len(t.Columns))
	for i := range vals {
		vals[i].col = t.Columns[i]
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("sqlstore: export %s: %w", t.Name, err)
		}
		row := make([]any, len(vals))
		for i := range vals {
			row[i] = vals[i].v
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: export %s: %w", t.Name, err)
	}
	return nil
}

// dumpValue scans a column into the normalised type of its DumpColumn:
// int64, string, []byte (a copy), or nil for NULL.
type dumpValue struct {
	col service.DumpColumn
	v   any
}

// Scan implements sql.Scanner.
func (d *dumpValue) Scan(src any) error {
	if src == nil {
		if !d.col.Nullable {
			return fmt.Errorf("column %s is NULL", d.col.Name)
		}
		d.v = nil
		return nil
	}
	switch d.col.Type {
	case service.DumpInt:
		var n sql.NullInt64
		if err := n.Scan(src); err != nil {
			return fmt.Errorf("column %s: %w", d.col.Name, err)
		}
		d.v = n.Int64
		return nil
	case service.DumpText:
		switch s := src.(type) {
		case string:
			d.v = s
			return nil
		case []byte:
			d.v = string(s)
			return nil
		}
	case service.DumpBytes:
		switch s := src.(type) {
		case []byte:
			d.v = append([]byte{}, s...)
			return nil
		case string:
			d.v = []byte(s)
			return nil
		}
	}
	return fmt.Errorf("column %s: cannot scan %T as %s", d.col.Name, src, d.col.Type)
}

// Import implements service.Store. It runs in one write transaction, which
// it does not run again on a deadlock or a serialization failure: next
// cannot be read twice.
func (db *DB) Import(ctx context.Context, next func() (table string, row []any, err error)) (err error) {
	var srcErr error
	defer func() {
		if srcErr != nil {
			err = srcErr
			return
		}
		db.translate(&err)
	}()
	tables := service.DumpTables()
	return inTx(ctx, db.write, nil, func(tx *sql.Tx) error {
		if err := db.clearForImport(ctx, tx); err != nil {
			return err
		}
		counts := make([]int, len(tables))
		cur := -1 // index in tables of the table being read
		var batch importBatch
		for {
			name, row, err := next()
			if err == io.EOF { // the end; a wrapped io.EOF is a failure of the source
				break
			}
			if err != nil {
				srcErr = err
				return err
			}
			if cur < 0 || name != tables[cur].Name {
				i := slices.IndexFunc(tables, func(t service.DumpTable) bool { return t.Name == name })
				switch {
				case i < 0:
					return cerberus.Errorf(cerberus.ECodeBadRequest, "The dump holds an unknown table %q.", name)
				case i < cur:
					return cerberus.Errorf(cerberus.ECodeBadRequest, "The dump holds table %s after table %s; want the order of service.DumpTables.", name, tables[cur].Name)
				}
				if err := db.flushImport(ctx, tx, &batch); err != nil {
					return err
				}
				cur = i
				batch.table = tables[i]
			}
			args, size, err := db.importArgs(tables[cur], row, counts[cur]+1)
			if err != nil {
				return err
			}
			if len(batch.rows) > 0 && (len(batch.rows) >= importBatchRows || batch.size+size > importBatchBytes) {
				if err := db.flushImport(ctx, tx, &batch); err != nil {
					return err
				}
			}
			batch.rows = append(batch.rows, args)
			batch.size += size
			counts[cur]++
		}
		if err := db.flushImport(ctx, tx, &batch); err != nil {
			return err
		}
		for i, t := range tables {
			if (t.Name == "categories" || t.Name == "roles") && counts[i] == 0 {
				return cerberus.Errorf(cerberus.ECodeBadRequest, "The dump holds no %s; it is not a whole dump of a store.", t.Name)
			}
		}
		return nil
	})
}

// clearForImport checks that the store holds no SDB, secret, history or
// user, and deletes what it may hold besides: the seeded categories and
// roles, server keys and tokens.
func (db *DB) clearForImport(ctx context.Context, tx *sql.Tx) error {
	for _, t := range []struct{ table, what string }{
		{"sdbs", "SDBs"}, {"secrets", "secrets"}, {"secret_versions", "secret history"}, {"users", "users"},
	} {
		var one int
		err := db.queryRow(ctx, tx, `SELECT 1 FROM `+t.table+` LIMIT 1`).Scan(&one)
		if err == nil {
			return cerberus.Errorf(cerberus.ECodeBadRequest,
				"The store is not empty: it holds %s. Import (restore) only into a new, empty store.", t.what)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: import: check that %s is empty: %w", t.table, err)
		}
	}
	for _, table := range []string{"tokens", "server_keys", "user_group_permissions", "iam_principal_permissions", "roles", "categories"} {
		if _, err := db.exec(ctx, tx, `DELETE FROM `+table); err != nil {
			return fmt.Errorf("sqlstore: import: clear %s: %w", table, err)
		}
	}
	return nil
}

// importBatch is the rows of one table waiting to be inserted.
type importBatch struct {
	table service.DumpTable
	rows  [][]any
	size  int // bytes of text and binary values
}

// importArgs checks that row has the shape of t's columns and returns its
// bind arguments and the bytes its text and binary values hold; n numbers
// the row in t, from 1, for messages.
func (db *DB) importArgs(t service.DumpTable, row []any, n int) ([]any, int, error) {
	if len(row) < len(t.Columns) && t.Columns[len(row)].Default != nil {
		// A dump made before the columns from here on were added.
		row = row[:len(row):len(row)] // append copies: the row is the caller's
		for _, c := range t.Columns[len(row):] {
			if c.Default == nil {
				break
			}
			row = append(row, c.Default)
		}
	}
	if len(row) != len(t.Columns) {
		return nil, 0, cerberus.Errorf(cerberus.ECodeBadRequest, "Row %d of table %s has %d values; want %d.", n, t.Name, len(row), len(t.Columns))
	}
	args := make([]any, len(row))
	size := 0
	for i, c := range t.Columns {
		bad := func(what string) error {
			return cerberus.Errorf(cerberus.ECodeBadRequest, "Row %d of table %s: column %s %s.", n, t.Name, c.Name, what)
		}
		v := row[i]
		if b, ok := v.([]byte); ok && b == nil {
			v = nil
		}
		if v == nil {
			if !c.Nullable {
				return nil, 0, bad("is NULL")
			}
			continue
		}
		switch c.Type {
		case service.DumpInt:
			x, ok := v.(int64)
			if !ok {
				return nil, 0, bad(fmt.Sprintf("holds a %T; want an int64", v))
			}
			args[i] = x
		case service.DumpText:
			s, ok := v.(string)
			if !ok {
				return nil, 0, bad(fmt.Sprintf("holds a %T; want a string", v))
			}
			if binaryColumn(t.Name, c.Name) {
				args[i] = db.dialect.binary(s)
			} else if !db.canHold(s) {
				return nil, 0, bad("holds text this database cannot store (not UTF-8, or a NUL character)")
			} else {
				args[i] = s
			}
			size += len(s)
		case service.DumpBytes:
			b, ok := v.([]byte)
			if !ok {
				return nil, 0, bad(fmt.Sprintf("holds a %T; want a []byte", v))
			}
			args[i] = b
			size += len(b)
		}
	}
	return args, size, nil
}

// flushImport inserts the rows of b in one statement, in their order, and
// empties b.
func (db *DB) flushImport(ctx context.Context, tx *sql.Tx, b *importBatch) error {
	if len(b.rows) == 0 {
		return nil
	}
	names := make([]string, len(b.table.Columns))
	for i, c := range b.table.Columns {
		names[i] = c.Name
	}
	one := `(` + params(len(names)) + `)`
	var q strings.Builder
	q.WriteString(`INSERT INTO ` + b.table.Name + ` (` + strings.Join(names, ", ") + `) VALUES `)
	args := make([]any, 0, len(b.rows)*len(names))
	for i, r := range b.rows {
		if i > 0 {
			q.WriteString(`, `)
		}
		q.WriteString(one)
		args = append(args, r...)
	}
	_, err := db.exec(ctx, tx, q.String(), args...)
	if db.isUnique(err) {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "The dump holds two rows of table %s with the same key.", b.table.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: import %s: %w", b.table.Name, err)
	}
	b.rows, b.size = b.rows[:0], 0
	return nil
}
