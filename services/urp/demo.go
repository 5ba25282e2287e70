package urp

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// SeedDemo implements services.DemoSeeder: the fictional comune's offices. Offices
// that exist already (by slug) are left as they are.
func (*Module) SeedDemo(ctx context.Context, db *gorm.DB) error {
	morning := func(days ...int) []Hours {
		var h []Hours
		for _, d := range days {
			h = append(h, Hours{Weekday: d, Opens: "08:30", Closes: "12:30"})
		}
		return h
	}
	afternoon := func(days ...int) []Hours {
		var h []Hours
		for _, d := range days {
			h = append(h, Hours{Weekday: d, Opens: "15:00", Closes: "17:30"})
		}
		return h
	}
	offices := []Office{
		{Slug: "urp", NameIT: "Ufficio Relazioni con il Pubblico (URP)", NameEN: "Public Relations Office (URP)",
			DescIT:  "Informazioni sui servizi, rilascio delle credenziali di accesso al portale, reclami e segnalazioni.",
			DescEN:  "Information on services, portal login credentials, complaints and reports.",
			Address: "Piazza del Municipio 1, piano terra", Phone: "+39 0000 000101", Email: "urp@comune.valdoria.example", Sort: 1,
			Hours: append(morning(1, 2, 3, 4, 5), afternoon(2, 4)...)},
		{Slug: "anagrafe", NameIT: "Ufficio Anagrafe e Stato civile", NameEN: "Registry and Civil Status Office",
			DescIT:  "Certificati, carta d'identità elettronica (su appuntamento), cambi di residenza, atti di stato civile.",
			DescEN:  "Certificates, electronic identity card (by appointment), change of address, civil status records.",
			Address: "Piazza del Municipio 1, primo piano", Phone: "+39 0000 000102", Email: "anagrafe@comune.valdoria.example", Sort: 2,
			Hours: append(morning(1, 2, 3, 4, 5, 6), afternoon(4)...)},
		{Slug: "servizi-sociali", NameIT: "Servizi Sociali", NameEN: "Social Services",
			DescIT:  "Assegni di maternità e per il nucleo familiare, contributi, sostegno alle famiglie.",
			DescEN:  "Maternity and family allowances, grants, family support.",
			Address: "Via della Fontana 12", Phone: "+39 0000 000103", Email: "sociale@comune.valdoria.example", Sort: 3,
			Hours: append(morning(1, 3, 5), afternoon(3)...)},
		{Slug: "polizia-locale", NameIT: "Polizia Locale - Ufficio Permessi", NameEN: "Local Police - Permits Office",
			DescIT:  "Permessi per la zona a traffico limitato (ZTL), contrassegni per persone con disabilità.",
			DescEN:  "Limited traffic zone (ZTL) permits, disabled parking badges.",
			Address: "Via del Castello 3", Phone: "+39 0000 000104", Email: "poliziamunicipale@comune.valdoria.example", Sort: 4,
			Hours: morning(1, 2, 3, 4, 5)},
	}
	return store.WithTx(ctx, db, func(tx *gorm.DB) error {
		for _, o := range offices {
			var existing Office
			err := tx.Where("slug = ?", o.Slug).Take(&existing).Error
			if err == nil {
				continue
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			o.UpdatedAt = time.Now().UTC()
			// The hours are written apart: GORM's association upsert names ON CONFLICT (id),
			// which PostgreSQL refuses once the key is (ente_id, id) (urp/0003_citus_keys).
			hours := o.Hours
			o.Hours = nil
			if err := tx.Create(&o).Error; err != nil {
				return err
			}
			for i := range hours {
				hours[i].OfficeID = o.ID
			}
			if len(hours) > 0 {
				if err := tx.Create(&hours).Error; err != nil {
					return err
				}
			}
		}
		return nil
	})
}
