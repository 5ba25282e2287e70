// Package store opens the portal's database and keeps its schema current.
//
// Two dialects are supported and every query in the code base must run on both:
// PostgreSQL (production, several replicas on one database) and an embedded SQLite
// file (the default when database.url is empty, so that a new user needs no server).
// Concurrency is written dialect-neutrally: unique constraints and atomic conditional
// updates whose RowsAffected is checked, never SELECT ... FOR UPDATE.
//
// Migrations are versioned and forward-only. Each platform package and each service
// module contributes its own list (IDs are prefixed with the owner, "audit/0001_..."),
// and the app concatenates them in a fixed order. Migrate applies what is missing;
// Pending says what is missing without changing anything.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names the database engine behind a *gorm.DB.
type Dialect string

// The supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Sentinel errors callers test with errors.Is. Queries are opened with GORM's
// TranslateError, so both dialects report the same errors.
var (
	// ErrNotFound is returned when a single row was asked for and none exists.
	ErrNotFound = gorm.ErrRecordNotFound
	// ErrDuplicate is returned when an insert or update violates a unique constraint.
	ErrDuplicate = gorm.ErrDuplicatedKey
	// ErrSchemaBehind is returned by CheckCurrent when migrations are pending.
	ErrSchemaBehind = errors.New("database schema is behind")
)

// Migration is one forward-only schema step. Its Migrate function must use its own
// frozen structs or plain SQL, never the live model types, so that it means the same
// thing forever.
type Migration = gormigrate.Migration

// MigrationsTable is where applied migration IDs are recorded.
const MigrationsTable = "schema_migrations"

// Options configure Open.
type Options struct {
	// URL is a postgres:// URL, or empty for SQLite at DataDir/sportello.db.
	URL string
	// DataDir holds the SQLite file when URL is empty.
	DataDir string
	// MaxOpenConns caps the pool (0 means a default suited to the dialect).
	MaxOpenConns int
	// Logger receives slow-query and error logs; nil discards them.
	Logger *slog.Logger
}

// SQLitePath returns the file Open uses for the embedded database.
func SQLitePath(dataDir string) string {
	if dataDir == "" {
		dataDir = "data"
	}
	return filepath.Join(dataDir, "sportello.db")
}

// Open connects to the configured database and checks that it answers.
func Open(ctx context.Context, opts Options) (*gorm.DB, error) {
	cfg := &gorm.Config{
		TranslateError: true,
		NowFunc:        func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		Logger:         newLogger(opts.Logger),
	}
	var (
		db  *gorm.DB
		err error
	)
	switch {
	case opts.URL == "":
		path := SQLitePath(opts.DataDir)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("store: create data directory: %w", err)
		}
		db, err = OpenSQLiteFile(path, cfg)
	case strings.HasPrefix(opts.URL, "postgres://") || strings.HasPrefix(opts.URL, "postgresql://"):
		db, err = gorm.Open(postgres.Open(opts.URL), cfg)
	case strings.HasPrefix(opts.URL, "sqlite:"):
		db, err = OpenSQLiteFile(strings.TrimPrefix(strings.TrimPrefix(opts.URL, "sqlite:"), "//"), cfg)
	default:
		return nil, fmt.Errorf("store: database.url must be empty (embedded SQLite) or a postgres:// URL")
	}
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	max := opts.MaxOpenConns
	if max == 0 {
		max = 20
		if DialectOf(db) == SQLite {
			// SQLite serialises writers anyway; a small pool avoids lock churn.
			max = 4
		}
	}
	sqlDB.SetMaxOpenConns(max)
	sqlDB.SetMaxIdleConns(max)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		_ = closeSQL(sqlDB)
		return nil, fmt.Errorf("store: database not reachable: %w", err)
	}
	return db, nil
}

// sqliteBusyTimeout is how long an SQLite writer waits for the write lock before it
// fails with "database is locked".
const sqliteBusyTimeout = 10 * time.Second

// OpenSQLiteFile opens (creating if needed) an SQLite database file with the pragmas the
// portal relies on: WAL so readers never block the writer, a busy timeout so writers
// queue instead of failing, foreign keys on, and IMMEDIATE transactions so that a
// transaction that will write takes the write lock up front (no deadlock on upgrade).
func OpenSQLiteFile(path string, cfg *gorm.Config) (*gorm.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Checkpoints run after a write has left the write queue: see immediateConnector.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Set("_time_format", "sqlite")
	drv, err := sqliteDriver()
	if err != nil {
		return nil, err
	}
	// The driver ignores _txlock after _time_format: see immediateConnector.
	gate := newWriteGate(sqliteBusyTimeout)
	sqlDB := sql.OpenDB(immediateConnector{dsn: "file:" + path + "?" + q.Encode(), drv: drv, gate: gate})
	gates.Store(sqlDB, gate)
	go gate.checkpointer(sqlDB)
	db, err := gorm.Open(sqlite.Dialector{Conn: sqlDB}, cfg)
	if err != nil {
		_ = closeSQL(sqlDB)
		return nil, err
	}
	return db, nil
}

// DialectOf tells which engine db talks to.
func DialectOf(db *gorm.DB) Dialect {
	if db.Dialector.Name() == "postgres" {
		return Postgres
	}
	return SQLite
}

// WithTx runs fn in one transaction: committed if fn returns nil, rolled back otherwise.
func WithTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	return db.WithContext(ctx).Transaction(fn)
}

// Close releases the connection pool.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return closeSQL(sqlDB)
}

// closeSQL stops the checkpointer of an SQLite database, if any, and closes the pool.
func closeSQL(sqlDB *sql.DB) error {
	if g, ok := gates.LoadAndDelete(sqlDB); ok {
		gate := g.(*writeGate)
		close(gate.stop)
		<-gate.done
	}
	return sqlDB.Close()
}

// migrateLockKey is the PostgreSQL advisory lock that serialises concurrent migrators
// (two replicas starting at once). SQLite serialises writers by itself.
const migrateLockKey = 7_310_420_611

// Migrate applies every migration in migs that has not been applied yet, in order,
// each in its own transaction.
func Migrate(ctx context.Context, db *gorm.DB, migs []*Migration) error {
	if err := checkIDs(migs); err != nil {
		return err
	}
	if len(migs) == 0 {
		return nil
	}
	db = db.WithContext(ctx)
	if DialectOf(db) == Postgres {
		// The lock is per session: hold one connection for the whole run.
		conn, err := db.DB()
		if err != nil {
			return err
		}
		c, err := conn.Conn(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		defer c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey) //nolint:errcheck
	}
	m := gormigrate.New(db, &gormigrate.Options{
		TableName:      MigrationsTable,
		IDColumnName:   "id",
		IDColumnSize:   190,
		UseTransaction: true,
	}, migs)
	if err := m.Migrate(); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// Pending returns the IDs of migrations in migs that have not been applied.
func Pending(ctx context.Context, db *gorm.DB, migs []*Migration) ([]string, error) {
	if err := checkIDs(migs); err != nil {
		return nil, err
	}
	db = db.WithContext(ctx)
	applied := map[string]bool{}
	if db.Migrator().HasTable(MigrationsTable) {
		var ids []string
		if err := db.Table(MigrationsTable).Pluck("id", &ids).Error; err != nil {
			return nil, fmt.Errorf("store: read applied migrations: %w", err)
		}
		for _, id := range ids {
			applied[id] = true
		}
	}
	var pending []string
	for _, m := range migs {
		if !applied[m.ID] {
			pending = append(pending, m.ID)
		}
	}
	return pending, nil
}

// CheckCurrent returns ErrSchemaBehind (wrapped with the missing IDs) when migrations
// are pending.
func CheckCurrent(ctx context.Context, db *gorm.DB, migs []*Migration) error {
	p, err := Pending(ctx, db, migs)
	if err != nil {
		return err
	}
	if len(p) > 0 {
		return fmt.Errorf("%w: %d pending (%s)", ErrSchemaBehind, len(p), strings.Join(p, ", "))
	}
	return nil
}

func checkIDs(migs []*Migration) error {
	seen := map[string]bool{}
	for _, m := range migs {
		if m.ID == "" || seen[m.ID] {
			return fmt.Errorf("store: migration ID %q is empty or repeated", m.ID)
		}
		seen[m.ID] = true
	}
	return nil
}

type slogGormLogger struct {
	log   *slog.Logger
	level logger.LogLevel
}

func newLogger(l *slog.Logger) logger.Interface {
	if l == nil {
		return logger.Discard
	}
	return &slogGormLogger{log: l, level: logger.Warn}
}

func (s *slogGormLogger) LogMode(level logger.LogLevel) logger.Interface {
	c := *s
	c.level = level
	return &c
}
func (s *slogGormLogger) Info(ctx context.Context, msg string, args ...any) {
	if s.level >= logger.Info {
		s.log.InfoContext(ctx, fmt.Sprintf(msg, args...))
	}
}
func (s *slogGormLogger) Warn(ctx context.Context, msg string, args ...any) {
	if s.level >= logger.Warn {
		s.log.WarnContext(ctx, fmt.Sprintf(msg, args...))
	}
}
func (s *slogGormLogger) Error(ctx context.Context, msg string, args ...any) {
	if s.level >= logger.Error {
		s.log.ErrorContext(ctx, fmt.Sprintf(msg, args...))
	}
}

// slowQuery is the duration above which a query is logged as slow.
const slowQuery = 200 * time.Millisecond

func (s *slogGormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, gorm.ErrDuplicatedKey) && s.level >= logger.Error:
		sql, rows := fc()
		s.log.ErrorContext(ctx, "query failed", "err", err, "sql", sql, "rows", rows, "ms", elapsed.Milliseconds())
	case elapsed > slowQuery && s.level >= logger.Warn:
		sql, rows := fc()
		s.log.WarnContext(ctx, "slow query", "sql", sql, "rows", rows, "ms", elapsed.Milliseconds())
	}
}

// ParamsFilter keeps bound values (tax codes, names) out of the logs: GORM calls it
// before rendering a query for the logger.
func (s *slogGormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}
