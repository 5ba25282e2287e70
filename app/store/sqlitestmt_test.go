package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/comuni-italiani/sportello/app/store"
)

// sqliteConn opens a fresh SQLite database and one connection of it.
func sqliteConn(t *testing.T) *sql.Conn {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "k.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(db) })
	sqlDB, _ := db.DB()
	conn, err := sqlDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.ExecContext(context.Background(), `CREATE TABLE k (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)`); err != nil {
		t.Fatal(err)
	}
	return conn
}

func kept(t *testing.T, conn *sql.Conn) []string {
	t.Helper()
	texts, err := store.KeptStatements(conn)
	if err != nil {
		t.Fatal(err)
	}
	return texts
}

// Data statements are kept compiled per connection, and give the same results run
// again, after a failed run, and after the table changes shape; scripts, PRAGMAs and
// the like are not kept.
func TestSQLiteKeepsStatementsCompiled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := sqliteConn(t)
	insert := `INSERT INTO k (v) VALUES (?)`
	for _, v := range []string{"a", "b"} {
		if _, err := conn.ExecContext(ctx, insert, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.ExecContext(ctx, insert, "a"); err == nil {
		t.Fatal("a duplicate value was inserted")
	}
	if _, err := conn.ExecContext(ctx, insert, "c"); err != nil {
		t.Fatalf("the kept INSERT after a failed run: %v", err)
	}
	count := func() (n int) {
		if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM k`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 3 || count() != 3 {
		t.Fatal("wrong count")
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO k (v) VALUES ('d'); INSERT INTO k (v) VALUES ('e')`); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 5 {
		t.Fatalf("a script of two INSERTs ran as %d rows, want 5", n)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA user_version = 7`); err != nil {
		t.Fatal(err)
	}
	got := kept(t, conn)
	for _, want := range []string{insert, `SELECT COUNT(*) FROM k`} {
		if !slices.Contains(got, want) {
			t.Errorf("%q not kept: %q", want, got)
		}
	}
	for _, s := range got {
		if s == `PRAGMA user_version = 7` || s == `INSERT INTO k (v) VALUES ('d'); INSERT INTO k (v) VALUES ('e')` {
			t.Errorf("%q kept", s)
		}
	}

	// A kept SELECT * follows a new column.
	all := func() []string {
		rows, err := conn.QueryContext(ctx, `SELECT * FROM k WHERE id = 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		return cols
	}
	if c := all(); len(c) != 2 {
		t.Fatalf("columns %v", c)
	}
	if _, err := conn.ExecContext(ctx, `ALTER TABLE k ADD COLUMN w TEXT NOT NULL DEFAULT 'x'`); err != nil {
		t.Fatal(err)
	}
	if c := all(); len(c) != 3 || c[2] != "w" {
		t.Fatalf("after ALTER TABLE the kept SELECT * gives %v", c)
	}
}

// While the rows of a kept query are open, the same query on the same connection
// runs on its own program: both iterations see every row.
func TestSQLiteKeptQueryWhileItsRowsAreOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := sqliteConn(t)
	for i := 0; i < 5; i++ {
		if _, err := conn.ExecContext(ctx, `INSERT INTO k (v) VALUES (?)`, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	q := `SELECT v FROM k ORDER BY id`
	outer, err := conn.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for outer.Next() {
		var v string
		if err := outer.Scan(&v); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, v)
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	// database/sql allows one open result on a *sql.Conn at a time; the nested case
	// arises inside a transaction, which database/sql also runs on one connection.
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	a, err := tx.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	n := 0
	for a.Next() {
		b, err := tx.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		m := 0
		for b.Next() {
			m++
		}
		b.Close()
		if m != 5 {
			t.Fatalf("inner query saw %d rows", m)
		}
		n++
	}
	if n != 5 || len(seen) != 5 {
		t.Fatalf("outer query saw %d rows (%d before)", n, len(seen))
	}
}

// A connection keeps at most MaxConnStmts statements: texts that vary (IN lists of
// every length) cannot make it grow without bound, and the latest are the ones kept.
func TestSQLiteKeptStatementsAreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := sqliteConn(t)
	var last string
	for i := 0; i < 3*store.MaxConnStmts; i++ {
		last = fmt.Sprintf(`SELECT COUNT(*) FROM k WHERE id <> %d`, i)
		var n int
		if err := conn.QueryRowContext(ctx, last).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	got := kept(t, conn)
	if len(got) > store.MaxConnStmts || got[0] != last {
		t.Fatalf("%d statements kept, the most recent first: %q", len(got), got[0])
	}
}
