package sqlstore

import "context"

// dialects are the dialects by name, for the tests.
var dialects = map[string]func() dialect{
	"sqlite":   sqliteDialect,
	"postgres": postgresDialect,
	"mysql":    mysqlDialect,
}

// Translate returns err as a store of the named dialect reports it.
func Translate(dialectName string, err error) error {
	db := &DB{dialect: dialects[dialectName]()}
	db.translate(&err)
	return err
}

// Retry runs fn as a store of the named dialect runs a write.
func Retry(ctx context.Context, dialectName string, fn func() error) error {
	db := &DB{dialect: dialects[dialectName]()}
	return db.retry(ctx, fn)
}

// MaxAttempts is maxAttempts.
const MaxAttempts = maxAttempts

// SplitStatements is splitStatements.
var SplitStatements = splitStatements
