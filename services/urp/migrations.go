package urp

import (
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"

	"github.com/comuni-italiani/sportello/app/store"
)

// Migrations implements services.Migrator. Each step uses its own frozen structs.
func (*Module) Migrations() []*store.Migration {
	type urpOffice struct {
		ID        int64     `gorm:"primaryKey"`
		Slug      string    `gorm:"size:60;not null;uniqueIndex"`
		NameIT    string    `gorm:"column:name_it;size:200;not null"`
		NameEN    string    `gorm:"column:name_en;size:200;not null;default:''"`
		DescIT    string    `gorm:"column:desc_it;type:text;not null;default:''"`
		DescEN    string    `gorm:"column:desc_en;type:text;not null;default:''"`
		Address   string    `gorm:"size:300;not null;default:''"`
		Phone     string    `gorm:"size:60;not null;default:''"`
		Email     string    `gorm:"size:200;not null;default:''"`
		NoticeIT  string    `gorm:"column:notice_it;type:text;not null;default:''"`
		NoticeEN  string    `gorm:"column:notice_en;type:text;not null;default:''"`
		Sort      int       `gorm:"not null;default:0"`
		UpdatedAt time.Time `gorm:"not null"`
	}
	type urpOfficeHours struct {
		ID       int64  `gorm:"primaryKey"`
		OfficeID int64  `gorm:"not null;index"`
		Weekday  int    `gorm:"not null"`
		Opens    string `gorm:"size:5;not null"`
		Closes   string `gorm:"size:5;not null"`
	}
	return []*store.Migration{{
		ID: "urp/0001_offices",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Table("urp_offices").AutoMigrate(&urpOffice{}); err != nil {
				return err
			}
			return tx.Table("urp_office_hours").AutoMigrate(&urpOfficeHours{})
		},
	}, {
		// Offices belong to a comune; a slug is unique within it.
		ID: "urp/0002_ente",
		Migrate: func(tx *gorm.DB) error {
			if err := enti.AddColumn(tx, tables...); err != nil {
				return err
			}
			return enti.ReplaceUnique(tx, "urp_offices", "idx_urp_offices_slug", "urp_offices_ente_slug", "slug", "")
		},
	}, {
		// ente_id first in the primary keys on PostgreSQL (Citus, docs/ARCHITECTURE.md).
		ID: "urp/0003_citus_keys",
		Migrate: func(tx *gorm.DB) error {
			return enti.KeyWithEnte(tx, tables...)
		},
	}}
}

var tables = []string{"urp_offices", "urp_office_hours"}

// EnteTables implements services.EnteTables.
func (*Module) EnteTables() []string { return tables }
