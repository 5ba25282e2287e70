package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Every read-write transaction on SQLite starts with BEGIN IMMEDIATE. A deferred
// transaction that reads and then writes takes a read snapshot first and must upgrade
// it to the write lock later; in WAL mode, when another connection committed in
// between, the upgrade fails at once with SQLITE_BUSY_SNAPSHOT ("database is locked
// (517)") whatever the busy timeout. (The driver's own _txlock DSN parameter was not
// read by the driver the portal first used, which stopped reading the DSN at
// _time_format; the wrapper below does not depend on it.)
//
// immediateConnector wraps the driver's connections so that every read-write
// transaction starts with BEGIN IMMEDIATE: it waits (busy_timeout) for the write lock
// at BEGIN and, holding it, can never fail to write later. Read-only transactions
// (sql.TxOptions{ReadOnly: true}) keep a plain BEGIN and never block writers.
//
// Writers of one process also queue in order. SQLite has no queue of its own: a
// writer that finds the lock taken sleeps in its busy handler (1, 2, 5 ... up to
// 100 ms at a time) and tries again, so a long run of short write transactions (the
// register import commits every few milliseconds) can keep a login's single INSERT
// out for seconds. The connections of one *sql.DB therefore share a writeGate taken
// before BEGIN IMMEDIATE (and around each write statement outside a transaction) and
// released at COMMIT or ROLLBACK: waiters get it first come, first served, the moment
// it is released. Writers in other processes still meet SQLite's busy handler.
//
// WAL checkpoints are moved out of that queue and off the writers' own calls. SQLite
// runs its automatic checkpoint inside the COMMIT that fills the log past 1,000
// pages: the COMMIT call (and so the gate) lasts as long as copying the pages and
// syncing both files, 10-400 ms, and every writer queued behind it waits as long.
// The connections are therefore opened with wal_autocheckpoint(0), and every
// checkpointEvery-th write asks a goroutine of the database's own (checkpointer) for
// a PASSIVE checkpoint on a connection of its own: the writer returns at once, and
// the next writers append to the log while the pages are copied. A log that those
// checkpoints cannot recycle (a writer appended during every one of them, so it never
// ended fully copied) passes restartFrames; the next writer then checkpoints in its
// own call, after releasing the gate, and pauses while it does (see restartFrames).

// sqliteDriver is the driver registered as "sqlite" (modernc.org/sqlite, through the
// GORM dialector github.com/libtnb/sqlite).
var sqliteDriver = sync.OnceValues(func() (driver.Driver, error) {
	db, err := sql.Open("sqlite", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.Driver(), nil
})

// gates maps each SQLite *sql.DB opened by OpenSQLiteFile to its write gate.
var gates sync.Map

type immediateConnector struct {
	dsn  string
	drv  driver.Driver
	gate *writeGate
}

// writeGate is a first-come, first-served lock for the writers of one database. Go's
// channel wakes blocked senders in order, and a receive on a full channel hands the
// slot straight to the first of them, so a writer that releases and at once asks
// again queues behind those already waiting.
type writeGate struct {
	ch chan struct{}
	// writes counts the write transactions and statements, to checkpoint every
	// checkpointEvery of them.
	writes atomic.Int64
	// waiting is the number of writers queued (for tests).
	waiting atomic.Int64
	// wait is how long a writer waits for the gate before failing as SQLite would
	// with SQLITE_BUSY: the busy_timeout of the DSN.
	wait time.Duration
	// kick asks the checkpointer for a checkpoint (one may be pending); stop ends
	// it, and done is closed when it has ended.
	kick, stop, done chan struct{}
	// behind is set when the checkpointer found the log past restartFrames: the next
	// writer checkpoints itself.
	behind atomic.Bool
	// checkpoints counts the checkpoints run, inline those run by writers (for tests).
	checkpoints, inline atomic.Int64
	// hook, when set (by tests), runs as a checkpoint begins.
	hook atomic.Pointer[func()]
}

func newWriteGate(wait time.Duration) *writeGate {
	return &writeGate{ch: make(chan struct{}, 1), wait: wait,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// errGateTimeout reads like SQLite's own error for the same situation.
var errGateTimeout = errors.New("database is locked (5) (SQLITE_BUSY): waited for the write lock")

func (g *writeGate) acquire(ctx context.Context) error {
	select {
	case g.ch <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	select {
	case g.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errGateTimeout
	}
}

func (g *writeGate) release() { <-g.ch }

// checkpointEvery is how many writes pass between two checkpoints. A login writes a
// few pages, a chunk of the register import some tens: a few hundred to a few
// thousand pages of log between checkpoints, near SQLite's default of 1,000.
const checkpointEvery = 100

// restartFrames is the size of the log (in pages of 4 kB: 4 MB, SQLite's own default
// for its automatic checkpoint) past which the checkpointer hands the next checkpoint
// to a writer: the writer that follows runs it in its own call, after releasing the
// gate, as every 100th writer used to. A writer that keeps writing during every
// passive checkpoint (the register import) never lets the log start over; paying for
// a checkpoint now and then makes it pause, and the log is copied to its end. A
// writer now and then (logins, certificates) never meets one.
const restartFrames = 1000

// wrote counts one write, already committed and the gate released: every
// checkpointEvery-th time it asks the checkpointer for a checkpoint, without waiting,
// and when the checkpointer has found the log past restartFrames it checkpoints on
// conn itself.
func (g *writeGate) wrote(conn driver.ExecerContext) {
	n := g.writes.Add(1)
	if g.behind.Load() && g.behind.CompareAndSwap(true, false) {
		g.inline.Add(1)
		g.checkpoints.Add(1)
		_, _ = conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)", nil)
		return
	}
	if n%checkpointEvery == 0 {
		select {
		case g.kick <- struct{}{}:
		default: // one is already pending
		}
	}
}

// checkpointer runs the checkpoints that wrote asks for, one at a time, until Close.
func (g *writeGate) checkpointer(db *sql.DB) {
	defer close(g.done)
	for {
		select {
		case <-g.stop:
			return
		case <-g.kick:
			g.checkpoint(db)
		}
	}
}

// checkpoint runs a PASSIVE checkpoint on a connection of its own, and hands the next
// one to a writer (behind) when the log is still longer than restartFrames. A failed
// checkpoint is left for the next one: nothing depends on it but the size of the log.
func (g *writeGate) checkpoint(db *sql.DB) {
	if h := g.hook.Load(); h != nil {
		(*h)()
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	var busy, logFrames, copied int
	// A query, not an Exec: it returns its counts, and reads do not take the gate.
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied)
	g.checkpoints.Add(1)
	if err == nil && logFrames > restartFrames {
		g.behind.Store(true)
	}
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
	return &immediateConn{sqliteConn: ic, gate: c.gate}, nil
}

func (c immediateConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what the driver's connection implements; immediateConn forwards all
// of it and replaces Begin, BeginTx, ExecContext, QueryContext, Prepare,
// PrepareContext and Close.
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
	gate *writeGate
	// inTx is set between BeginTx and Commit/Rollback (database/sql uses a connection
	// from one goroutine at a time); holdsGate when that transaction holds the gate.
	inTx, holdsGate bool
	// stmts are the statements kept compiled on this connection (sqlitestmt.go).
	stmts connStmts
}

// ExecContext runs a statement. Outside a transaction it is a write in autocommit
// (reads go through QueryContext), so it queues at the gate like a transaction.
func (c *immediateConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if cs := c.kept(ctx, query); cs != nil {
		return c.exec(ctx, func() (driver.Result, error) { return cs.st.ExecContext(ctx, args) })
	}
	return c.exec(ctx, func() (driver.Result, error) { return c.sqliteConn.ExecContext(ctx, query, args) })
}

// exec runs a write: at once inside a transaction (which holds the gate), at the gate
// outside one.
func (c *immediateConn) exec(ctx context.Context, run func() (driver.Result, error)) (driver.Result, error) {
	if c.inTx {
		return run()
	}
	if err := c.gate.acquire(ctx); err != nil {
		return nil, err
	}
	res, err := run()
	c.gate.release()
	if err == nil {
		c.gate.wrote(c.sqliteConn)
	}
	return res, err
}

// PrepareContext prepares a statement on the connection (GORM's PrepareStmt
// sessions keep them, compiled once). A prepared statement executed outside a
// transaction queues at the gate like ExecContext.
func (c *immediateConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ps, ok := st.(sqliteStmt)
	if !ok {
		_ = st.Close()
		return nil, fmt.Errorf("store: sqlite driver statement %T lacks the context interfaces", st)
	}
	return immediateStmt{sqliteStmt: ps, c: c}, nil
}

// Prepare is PrepareContext without a context.
func (c *immediateConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// sqliteStmt is what the driver's prepared statements implement.
type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// immediateStmt is a prepared statement whose executions outside a transaction go
// through the gate; queries are reads and run as they are.
type immediateStmt struct {
	sqliteStmt
	c *immediateConn
}

func (s immediateStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.exec(ctx, func() (driver.Result, error) { return s.sqliteStmt.ExecContext(ctx, args) })
}

func (c *immediateConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *immediateConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.ReadOnly {
		tx, err := c.sqliteConn.BeginTx(ctx, opts)
		if err != nil {
			return nil, err
		}
		c.inTx = true
		return immediateTx{c: c, inner: tx}, nil
	}
	if opts.Isolation != driver.IsolationLevel(sql.LevelDefault) && opts.Isolation != driver.IsolationLevel(sql.LevelSerializable) {
		return nil, errors.New("store: SQLite transactions are serializable only")
	}
	if err := c.gate.acquire(ctx); err != nil {
		return nil, err
	}
	if _, err := c.sqliteConn.ExecContext(ctx, "BEGIN IMMEDIATE", nil); err != nil {
		c.gate.release()
		return nil, err
	}
	c.inTx, c.holdsGate = true, true
	return immediateTx{c: c}, nil
}

// immediateTx ends a transaction begun by immediateConn: inner is the driver's own
// transaction for a read-only one, nil for BEGIN IMMEDIATE.
type immediateTx struct {
	c     *immediateConn
	inner driver.Tx
}

func (t immediateTx) Commit() error { return t.end("COMMIT") }

func (t immediateTx) Rollback() error { return t.end("ROLLBACK") }

func (t immediateTx) end(stmt string) error {
	var err error
	if t.inner != nil {
		if stmt == "COMMIT" {
			err = t.inner.Commit()
		} else {
			err = t.inner.Rollback()
		}
	} else {
		_, err = t.c.sqliteConn.ExecContext(context.Background(), stmt, nil)
		if err != nil && stmt == "COMMIT" {
			// A failed COMMIT leaves the transaction open in SQLite; roll it back so
			// that the connection and the gate are free again.
			_, _ = t.c.sqliteConn.ExecContext(context.Background(), "ROLLBACK", nil)
		}
	}
	t.c.inTx = false
	if t.c.holdsGate {
		t.c.holdsGate = false
		t.c.gate.release()
		if err == nil && stmt == "COMMIT" {
			t.c.gate.wrote(t.c.sqliteConn)
		}
	}
	return err
}
