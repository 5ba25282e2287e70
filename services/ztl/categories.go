package ztl

import (
	"context"
	"errors"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// DefaultZones are the zones an ente starts with (fictional, editable data).
var DefaultZones = []Zone{
	{Code: "A", NameIT: "ZTL Centro storico", NameEN: "Historic centre LTZ"},
	{Code: "B", NameIT: "ZTL Borgo Marina", NameEN: "Borgo Marina LTZ"},
}

// DefaultCategories are the permit categories an ente starts with. Their codes have
// message keys ztl.category.<code> for the application form.
var DefaultCategories = []Category{
	{Code: "residenti", Kind: KindResident, NameIT: "Residenti nella ZTL", NameEN: "Residents of the LTZ",
		Zones: "A", ValidityDays: 730, FeeCents: 3000, MaxVehicles: 2, Documents: "libretto", RenewDays: 60, Sort: 1},
	{Code: "disabili", Kind: KindDisabled, NameIT: "Titolari di contrassegno disabili (CUDE)",
		NameEN: "Holders of the disabled parking badge (CUDE)", Zones: "A,B", ValidityDays: 1825, FeeCents: 0,
		MaxVehicles: 2, Documents: "contrassegno", RenewDays: 60, Sort: 2},
	{Code: "merci", Kind: KindBusiness, NameIT: "Carico e scarico merci, attività", NameEN: "Deliveries and businesses",
		Zones: "A,B", ValidityDays: 365, FeeCents: 15000, MaxVehicles: 3, Documents: "libretto,visura", RenewDays: 30, Sort: 3},
	{Code: "temporaneo", Kind: KindTemporary, NameIT: "Temporaneo (ospiti, traslochi)", NameEN: "Temporary (visitors, removals)",
		Zones: "A", ValidityDays: 7, FeeCents: 500, MaxVehicles: 1, Documents: "", RenewDays: 0, Sort: 4},
}

// ensureDefaults gives the ente of db its default zones and categories when it has
// none yet. Idempotent and safe under concurrency (ON CONFLICT DO NOTHING).
func ensureDefaults(ctx context.Context, db *gorm.DB) error {
	var n int64
	if err := db.WithContext(ctx).Model(&Category{}).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	zones := append([]Zone(nil), DefaultZones...)
	cats := append([]Category(nil), DefaultCategories...)
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&zones).Error; err != nil {
			return err
		}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&cats).Error
	})
}

// errNoCategory is an unknown or disabled category.
var errNoCategory = errors.New("ztl: no such category")

// category returns the ente's category code.
func category(ctx context.Context, db *gorm.DB, code string) (*Category, error) {
	if err := ensureDefaults(ctx, db); err != nil {
		return nil, err
	}
	var c Category
	err := db.WithContext(ctx).Where("code = ?", code).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errNoCategory
	}
	return &c, err
}

// categories lists the ente's categories.
func categories(ctx context.Context, db *gorm.DB) ([]Category, error) {
	if err := ensureDefaults(ctx, db); err != nil {
		return nil, err
	}
	var out []Category
	err := db.WithContext(ctx).Order("sort, code").Find(&out).Error
	return out, err
}

// zones lists the ente's zones.
func zones(ctx context.Context, db *gorm.DB) ([]Zone, error) {
	if err := ensureDefaults(ctx, db); err != nil {
		return nil, err
	}
	var out []Zone
	err := db.WithContext(ctx).Order("code").Find(&out).Error
	return out, err
}
