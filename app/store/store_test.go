package store_test

import (
	"context"
	"errors"
	"testing"

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
