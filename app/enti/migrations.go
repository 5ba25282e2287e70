package enti

import (
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// Migrations creates the enti and their host names.
func Migrations() []*store.Migration {
	type ente struct {
		ID              string `gorm:"primaryKey;size:40"`
		Kind            string `gorm:"size:10;not null"`
		ParentID        string `gorm:"size:40;not null;default:'';index"`
		Name            string `gorm:"size:200;not null"`
		Province        string `gorm:"size:200;not null;default:''"`
		IstatCode       string `gorm:"size:6;not null;default:''"`
		FiscalCode      string `gorm:"size:16;not null;default:''"`
		Address         string `gorm:"size:300;not null;default:''"`
		Phone           string `gorm:"size:50;not null;default:''"`
		Email           string `gorm:"size:200;not null;default:''"`
		PEC             string `gorm:"size:200;not null;default:''"`
		Website         string `gorm:"size:300;not null;default:''"`
		CoatOfArms      string `gorm:"size:300;not null;default:''"`
		ThemeColor      string `gorm:"size:7;not null;default:''"`
		MailFrom        string `gorm:"size:300;not null;default:''"`
		DisabledModules string `gorm:"type:text"`
		CreatedAt       time.Time
		UpdatedAt       time.Time
	}
	type enteHost struct {
		Host   string `gorm:"primaryKey;size:253"`
		EnteID string `gorm:"size:40;not null;index"`
	}
	return []*store.Migration{{
		ID: "enti/0001_enti",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Table("enti").AutoMigrate(&ente{}); err != nil {
				return err
			}
			return tx.Table("ente_hosts").AutoMigrate(&enteHost{})
		},
	}, {
		// Roles of staff in enti other than their home (a union's officer in its
		// member comuni). Installation-wide like accounts, so not keyed by ente first.
		ID: "enti/0002_staff_grants",
		Migrate: func(tx *gorm.DB) error {
			type staffGrant struct {
				AccountID int64  `gorm:"primaryKey;autoIncrement:false"`
				EnteID    string `gorm:"primaryKey;size:40"`
				Role      string `gorm:"primaryKey;size:64"`
				GrantedBy string `gorm:"size:100;not null;default:''"`
				CreatedAt time.Time
			}
			if err := tx.Table("staff_grants").AutoMigrate(&staffGrant{}); err != nil {
				return err
			}
			// The staff guard asks "which roles has this account in these enti".
			return tx.Exec(`CREATE INDEX staff_grants_ente ON staff_grants (ente_id, role)`).Error
		},
	}, {
		// Each ente's settings of modules (Ente.ModuleSettings, JSON of YAML texts).
		ID: "enti/0003_module_settings",
		Migrate: func(tx *gorm.DB) error {
			return tx.Exec(`ALTER TABLE enti ADD COLUMN module_settings TEXT`).Error
		},
	}}
}

// KeyWithEnte puts ente_id first in the primary key and in every unique index of each
// table that lacks it, on PostgreSQL (the schema Citus distributes by ente_id; SQLite
// keeps its keys, which are stricter). A unique index keeps its name, columns and
// condition with ente_id added in front. No foreign key may reference the old key
// (none does: references between ente-owned tables name ente_id already).
func KeyWithEnte(tx *gorm.DB, tables ...string) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	for _, t := range tables {
		if !tx.Migrator().HasTable(t) {
			continue
		}
		var idx []struct {
			Name, Def        string
			Primary, HasEnte bool
			Constraint       string
		}
		if err := tx.Raw(`SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisprimary AS "primary",
			EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attname = ? AND a.attnum = ANY(i.indkey)) AS has_ente,
			COALESCE((SELECT conname FROM pg_constraint WHERE conindid = i.indexrelid AND contype IN ('p', 'u') LIMIT 1), '') AS "constraint"
			FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
			WHERE i.indrelid = to_regclass(?) AND (i.indisprimary OR i.indisunique)`, Column, t).Scan(&idx).Error; err != nil {
			return fmt.Errorf("enti: keys of %s: %w", t, err)
		}
		for _, x := range idx {
			if x.HasEnte {
				continue
			}
			open := strings.Index(x.Def, " USING btree (")
			if open < 0 {
				return fmt.Errorf("enti: cannot rewrite key %s of %s: %s", x.Name, t, x.Def)
			}
			open += len(" USING btree (")
			if x.Primary {
				closing := strings.Index(x.Def[open:], ")")
				cols := x.Def[open : open+closing]
				if err := tx.Exec(fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT %s, ADD CONSTRAINT %s PRIMARY KEY (%s, %s)`,
					t, x.Constraint, x.Constraint, Column, cols)).Error; err != nil {
					return fmt.Errorf("enti: primary key of %s: %w", t, err)
				}
				continue
			}
			drop := `DROP INDEX ` + x.Name
			if x.Constraint != "" {
				drop = fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT %s`, t, x.Constraint)
			}
			if err := tx.Exec(drop).Error; err != nil {
				return fmt.Errorf("enti: drop key %s: %w", x.Name, err)
			}
			if err := tx.Exec(x.Def[:open] + Column + ", " + x.Def[open:]).Error; err != nil {
				return fmt.Errorf("enti: key %s with %s: %w", x.Name, Column, err)
			}
		}
	}
	return nil
}
