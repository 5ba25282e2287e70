package ztl

import (
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
)

// Migrations implements services.Migrator. Each step uses its own frozen structs. Every
// table carries ente_id first in its primary key or, for tables with an identity id,
// in a UNIQUE (ente_id, id) and in every other unique constraint; on PostgreSQL
// ztl/0002 then puts it first in those tables' primary keys too (Citus).
func (*Module) Migrations() []*store.Migration {
	type ztlZone struct {
		EnteID string `gorm:"primaryKey;size:40"`
		Code   string `gorm:"primaryKey;size:20"`
		NameIT string `gorm:"column:name_it;size:200;not null"`
		NameEN string `gorm:"column:name_en;size:200;not null;default:''"`
	}
	type ztlCategory struct {
		EnteID       string `gorm:"primaryKey;size:40"`
		Code         string `gorm:"primaryKey;size:30"`
		Kind         string `gorm:"size:20;not null"`
		NameIT       string `gorm:"column:name_it;size:200;not null"`
		NameEN       string `gorm:"column:name_en;size:200;not null;default:''"`
		Zones        string `gorm:"size:400;not null"`
		ValidityDays int    `gorm:"not null"`
		FeeCents     int64  `gorm:"not null;default:0"`
		MaxVehicles  int    `gorm:"not null;default:1"`
		Documents    string `gorm:"size:400;not null;default:''"`
		RenewDays    int    `gorm:"not null;default:0"`
		Sort         int    `gorm:"not null;default:0"`
	}
	type ztlPermit struct {
		ID            int64      `gorm:"primaryKey;uniqueIndex:ztl_permits_ente_id,priority:2"`
		EnteID        string     `gorm:"size:40;not null;uniqueIndex:ztl_permits_ente_id,priority:1;uniqueIndex:ztl_permits_code,priority:1;uniqueIndex:ztl_permits_case,priority:1;index:ztl_permits_holder,priority:1;index:ztl_permits_valid_to,priority:1"`
		Code          string     `gorm:"size:20;not null;uniqueIndex:ztl_permits_code,priority:2"`
		CaseID        int64      `gorm:"not null;uniqueIndex:ztl_permits_case,priority:2"`
		Protocol      string     `gorm:"size:20;not null;default:''"`
		Category      string     `gorm:"size:30;not null"`
		HolderCF      string     `gorm:"column:holder_cf;size:16;not null;index:ztl_permits_holder,priority:2"`
		HolderName    string     `gorm:"size:200;not null;default:''"`
		Email         string     `gorm:"size:254;not null;default:''"`
		Household     string     `gorm:"size:40;not null;default:''"`
		Zones         string     `gorm:"size:400;not null"`
		ValidFrom     time.Time  `gorm:"not null"`
		ValidTo       time.Time  `gorm:"not null;index:ztl_permits_valid_to,priority:2"`
		BadgeNumber   string     `gorm:"size:40;not null;default:''"`
		BadgeExpiry   *time.Time ``
		FeeCents      int64      `gorm:"not null;default:0"`
		Stamp         string     `gorm:"type:text;not null;default:''"`
		Status        string     `gorm:"size:12;not null"`
		RevokedAt     *time.Time ``
		RevokedBy     string     `gorm:"size:100;not null;default:''"`
		RevokedReason string     `gorm:"type:text;not null;default:''"`
		RenewsID      int64      `gorm:"not null;default:0"`
		SlotHeld      bool       `gorm:"not null;default:false"`
		Slots         int        `gorm:"not null;default:0"`
		RemindedAt    *time.Time ``
		CreatedAt     time.Time  `gorm:"not null"`
		UpdatedAt     time.Time  `gorm:"not null"`
	}
	type ztlAccess struct {
		ID        int64      `gorm:"primaryKey;uniqueIndex:ztl_access_ente_id,priority:2"`
		EnteID    string     `gorm:"size:40;not null;uniqueIndex:ztl_access_ente_id,priority:1;index:ztl_access_zone,priority:1;index:ztl_access_updated,priority:1;index:ztl_access_from,priority:1;index:ztl_access_to,priority:1;index:ztl_access_plate,priority:1;index:ztl_access_permit,priority:1"`
		PermitID  int64      `gorm:"not null;index:ztl_access_permit,priority:2"`
		Plate     string     `gorm:"size:24;not null;index:ztl_access_plate,priority:2"`
		Country   string     `gorm:"size:2;not null"`
		Zone      string     `gorm:"size:20;not null;index:ztl_access_zone,priority:2"`
		Temporary bool       `gorm:"not null;default:false"`
		ValidFrom time.Time  `gorm:"not null;index:ztl_access_from,priority:2"`
		ValidTo   time.Time  `gorm:"not null;index:ztl_access_zone,priority:3;index:ztl_access_to,priority:2"`
		RevokedAt *time.Time ``
		UpdatedAt time.Time  `gorm:"not null;index:ztl_access_updated,priority:2"`
	}
	type ztlHouseholdSlots struct {
		EnteID    string `gorm:"primaryKey;size:40"`
		Category  string `gorm:"primaryKey;size:30"`
		Household string `gorm:"primaryKey;size:40"`
		Used      int    `gorm:"not null;default:0"`
	}
	type ztlGateKey struct {
		ID         int64      `gorm:"primaryKey;uniqueIndex:ztl_gate_keys_ente_id,priority:2"`
		EnteID     string     `gorm:"size:40;not null;uniqueIndex:ztl_gate_keys_ente_id,priority:1;uniqueIndex:ztl_gate_keys_prefix,priority:1"`
		Name       string     `gorm:"size:100;not null"`
		Prefix     string     `gorm:"size:16;not null;uniqueIndex:ztl_gate_keys_prefix,priority:2"`
		Hash       string     `gorm:"size:64;not null"`
		CreatedAt  time.Time  `gorm:"not null"`
		CreatedBy  string     `gorm:"size:100;not null"`
		RevokedAt  *time.Time ``
		RevokedBy  string     `gorm:"size:100;not null;default:''"`
		LastUsedAt *time.Time ``
	}
	type ztlTransit struct {
		ID             int64      `gorm:"primaryKey;uniqueIndex:ztl_transits_ente_id,priority:2"`
		EnteID         string     `gorm:"size:40;not null;uniqueIndex:ztl_transits_ente_id,priority:1;uniqueIndex:ztl_transits_record,priority:1;index:ztl_transits_plate,priority:1;index:ztl_transits_at,priority:1"`
		GateKeyID      int64      `gorm:"not null"`
		System         string     `gorm:"size:100;not null;uniqueIndex:ztl_transits_record,priority:2"`
		RecordID       string     `gorm:"size:100;not null;uniqueIndex:ztl_transits_record,priority:3"`
		Plate          string     `gorm:"size:24;not null;index:ztl_transits_plate,priority:2"`
		Gate           string     `gorm:"size:60;not null"`
		Zone           string     `gorm:"size:20;not null"`
		At             time.Time  `gorm:"not null;index:ztl_transits_plate,priority:3;index:ztl_transits_at,priority:2"`
		Photo          []byte     ``
		PhotoType      string     `gorm:"size:40;not null;default:''"`
		PhotoDeletedAt *time.Time ``
		CreatedAt      time.Time  `gorm:"not null"`
	}
	return []*store.Migration{{
		ID: "ztl/0001_permits",
		Migrate: func(tx *gorm.DB) error {
			for _, t := range []struct {
				name  string
				model any
			}{{"ztl_zones", &ztlZone{}}, {"ztl_categories", &ztlCategory{}}, {"ztl_permits", &ztlPermit{}},
				{"ztl_access", &ztlAccess{}}, {"ztl_household_slots", &ztlHouseholdSlots{}},
				{"ztl_gate_keys", &ztlGateKey{}}, {"ztl_transits", &ztlTransit{}}} {
				if err := tx.Table(t.name).AutoMigrate(t.model); err != nil {
					return err
				}
			}
			return nil
		},
	}, {
		// ente_id first in the primary keys on PostgreSQL of the tables born with the
		// surrogate id alone (Citus, docs/ARCHITECTURE.md).
		ID: "ztl/0002_citus_keys",
		Migrate: func(tx *gorm.DB) error {
			return enti.KeyWithEnte(tx, "ztl_permits", "ztl_access", "ztl_gate_keys", "ztl_transits")
		},
	}, {
		// A renewal records the places it took over from its predecessor, which it
		// hands back if it ends first; an unpaid permit records its fee reminder.
		ID: "ztl/0003_renewal_places_fee_reminder",
		Migrate: func(tx *gorm.DB) error {
			type ztlPermit struct {
				SlotsTakenOver int        `gorm:"not null;default:0"`
				FeeRemindedAt  *time.Time ``
			}
			m := tx.Table("ztl_permits").Migrator()
			for _, col := range []string{"SlotsTakenOver", "FeeRemindedAt"} {
				if m.HasColumn(&ztlPermit{}, col) {
					continue
				}
				if err := m.AddColumn(&ztlPermit{}, col); err != nil {
					return err
				}
			}
			// Renewals granted before: they took over all their predecessor's places
			// (its slot_held went false with its slots unchanged). Record what each
			// took over, so that one ending before its predecessor hands it back, and
			// leave the predecessor holding nothing, as a renewal granted now does.
			pred := `FROM ztl_permits p WHERE p.ente_id = ztl_permits.ente_id AND p.id = ztl_permits.renews_id
				AND p.household = ztl_permits.household AND p.slot_held = ? AND p.status IN ('attivo', 'sospeso')`
			if err := tx.Exec(`UPDATE ztl_permits SET slots_taken_over = (SELECT CASE WHEN p.slots < ztl_permits.slots
				THEN p.slots ELSE ztl_permits.slots END `+pred+`)
				WHERE renews_id <> 0 AND slot_held = ? AND slots_taken_over = 0 AND EXISTS (SELECT 1 `+pred+`)`,
				false, true, false).Error; err != nil {
				return err
			}
			return tx.Exec(`UPDATE ztl_permits SET slots = 0 WHERE slot_held = ? AND EXISTS (SELECT 1 FROM ztl_permits r
				WHERE r.ente_id = ztl_permits.ente_id AND r.renews_id = ztl_permits.id AND r.slots_taken_over > 0)`, false).Error
		},
	}}
}
