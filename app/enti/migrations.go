package enti

import (
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
