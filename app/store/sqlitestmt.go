package store

import (
	"container/list"
	"context"
	"database/sql/driver"
	"strings"
)

// SQLite statements kept compiled on each connection.
//
// The SQLite driver compiles every statement it is given as text (sqlite3_prepare)
// and throws the program away after one run; only statements prepared through
// database/sql are kept, and GORM prepares them usefully only outside transactions
// (its PrepareStmt mode prepares a statement met inside a transaction on that
// transaction, and database/sql closes it when the transaction ends). On SQLite,
// compiling costs about as much as running a short statement: a third of a read by
// primary key, more for an INSERT of twenty columns.
//
// So each connection keeps its last maxConnStmts statements compiled, by their text,
// as the PostgreSQL driver (pgx) does on its own: ExecContext and QueryContext run
// the kept program when the text was seen before. Only single data statements are
// kept (see cacheable), never a script of several. A query's program is in use until
// its rows are closed: meanwhile the same text on the same connection (a query run
// while iterating the rows of the same query) is compiled afresh, as before.
// SQLite recompiles a kept program by itself when the schema changes.

// maxConnStmts is how many statements a connection keeps compiled: more than the
// distinct statements of the portal's hot paths, few enough that variable texts (IN
// lists of any length) cannot make the cache grow without bound.
const maxConnStmts = 128

// connStmts is a connection's kept statements, the most recently used first.
type connStmts struct {
	byText map[string]*list.Element // of *connStmt
	lru    list.List
}

type connStmt struct {
	text string
	st   sqliteStmt
	busy bool // its rows are open
}

// cacheable reports whether query is worth keeping compiled: one data statement.
// A script of several statements (migrations) or anything else (PRAGMA, BEGIN,
// SAVEPOINT with its changing name) runs as text, as the driver always did.
func cacheable(query string) bool {
	q := strings.TrimSpace(query)
	q = strings.TrimSpace(strings.TrimSuffix(q, ";"))
	if strings.IndexByte(q, ';') >= 0 {
		return false
	}
	for _, verb := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "REPLACE"} {
		if len(q) > len(verb) && strings.EqualFold(q[:len(verb)], verb) && (q[len(verb)] == ' ' || q[len(verb)] == '\n' || q[len(verb)] == '\t') {
			return true
		}
	}
	return false
}

// kept returns the compiled statement for query, compiling and keeping it on first
// use, or nil when query is not to be kept, is in use, or does not compile (the
// caller then runs it as text, and meets the error there).
func (c *immediateConn) kept(ctx context.Context, query string) *connStmt {
	if c.stmts.byText == nil {
		c.stmts.byText = make(map[string]*list.Element)
	}
	if e, ok := c.stmts.byText[query]; ok {
		cs := e.Value.(*connStmt)
		if cs.busy {
			return nil
		}
		c.stmts.lru.MoveToFront(e)
		return cs
	}
	if !cacheable(query) {
		return nil
	}
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	ps, ok := st.(sqliteStmt)
	if !ok {
		_ = st.Close()
		return nil
	}
	cs := &connStmt{text: query, st: ps}
	c.stmts.byText[query] = c.stmts.lru.PushFront(cs)
	for e := c.stmts.lru.Back(); c.stmts.lru.Len() > maxConnStmts && e != nil; {
		prev := e.Prev()
		if old := e.Value.(*connStmt); !old.busy {
			c.stmts.lru.Remove(e)
			delete(c.stmts.byText, old.text)
			_ = old.st.Close()
		}
		e = prev
	}
	return cs
}

// closeKept closes the connection's kept statements.
func (c *immediateConn) closeKept() {
	for e := c.stmts.lru.Front(); e != nil; e = e.Next() {
		_ = e.Value.(*connStmt).st.Close()
	}
	c.stmts.byText, c.stmts.lru = nil, list.List{}
}

// QueryContext runs a query, through its kept program when there is one.
func (c *immediateConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs := c.kept(ctx, query)
	if cs == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	r, ok := rows.(sqliteRows)
	if !ok {
		_ = rows.Close()
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	cs.busy = true
	return &keptRows{sqliteRows: r, cs: cs}, nil
}

// Close closes the kept statements, then the connection.
func (c *immediateConn) Close() error {
	c.closeKept()
	return c.sqliteConn.Close()
}

// sqliteRows is what the driver's rows implement; keptRows forwards all of it, so
// that database/sql sees the same column types.
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// keptRows are the rows of a kept statement, which is free again once they close.
type keptRows struct {
	sqliteRows
	cs *connStmt
}

func (r *keptRows) Close() error {
	err := r.sqliteRows.Close()
	r.cs.busy = false
	return err
}
