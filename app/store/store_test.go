package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

type widget struct {
	ID   int64  `gorm:"primaryKey"`
	Code string `gorm:"size:20;uniqueIndex;not null"`
	N    int    `gorm:"not null;default:0"`
}

var testMigs = []*store.Migration{{
	ID:      "storetest/0001_widgets",
	Migrate: func(tx *gorm.DB) error { return tx.AutoMigrate(&widget{}) },
}}

func TestMigrateAndErrors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, testMigs, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		if err := store.CheckCurrent(ctx, db, testMigs); err != nil {
			t.Fatalf("fresh database should be current: %v", err)
		}
		more := append(append([]*store.Migration{}, testMigs...), &store.Migration{
			ID:      "storetest/0002_index",
			Migrate: func(tx *gorm.DB) error { return tx.Exec("CREATE INDEX widgets_n ON widgets (n)").Error },
		})
		err := store.CheckCurrent(ctx, db, more)
		if !errors.Is(err, store.ErrSchemaBehind) {
			t.Fatalf("want ErrSchemaBehind, got %v", err)
		}
		if err := store.Migrate(ctx, db, more); err != nil {
			t.Fatal(err)
		}
		if p, _ := store.Pending(ctx, db, more); len(p) != 0 {
			t.Fatalf("pending after migrate: %v", p)
		}
		if err := db.Create(&widget{Code: "A"}).Error; err != nil {
			t.Fatal(err)
		}
		err = db.Create(&widget{Code: "A"}).Error
		if !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("want ErrDuplicate, got %v", err)
		}
		var w widget
		if err := db.Where("code = ?", "missing").First(&w).Error; !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("want ErrNotFound, got %v", err)
		}
		// Conditional update is the concurrency primitive: exactly one of two wins.
		res := db.Model(&widget{}).Where("code = ? AND n < 1", "A").Update("n", gorm.Expr("n + 1"))
		res2 := db.Model(&widget{}).Where("code = ? AND n < 1", "A").Update("n", gorm.Expr("n + 1"))
		if res.RowsAffected != 1 || res2.RowsAffected != 0 {
			t.Fatalf("conditional update: %d then %d rows", res.RowsAffected, res2.RowsAffected)
		}
		// A failing transaction leaves nothing behind.
		_ = store.WithTx(ctx, db, func(tx *gorm.DB) error {
			tx.Create(&widget{Code: "B"})
			return errors.New("abort")
		})
		var n int64
		db.Model(&widget{}).Where("code = ?", "B").Count(&n)
		if n != 0 {
			t.Fatal("rolled back insert is visible")
		}
	})
}

func TestDuplicateMigrationID(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite, nil)
	err := store.Migrate(context.Background(), db, []*store.Migration{testMigs[0], testMigs[0]})
	if err == nil {
		t.Fatal("repeated migration IDs must be refused")
	}
}

// TestWithTxReadThenWriteUnderContention: many transactions that read a row and then
// write it back, all at once. On SQLite a deferred transaction would take a read
// snapshot, then fail to upgrade to the write lock with SQLITE_BUSY ("database is
// locked") whenever another writer committed meanwhile; WithTx takes the write lock at
// BEGIN, so every one waits its turn and succeeds, and no increment is lost. On
// PostgreSQL the same test holds because the write is conditional on the value read.
func TestWithTxReadThenWriteUnderContention(t *testing.T) {
	t.Parallel()
	storetest.Each(t, testMigs, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		if err := db.Create(&widget{Code: "C"}).Error; err != nil {
			t.Fatal(err)
		}
		const workers = 30
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		start := make(chan struct{})
		for i := 0; i < workers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					retry := false
					err := store.WithTx(ctx, db, func(tx *gorm.DB) error {
						var w widget
						if err := tx.Where("code = ?", "C").First(&w).Error; err != nil {
							return err
						}
						time.Sleep(time.Millisecond) // widen the window between read and write
						res := tx.Model(&widget{}).Where("id = ? AND n = ?", w.ID, w.N).Update("n", w.N+1)
						if res.Error != nil {
							return res.Error
						}
						if res.RowsAffected != 1 {
							// Only PostgreSQL (READ COMMITTED) can see this: another
							// transaction committed between our read and our write.
							retry = true
						}
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
					if !retry {
						return
					}
					if store.DialectOf(db) == store.SQLite {
						errs <- errors.New("SQLite transaction saw a lost update: the write lock was not held from BEGIN")
						return
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("transaction failed: %v", err)
		}
		var w widget
		if err := db.Where("code = ?", "C").First(&w).Error; err != nil {
			t.Fatal(err)
		}
		if w.N != workers {
			t.Fatalf("counter = %d, want %d", w.N, workers)
		}
	})
}

// TestSQLiteWritersQueueInOrder: a writer that waits for the write lock gets it as
// soon as the holder commits, even when the holder begins a new transaction at once
// (what a long import does between its chunks). Without the queue the waiter sleeps in
// SQLite's busy handler and the holder, retrying first, wins again and again.
// Statements prepared once and kept (GORM's PrepareStmt sessions) queue the same way,
// and run at once inside the transaction that holds the lock.
// SQLite only: PostgreSQL has no database-wide write lock.
func TestSQLiteWritersQueueInOrder(t *testing.T) {
	t.Parallel()
	plain := storetest.Open(t, store.SQLite, testMigs)
	prepared := plain.Session(&gorm.Session{PrepareStmt: true})
	ctx := context.Background()
	for round, v := range []struct{ holder, waiter *gorm.DB }{
		{plain, plain}, {prepared, prepared}, {plain, prepared}, {prepared, plain}, {plain, plain}, {prepared, prepared},
	} {
		db := v.waiter
		code := fmt.Sprintf("Q%d", round)
		tx := v.holder.Begin()
		if err := tx.Create(&widget{Code: "holder" + code}).Error; err != nil {
			t.Fatal(err)
		}
		waiterDone := make(chan error, 1)
		go func() {
			waiterDone <- db.WithContext(ctx).Exec(`INSERT INTO widgets (code, n) VALUES (?, 0)`, code).Error
		}()
		for deadline := time.Now().Add(10 * time.Second); store.WritersWaiting(db) < 1; {
			if time.Now().After(deadline) {
				t.Fatal("the second writer never queued")
			}
			time.Sleep(time.Millisecond)
		}
		if err := tx.Commit().Error; err != nil {
			t.Fatal(err)
		}
		var seen int64
		err := store.WithTx(ctx, db, func(tx *gorm.DB) error {
			return tx.Model(&widget{}).Where("code = ?", code).Count(&seen).Error
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := <-waiterDone; err != nil {
			t.Fatalf("waiting writer failed: %v", err)
		}
		if seen != 1 {
			t.Fatalf("round %d: the holder's next transaction began before the waiting writer wrote", round)
		}
	}
}

// TestSQLiteLogIsCheckpointed: SQLite's automatic checkpoint is off (it ran inside a
// COMMIT, holding up the write queue), so the store checkpoints the log itself, on a
// goroutine of its own, every so many writes; a writer that keeps writing during those
// checkpoints runs one in its own call when the log passes RestartFrames. After
// thousands of transactions of a page each, by one writer without a pause, the log
// has been recycled, not grown to hold all of them.
func TestSQLiteLogIsCheckpointed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), store.Options{URL: "sqlite:" + filepath.Join(dir, "wal.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(db)
	if err := store.Migrate(context.Background(), db, testMigs); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 4000) // a page or more a row
	if err := db.Exec(`CREATE TABLE blobs (id INTEGER PRIMARY KEY, v TEXT)`).Error; err != nil {
		t.Fatal(err)
	}
	const writes = 5 * store.RestartFrames
	for i := 0; i < writes; i++ {
		if err := db.Exec(`INSERT INTO blobs (v) VALUES (?)`, pad).Error; err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "wal.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	// Without checkpoints the log would hold every row: more than 20 MB. Recycled, it
	// holds RestartFrames pages and what was written during one checkpoint.
	if limit := int64(3 * store.RestartFrames * 4096); fi.Size() > limit {
		t.Fatalf("write-ahead log is %d bytes after %d writes of a page: not recycled (limit %d)", fi.Size(), writes, limit)
	}
	all, inline := store.Checkpoints(db)
	t.Logf("%d writes: %d checkpoints, %d of them by the writer; log %d bytes", writes, all, inline, fi.Size())
	if all == 0 {
		t.Fatal("no checkpoint ran")
	}
}

// A write never waits for a checkpoint: while one is held up (here by a hook, in
// production by copying pages and syncing the files), writers go on committing, and
// the checkpoint asked for meanwhile runs after it.
func TestSQLiteCheckpointOffTheWritersPath(t *testing.T) {
	t.Parallel()
	db, err := store.Open(context.Background(), store.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "ck.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(db)
	if err := db.Exec(`CREATE TABLE n (id INTEGER PRIMARY KEY, v INTEGER)`).Error; err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}, 10), make(chan struct{})
	store.SetCheckpointHook(db, func() {
		entered <- struct{}{}
		<-release
	})
	write := func(n int) error {
		for i := 0; i < n; i++ {
			if err := store.WithTx(context.Background(), db, func(tx *gorm.DB) error {
				return tx.Exec(`INSERT INTO n (v) VALUES (?)`, i).Error
			}); err != nil {
				return err
			}
		}
		return nil
	}
	before, _ := store.Checkpoints(db)
	if err := write(store.CheckpointEvery); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatalf("no checkpoint after %d writes", store.CheckpointEvery)
	}
	// The checkpointer is held; three more checkpoints' worth of writes commit.
	done := make(chan error, 1)
	go func() { done <- write(3 * store.CheckpointEvery) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		close(release)
		t.Fatal("writers waited for the held checkpoint")
	}
	close(release)
	// The first checkpoint and the one asked for while it was held (requests while one
	// is pending are merged) run.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if all, _ := store.Checkpoints(db); all >= before+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the checkpoint asked for while one was held never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var n int64
	db.Raw(`SELECT COUNT(*) FROM n`).Scan(&n)
	if n != 4*store.CheckpointEvery {
		t.Fatalf("%d rows, want %d", n, 4*store.CheckpointEvery)
	}
}
