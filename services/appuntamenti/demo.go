package appuntamenti

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// DemoOffice is the fictional office of the demo comune.
const DemoOffice = "anagrafe-centro"

// SeedDemo implements services.DemoSeeder: one fictional registry desk office in every
// ente offering the module, with two desks for the CIE and one for the change of
// address. An office that exists already is left as it is.
func (m *Module) SeedDemo(ctx context.Context, _ *gorm.DB) error {
	if m.forEachEnte == nil {
		return errors.New("appuntamenti: SeedDemo before Mount")
	}
	return m.forEachEnte(ctx, func(ctx context.Context) error { return SeedOffice(ctx, m.store(ctx)) })
}

// SeedOffice creates the demo office through db (scoped to an ente), unless present.
func SeedOffice(ctx context.Context, db *gorm.DB) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var o Office
		err := tx.Where("id = ?", DemoOffice).Take(&o).Error
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		o = Office{ID: DemoOffice, Name: "Sportello Anagrafe - Sede centrale", Address: "Piazza del Municipio 1, primo piano",
			HorizonDays: 60, Sort: 1}
		if err := tx.Create(&o).Error; err != nil {
			return err
		}
		svcs := []OfficeService{{OfficeID: DemoOffice, Service: ServiceCIE, SlotMinutes: 20, Desks: 2},
			{OfficeID: DemoOffice, Service: ServiceResidenza, SlotMinutes: 30, Desks: 1}}
		if err := tx.Create(&svcs).Error; err != nil {
			return err
		}
		var hs []Hours
		for _, s := range ServiceIDs {
			for wd := 1; wd <= 5; wd++ {
				hs = append(hs, Hours{OfficeID: DemoOffice, Service: s, Weekday: wd, Opens: "08:30", Closes: "12:30"})
			}
			hs = append(hs, Hours{OfficeID: DemoOffice, Service: s, Weekday: 4, Opens: "15:00", Closes: "17:30"})
		}
		return tx.Create(&hs).Error
	})
}
