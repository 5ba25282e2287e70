// Package storetest gives tests a fresh, migrated database on each dialect.
//
// SQLite databases are files in the test's temporary directory. PostgreSQL databases
// come from SPORTELLO_TEST_DATABASE_URL (default: the local server as user postgres):
// each test package builds one template database named after the package, migrated
// once, and every test gets its own copy (CREATE DATABASE ... TEMPLATE), dropped when
// the test ends. When PostgreSQL cannot be reached its half of the suite is skipped
// with a loud notice, unless SPORTELLO_REQUIRE_POSTGRES=1, when it fails.
package storetest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for the admin connection
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// DefaultPostgresURL is used when SPORTELLO_TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Dialects are the engines every store test runs on.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// Each runs fn as a subtest once per dialect, each with its own fresh database migrated
// with migs. The subtests run in parallel with each other.
func Each(t *testing.T, migs []*store.Migration, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, d, migs))
		})
	}
}

// Open returns a fresh database of dialect d with migs applied. It is closed (and, for
// PostgreSQL, dropped) when t ends.
func Open(t testing.TB, d store.Dialect, migs []*store.Migration) *gorm.DB {
	t.Helper()
	var opts store.Options
	switch d {
	case store.SQLite:
		opts.URL = "sqlite:" + filepath.Join(t.TempDir(), "test.db")
	case store.Postgres:
		opts.URL = PostgresURL(t, migs)
	default:
		t.Fatalf("storetest: unknown dialect %q", d)
	}
	db, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("storetest: open %s: %v", d, err)
	}
	t.Cleanup(func() { _ = store.Close(db) })
	if d == store.SQLite {
		if err := store.Migrate(context.Background(), db, migs); err != nil {
			t.Fatalf("storetest: migrate: %v", err)
		}
	}
	return db
}

// PostgresURL creates a fresh PostgreSQL database with migs applied and returns its URL.
// The database is dropped when t ends. It skips or fails t when PostgreSQL is missing.
func PostgresURL(t testing.TB, migs []*store.Migration) string {
	t.Helper()
	admin := adminDB(t)
	tmpl := template(t, admin, migs)
	name := fmt.Sprintf("%s_%d", tmpl, seq.Add(1))
	createMu.Lock()
	_, err := admin.Exec(fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tmpl))
	createMu.Unlock()
	if err != nil {
		t.Fatalf("storetest: create database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
	})
	return withDatabase(baseURL(), name)
}

var (
	seq      atomic.Int64
	createMu sync.Mutex // CREATE DATABASE ... TEMPLATE refuses while another copy runs

	adminOnce sync.Once
	adminConn *sql.DB
	adminErr  error

	templatesMu sync.Mutex
	templates   = map[string]string{}
)

func baseURL() string {
	if u := os.Getenv("SPORTELLO_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// RequirePostgres reports whether a missing PostgreSQL must fail the suite.
func RequirePostgres() bool { return os.Getenv("SPORTELLO_REQUIRE_POSTGRES") == "1" }

var noticeOnce sync.Once

func adminDB(t testing.TB) *sql.DB {
	t.Helper()
	adminOnce.Do(func() {
		db, err := sql.Open("pgx", baseURL())
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = db.PingContext(ctx)
			cancel()
		}
		if err != nil {
			adminErr = err
			return
		}
		db.SetMaxOpenConns(4)
		adminConn = db
	})
	if adminErr != nil {
		if RequirePostgres() {
			t.Fatalf("storetest: PostgreSQL is required (SPORTELLO_REQUIRE_POSTGRES=1) but not reachable at %s: %v", redact(baseURL()), adminErr)
		}
		noticeOnce.Do(func() {
			fmt.Fprintf(os.Stderr, "\n*** WARNING: PostgreSQL not reachable at %s (%v): PostgreSQL tests are SKIPPED. Set SPORTELLO_REQUIRE_POSTGRES=1 to make this fail. ***\n\n", redact(baseURL()), adminErr)
		})
		t.Skipf("PostgreSQL not reachable: %v", adminErr)
	}
	return adminConn
}

var (
	nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)
	leftover = regexp.MustCompile(`^([0-9a-f]{8})_([0-9]+)(_[0-9]+)?$`)
)

// processAlive reports whether a process with this pid exists on this machine.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// template returns the name of this package's template database for migs, building it
// on first use: dropped and recreated fresh, then migrated.
func template(t testing.TB, admin *sql.DB, migs []*store.Migration) string {
	t.Helper()
	h := sha256.New()
	for _, m := range migs {
		h.Write([]byte(m.ID + "\n"))
	}
	key := hex.EncodeToString(h.Sum(nil))[:8]
	templatesMu.Lock()
	defer templatesMu.Unlock()
	if name, ok := templates[key]; ok {
		return name
	}
	pkg := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	pkg = nonIdent.ReplaceAllString(strings.ToLower(pkg), "_")
	if len(pkg) > 24 {
		pkg = pkg[:24]
	}
	prefix := "sptest_" + pkg + "_"
	name := fmt.Sprintf("%s%s_%d", prefix, key, os.Getpid())
	// Leftovers of earlier runs of this package whose process is gone (an interrupted
	// run cannot drop its own databases). Runs still alive, such as a second `go test`
	// of the same package, are left alone.
	rows, err := admin.Query(`SELECT datname FROM pg_database WHERE datname LIKE $1`, prefix+"%")
	if err != nil {
		t.Fatalf("storetest: list databases: %v", err)
	}
	var old []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		m := leftover.FindStringSubmatch(strings.TrimPrefix(n, prefix))
		if m == nil {
			continue
		}
		// A dead process's databases go; so do this key's from an earlier process that
		// had our pid. Other templates of this very process stay.
		if pid, _ := strconv.Atoi(m[2]); !processAlive(pid) || (pid == os.Getpid() && m[1] == key) {
			old = append(old, n)
		}
	}
	rows.Close()
	for _, n := range old {
		if _, err := admin.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, n)); err != nil {
			t.Fatalf("storetest: drop %s: %v", n, err)
		}
	}
	if _, err := admin.Exec(fmt.Sprintf(`CREATE DATABASE %s`, name)); err != nil {
		t.Fatalf("storetest: create template: %v", err)
	}
	db, err := store.Open(context.Background(), store.Options{URL: withDatabase(baseURL(), name)})
	if err != nil {
		t.Fatalf("storetest: open template: %v", err)
	}
	err = store.Migrate(context.Background(), db, migs)
	_ = store.Close(db)
	if err != nil {
		t.Fatalf("storetest: migrate template: %v", err)
	}
	templates[key] = name
	return name
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
