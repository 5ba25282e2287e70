package enti_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// probeDoc is an ente-owned table: the ente is part of its primary key, as the design
// asks of every ente-owned table (Citus distribution column).
type probeDoc struct {
	EnteID string `gorm:"primaryKey;size:40"`
	ID     int64  `gorm:"primaryKey;autoIncrement:false"`
	Holder string `gorm:"size:16;not null"`
	Note   string `gorm:"size:100"`
}

func (probeDoc) TableName() string { return "probe_docs" }

// probeLog is a platform table that is not ente-owned.
type probeLog struct {
	ID   int64 `gorm:"primaryKey"`
	Text string
}

func (probeLog) TableName() string { return "probe_logs" }

var probeMigrations = []*store.Migration{{
	ID: "probe/0001",
	Migrate: func(tx *gorm.DB) error {
		return tx.AutoMigrate(&probeDoc{}, &probeLog{})
	},
}}

// guarded opens a fresh database with the guard installed and two enti's rows: both
// hold a document with the same id and holder (the same fictional person in both
// comuni).
func guarded(t *testing.T, db *gorm.DB) {
	t.Helper()
	if err := enti.NewGuard("probe_docs").Install(db); err != nil {
		t.Fatal(err)
	}
	all := enti.AllEnti(db, "test fixture")
	for _, d := range []probeDoc{
		{EnteID: "alfa", ID: 1, Holder: "RSSMRA80A01H501U", Note: "alfa-1"},
		{EnteID: "alfa", ID: 2, Holder: "VRDLGU75B02F205X", Note: "alfa-2"},
		{EnteID: "beta", ID: 1, Holder: "RSSMRA80A01H501U", Note: "beta-1"},
	} {
		if err := all.Create(&d).Error; err != nil {
			t.Fatal(err)
		}
	}
}

func TestGuardConfinesEveryStatement(t *testing.T) {
	t.Parallel()
	storetest.Each(t, probeMigrations, func(t *testing.T, db *gorm.DB) {
		guarded(t, db)
		ctx := context.Background()
		alfa := enti.Scoped(db, "alfa").WithContext(ctx)
		beta := enti.Scoped(db, "beta")

		// Reads see only their ente, also when the query names the other's key.
		var docs []probeDoc
		if err := alfa.Order("id").Find(&docs).Error; err != nil {
			t.Fatal(err)
		}
		if len(docs) != 2 || docs[0].Note != "alfa-1" || docs[1].Note != "alfa-2" {
			t.Fatalf("alfa sees %+v", docs)
		}
		var d probeDoc
		if err := beta.Where("holder = ?", "VRDLGU75B02F205X").First(&d).Error; !errors.Is(err, gorm.ErrRecordNotFound) {
			t.Fatalf("beta found alfa's person: %+v %v", d, err)
		}
		var n int64
		if err := beta.Model(&probeDoc{}).Count(&n).Error; err != nil || n != 1 {
			t.Fatalf("beta count = %d, %v", n, err)
		}
		// The handle is reusable: a second statement does not inherit the first's
		// conditions, and keeps the scope.
		if err := beta.Model(&probeDoc{}).Count(&n).Error; err != nil || n != 1 {
			t.Fatalf("beta count again = %d, %v", n, err)
		}
		var notes []string
		if err := alfa.Model(&probeDoc{}).Where("holder = ?", "RSSMRA80A01H501U").Pluck("note", &notes).Error; err != nil ||
			len(notes) != 1 || notes[0] != "alfa-1" {
			t.Fatalf("pluck = %v, %v", notes, err)
		}

		// Updates and deletes cannot reach the other ente's rows.
		res := beta.Model(&probeDoc{}).Where("id = ?", 2).Update("note", "hijacked")
		if res.Error != nil || res.RowsAffected != 0 {
			t.Fatalf("beta updated alfa's row: %d %v", res.RowsAffected, res.Error)
		}
		res = beta.Where("id = ?", 2).Delete(&probeDoc{})
		if res.Error != nil || res.RowsAffected != 0 {
			t.Fatalf("beta deleted alfa's row: %d %v", res.RowsAffected, res.Error)
		}
		res = beta.Model(&probeDoc{}).Where("holder = ?", "RSSMRA80A01H501U").Update("note", "beta-1b")
		if res.Error != nil || res.RowsAffected != 1 {
			t.Fatalf("beta's own update: %d %v", res.RowsAffected, res.Error)
		}

		// Creation takes the scope's ente, and refuses a row naming another.
		if err := beta.Create(&probeDoc{ID: 7, Holder: "BNCGLI90C43L219K"}).Error; err != nil {
			t.Fatal(err)
		}
		if err := beta.Create(&probeDoc{EnteID: "alfa", ID: 8, Holder: "BNCGLI90C43L219K"}).Error; !errors.Is(err, enti.ErrWrongEnte) {
			t.Fatalf("create in another ente: %v", err)
		}
		batch := []probeDoc{{ID: 9, Holder: "A"}, {ID: 10, Holder: "B"}}
		if err := alfa.Create(&batch).Error; err != nil || batch[0].EnteID != "alfa" || batch[1].EnteID != "alfa" {
			t.Fatalf("batch create: %+v %v", batch, err)
		}

		// Transactions keep the scope.
		err := alfa.Transaction(func(tx *gorm.DB) error {
			var c int64
			if err := tx.Model(&probeDoc{}).Count(&c).Error; err != nil {
				return err
			}
			if c != 4 {
				return fmt.Errorf("alfa in a transaction counts %d", c)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// What each ente holds now: nothing leaked across.
		var all []probeDoc
		if err := enti.AllEnti(db, "test check").Order("ente_id, id").Find(&all).Error; err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, d := range all {
			got += fmt.Sprintf("%s/%d/%s ", d.EnteID, d.ID, d.Note)
		}
		want := "alfa/1/alfa-1 alfa/2/alfa-2 alfa/9/ alfa/10/ beta/1/beta-1b beta/7/ "
		if got != want {
			t.Fatalf("rows:\n got %s\nwant %s", got, want)
		}
	})
}

func TestGuardRefusesUnscopedStatements(t *testing.T) {
	t.Parallel()
	storetest.Each(t, probeMigrations, func(t *testing.T, db *gorm.DB) {
		guarded(t, db)
		var docs []probeDoc
		var n int64
		cases := map[string]error{
			"find":        db.Find(&docs).Error,
			"first":       db.First(&probeDoc{}).Error,
			"count":       db.Model(&probeDoc{}).Count(&n).Error,
			"table":       db.Table("probe_docs").Count(&n).Error,
			"update":      db.Model(&probeDoc{}).Where("id = 1").Update("note", "x").Error,
			"delete":      db.Where("id = 1").Delete(&probeDoc{}).Error,
			"create":      db.Create(&probeDoc{EnteID: "alfa", ID: 99, Holder: "X"}).Error,
			"raw":         db.Raw("SELECT count(*) FROM probe_docs").Scan(&n).Error,
			"raw quoted":  db.Raw(`SELECT count(*) FROM "probe_docs"`).Scan(&n).Error,
			"exec":        db.Exec("UPDATE probe_docs SET note = 'x'").Error,
			"raw find":    db.Raw("SELECT * FROM probe_docs").Find(&docs).Error,
			"allenti new": enti.AllEnti(db, "test").Create(&probeDoc{ID: 98, Holder: "X"}).Error,
		}
		for name, err := range cases {
			if err == nil {
				t.Errorf("%s: an unscoped statement ran", name)
			} else if name != "allenti new" && !errors.Is(err, enti.ErrUnscoped) {
				t.Errorf("%s: %v, want ErrUnscoped", name, err)
			}
		}
		// Tables that are not ente-owned are not affected; nor is a similar name.
		if err := db.Create(&probeLog{Text: "probe_docs_archive mentioned"}).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Raw("SELECT count(*) FROM probe_logs WHERE text LIKE '%probe_docsx%'").Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		// Nothing changed.
		var all []probeDoc
		if err := enti.AllEnti(db, "test check").Find(&all).Error; err != nil || len(all) != 3 {
			t.Fatalf("rows after refusals: %d %v", len(all), err)
		}
		for _, d := range all {
			if d.Note == "x" {
				t.Fatalf("an unscoped update ran: %+v", d)
			}
		}
	})
}

// Many requests of two enti at once on one pool: each sees only its own rows.
func TestGuardConcurrentScopes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, probeMigrations, func(t *testing.T, db *gorm.DB) {
		guarded(t, db)
		var wg sync.WaitGroup
		errs := make(chan error, 60)
		for i := range 60 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, want := "alfa", int64(2)
				if i%2 == 1 {
					id, want = "beta", 1
				}
				var n int64
				if err := enti.Scoped(db, id).Model(&probeDoc{}).Count(&n).Error; err != nil {
					errs <- err
				} else if n != want {
					errs <- fmt.Errorf("%s counted %d, want %d", id, n, want)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// Rows created as maps get their ente too, and aliased tables and joins need a scope;
// For scopes to the context's ente and keeps a scope already chosen.
func TestGuardMapsAliasesAndFor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, probeMigrations, func(t *testing.T, db *gorm.DB) {
		guarded(t, db)
		beta := enti.Scoped(db, "beta")
		if err := beta.Table("probe_docs").Create(map[string]any{"id": 7, "holder": "RSSMRA80A01H501U", "note": "map"}).Error; err != nil {
			t.Fatal(err)
		}
		var owner string
		enti.AllEnti(db, "test").Table("probe_docs").Where("note = ?", "map").Pluck("ente_id", &owner)
		if owner != "beta" {
			t.Fatalf("map row created for %q", owner)
		}
		err := beta.Table("probe_docs").Create(map[string]any{"ente_id": "alfa", "id": 8, "holder": "X", "note": "wrong"}).Error
		if !errors.Is(err, enti.ErrWrongEnte) {
			t.Fatalf("map naming another ente: %v", err)
		}
		if err := db.Table("probe_docs").Create(map[string]any{"ente_id": "alfa", "id": 9, "holder": "X"}).Error; !errors.Is(err, enti.ErrUnscoped) {
			t.Fatalf("unscoped map create: %v", err)
		}

		// Table("x AS d") is still the owned table: scoped, confined by its alias.
		var notes []string
		if err := enti.Scoped(db, "alfa").Table("probe_docs AS d").Order("d.id").Pluck("d.note", &notes).Error; err != nil || len(notes) != 2 {
			t.Fatalf("aliased read: %v %v", notes, err)
		}
		if err := db.Table("probe_docs AS d").Pluck("d.note", &notes).Error; !errors.Is(err, enti.ErrUnscoped) {
			t.Fatalf("unscoped aliased read: %v", err)
		}
		if err := db.Table("probe_logs AS l").Joins("JOIN probe_docs d ON d.id = l.id").Pluck("l.text", &notes).Error; !errors.Is(err, enti.ErrUnscoped) {
			t.Fatalf("unscoped join on an owned table: %v", err)
		}

		// For: the context's ente, or none; an explicit scope wins.
		ctx := enti.WithEnte(context.Background(), &enti.Ente{ID: "alfa"})
		var n int64
		if err := enti.For(ctx, db).Model(&probeDoc{}).Count(&n).Error; err != nil || n != 2 {
			t.Fatalf("For(alfa): %d %v", n, err)
		}
		if err := enti.For(ctx, beta).Model(&probeDoc{}).Count(&n).Error; err != nil || n != 2 {
			t.Fatalf("For keeps beta's scope: %d %v", n, err)
		}
		if err := enti.For(context.Background(), db).Model(&probeDoc{}).Count(&n).Error; !errors.Is(err, enti.ErrUnscoped) {
			t.Fatalf("For without an ente: %v", err)
		}
	})
}

// TestScopedSet: a handle confined to a set of enti (a union's back office) reads and
// changes only their rows, an empty set reads nothing, rows are never created
// through it, and For keeps the set.
func TestScopedSet(t *testing.T) {
	t.Parallel()
	storetest.Each(t, probeMigrations, func(t *testing.T, db *gorm.DB) {
		guarded(t, db)
		if err := enti.AllEnti(db, "fixture").Create(&probeDoc{EnteID: "gamma", ID: 1, Holder: "RSSMRA80A01H501U", Note: "gamma-1"}).Error; err != nil {
			t.Fatal(err)
		}
		ctx := enti.WithEnte(context.Background(), &enti.Ente{ID: "gamma"})
		set := enti.ScopedSet(db, []string{"beta", "alfa", "alfa"})
		var notes []string
		if err := enti.For(ctx, set).Model(&probeDoc{}).Order("note").Pluck("note", &notes).Error; err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(notes) != "[alfa-1 alfa-2 beta-1]" {
			t.Fatalf("set alfa+beta reads %v", notes)
		}
		var n int64
		if err := set.Model(&probeDoc{}).Where("ente_id = ?", "gamma").Count(&n).Error; err != nil || n != 0 {
			t.Fatalf("the set reached gamma: %d %v", n, err)
		}
		if err := enti.ScopedSet(db, nil).Model(&probeDoc{}).Count(&n).Error; err != nil || n != 0 {
			t.Fatalf("an empty set read %d rows: %v", n, err)
		}
		res := set.Model(&probeDoc{}).Where("id = ?", 1).Update("note", "changed")
		if res.Error != nil || res.RowsAffected != 2 {
			t.Fatalf("update through the set: %d %v", res.RowsAffected, res.Error)
		}
		var g probeDoc
		if err := enti.Scoped(db, "gamma").Take(&g).Error; err != nil || g.Note != "gamma-1" {
			t.Fatalf("gamma's row: %+v %v", g, err)
		}
		if err := set.Create(&probeDoc{EnteID: "alfa", ID: 9, Holder: "X"}).Error; err == nil {
			t.Fatal("a row created through a set")
		}
	})
}
