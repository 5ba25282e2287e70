package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
)

// The embedded SQLite driver (github.com/glebarez/go-sqlite) understands a _txlock
// DSN parameter, but stops reading the DSN after _time_format, which the portal needs:
// its transactions were therefore DEFERRED. A deferred transaction that reads and then
// writes takes a read snapshot first and must upgrade it to the write lock later; in
// WAL mode, when another connection committed in between, the upgrade fails at once
// with SQLITE_BUSY_SNAPSHOT ("database is locked (517)") whatever the busy timeout.
//
// immediateConnector wraps the driver's connections so that every read-write
// transaction starts with BEGIN IMMEDIATE: it waits (busy_timeout) for the write lock
// at BEGIN and, holding it, can never fail to write later. Read-only transactions
// (sql.TxOptions{ReadOnly: true}) keep a plain BEGIN and never block writers.

// sqliteDriver is the driver the glebarez dialector registers as "sqlite".
var sqliteDriver = sync.OnceValues(func() (driver.Driver, error) {
	db, err := sql.Open("sqlite", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.Driver(), nil
})

type immediateConnector struct {
	dsn string
	drv driver.Driver
}

func (c immediateConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	ic, ok := conn.(sqliteConn)
	if !ok {
		_ = conn.Close()
		return nil, fmt.Errorf("store: sqlite driver connection %T lacks the context interfaces", conn)
	}
	return &immediateConn{sqliteConn: ic}, nil
}

func (c immediateConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what the glebarez connection implements; immediateConn forwards all
// of it and replaces only BeginTx/Begin.
type sqliteConn interface {
	driver.Conn
	driver.Pinger
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
}

type immediateConn struct {
	sqliteConn
}

func (c *immediateConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *immediateConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.ReadOnly {
		return c.sqliteConn.BeginTx(ctx, opts)
	}
	if opts.Isolation != driver.IsolationLevel(sql.LevelDefault) && opts.Isolation != driver.IsolationLevel(sql.LevelSerializable) {
		return nil, errors.New("store: SQLite transactions are serializable only")
	}
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE", nil); err != nil {
		return nil, err
	}
	return immediateTx{c}, nil
}

type immediateTx struct{ c *immediateConn }

func (t immediateTx) Commit() error {
	_, err := t.c.ExecContext(context.Background(), "COMMIT", nil)
	return err
}

func (t immediateTx) Rollback() error {
	_, err := t.c.ExecContext(context.Background(), "ROLLBACK", nil)
	return err
}
