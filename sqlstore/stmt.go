package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// maxStmts bounds the prepared statements a DB keeps. The store's queries
// are fixed text but for the arity of IN lists, so the bound is only a
// guard.
const maxStmts = 512

// stmtCache keeps a prepared statement per database handle and query, so
// that a query is parsed once per connection rather than once per call:
// parsing was a fifth of the CPU of a secret read on SQLite. Transactions
// begun by writeTx and readTx record the handle they run on, so that their
// queries use the handle's statements too (database/sql prepares a statement
// once per connection and reuses it).
type stmtCache struct {
	mu      sync.Mutex
	stmts   map[stmtKey]*sql.Stmt
	pending map[stmtKey]bool // being prepared in the background
	txs     sync.Map         // *sql.Tx → *sql.DB it runs on
}

type stmtKey struct {
	h     *sql.DB
	query string
}

// prepared returns the statement of query on h, preparing it on first use,
// or nil if it cannot be prepared (the caller then runs the query as is,
// which reports the error).
func (c *stmtCache) prepared(ctx context.Context, h *sql.DB, query string) *sql.Stmt {
	k := stmtKey{h, query}
	c.mu.Lock()
	st, ok := c.stmts[k]
	full := len(c.stmts) >= maxStmts
	c.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := h.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.stmts[k]; ok {
		st.Close() // another caller prepared it meanwhile
		return prev
	}
	if c.stmts == nil {
		c.stmts = make(map[stmtKey]*sql.Stmt)
	}
	c.stmts[k] = st
	return st
}

// forQuerier returns the prepared statement of query for q: a handle, or a
// transaction begun by writeTx or readTx. It returns nil for anything else,
// and for a transaction whose handle has not prepared query yet: preparing
// needs a connection of the handle, and the transaction may hold the only
// one (SQLite writes), so the statement is prepared in the background, for
// the next transaction.
func (c *stmtCache) forQuerier(ctx context.Context, q querier, query string) *sql.Stmt {
	switch q := q.(type) {
	case *sql.DB:
		return c.prepared(ctx, q, query)
	case *sql.Tx:
		h, ok := c.txs.Load(q)
		if !ok {
			return nil
		}
		k := stmtKey{h.(*sql.DB), query}
		c.mu.Lock()
		st, ok := c.stmts[k]
		later := !ok && !c.pending[k] && len(c.stmts)+len(c.pending) < maxStmts
		if later {
			if c.pending == nil {
				c.pending = make(map[stmtKey]bool)
			}
			c.pending[k] = true
		}
		c.mu.Unlock()
		if ok {
			return q.StmtContext(ctx, st)
		}
		if later {
			go c.prepareLater(k)
		}
	}
	return nil
}

// prepareLater prepares a statement once a connection of its handle is
// free, bounded in time so that a closing store does not keep it waiting.
func (c *stmtCache) prepareLater(k stmtKey) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.prepared(ctx, k.h, k.query)
	c.mu.Lock()
	delete(c.pending, k)
	c.mu.Unlock()
}

// track runs fn with tx recorded as running on h.
func (c *stmtCache) track(tx *sql.Tx, h *sql.DB, fn func(tx *sql.Tx) error) error {
	c.txs.Store(tx, h)
	defer c.txs.Delete(tx)
	return fn(tx)
}

// close closes every statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, st := range c.stmts {
		st.Close()
		delete(c.stmts, k)
	}
}
